"""The columns a policy can name: ``id``, user columns and ``$createdBy``-style provenance.

Each column gets a value *kind* that fixes how policy comparisons treat it (``text``, ``json``,
``uuid``, ``int`` — also timestamps —, ``float``, ``bool``, ``bytes``, ``array``).

Example:
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string(), tags=s.array(s.string()))})
    >>> info = columns_of(app, "todos")
    >>> info["tags"].kind, info["tags"].element, info["$createdAt"].kind
    ('array', 'text', 'int')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from jazz_nb.errors import PolicyError, QueryError
from jazz_nb.query.columns import MAGIC_TYPES, MicrosTimestamp
from jazz_nb.schema import types as t

if TYPE_CHECKING:
    from jazz_nb.schema.app import App

POLICY_MAGIC = ("$createdBy", "$createdAt", "$updatedBy", "$updatedAt")


@dataclass(frozen=True)
class ColumnInfo:
    """What policies need to know about one column.

    Example:
        >>> ColumnInfo("todos", "id", "uuid", None, False, None).is_array
        False
    """

    table: str
    name: str
    kind: str
    element: str | None
    nullable: bool
    references: str | None
    sql_type: str = "VARCHAR"

    @property
    def is_array(self) -> bool:
        """Whether the column holds a list."""
        return self.kind == "array"

    @property
    def full_kind(self) -> str:
        """The kind with the element kind of arrays (``"array<text>"``): what must match for
        two columns to compare."""
        return f"array<{self.element}>" if self.is_array else self.kind


def kind_of(ctype: t.ColumnType) -> str:
    """The policy value kind of a column type.

    Example:
        >>> kind_of(t.Enum(("a", "b"))), kind_of(t.Timestamp())
        ('text', 'int')
    """
    if isinstance(ctype, (t.Text, t.Enum)):
        return "text"
    if isinstance(ctype, (t.Integer, t.BigInt, t.Timestamp, MicrosTimestamp)):
        return "int"
    kinds = {t.Json: "json", t.Uuid: "uuid", t.Double: "float", t.Boolean: "bool",
             t.Bytea: "bytes", t.Array: "array"}
    return kinds[type(ctype)]


@lru_cache(maxsize=256)
def columns_of(app: App, table: str) -> dict[str, ColumnInfo]:
    """Every column a policy on ``table`` may name (unknown table: ``QueryError``)."""
    out = {"id": ColumnInfo(table, "id", "uuid", None, False, None, "UUID")}
    for name, col in app.table(table).columns.items():
        element = kind_of(col.type.element) if isinstance(col.type, t.Array) else None
        out[name] = ColumnInfo(table, name, kind_of(col.type), element, col.nullable,
                               col.references, col.type.sql_type())
    for name in POLICY_MAGIC:
        ctype = MAGIC_TYPES[name]
        out[name] = ColumnInfo(table, name, kind_of(ctype), None, False, None, ctype.sql_type())
    return out


def table_of(app: App, table: str, where: str) -> None:
    """Raise a ``PolicyError`` naming ``where`` if ``app`` has no table ``table``."""
    try:
        app.table(table)
    except QueryError as err:
        raise PolicyError(f"{where}: {err}", table=table) from None


def column_info(app: App, table: str, name: str, where: str) -> ColumnInfo:
    """The column ``name`` of ``table`` or a ``PolicyError`` naming the rule at fault.

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"todos": s.table(title=s.string())})
        >>> column_info(app, "todos", "titel", "todos read")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.errors.PolicyError: todos read: unknown column 'titel' on table 'todos' (...)
    """
    table_of(app, table, where)
    columns = columns_of(app, table)
    if not isinstance(name, str) or name not in columns:
        hint = " ($can* columns cannot be used in policies)" if str(name).startswith("$can") else ""
        raise PolicyError(f"{where}: unknown column {name!r} on table {table!r}{hint} "
                          f"(columns: {', '.join(columns)})", table=table, column=str(name))
    return columns[name]


def reference_of(app: App, table: str, column: str, where: str, *,
                 allow_array: bool = False) -> str:
    """The table the foreign key ``table.column`` references, or a ``PolicyError``.

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"p": s.table(n=s.string()), "t": s.table(p_id=s.ref("p"))})
        >>> reference_of(app, "t", "p_id", "t read")
        'p'
    """
    info = column_info(app, table, column, where)
    if info.references is None:
        raise PolicyError(f"{where}: {table}.{column} is not a foreign key reference (declare it "
                          "with s.ref(...))", table=table, column=column)
    if info.is_array and not allow_array:
        raise PolicyError(f"{where}: {table}.{column} is an array of references; inheritance "
                          "needs a single reference", table=table, column=column)
    return info.references
