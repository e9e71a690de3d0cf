"""Jazz's six lens operations (§6.2), each reversible, and their published JSON form.

A transform is a sequence of operations applied in order; its inverse applies the inverted
operations in reverse order. Column operations name the table as it is called at that point of
the sequence (after any ``RenameTable`` before them).

Published form (``POST /apps/<id>/admin/migrations``): one ``TableLens`` per table —
``{"table", "added", "removed", "renamedFrom", "operations": [...]}`` with operations
``{"type": "introduce"|"drop", "column", "column_type", "value"}`` or
``{"type": "rename", "column": <old>, "value": <new>}``.

Example:
    >>> from jazz_nb.schema import types as t
    >>> ops = (RenameTable("users", "people"), AddColumn("people", "age", t.Integer(), 0))
    >>> inverse(ops)
    (RemoveColumn(table='people', column='age', type=Integer(), default=0), \
RenameTable(old='people', new='users'))
    >>> from_json(to_json(ops)) == ops
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jazz_nb.errors import MigrationError
from jazz_nb.lens.values import from_tagged, to_tagged
from jazz_nb.schema import types as t


@dataclass(frozen=True)
class AddColumn:
    """Forward: every row of ``table`` gets ``column`` = ``default``. Inverse: ``RemoveColumn``.

    Example:
        >>> AddColumn("todos", "n", t.Integer(), 0).invert().name
        'remove_column'
    """

    table: str
    column: str
    type: t.ColumnType
    default: Any
    name = "add_column"

    def invert(self) -> RemoveColumn:
        """The operation undoing this one."""
        return RemoveColumn(self.table, self.column, self.type, self.default)


@dataclass(frozen=True)
class RemoveColumn:
    """Forward: drop ``column``; ``default`` is the backwards default older readers get.

    Example:
        >>> RemoveColumn("todos", "n", t.Integer(), 5).invert().default
        5
    """

    table: str
    column: str
    type: t.ColumnType
    default: Any
    name = "remove_column"

    def invert(self) -> AddColumn:
        """The operation undoing this one."""
        return AddColumn(self.table, self.column, self.type, self.default)


@dataclass(frozen=True)
class RenameColumn:
    """Forward: ``old`` is called ``new``.

    Example:
        >>> RenameColumn("todos", "name", "title").invert()
        RenameColumn(table='todos', old='title', new='name')
    """

    table: str
    old: str
    new: str
    name = "rename_column"

    def invert(self) -> RenameColumn:
        """The operation undoing this one."""
        return RenameColumn(self.table, self.new, self.old)


@dataclass(frozen=True)
class AddTable:
    """Forward: ``table`` exists only in the target (source rows: none).

    Example:
        >>> AddTable("audit").invert()
        RemoveTable(table='audit')
    """

    table: str
    name = "add_table"

    def invert(self) -> RemoveTable:
        """The operation undoing this one."""
        return RemoveTable(self.table)


@dataclass(frozen=True)
class RemoveTable:
    """Forward: ``table`` exists only in the source.

    Example:
        >>> RemoveTable("legacy").invert()
        AddTable(table='legacy')
    """

    table: str
    name = "remove_table"

    def invert(self) -> AddTable:
        """The operation undoing this one."""
        return AddTable(self.table)


@dataclass(frozen=True)
class RenameTable:
    """Forward: table ``old`` is called ``new``.

    Example:
        >>> RenameTable("users", "people").table
        'people'
    """

    old: str
    new: str
    name = "rename_table"

    @property
    def table(self) -> str:
        """The table's name after the operation."""
        return self.new

    def invert(self) -> RenameTable:
        """The operation undoing this one."""
        return RenameTable(self.new, self.old)


LensOp = AddColumn | RemoveColumn | RenameColumn | AddTable | RemoveTable | RenameTable
TABLE_OPS = (AddTable, RemoveTable, RenameTable)


def inverse(ops: Sequence[LensOp]) -> tuple[LensOp, ...]:
    """The transform undoing ``ops``: inverted operations in reverse order.

    Example:
        >>> inverse([RenameColumn("t", "a", "b"), AddTable("u")])
        (RemoveTable(table='u'), RenameColumn(table='t', old='b', new='a'))
    """
    return tuple(op.invert() for op in reversed(ops))


def _column_json(op: LensOp) -> dict[str, Any]:
    if isinstance(op, RenameColumn):
        return {"type": "rename", "column": op.old, "value": op.new}
    assert isinstance(op, (AddColumn, RemoveColumn))
    kind = "introduce" if isinstance(op, AddColumn) else "drop"
    return {"type": kind, "column": op.column, "column_type": op.type.to_json(),
            "value": to_tagged(op.type, op.default)}


def to_json(ops: Sequence[LensOp]) -> list[dict[str, Any]]:
    """Jazz's published ``forward: TableLens[]``: one entry per table, in order.

    Example:
        >>> to_json([RenameColumn("todos", "name", "title")])
        [{'table': 'todos', 'operations': [{'type': 'rename', 'column': 'name', 'value': 'title'}]}]
    """
    entries: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for op in ops:
        if isinstance(op, TABLE_OPS) or current is None or current["table"] != op.table:
            current = {"table": op.table, "operations": []}
            entries.append(current)
        if isinstance(op, AddTable):
            current["added"] = True
        elif isinstance(op, RemoveTable):
            current["removed"] = True
        elif isinstance(op, RenameTable):
            current["renamedFrom"] = op.old
        elif current.get("added") or current.get("removed"):
            raise MigrationError(f"{op.name} {op.table}: the table is added or removed by the "
                                 "lens, so it cannot have column operations", table=op.table,
                                 operator=op.name)
        else:
            current["operations"].append(_column_json(op))
    return entries


def _column_op(table: str, data: dict[str, Any]) -> LensOp:
    kind = data.get("type")
    column = data.get("column")
    if not isinstance(column, str):
        raise MigrationError(f"lens operation on table {table!r} has no column: {data!r}",
                             table=table)
    if kind == "rename":
        return RenameColumn(table, column, str(data.get("value")))
    if kind in ("introduce", "drop"):
        column_type = t.type_from_json(data.get("column_type") or {})
        value = from_tagged(column_type, data.get("value", {"type": "Null"}),
                            where=f"{kind} {table}.{column}")
        cls = AddColumn if kind == "introduce" else RemoveColumn
        return cls(table, column, column_type, value)
    raise MigrationError(f"unknown lens operation {kind!r} on table {table!r} (expected "
                         "introduce, drop or rename)", table=table, column=column)


def from_json(entries: Sequence[dict[str, Any]]) -> tuple[LensOp, ...]:
    """Inverse of ``to_json``.

    Example:
        >>> from_json([{"table": "audit", "added": True, "operations": []}])
        (AddTable(table='audit'),)
    """
    ops: list[LensOp] = []
    for entry in entries:
        table = entry.get("table")
        if not isinstance(table, str):
            raise MigrationError(f"a TableLens needs a table name: {entry!r}")
        if entry.get("renamedFrom"):
            ops.append(RenameTable(str(entry["renamedFrom"]), table))
        if entry.get("added"):
            ops.append(AddTable(table))
        if entry.get("removed"):
            ops.append(RemoveTable(table))
        if (entry.get("added") or entry.get("removed")) and entry.get("operations"):
            raise MigrationError(f"table {table!r} is added or removed by the lens, so it "
                                 "cannot have column operations", table=table)
        ops += [_column_op(table, op) for op in entry.get("operations") or ()]
    return tuple(ops)
