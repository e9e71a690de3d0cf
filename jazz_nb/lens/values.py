"""Lens default values: checked against their column, tagged as Jazz ``Value`` JSON, and
written as DuckDB literals.

Defaults are kept in storage form (what the store holds: ms ints for timestamps, canonical JSON
text for json columns, hyphenated text for UUIDs). In published lens JSON they travel as
Jazz's tagged values (``{"type": "Text", "value": "x"}``, ``{"type": "Null"}``).

Example:
    >>> from jazz_nb.schema import types as t
    >>> to_tagged(t.Integer(), 3), from_tagged(t.Integer(), {"type": "Integer", "value": 3})
    ({'type': 'Integer', 'value': 3}, 3)
    >>> sql_literal(t.Text(), "it's")
    "CAST('it''s' AS VARCHAR)"
"""

from __future__ import annotations

import math
from typing import Any

from jazz_nb.errors import MigrationError, SchemaError
from jazz_nb.schema import types as t
from jazz_nb.schema.columns import Column

_TAGS = {"Integer": "Integer", "BigInt": "BigInt", "Double": "Double", "Boolean": "Boolean",
         "Text": "Text", "Enum": "Text", "Json": "Text", "Timestamp": "Timestamp",
         "Uuid": "Uuid", "Bytea": "Bytea", "Array": "Array"}


def heuristic_default(column: Column) -> Any:
    """Jazz's default for an added/removed column (§6.3): the schema default, else NULL for
    optional columns, else a zero value (``None`` for UUID and JSON columns: no zero exists).

    Example:
        >>> from jazz_nb import s
        >>> heuristic_default(s.int()), heuristic_default(s.string().optional())
        (0, None)
        >>> heuristic_default(s.enum("low", "high")), heuristic_default(s.ref("t"))
        ('high', None)
    """
    if column.has_default:
        return column.default
    if column.nullable:
        return None
    zero: dict[str, Any] = {"Integer": 0, "BigInt": 0, "Double": 0.0, "Boolean": False,
                            "Text": "", "Timestamp": 0, "Bytea": b"", "Array": []}
    if isinstance(column.type, t.Enum):
        return column.type.variants[0]
    return zero.get(column.type.kind)


def check_default(column: Column, value: Any, *, op: str, table: str, name: str) -> Any:
    """``value`` (a user value) as the storage value of ``column``, or a ``MigrationError``
    naming the operation, table and column.

    Example:
        >>> from jazz_nb import s
        >>> check_default(s.int(), 2, op="add_column", table="todos", name="priority")
        2
        >>> check_default(s.int(), "x", op="add_column", table="todos", name="priority")
        Traceback (most recent call last):
        ...
        jazz_nb.errors.MigrationError: add_column todos.priority: default 'x' does not fit \
Integer (todos.priority: expected a 32-bit integer, got str 'x')
    """
    if value is None:
        return None
    try:
        return column.type.coerce(value, f"{table}.{name}")
    except SchemaError as err:
        raise MigrationError(f"{op} {table}.{name}: default {value!r} does not fit "
                             f"{column.type.kind} ({err})", table=table, column=name,
                             operator=op) from None


def to_tagged(column_type: t.ColumnType, value: Any) -> dict[str, Any]:
    """A storage value as Jazz's tagged ``Value`` JSON.

    Example:
        >>> to_tagged(t.Array(t.Text()), ["a"]), to_tagged(t.Text(), None)
        ({'type': 'Array', 'value': [{'type': 'Text', 'value': 'a'}]}, {'type': 'Null'})
    """
    if value is None:
        return {"type": "Null"}
    if isinstance(column_type, t.Array):
        return {"type": "Array", "value": [to_tagged(column_type.element, v) for v in value]}
    if isinstance(column_type, t.Bytea):
        return {"type": "Bytea", "value": list(value)}
    return {"type": _TAGS[column_type.kind], "value": value}


def from_tagged(column_type: t.ColumnType, data: Any, *, where: str = "value") -> Any:
    """Inverse of ``to_tagged``; a tag that does not fit ``column_type`` is a ``MigrationError``.

    Example:
        >>> from_tagged(t.Bytea(), {"type": "Bytea", "value": [1, 2]})
        b'\\x01\\x02'
        >>> from_tagged(t.Integer(), {"type": "Text", "value": "1"})
        Traceback (most recent call last):
        ...
        jazz_nb.errors.MigrationError: value: a Text value does not fit a Integer column
    """
    if not isinstance(data, dict) or "type" not in data:
        raise MigrationError(f"{where}: expected a tagged value like {{'type': 'Text', "
                             f"'value': ...}}, got {data!r}")
    tag = data["type"]
    if tag == "Null":
        return None
    if tag != _TAGS[column_type.kind]:
        raise MigrationError(f"{where}: a {tag} value does not fit a {column_type.kind} column")
    value = data.get("value")
    if isinstance(column_type, t.Array):
        return [from_tagged(column_type.element, v, where=where) for v in value or []]
    if isinstance(column_type, t.Bytea):
        return bytes(value)
    try:
        return column_type.coerce(t.Json().to_python(value) if isinstance(column_type, t.Json)
                                  else value, where)
    except SchemaError as err:
        raise MigrationError(f"{where}: {err}") from None


def sql_literal(column_type: t.ColumnType, value: Any) -> str:
    """A DuckDB literal of a storage value, typed as the column is stored.

    Example:
        >>> sql_literal(t.Uuid(), None), sql_literal(t.Array(t.Integer()), [1, 2])
        ('CAST(NULL AS UUID)', 'CAST([1, 2] AS INTEGER[])')
    """
    return f"CAST({_raw(column_type, value)} AS {column_type.sql_type()})"


def _raw(column_type: t.ColumnType, value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(column_type, t.Array):
        return "[" + ", ".join(_raw(column_type.element, v) for v in value) + "]"
    if isinstance(column_type, t.Boolean):
        return "true" if value else "false"
    if isinstance(column_type, (t.Integer, t.BigInt, t.Timestamp)):
        return str(int(value))
    if isinstance(column_type, t.Double):
        return repr(float(value)) if math.isfinite(value) else f"'{value}'"
    if isinstance(column_type, t.Bytea):
        return f"from_hex('{bytes(value).hex()}')"
    return "'" + str(value).replace("'", "''") + "'"
