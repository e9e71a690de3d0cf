"""Symbolic application of lens operations: where each column of a translated row comes from.

Walking a transform over a schema's tables gives, per resulting table, the source table its
rows come from (``None`` for a table the transform adds: no rows) and, per column, either a
``Source`` column of that table or a ``Const`` default. Composing a lens path is walking the
concatenated transforms; the SQL and Python translations read the result. The walk checks each
operation (unknown table or column, clashing names, wrong column type) and raises a
``MigrationError`` naming the operation, table and column.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.lens.ops import AddColumn, RenameColumn
    >>> from jazz_nb.schema import types as t
    >>> tables = walk(initial({"todos": s.table(name=s.string())}), [
    ...     RenameColumn("todos", "name", "title"), AddColumn("todos", "n", t.Integer(), 0)])
    >>> tables["todos"].origin, translate_row(tables["todos"], {"name": "x"})
    ('todos', {'title': 'x', 'n': 0})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from jazz_nb.errors import MigrationError
from jazz_nb.lens.ops import (
    AddColumn,
    AddTable,
    LensOp,
    RemoveColumn,
    RemoveTable,
    RenameColumn,
    RenameTable,
)
from jazz_nb.schema import types as t
from jazz_nb.schema.app import TableSchema


@dataclass(frozen=True)
class Source:
    """The value of column ``column`` of the source row (of type ``type``).

    Example:
        >>> Source("title", t.Text(), False).column
        'title'
    """

    column: str
    type: t.ColumnType
    nullable: bool


@dataclass(frozen=True)
class Const:
    """A constant (a lens default) of type ``type``.

    Example:
        >>> Const(0, t.Integer()).value
        0
    """

    value: Any
    type: t.ColumnType


Cell = Source | Const


@dataclass(frozen=True)
class TableState:
    """A table during a walk: the source table its rows come from and its columns.

    Example:
        >>> TableState(None, {}).origin is None
        True
    """

    origin: str | None
    columns: dict[str, Cell]


def initial(tables: Mapping[str, TableSchema]) -> dict[str, TableState]:
    """The identity state of a schema's tables (every column is its own source).

    Example:
        >>> from jazz_nb import s
        >>> initial({"t": s.table(a=s.int())})["t"].columns["a"]
        Source(column='a', type=Integer(), nullable=False)
    """
    return {name: TableState(name, {c: Source(c, col.type, col.nullable)
                                    for c, col in schema.columns.items()})
            for name, schema in tables.items()}


def _fail(op: LensOp, message: str, column: str | None = None) -> MigrationError:
    what = f"{op.table}.{column}" if column else op.table
    return MigrationError(f"{op.name} {what}: {message}", table=op.table, column=column,
                          operator=op.name)


def _table(state: dict[str, TableState], op: LensOp, name: str) -> TableState:
    if name not in state:
        known = ", ".join(sorted(state)) or "none"
        raise MigrationError(f"{op.name} {name}: unknown table {name!r} (tables at this step: "
                             f"{known})", table=name, operator=op.name)
    return state[name]


def _apply(state: dict[str, TableState], op: LensOp) -> None:
    if isinstance(op, RenameTable):
        _table(state, op, op.old)
        if op.new in state:
            raise _fail(op, f"cannot rename {op.old!r}: table {op.new!r} already exists")
        state[op.new] = state.pop(op.old)
    elif isinstance(op, AddTable):
        if op.table in state:
            raise _fail(op, "the table already exists")
        state[op.table] = TableState(None, {})
    elif isinstance(op, RemoveTable):
        _table(state, op, op.table)
        del state[op.table]
    else:
        table = _table(state, op, op.table)
        cols = dict(table.columns)
        if isinstance(op, AddColumn):
            if op.column in cols:
                raise _fail(op, "the column already exists", op.column)
            cols[op.column] = Const(op.default, op.type)
        elif isinstance(op, RemoveColumn):
            if op.column not in cols:
                raise _fail(op, f"unknown column (columns: {', '.join(cols)})", op.column)
            if cols[op.column].type != op.type:
                raise _fail(op, f"the column is {cols[op.column].type.kind}, the operation "
                                f"says {op.type.kind}", op.column)
            del cols[op.column]
        else:
            assert isinstance(op, RenameColumn)
            if op.old not in cols:
                raise _fail(op, f"unknown column (columns: {', '.join(cols)})", op.old)
            if op.new in cols:
                raise _fail(op, f"cannot rename {op.old!r}: column {op.new!r} already exists",
                            op.new)
            cols = {op.new if c == op.old else c: cell for c, cell in cols.items()}
        state[op.table] = replace(table, columns=cols)


def walk(state: Mapping[str, TableState], ops: Iterable[LensOp]) -> dict[str, TableState]:
    """Apply ``ops`` in order to ``state`` (not modified); returns the resulting tables.

    Example:
        >>> from jazz_nb import s
        >>> from jazz_nb.lens.ops import RemoveColumn
        >>> walk(initial({"t": s.table(a=s.int())}), [RemoveColumn("t", "b", t.Integer(), 0)])
        Traceback (most recent call last):
        ...
        jazz_nb.errors.MigrationError: remove_column t.b: unknown column (columns: a)
    """
    out = dict(state)
    for op in ops:
        _apply(out, op)
    return out


def translate_row(table: TableState, data: Mapping[str, Any],
                  columns: Iterable[str] | None = None) -> dict[str, Any]:
    """A source row (storage values) in the translated shape; ``columns`` (the reader's
    declared order) defaults to the walk's order; columns the walk lacks are NULL.

    Example:
        >>> state = TableState("t", {"b": Source("a", t.Integer(), False)})
        >>> translate_row(state, {"a": 1}, ["b", "c"])
        {'b': 1, 'c': None}
    """
    names = table.columns if columns is None else columns
    out = {}
    for name in names:
        cell = table.columns.get(name)
        out[name] = data.get(cell.column) if isinstance(cell, Source) else (
            cell.value if cell is not None else None)
    return out
