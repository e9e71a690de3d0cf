"""Re-evaluating changed rows in memory: a query's filter and columns applied to the records
the store just wrote, so a one-row write refreshes a live query without a DuckDB round trip.

Only plain queries qualify: one table (no includes), no row policy, no schema-version union,
columns and conditions of scalar types whose SQL semantics are replayed exactly here —
``NULL`` never equals, ``ne`` is ``IS DISTINCT FROM`` and ``lt``/``lte`` match ``NULL`` on
nullable columns (as the compiler writes them), NaN sorts above every number, text compares by
code point (DuckDB's byte-wise collation on UTF-8). Anything else returns ``None`` from
``DirectEval.build`` and the live query keeps asking DuckDB.

Example:
    >>> import pyarrow as pa
    >>> from jazz_nb import s
    >>> from jazz_nb.store.versions import RowVersion
    >>> app = s.define_app({"todos": s.table(title=s.string(), done=s.boolean())})
    >>> q = app.todos.where(done=False)
    >>> schema = pa.schema([("id", pa.string()), ("title", pa.string()), ("done", pa.bool_())])
    >>> direct = DirectEval(q, schema, [SortKey("id")])
    >>> v = RowVersion("todos", "r1", "b" * 32, (), 1, "me", 1, "me", {"title": "a", "done": False})
    >>> direct.fetch({"r1": v, "r2": None}).to_pylist()
    [{'id': 'r1', 'title': 'a', 'done': False}]
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from jazz_nb.live.order import SortKey, components
from jazz_nb.query.columns import MicrosTimestamp
from jazz_nb.query.sql import CompileContext
from jazz_nb.schema import types as t
from jazz_nb.store.layout import MAGIC_COLUMNS, arrow_type

if TYPE_CHECKING:
    from jazz_nb.query.builder import Condition, Query

Getter = Callable[[Any], Any]
Test = Callable[[Any], bool]
_SCALARS = (t.Text, t.Boolean, t.Integer, t.BigInt, t.Double, t.Timestamp, t.Uuid, t.Enum,
            t.Json, MicrosTimestamp)
_MAGIC: dict[str, Getter] = {
    "$createdBy": operator.attrgetter("created_by"),
    "$createdAt": operator.attrgetter("created_at"),
    "$updatedBy": operator.attrgetter("updated_by"),
    "$updatedAt": operator.attrgetter("updated_at"),
}
_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def plain(db: Any, query: Query, *, row_filter: bool = False) -> bool:
    """Whether ``db`` compiles ``query`` over just its own visible table, with built-in
    magic columns and no row filter (the precondition of evaluating it in memory);
    ``row_filter=True`` allows a row filter (the caller applies it itself)."""
    if query.includes or db.branch_key:
        return False
    ctx = db.compile_context()
    if ctx is None:
        return True
    default = CompileContext(db.store.app.schema_hash)
    return (ctx.source(query.table) == default.source(query.table)
            and (row_filter or ctx.row_filter(query.table, "t") is None)
            and all(ctx.magic(query.table, "t", name) is None for name in MAGIC_COLUMNS))


class DirectEval:
    """A plain query's ``only_ids`` statement, evaluated on records in Python."""

    def __init__(self, query: Query, schema: pa.Schema, keys: list[SortKey]) -> None:
        self.schema = schema
        self.keys = keys
        self.hard_only = query.with_deleted  # include_deleted keeps soft-deleted rows
        self.tests = [(_getter(query, c.column), _test(query, c)) for c in query.conditions]
        self.columns = [(_getter(query, f.name), _build_type(_storage_type(query, f.name),
                                                             f.type), f.type)
                        for f in schema]

    @classmethod
    def build(cls, db: Any, query: Query, schema: pa.Schema, keys: list[SortKey], *,
              row_filter: bool = False) -> DirectEval | None:
        """The evaluator, or ``None`` when the query is not plain or uses a type not replayed
        (``row_filter=True``: the query's row filter is left to the caller).

        Example: ``DirectEval.build(db, app.todos.where(done=False), schema, keys)``
        """
        if not plain(db, query, row_filter=row_filter):
            return None
        try:
            return cls(query, schema, keys)
        except _NotReplayed:
            return None

    def matches(self, record: Any) -> bool:
        """Whether a visible record is in the query's result (ignoring any window).

        Example: ``direct.matches(version)``
        """
        if record is None:
            return False
        kind = record.delete_kind
        if kind is not None and (kind == "hard" or not self.hard_only):
            return False
        return all(test(get(record)) for get, test in self.tests)

    def fetch(self, records: Mapping[str, Any]) -> pa.Table:
        """The matching records as the query's Arrow rows, in result order.

        Example: ``direct.fetch({row_id: record_or_None, ...})``
        """
        rows = [r for r in records.values() if self.matches(r)]
        arrays = []
        for get, storage, final in self.columns:
            array = pa.array([get(r) for r in rows], storage)
            arrays.append(array if storage == final else array.cast(final))
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        if table.num_rows > 1:
            table = table.take(_sort_indices(table, self.keys))
        return table


class _NotReplayed(Exception):
    """A column type or operator this module does not replay."""


def _column_type(query: Query, name: str, *, output: bool = False) -> t.ColumnType:
    """The column's type if replayed: scalars, and (as output only) arrays of scalars."""
    ctype = query.column(name).type
    if output and isinstance(ctype, t.Array) and isinstance(ctype.element, _SCALARS):
        return ctype
    if not isinstance(ctype, _SCALARS):
        raise _NotReplayed(name)
    return ctype


def _getter(query: Query, name: str) -> Getter:
    column = query.column(name)
    _column_type(query, name, output=True)
    if column.kind == "id":
        return operator.attrgetter("row_id")
    if column.kind == "magic":
        if name not in _MAGIC:
            raise _NotReplayed(name)
        return _MAGIC[name]
    return lambda record: record.data.get(name)


def _storage_type(query: Query, name: str) -> pa.DataType:
    ctype = _column_type(query, name, output=True)
    return pa.int64() if isinstance(ctype, MicrosTimestamp) else arrow_type(ctype)


def _build_type(storage: pa.DataType, final: pa.DataType) -> pa.DataType:
    """The type to build a column's array in: the result's own when Arrow builds it from
    the stored values directly (text as ``large_string``, microseconds as timestamps),
    else the storage type (then cast)."""
    wide_text = pa.types.is_string(storage) and pa.types.is_large_string(final)
    micros = pa.types.is_int64(storage) and pa.types.is_timestamp(final)
    return final if wide_text or micros else storage


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _test(query: Query, cond: Condition) -> Test:
    """``value -> bool`` with the SQL semantics of the compiled condition."""
    column = query.column(cond.column)
    _column_type(query, cond.column)
    p = cond.value
    op = cond.op
    nullable = column.nullable
    if op == "is_null":
        return (lambda v: v is None) if p else (lambda v: v is not None)
    if op == "eq":
        return lambda v: v is not None and v == p
    if op == "ne":
        return (lambda v: v != p) if nullable else (lambda v: v is not None and v != p)
    if op == "in":
        return lambda v: v is not None and v in p
    if op == "contains" and isinstance(column.type, t.Text):
        return lambda v: v is not None and p in v
    if op in _ORDER:
        compare = _ORDER[op]
        null_ok = nullable and op in ("lt", "lte")  # compiled as (x < p OR x IS NULL)
        above = op in ("gt", "gte")  # NaN sorts above every number

        def test(v: Any) -> bool:
            if v is None:
                return null_ok
            if _nan(v):
                return above
            return bool(compare(v, p))

        return test
    raise _NotReplayed(op)


def _sort_indices(table: pa.Table, keys: list[SortKey]) -> np.ndarray:
    """Row order of ``table`` under ``keys`` (DuckDB's ORDER BY, via comparable ranks)."""
    ranks: list[np.ndarray] = []
    for key in keys:
        for values, sign in components(table.column(key.column), key):
            rank = np.unique(values, return_inverse=True)[1].astype(np.int64)
            ranks.append(rank * sign)
    return np.lexsort(ranks[::-1])
