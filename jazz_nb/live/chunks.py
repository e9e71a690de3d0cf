"""Arrow columns as lists of chunks that new versions share with old ones.

A live result's Arrow table is immutable: a change makes a *new* table. To make that cheap, each
column is split into chunks of about ``CHUNK_ROWS`` rows; a cell update rebuilds only the chunks
it touches, and inserts, deletes and moves are expressed as a splice plan (a list of pieces,
each a run of old rows or of new rows). A flush turns its plan into one ``Layout`` (the output
chunks and the runs of source rows that fill them, as numpy arrays) and lays out every column
by it: untouched old chunks are shared, the others are built from zero-copy slices in one
concatenation each, with the change's cell updates written in the same pass. Runs of small
chunks left by many splices are merged back into full ones; the chunk layout depends only on
the plan, so every column of a table keeps the same one.

Example:
    >>> import pyarrow as pa
    >>> old = pa.chunked_array([pa.array([1, 2, 3, 4])])
    >>> plan = [Piece(OLD, 0, 1), Piece(NEW, 0, 1), Piece(OLD, 2, 4)]
    >>> lay = layout(plan, bounds(old), np.array([0, 1]))
    >>> new = splice(old, lay, pa.chunked_array([pa.array([9])]))
    >>> new.to_pylist()
    [1, 9, 3, 4]
    >>> replace_cells(new, [0], pa.array([7])).to_pylist()
    [7, 9, 3, 4]
"""

from __future__ import annotations

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
    if len(positions) == len(col) and (positions == np.arange(len(col))).all():
        return flat(col)  # every row, in order (re-evaluated rows that all stayed)
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


class Layout(NamedTuple):
    """Where every row of a spliced column comes from; it depends only on the plan and the
    sources' chunk layouts, so one flush computes it once (``layout``) for all its columns.

    Sources are numbered: the old column's chunks first, then the new rows' chunks. The plan
    is cut into *runs*, each rows of one source chunk, in final order.
    """

    starts: np.ndarray  # final start row of each output chunk, plus the total
    shared: np.ndarray  # per output chunk: the old chunk it is, unchanged, or -1 (rebuilt)
    source: np.ndarray  # per run: its source chunk
    start: np.ndarray  # per run: its first row within that chunk
    final: np.ndarray  # per run: its first row's final position, plus the total at the end


def layout(plan: Sequence[Piece], old: np.ndarray, new: np.ndarray,
           rows: int | None = None) -> Layout:
    """The layout of ``plan`` over an old column and new rows with chunk starts ``old`` and
    ``new`` (``bounds``). Whole old chunks stay alone (shared with the previous version);
    other runs are merged into chunks of at least ``rows`` rows, so a column keeps about
    ``n / rows`` chunks however many splices it saw.

    Example:
        >>> lay = layout([Piece(OLD, 0, 2), Piece(NEW, 0, 1), Piece(OLD, 2, 4)],
        ...              np.array([0, 2, 4]), np.array([0, 1]), rows=2)
        >>> lay.starts.tolist(), lay.shared.tolist()
        ([0, 2, 3, 5], [0, -1, 1])
    """
    rows = rows or CHUNK_ROWS
    n_old = int(old[-1])
    edges = np.concatenate([old[:-1], n_old + new]).astype(np.int64)  # chunk starts, all rows
    pieces = np.asarray(plan, dtype=np.int64).reshape(-1, 3)
    lo = pieces[:, 1] + np.where(pieces[:, 0] == NEW, n_old, 0)  # in "all rows" coordinates
    hi = lo + pieces[:, 2] - pieces[:, 1]
    lo, hi = lo[hi > lo], hi[hi > lo]
    first = np.searchsorted(edges, lo, side="right") - 1
    count = np.searchsorted(edges, hi - 1, side="right") - first
    piece = np.repeat(np.arange(len(lo)), count)
    chunk = first[piece] + np.arange(len(piece)) - np.repeat(np.cumsum(count) - count, count)
    run_lo = np.maximum(lo[piece], edges[chunk])
    run_hi = np.minimum(hi[piece], edges[chunk + 1])
    keep = run_hi > run_lo  # (empty source chunks)
    chunk, run_lo, run_hi = chunk[keep], run_lo[keep], run_hi[keep]
    size = run_hi - run_lo
    alone = ((chunk < len(old) - 1) & (size == edges[chunk + 1] - edges[chunk])
             & (size >= max(rows // 4, 1)))
    group = _group(size.tolist(), alone.tolist(), rows)
    final = np.concatenate([[0], np.cumsum(size)]).astype(np.int64)
    heads = np.flatnonzero(np.diff(group, prepend=-1))
    shared = np.where(alone[heads], chunk[heads], -1)
    return Layout(np.append(final[heads], final[-1]), shared, chunk,
                  run_lo - edges[chunk], final)


def _group(sizes: list[int], alone: list[bool], rows: int) -> np.ndarray:
    """The output chunk of each run: a run marked ``alone`` is a chunk of its own; the others
    fill chunks in order, each closed once it holds ``rows`` rows."""
    out = []
    k, size = -1, rows
    for n, solo in zip(sizes, alone, strict=True):
        if solo:
            k, size = k + 1, rows
        elif size >= rows:
            k, size = k + 1, n
        else:
            size += n
        out.append(k)
    return np.asarray(out, dtype=np.int64)


def _cut(lay: Layout, positions: np.ndarray, values: int,
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The layout's runs with single rows at final ``positions`` (sorted, unique) taken from
    source ``values`` instead (row ``i`` for the ``i``-th position): source, start, final."""
    total = lay.final[-1]
    edges = np.union1d(np.concatenate([lay.final[:-1], positions]), positions + 1)
    edges = edges[edges < total]
    run = np.searchsorted(lay.final, edges, side="right") - 1
    cell = np.searchsorted(positions, edges)
    is_cell = cell < len(positions)
    is_cell[is_cell] = positions[cell[is_cell]] == edges[is_cell]
    source = np.where(is_cell, values, lay.source[run])
    start = np.where(is_cell, cell, lay.start[run] + edges - lay.final[run])
    return source, start, np.append(edges, total)


def splice(col: pa.ChunkedArray, lay: Layout, new: pa.ChunkedArray,
           cells: tuple[np.ndarray, pa.Array] | None = None) -> pa.ChunkedArray:
    """The column laid out by ``lay`` (rows of ``col`` and of ``new``), sharing the old
    chunks the layout keeps, then with ``cells`` — sorted unique final positions and their
    values (``cell_order``) — written in the same pass, so each touched chunk is built once
    (from zero-copy slices, one concatenation). The chunk layout never depends on ``cells``."""
    if new.type != col.type:
        new = new.cast(col.type)
    old = col.chunks
    sources = [*old, *new.chunks]
    shared = lay.shared
    source, start, final = lay.source, lay.start, lay.final
    if cells is not None and len(cells[0]):
        positions, values = cells
        sources.append(values if values.type == col.type else values.cast(col.type))
        source, start, final = _cut(lay, positions, len(sources) - 1)
        shared = shared.copy()
        shared[np.searchsorted(lay.starts, positions, side="right") - 1] = -1
    first = np.searchsorted(final, lay.starts).tolist()
    parts = [sources[s].slice(a, n) for s, a, n in
             zip(source.tolist(), start.tolist(), np.diff(final).tolist(), strict=True)]
    out = []
    for k, share in enumerate(shared.tolist()):
        if share >= 0:
            out.append(old[share])
        else:
            run = parts[first[k]:first[k + 1]]
            out.append(run[0] if len(run) == 1 else pa.concat_arrays(run))
    return pa.chunked_array(out, type=col.type)


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

    Vectorised over runs, not rows: consecutive new rows make one piece, and the kept old
    rows are cut only where a removed row or a run of new rows falls (appending a thousand
    rows is two pieces).

    Example:
        >>> [tuple(p) for p in build_plan(4, np.array([1]), np.array([0, 3]))]
        [(1, 0, 1), (0, 0, 1), (0, 2, 3), (1, 1, 2), (0, 3, 4)]
    """
    removed = np.asarray(removed, dtype=np.int64)
    inserted = np.asarray(inserted, dtype=np.int64)
    kept = n_old - len(removed)
    k = len(inserted)
    # runs of new rows: final positions that follow each other
    head = np.flatnonzero(np.diff(inserted, prepend=-2) != 1)  # first new row of each run
    run_stop = np.append(head[1:], k) if k else head
    before = inserted[head] - head  # kept old rows placed before each run
    # the kept rows are cut where a removed row was and where a run of new rows goes
    skips = removed - np.arange(len(removed))  # kept rows before each removed row
    cuts = np.unique(np.r_[0, skips, before].astype(np.int64))
    cuts = cuts[cuts < kept]
    stops = np.r_[cuts[1:], kept]
    old_start = cuts + np.searchsorted(skips, cuts, side="right")  # kept -> old row
    # events in final order: at equal kept counts a run of new rows comes first
    at = np.r_[before, cuts]
    kind = np.r_[np.full(len(head), NEW), np.full(len(cuts), OLD)]
    lo = np.r_[head, old_start]
    hi = np.r_[run_stop, old_start + stops - cuts]
    order = np.lexsort((kind != NEW, at))
    pieces = np.stack([kind[order], lo[order], hi[order]], axis=1)
    return [Piece(*row) for row in pieces[pieces[:, 2] > pieces[:, 1]].tolist()]


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
