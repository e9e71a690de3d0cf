"""Where does a row go in an ordered result? DuckDB's ORDER BY, replayed on numpy arrays.

The compiler sorts by the query's keys (NULLS FIRST ascending, NULLS LAST descending, §3.2) then
by ``id`` ascending, so every result has one total order. To place new or moved rows without
re-running the query, each sort column is turned into comparable numpy *components*: a null
rank, a NaN rank for floats (DuckDB sorts NaN above every number) and the value itself (ints,
floats, Python ``str``/``bytes`` objects, which compare like DuckDB's byte-wise collation on
UTF-8). Rows are then placed by a vectorised binary search: ~log2(n) rounds over all new rows
at once, each gathering k values per column.

Example:
    >>> import pyarrow as pa
    >>> keys = [SortKey("p", descending=False, nulls_first=True), SortKey("id")]
    >>> table = pa.table({"p": [None, 1, 5], "id": ["a", "b", "c"]})
    >>> new = pa.table({"p": [3, None], "id": ["d", "0"]})
    >>> insertion_points(table, keys, new).tolist()
    [2, 0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from jazz_nb.live.chunks import bounds, flat, gather


class Unsortable(Exception):
    """A sort column type we cannot replay (lists, structs): fall back to re-querying."""


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY key of a compiled query."""

    column: str
    descending: bool = False
    nulls_first: bool = False


Components = list[tuple[np.ndarray, int]]  # (values, +1 ascending / -1 descending)


def components(values: pa.Array | pa.ChunkedArray, key: SortKey) -> Components:
    """Comparable arrays for one sort key: null rank, NaN rank (floats), value."""
    arr = flat(values)
    typ = arr.type
    sign = -1 if key.descending else 1
    nulls = (arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count
             else np.zeros(len(arr), dtype=bool))
    # where nulls go in the final order does not flip with the direction
    out: Components = [(np.where(nulls, 0, 1) if key.nulls_first else np.where(nulls, 1, 0), 1)]
    if arr.null_count:
        arr = arr.fill_null(_zero(typ))
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ) or pa.types.is_time(typ) \
            or pa.types.is_duration(typ):
        vals = arr.cast(pa.int64()).to_numpy(zero_copy_only=False)
    elif pa.types.is_integer(typ):
        vals = arr.to_numpy(zero_copy_only=False)
    elif pa.types.is_boolean(typ):
        vals = arr.to_numpy(zero_copy_only=False).astype(np.int8)
    elif pa.types.is_floating(typ):
        vals = arr.to_numpy(zero_copy_only=False).astype(np.float64)
        nan = np.isnan(vals)
        out.append((nan.astype(np.int8), sign))  # DuckDB sorts NaN above every number
        vals = np.where(nan, 0.0, vals)
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ) \
            or pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        vals = np.asarray(arr.to_pylist(), dtype=object)
    else:
        raise Unsortable(f"cannot replay ORDER BY on column {key.column!r} of type {typ}")
    out.append((vals, sign))
    return out


def _zero(typ: pa.DataType) -> pa.Scalar:
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return pa.scalar("", type=typ)
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        return pa.scalar(b"", type=typ)
    if pa.types.is_boolean(typ):
        return pa.scalar(False)
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ) or pa.types.is_time(typ) \
            or pa.types.is_duration(typ):
        return pa.scalar(0, type=pa.int64()).cast(typ)
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        return pa.scalar(0, type=typ)
    raise Unsortable(f"cannot replay ORDER BY on a column of type {typ}")


def compare(a: list[Components], b: list[Components]) -> np.ndarray:
    """Elementwise -1/0/1 comparison of two equally long row sets in result order."""
    n = len(a[0][0][0]) if a and a[0] else 0
    out = np.zeros(n, dtype=np.int8)
    for comps_a, comps_b in zip(a, b, strict=True):
        for (va, sign), (vb, _) in zip(comps_a, comps_b, strict=True):
            undecided = out == 0
            if not undecided.any():
                return out
            gt = np.asarray(va > vb, dtype=bool)
            lt = np.asarray(va < vb, dtype=bool)
            out = np.where(undecided, (gt.astype(np.int8) - lt.astype(np.int8)) * sign, out)
    return out


class KeyColumns:
    """The sort components of a whole result, gathered lazily at the probed positions."""

    def __init__(self, table: pa.Table, keys: list[SortKey]) -> None:
        self.table = table
        self.keys = keys
        self.starts = bounds(table.column(0)) if table.num_columns else np.zeros(1, np.int64)

    def at(self, positions: np.ndarray) -> list[Components]:
        return [components(gather(self.table.column(k.column), positions, self.starts), k)
                for k in self.keys]


def insertion_points(table: pa.Table, keys: list[SortKey], new: pa.Table) -> np.ndarray:
    """For each row of ``new``: how many rows of ``table`` (sorted by ``keys``) sort before it.

    Rows of ``new`` must not be in ``table`` (the id key makes every row distinct).
    """
    n = table.num_rows
    k = new.num_rows
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    probe = [components(new.column(key.column), key) for key in keys]
    lo = np.zeros(k, dtype=np.int64)
    hi = np.full(k, n, dtype=np.int64)
    cols = KeyColumns(table, keys)
    if n:  # rows sorting after the last one (new ids of an id-ordered result) are placed
        last = cols.at(np.full(k, n - 1, dtype=np.int64))  # by one comparison
        lo[compare(last, probe) < 0] = n
    while True:
        active = np.flatnonzero(lo < hi)
        if len(active) == 0:
            return lo
        mid = (lo[active] + hi[active]) // 2
        current = cols.at(mid)
        sub = [[(v[active], s) for v, s in comps] for comps in probe]
        before = compare(current, sub) < 0  # table row sorts before the new row
        lo[active] = np.where(before, mid + 1, lo[active])
        hi[active] = np.where(before, hi[active], mid)


def sorted_between(table: pa.Table, keys: list[SortKey], positions: np.ndarray,
                   rows: pa.Table) -> np.ndarray:
    """Whether row i of ``rows`` still fits at ``positions[i]`` of ``table`` (between its
    neighbours), i.e. an update of its sort keys does not move it."""
    n = table.num_rows
    k = len(positions)
    ok = np.ones(k, dtype=bool)
    if k == 0:
        return ok
    probe = [components(rows.column(key.column), key) for key in keys]
    cols = KeyColumns(table, keys)
    has_prev = positions > 0
    if has_prev.any():
        idx = np.flatnonzero(has_prev)
        prev = cols.at(positions[idx] - 1)
        sub = [[(v[idx], s) for v, s in comps] for comps in probe]
        ok[idx] &= compare(prev, sub) < 0
    has_next = positions < n - 1
    if has_next.any():
        idx = np.flatnonzero(has_next)
        nxt = cols.at(positions[idx] + 1)
        sub = [[(v[idx], s) for v, s in comps] for comps in probe]
        ok[idx] &= compare(nxt, sub) > 0
    return ok
