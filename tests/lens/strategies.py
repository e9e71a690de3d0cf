"""Hypothesis strategies: random schemas, values of every column type, random lens operations."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import strategies as st

from jazz_nb import s
from jazz_nb.lens import ops as lo
from jazz_nb.lens.translate import TableState, initial, walk
from jazz_nb.schema import types as t

NAMES = [f"c{i}" for i in range(8)]
TABLES = [f"t{i}" for i in range(5)]
TYPES: list[t.ColumnType] = [
    t.Text(), t.Integer(), t.BigInt(), t.Double(), t.Boolean(), t.Timestamp(), t.Uuid(),
    t.Bytea(), t.Enum(("high", "low")), t.Json(), t.Array(t.Text()), t.Array(t.Integer())]


def values(column_type: t.ColumnType) -> st.SearchStrategy[Any]:
    """Storage values of ``column_type`` (never None)."""
    if isinstance(column_type, t.Text):
        return st.text(max_size=6)
    if isinstance(column_type, t.Integer):
        return st.integers(-(2**31), 2**31 - 1)
    if isinstance(column_type, (t.BigInt, t.Timestamp)):
        low = 0 if isinstance(column_type, t.Timestamp) else -(2**63)
        return st.integers(low, 2**53)
    if isinstance(column_type, t.Double):
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if isinstance(column_type, t.Boolean):
        return st.booleans()
    if isinstance(column_type, t.Uuid):
        return st.uuids().map(str)
    if isinstance(column_type, t.Bytea):
        return st.binary(max_size=4)
    if isinstance(column_type, t.Enum):
        return st.sampled_from(column_type.variants)
    if isinstance(column_type, t.Json):
        return st.sampled_from([{"a": 1}, [1, 2], "x", None, 3]).map(t.canonical_json)
    assert isinstance(column_type, t.Array)
    return st.lists(values(column_type.element), max_size=3)


def maybe_values(column_type: t.ColumnType, nullable: bool) -> st.SearchStrategy[Any]:
    """Values of a column, ``None`` included when it is nullable."""
    return st.one_of(st.none(), values(column_type)) if nullable else values(column_type)


@st.composite
def columns(draw: st.DrawFn) -> s.Column:
    """A column of any type, optional or not, sometimes with a schema default."""
    column_type = draw(st.sampled_from(TYPES))
    column = s.Column(column_type, nullable=draw(st.booleans()))
    if draw(st.booleans()):
        column = column.with_default(draw(values(column_type)))
    return column


@st.composite
def apps(draw: st.DrawFn) -> s.App:
    """An app of 1-3 tables with 1-4 columns each."""
    tables = draw(st.lists(st.sampled_from(TABLES), min_size=1, max_size=3, unique=True))
    schema = {}
    for name in tables:
        cols = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
        schema[name] = s.TableSchema({c: draw(columns()) for c in cols})
    return s.define_app(schema)


def _fresh(draw: st.DrawFn, taken: Any, pool: list[str]) -> str | None:
    free = [n for n in pool if n not in taken]
    return draw(st.sampled_from(free)) if free else None


@st.composite
def op_sequences(draw: st.DrawFn, app: s.App) -> tuple[lo.LensOp, ...]:
    """A random valid sequence of lens operations over ``app``'s tables (as Jazz applies them:
    in order, each on the result of the previous). As in Jazz's published lenses, a table
    given column operations is not removed (its inverse could not re-add the columns)."""
    state: dict[str, TableState] = initial(app.tables)
    touched: set[str] = set()
    out: list[lo.LensOp] = []
    for _ in range(draw(st.integers(0, 6))):
        with_rows = [n for n, ts in state.items() if ts.origin is not None]
        kind = draw(st.sampled_from(["add", "remove", "rename", "add_table", "remove_table",
                                     "rename_table"]))
        op: lo.LensOp | None = None
        if kind in ("add", "remove", "rename") and with_rows:
            table = draw(st.sampled_from(with_rows))
            cols = state[table].columns
            if kind == "add" and (name := _fresh(draw, cols, NAMES)):
                column_type = draw(st.sampled_from(TYPES))
                op = lo.AddColumn(table, name, column_type, draw(values(column_type)))
            elif kind == "remove" and cols:
                name = draw(st.sampled_from(sorted(cols)))
                op = lo.RemoveColumn(table, name, cols[name].type,
                                     draw(values(cols[name].type)))
            elif kind == "rename" and cols and (new := _fresh(draw, cols, NAMES)):
                op = lo.RenameColumn(table, draw(st.sampled_from(sorted(cols))), new)
        elif kind == "add_table" and (name := _fresh(draw, state, TABLES)):
            op = lo.AddTable(name)
        elif kind == "remove_table" and (untouched := sorted(set(state) - touched)):
            op = lo.RemoveTable(draw(st.sampled_from(untouched)))
        elif kind == "rename_table" and state and (new := _fresh(draw, state, TABLES)):
            op = lo.RenameTable(draw(st.sampled_from(sorted(state))), new)
            if op.old in touched:
                touched.add(new)
        if isinstance(op, lo.AddColumn | lo.RemoveColumn | lo.RenameColumn):
            touched.add(op.table)
        if op is not None:
            state = walk(state, [op])
            out.append(op)
    return tuple(out)


def new_id() -> str:
    """A row id."""
    return str(uuid.uuid4())
