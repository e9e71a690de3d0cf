"""The columns a query can name (``id``, user columns, magic columns) and their operand values.

Each operand goes through three forms: what the user passes (``datetime``, ``{"a": 1}``), the
storage form the SQL compares with (ms ints, canonical JSON text; lists frozen to tuples so a
Query stays hashable) and the IR form that travels as JSON (base64 bytes, parsed JSON).

Example:
    >>> from jazz_nb.schema import define_app, table, string
    >>> app = define_app({"todos": table(title=string())})
    >>> col = resolve(app, "todos", "$createdAt")
    >>> col.coerce("gt", 1_000)        # an int is taken as ms, as Jazz's TS client does
    1000000
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from jazz_nb.errors import QueryError, SchemaError
from jazz_nb.schema import types as t

if TYPE_CHECKING:
    from jazz_nb.schema.app import App

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "is_null")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Converter = Callable[[t.ColumnType, Any, str], Any]  # (type, value, "table.column") -> stored


@dataclass(frozen=True)
class MicrosTimestamp(t.ColumnType):
    """The engine's µs timestamps of ``$createdAt``/``$updatedAt``.

    A datetime converts exactly; a number is taken as **ms** and multiplied by 1000 (§1.2).

    Example:
        >>> MicrosTimestamp().coerce(datetime(1970, 1, 1, 0, 0, 1, 5), "t.$createdAt")
        1000005
    """

    kind: ClassVar[str] = "Timestamp"
    operators: ClassVar[tuple[str, ...]] = ("eq", "ne", "gt", "gte", "lt", "lte", "in")

    def coerce(self, value: Any, where: str) -> int:
        if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "").isdigit():
            with contextlib.suppress(ValueError):
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return (value - EPOCH) // timedelta(microseconds=1)
        return t.Timestamp().coerce(value, where) * 1000

    def sql_type(self) -> str:
        return "BIGINT"

    def to_python(self, stored: Any) -> Any:
        if stored is None or isinstance(stored, datetime):
            return stored
        return EPOCH + timedelta(microseconds=stored)


MAGIC_TYPES: dict[str, t.ColumnType] = {
    "$createdBy": t.Text(), "$createdAt": MicrosTimestamp(),
    "$updatedBy": t.Text(), "$updatedAt": MicrosTimestamp(),
    "$canRead": t.Boolean(), "$canEdit": t.Boolean(), "$canDelete": t.Boolean(),
}
NULLABLE_MAGIC = ("$canRead", "$canEdit", "$canDelete")


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


def thaw(value: Any) -> Any:
    """Tuples back to lists (the form DuckDB binds as LIST).

    Example:
        >>> thaw((1, (2, 3)))
        [1, [2, 3]]
    """
    return [thaw(v) for v in value] if isinstance(value, tuple) else value


def _encode(ctype: t.ColumnType, value: Any) -> Any:
    if isinstance(ctype, t.Bytea):
        return t.encode_bytes(value)
    if isinstance(ctype, t.Json):
        return ctype.to_python(value)
    if isinstance(ctype, t.Array):
        return [_encode(ctype.element, v) for v in value]
    return value


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return not isinstance(value, (list, tuple)) or all(_finite(v) for v in value)


def _coerce(ctype: t.ColumnType, value: Any, where: str) -> Any:
    return ctype.coerce(value, where)


def _decode(ctype: t.ColumnType, value: Any, where: str) -> Any:
    if isinstance(ctype, t.Bytea) and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise SchemaError(f"{where}: expected base64 text, got {value!r}") from None
    if isinstance(ctype, t.Array) and isinstance(value, list):
        return [_decode(ctype.element, v, where) for v in value]
    if isinstance(ctype, MicrosTimestamp):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SchemaError(f"{where}: expected a µs timestamp (int), got {value!r}")
        return value
    return ctype.coerce(value, where)


@dataclass(frozen=True)
class QueryColumn:
    """A column as a query sees it: its type, nullability and the operators it accepts."""

    table: str
    name: str
    type: t.ColumnType
    nullable: bool
    kind: Literal["id", "user", "magic"]

    @property
    def operators(self) -> tuple[str, ...]:
        """Operators of the column type (§3.2), plus ``is_null`` when the column is nullable."""
        ops = ("eq", "ne", "in") if self.kind == "id" else self.type.operators
        return (*ops, "is_null") if self.nullable else ops

    def check(self, op: str) -> None:
        """Raise a ``QueryError`` naming the operator if the column does not support it."""
        if op not in OPERATORS:
            raise QueryError(f"unknown operator {op!r} on {self.table}.{self.name} "
                             f"(operators: {', '.join(OPERATORS)})",
                             table=self.table, column=self.name, operator=op)
        if op not in self.operators:
            extra = " (the column is not nullable)" if op == "is_null" else ""
            raise QueryError(f"operator {op!r} is not supported by {self.table}.{self.name} "
                             f"({self.type.kind}){extra}; supported: {', '.join(self.operators)}",
                             table=self.table, column=self.name, operator=op)

    def operand_type(self, op: str) -> t.ColumnType:
        """The type of one operand value: the element type for ``contains`` on arrays."""
        if op == "contains" and isinstance(self.type, t.Array):
            return self.type.element
        return self.type

    def coerce(self, op: str, value: Any) -> Any:
        """A user value for ``op`` in storage form, or a ``QueryError`` naming the problem."""
        return self._convert(op, value, _coerce)

    def decode(self, op: str, value: Any) -> Any:
        """An IR value for ``op`` in storage form (inverse of ``encode``)."""
        return self._convert(op, value, _decode)

    def encode(self, op: str, value: Any) -> Any:
        """A storage value for ``op`` in its JSON (IR) form."""
        if op == "is_null":
            return value
        ctype = self.operand_type(op)
        if op == "in":
            return [_encode(ctype, v) for v in thaw(value)]
        return _encode(ctype, thaw(value))

    def _convert(self, op: str, value: Any, one: Converter) -> Any:
        self.check(op)
        where = f"{self.table}.{self.name}"
        if op == "is_null":
            if not isinstance(value, bool):
                raise QueryError(f"is_null on {where} takes True or False, got {value!r}",
                                 table=self.table, column=self.name, operator=op)
            return value
        ctype = self.operand_type(op)
        try:
            if op == "in":
                if not isinstance(value, (list, tuple)):
                    raise QueryError(f"'in' on {where} needs a list of values, got "
                                     f"{type(value).__name__} {value!r}",
                                     table=self.table, column=self.name, operator=op)
                return tuple(self._one(ctype, v, where, one) for v in value)
            return self._one(ctype, value, where, one)
        except SchemaError as err:
            raise QueryError(f"{err} (operator {op!r})", table=self.table, column=self.name,
                             operator=op) from err

    @staticmethod
    def _one(ctype: t.ColumnType, value: Any, where: str, one: Converter) -> Any:
        if value is None:
            raise SchemaError(f"{where}: expected a value, got None (use is_null to match NULL)")
        stored = one(ctype, value, where)
        if not _finite(stored):
            raise SchemaError(f"{where}: expected finite numbers, got {value!r}")
        return _freeze(stored)


def resolve(app: App, table: str, name: str) -> QueryColumn:
    """The column ``name`` of ``table``: ``id``, a user column or a magic column.

    Example:
        >>> from jazz_nb.schema import define_app, table, int as int_
        >>> resolve(define_app({"t": table(n=int_().optional())}), "t", "n").operators[-1]
        'is_null'
    """
    if name == "id":
        return QueryColumn(table, name, t.Uuid(), False, "id")
    if isinstance(name, str) and name in MAGIC_TYPES:
        return QueryColumn(table, name, MAGIC_TYPES[name], name in NULLABLE_MAGIC, "magic")
    column = app.table(table).column(table, name)
    return QueryColumn(table, name, column.type, column.nullable, "user")
