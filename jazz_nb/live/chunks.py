"""Arrow columns as lists of chunks that new versions share with old ones.

A live result's Arrow table is immutable: a change makes a *new* table. To make that cheap, each
column is split into chunks of about ``CHUNK_ROWS`` rows; a cell update rebuilds only the chunks
it touches, and inserts, deletes and moves are expressed as a splice plan (a list of pieces,
each a run of old rows or of new rows) that re-uses zero-copy slices of the old chunks; cell
updates of the same change are written while the touched chunks are rebuilt, not after. Runs of
small chunks left by many splices are merged back into full ones; the chunk layout depends only
on the plan, so every column of a table keeps the same one.

Example:
    >>> import pyarrow as pa
    >>> old = pa.chunked_array([pa.array([1, 2, 3, 4])])
    >>> new = splice(old, [Piece(OLD, 0, 1), Piece(NEW, 0, 1), Piece(OLD, 2, 4)],
    ...              pa.chunked_array([pa.array([9])]))
    >>> new.to_pylist()
    [1, 9, 3, 4]
    >>> replace_cells(new, [0], pa.array([7])).to_pylist()
    [7, 9, 3, 4]
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CHUNK_ROWS = 16_384
OLD, NEW = 0, 1


class Piece(NamedTuple):
    """Rows ``start:stop`` of the old column (``source=OLD``) or of the new rows (``NEW``)."""

    source: int
    start: int
    stop: int


def flat(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One contiguous array (zero-copy when the column has a single chunk)."""
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            return col.chunk(0)
        return col.combine_chunks() if col.num_chunks else pa.array([], type=col.type)
    return col


def _bounds(col: pa.ChunkedArray) -> list[int]:
    out = [0]
    for chunk in col.iterchunks():
        out.append(out[-1] + len(chunk))
    return out


def bounds(col: pa.ChunkedArray) -> np.ndarray:
    """Start row of every chunk, plus the total (pass it on to skip recomputing it)."""
    return np.asarray(_bounds(col), dtype=np.int64)


def gather(col: pa.ChunkedArray | pa.Array, positions: np.ndarray | Sequence[int],
           starts: np.ndarray | None = None) -> pa.Array:
    """``col[positions]`` as one array, taking from each chunk only what it holds (Arrow's
    ``ChunkedArray.take`` concatenates the whole column first for strings and nested types).

    Example:
        >>> gather(pa.chunked_array([[1, 2], [3, 4]]), [3, 0]).to_pylist()
        [4, 1]
    """
    positions = np.asarray(positions, dtype=np.int64)
    if isinstance(col, pa.Array):
        return col.take(pa.array(positions, type=pa.int64()))
    if col.num_chunks == 1:
        return col.chunk(0).take(pa.array(positions, type=pa.int64()))
    if len(positions) == 0:
        return pa.array([], type=col.type)
    bounds = starts if starts is not None else np.asarray(_bounds(col), dtype=np.int64)
    which = np.searchsorted(bounds, positions, side="right") - 1
    first = int(which[0])
    if len(positions) == 1:
        chunk = col.chunk(first)
        return chunk.slice(int(positions[0] - bounds[first]), 1)
    if (which == first).all():
        local = positions - bounds[first]
        return col.chunk(first).take(pa.array(local, type=pa.int64()))
    order = np.argsort(which, kind="stable")
    pieces = []
    sorted_which = which[order]
    starts = np.flatnonzero(np.r_[True, sorted_which[1:] != sorted_which[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        c = int(sorted_which[a])
        local = positions[order[a:b]] - bounds[c]
        pieces.append(col.chunk(c).take(pa.array(local, type=pa.int64())))
    joined = pa.concat_arrays(pieces)
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.arange(len(order))
    return joined.take(pa.array(inverse, type=pa.int64()))


def gather_table(table: pa.Table, positions: np.ndarray | Sequence[int],
                 starts: np.ndarray | None = None) -> pa.Table:
    """``table`` rows at ``positions`` (see ``gather``)."""
    return pa.Table.from_arrays([gather(c, positions, starts) for c in table.columns],
                                schema=table.schema)


def rechunk(col: pa.ChunkedArray | pa.Array, rows: int | None = None) -> pa.ChunkedArray:
    """Split into chunks of ``rows`` rows (zero-copy slices of the combined array)."""
    rows = rows or CHUNK_ROWS
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    n = len(col)
    if n == 0:
        return pa.chunked_array([], type=col.type)
    return pa.chunked_array([col.slice(i, rows) for i in range(0, n, rows)], type=col.type)


class Run(NamedTuple):
    """Rows ``start:stop`` of chunk ``chunk`` of a source (``OLD`` or ``NEW``)."""

    source: int
    chunk: int
    start: int
    stop: int
    whole: bool  # the whole chunk of the old column


def _runs(plan: Sequence[Piece], bounds: Sequence[list[int]]) -> list[Run]:
    """The plan as runs within single source chunks."""
    out = []
    for source, start, stop in plan:
        b = bounds[source]
        i = max(bisect.bisect_right(b, start) - 1, 0)
        while start < stop:
            while b[i + 1] <= start:
                i += 1
            lo, hi = start - b[i], min(stop, b[i + 1]) - b[i]
            out.append(Run(source, i, lo, hi, source == OLD and hi - lo == b[i + 1] - b[i]))
            start += hi - lo
    return out


def _groups(runs: list[Run], rows: int) -> list[list[Run]]:
    """Runs grouped into output chunks: whole old chunks stay alone (shared with the previous
    version); runs of slices and new rows are merged into chunks of at least ``rows`` rows, so
    a column keeps about ``n / rows`` chunks however many splices it saw."""
    small = max(rows // 4, 1)
    out: list[list[Run]] = []
    group: list[Run] = []
    size = 0
    for run in runs:
        if run.whole and run.stop - run.start >= small:
            if group:
                out.append(group)
            out.append([run])
            group, size = [], 0
            continue
        group.append(run)
        size += run.stop - run.start
        if size >= rows:
            out.append(group)
            group, size = [], 0
    if group:
        out.append(group)
    return out


def splice(col: pa.ChunkedArray, plan: Sequence[Piece], new: pa.ChunkedArray,
           rows: int | None = None, cells: tuple[np.ndarray, pa.Array] | None = None,
           ) -> pa.ChunkedArray:
    """The column laid out by ``plan`` (pieces of ``col`` and of ``new``), sharing chunks,
    then with ``cells`` — sorted unique final positions and their values (``cell_order``)
    — written in the same pass, so each touched chunk is built once. The chunk layout
    depends only on ``plan`` and the sources' layouts, never on ``cells``."""
    if new.type != col.type:
        new = new.cast(col.type)
    sources = (col, new)
    groups = _groups(_runs(plan, (_bounds(col), _bounds(new))), rows or CHUNK_ROWS)
    positions, values = cells if cells is not None else (np.zeros(0, np.int64),
                                                         pa.nulls(0, col.type))
    if values.type != col.type:
        values = values.cast(col.type)
    cuts = positions.tolist()
    j = final = 0
    out: list[pa.Array] = []
    for group in groups:
        size = sum(r.stop - r.start for r in group)
        if j < len(cuts) and cuts[j] < final + size:
            j = _with_cells(out, sources, group, final, cuts, j, values)
        elif len(group) == 1 and group[0].whole:
            out.append(col.chunk(group[0].chunk))
        else:
            parts = [sources[r.source].chunk(r.chunk).slice(r.start, r.stop - r.start)
                     for r in group]
            out.append(parts[0] if len(parts) == 1 else pa.concat_arrays(parts))
        final += size
    return pa.chunked_array(out, type=col.type)


def _with_cells(out: list[pa.Array], sources: tuple[pa.ChunkedArray, ...], group: list[Run],
                final: int, cuts: list[int], j: int, values: pa.Array) -> int:
    """Append the chunk of ``group`` (starting at final row ``final``) with the cells
    ``cuts[j:]`` that fall in it replaced; returns the first cell after it."""
    parts = []
    for run in group:
        chunk = sources[run.source].chunk(run.chunk)
        start, end = run.start, final + run.stop - run.start
        while j < len(cuts) and cuts[j] < end:
            at = run.start + cuts[j] - final
            if at > start:
                parts.append(chunk.slice(start, at - start))
            k = j
            while j + 1 < len(cuts) and cuts[j + 1] == cuts[j] + 1 and cuts[j + 1] < end:
                j += 1
            parts.append(values.slice(k, j + 1 - k))
            start = at + j + 1 - k
            j += 1
        if run.stop > start:
            parts.append(chunk.slice(start, run.stop - start))
        final = end
    out.append(pa.concat_arrays(parts))
    return j


def cell_order(positions: np.ndarray, values: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Cell writes as sorted unique positions with their values (the last write wins)."""
    positions = np.asarray(positions, dtype=np.int64)
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    last = np.r_[ordered[1:] != ordered[:-1], True] if len(ordered) else ordered.astype(bool)
    if last.all() and (order == np.arange(len(order))).all():
        return positions, values
    keep = order[last]
    return positions[keep], values.take(pa.array(keep, type=pa.int64()))


def build_plan(n_old: int, removed: np.ndarray, inserted: np.ndarray) -> list[Piece]:
    """The splice plan that removes old rows at ``removed`` (sorted) and puts new rows
    ``0..k-1`` at final positions ``inserted`` (sorted); other rows keep their order.

    Example:
        >>> [tuple(p) for p in build_plan(4, np.array([1]), np.array([0, 3]))]
        [(1, 0, 1), (0, 0, 1), (0, 2, 3), (1, 1, 2), (0, 3, 4)]
    """
    segments: list[list[int]] = []
    start = 0
    for r in removed.tolist():
        if r > start:
            segments.append([start, r])
        start = r + 1
    if start < n_old:
        segments.append([start, n_old])
    plan: list[Piece] = []

    def emit(piece: Piece) -> None:
        if plan and plan[-1].source == piece.source and plan[-1].stop == piece.start:
            plan[-1] = Piece(piece.source, plan[-1].start, piece.stop)
        else:
            plan.append(piece)

    seg = 0
    final = 0
    for j, at in enumerate(inserted.tolist()):
        need = at - final
        while need > 0:
            a, b = segments[seg]
            take_rows = min(need, b - a)
            emit(Piece(OLD, a, a + take_rows))
            need -= take_rows
            if a + take_rows == b:
                seg += 1
            else:
                segments[seg][0] = a + take_rows
        emit(Piece(NEW, j, j + 1))
        final = at + 1
    for a, b in segments[seg:]:
        emit(Piece(OLD, a, b))
    return plan


def _masked(chunk: pa.Array, local: np.ndarray, values: pa.Array, which: np.ndarray,
            ) -> pa.Array | None:
    """``chunk`` with ``chunk[local[i]] = values[which[i]]`` in one vectorised pass, or
    ``None`` when Arrow cannot do it for this type (then cells are spliced)."""
    if pa.types.is_nested(chunk.type) or len(np.unique(local)) != len(local):
        return None
    mask = np.zeros(len(chunk), dtype=bool)
    mask[local] = True
    order = np.argsort(local, kind="stable")
    replacements = values.take(pa.array(which[order], type=pa.int64()))
    try:
        return pc.replace_with_mask(chunk, pa.array(mask), replacements)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def replace_cells(col: pa.ChunkedArray, positions: Sequence[int] | np.ndarray,
                  values: pa.Array | pa.ChunkedArray,
                  starts: np.ndarray | None = None) -> pa.ChunkedArray:
    """A new version of ``col`` with ``col[positions[i]] = values[i]``; only the chunks that
    hold a changed position are rebuilt, the others are shared."""
    return replace_cells_in(col, positions, values, starts)[0]


def replace_cells_in(col: pa.ChunkedArray, positions: Sequence[int] | np.ndarray,
                     values: pa.Array | pa.ChunkedArray, starts: np.ndarray | None = None,
                     ) -> tuple[pa.ChunkedArray, list[int]]:
    """``replace_cells`` plus the indexes of the chunks it rebuilt."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if values.type != col.type:
        values = values.cast(col.type)
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) == 0:
        return col, []
    if len(positions) == 1 and len(values) == 1:  # the common one-cell update
        bounds = starts if starts is not None else np.asarray(_bounds(col), dtype=np.int64)
        c = int(np.searchsorted(bounds, positions[0], side="right")) - 1
        p = int(positions[0] - bounds[c])
        chunk = col.chunk(c)
        chunks = list(col.chunks)
        chunks[c] = pa.concat_arrays([chunk.slice(0, p), values, chunk.slice(p + 1)])
        return pa.chunked_array(chunks, type=col.type), [c]
    bounds = starts if starts is not None else np.asarray(_bounds(col), dtype=np.int64)
    which = np.searchsorted(bounds, positions, side="right") - 1
    order = np.lexsort((positions, which)) if len(positions) > 1 else np.zeros(1, np.int64)
    chunks = list(col.chunks)
    rebuilt: list[int] = []
    i = 0
    while i < len(order):
        c = int(which[order[i]])
        j = i
        while j < len(order) and which[order[j]] == c:
            j += 1
        chunk = chunks[c]
        base = int(bounds[c])
        if j - i > 8:
            rebuilt_chunk = _masked(chunk, positions[order[i:j]] - base, values,
                                    order[i:j])
            if rebuilt_chunk is not None:
                chunks[c] = rebuilt_chunk
                rebuilt.append(c)
                i = j
                continue
        pieces: list[pa.Array] = []
        cursor = 0
        for k in order[i:j]:
            p = int(positions[k]) - base
            if p < cursor:  # the same position twice: the later value wins
                pieces[-1] = values.slice(int(k), 1)
                continue
            if p > cursor:
                pieces.append(chunk.slice(cursor, p - cursor))
            pieces.append(values.slice(int(k), 1))
            cursor = p + 1
        if cursor < len(chunk):
            pieces.append(chunk.slice(cursor))
        chunks[c] = pa.concat_arrays(pieces)
        rebuilt.append(c)
        i = j
    return pa.chunked_array(chunks, type=col.type), rebuilt
