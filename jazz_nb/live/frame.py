"""In-place reconciliation of a pandas DataFrame (pandas 2.2 and 3.x).

The live frame is one ``DataFrame`` object for the whole life of a live query. Two kinds of
change reach it:

* **cell writes** (rows whose values changed, nothing moved): each changed cell is written in
  place. numpy-backed columns take ``df.iat``/``df.iloc`` writes, which respect Copy-on-Write
  (a Series a user took earlier keeps its values). Arrow-backed columns (pandas 3's default
  ``str`` dtype) are immutable, so the column's array is replaced by a new one that shares every
  Arrow chunk but the rebuilt ones (``df.isetitem``): the cost is one chunk, not the column.
* **structure** (inserts, deletes, moves): every column is rebuilt once from slices of the old
  arrays and the new rows, following one splice plan, then the frame's internals are swapped
  for the new ones (``NDFrame._update_inplace``, the mechanism pandas' own ``inplace=True``
  methods use). The object, its ``attrs`` and ``flags`` stay the same.

Example:
    >>> import pyarrow as pa
    >>> from jazz_nb.live.chunks import Piece, OLD, NEW
    >>> mirror = FrameMirror(pa.table({"id": ["a", "b", "c"], "x": [1, 2, 3]}))
    >>> frame = mirror.df
    >>> table = pa.table({"id": ["a", "z", "c"], "x": [1, 9, 7]})
    >>> mirror.splice(table, [Piece(OLD, 0, 1), Piece(NEW, 0, 1), Piece(OLD, 2, 3)],
    ...               table.slice(1, 1))
    >>> mirror.update_cells(table, [("x", np.array([2]), pa.array([7]), [0])])
    >>> frame is mirror.df, frame.index.tolist(), frame["x"].tolist()
    (True, ['a', 'z', 'c'], [1, 9, 7])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from jazz_nb.live import chunks as ch
from jazz_nb.live.chunks import Piece

_ITEM_CACHE = hasattr(pd.DataFrame, "_clear_item_cache")  # looked up once: a missing
# attribute on a frame goes through DataFrame.__getattr__, which searches the columns


def arrow_backed(array: Any) -> bool:
    """Whether a pandas array stores its data as an Arrow chunked array."""
    return isinstance(getattr(array, "_pa_array", None), pa.ChunkedArray)


def with_chunks(array: Any, chunked: pa.ChunkedArray) -> Any:
    """A new pandas Arrow-backed array of the same dtype holding ``chunked`` (no copy).

    (``copy.copy`` would go through pandas' pickling state, which combines the chunks.)
    """
    out = object.__new__(type(array))
    out.__dict__.update(array.__dict__)
    out.__dict__.pop("_cache", None)
    out._pa_array = chunked
    return out


def set_column(df: pd.DataFrame, j: int, array: Any) -> None:
    """``df.isetitem(j, array)`` for an array already of the column's dtype: the block
    manager's ``iset`` directly (skips re-validating the array, ~5x faster), else
    ``isetitem``. The old block is left alone, so earlier snapshots keep their values."""
    mgr = getattr(df, "_mgr", None)
    iset = getattr(mgr, "iset", None)
    if iset is None or len(array) != len(df):  # pragma: no cover - other pandas internals
        df.isetitem(j, array)
        return
    iset(j, array)
    if _ITEM_CACHE:  # pandas 2.x caches column Series
        df._clear_item_cache()


def column_array(df: pd.DataFrame, j: int) -> Any:
    """The pandas array (ExtensionArray or NumpyExtensionArray) of column ``j``."""
    return df.iloc[:, j].array


def replace_frame(df: pd.DataFrame, new: pd.DataFrame) -> None:
    """Make ``df`` hold ``new``'s data, keeping the ``df`` object (and its attrs/flags)."""
    update = getattr(df, "_update_inplace", None)
    if update is not None:
        update(new)
    else:  # pragma: no cover - a future pandas without the private helper
        object.__setattr__(df, "_mgr", new._mgr)


_DATETIMELIKE = (pd.arrays.DatetimeArray, pd.arrays.TimedeltaArray)


def _splice_ndarray(old: np.ndarray, plan: Sequence[Piece], new: np.ndarray) -> np.ndarray:
    """``old`` and ``new`` rows laid out by ``plan``, in one concatenate."""
    raw = (old, new)
    parts = [raw[p.source][p.start:p.stop] for p in plan if p.stop > p.start]
    return np.concatenate(parts) if parts else old[:0].copy()


def splice_array(old: Any, plan: Sequence[Piece], new: Any) -> Any:
    """One column laid out by ``plan`` (runs of ``old`` rows and of ``new`` rows)."""
    if arrow_backed(old):
        new_chunks = new._pa_array if arrow_backed(new) else pa.chunked_array(
            [pa.array(np.asarray(new, dtype=object), from_pandas=True)])
        lay = ch.layout(plan, ch.bounds(old._pa_array), ch.bounds(new_chunks))
        return with_chunks(old, ch.splice(old._pa_array, lay, new_chunks))
    if isinstance(old, pd.arrays.NumpyExtensionArray):  # plain numpy: one concatenate
        dtype = old.dtype.numpy_dtype
        return _splice_ndarray(np.asarray(old), plan, np.asarray(new).astype(dtype, copy=False))
    if isinstance(old, _DATETIMELIKE):  # numpy datetime64/timedelta64 underneath
        new = new if new.dtype == old.dtype else new.astype(old.dtype)
        return old._from_backing_data(_splice_ndarray(old._ndarray, plan, new._ndarray))
    sources = (old, new)
    parts = [sources[p.source][p.start:p.stop] for p in plan if p.stop > p.start]
    if not parts:
        return old[:0]
    if len(parts) == 1:
        return parts[0].copy()
    if new.dtype != old.dtype:
        new = new.astype(old.dtype)
        parts = [(old, new)[p.source][p.start:p.stop] for p in plan if p.stop > p.start]
    return type(old)._concat_same_type(parts)


def build_frame(template: pd.DataFrame, arrays: Sequence[Any], index: Any) -> pd.DataFrame:
    """A frame with ``template``'s columns and index name over ``arrays`` (no copies)."""
    idx = pd.Index(index, name=template.index.name, copy=False)
    data = {i: arr for i, arr in enumerate(arrays)}
    out = pd.DataFrame(data, index=idx, copy=False)
    out.columns = template.columns
    return out


def _object_values(values: Any) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):  # one by one: cells may hold lists/arrays/dicts
        out[i] = value
    return out


def _write_object_cells(df: pd.DataFrame, j: int, positions: np.ndarray,
                        values: np.ndarray) -> None:
    """Object columns: pandas unpacks one-element arrays on ``iat``/``iloc``, so write into
    the block's ndarray — after copying the column if anything else references it
    (Copy-on-Write: a Series taken earlier keeps its values)."""
    mgr = df._mgr
    try:
        shared = not mgr._has_no_reference(j)
        block = mgr.blocks[mgr.blknos[j]]
        row = mgr.blklocs[j]
    except AttributeError:  # pragma: no cover - a pandas without these internals
        shared, block, row = True, None, 0
    if shared or block is None or block.values.dtype != object:
        column = np.array(column_array(df, j), dtype=object, copy=True)
        column[positions] = values
        df.isetitem(j, column)
        return
    target = block.values
    if target.ndim == 2:
        target[row, positions] = values
    else:
        target[positions] = values


def write_cells(df: pd.DataFrame, j: int, positions: Sequence[int] | np.ndarray,
                values: Any) -> None:
    """``df.iloc[positions, j] = values`` in place, touching only those cells.

    ``values`` is a pandas array (or list) of the column's dtype. Arrow-backed columns get a
    new array sharing all untouched chunks; object columns are written element by element.
    """
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) == 0:
        return
    current = column_array(df, j)
    if arrow_backed(current):
        new_values = values._pa_array if arrow_backed(values) else pa.array(
            np.asarray(values, dtype=object), from_pandas=True)
        chunked = ch.replace_cells(current._pa_array, positions, new_values)
        df.isetitem(j, with_chunks(current, chunked))
        return
    if _is_object(_real_dtype(current)):
        _write_object_cells(df, j, positions, _object_values(values))
        return
    if len(positions) == 1:
        df.iat[int(positions[0]), j] = values[0]
        return
    df.iloc[positions, j] = values


# -- the live frame: a DataFrame kept equal to an Arrow table version ---------------------------

_DTYPES: dict[tuple[pa.DataType, bool], Any] = {}


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow → pandas exactly as ``db.df`` converts (``query.results.to_df`` without the index)."""
    return table.to_pandas()


def expected_dtype(typ: pa.DataType, has_nulls: bool) -> Any:
    """The dtype Arrow→pandas conversion gives a column of ``typ`` with or without nulls
    (ints become float64 and booleans object once a null is present).

    Example:
        >>> str(expected_dtype(pa.int32(), False)), str(expected_dtype(pa.int32(), True))
        ('int32', 'float64')
    """
    key = (typ, has_nulls)
    if key not in _DTYPES:
        sample = pa.array([None] if has_nulls else [], type=typ)
        _DTYPES[key] = to_pandas(pa.table({"c": sample}))["c"].dtype
    return _DTYPES[key]


def _real_dtype(array: Any) -> Any:
    dtype = array.dtype
    return getattr(dtype, "numpy_dtype", dtype) if isinstance(
        array, pd.arrays.NumpyExtensionArray) else dtype


def _is_object(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind == "O"


def _writable(array: Any) -> Any:
    """``array``, or a copy when its numpy data is read-only (zero-copy from Arrow)."""
    data = getattr(array, "_ndarray", None)
    if data is None and isinstance(array, np.ndarray):
        data = array
    if data is not None and not data.flags.writeable:
        return array.copy()
    return array


def _nested(typ: pa.DataType) -> bool:
    return pa.types.is_nested(typ) or pa.types.is_dictionary(typ)


def _chunk_key(chunk: pa.Array) -> tuple[Any, ...]:
    return (tuple(b.address if b is not None else 0 for b in chunk.buffers()), chunk.offset,
            len(chunk))


class ChunkMirror:
    """A column's chunks cast to another Arrow type, re-cast only where the source changed.

    Casting ``string`` to ``large_string`` (what pandas' ``str`` dtype stores) rewrites the
    offsets and shares the character data, so the live frame and the live Arrow table hold
    the text once.
    """

    def __init__(self, target: pa.DataType) -> None:
        self.target = target
        self.keys: list[tuple[Any, ...]] = []
        self.chunks: list[pa.Array] = []

    def _cast(self, chunk: pa.Array) -> pa.Array:
        return chunk if chunk.type == self.target else chunk.cast(self.target)

    def sync(self, col: pa.ChunkedArray, rebuilt: Sequence[int] | None = None,
             ) -> pa.ChunkedArray:
        """The mirror of ``col``; ``rebuilt`` lists the only chunks that changed, if known."""
        if rebuilt is not None and len(self.chunks) == col.num_chunks:
            for c in rebuilt:
                chunk = col.chunk(c)
                self.keys[c] = _chunk_key(chunk)
                self.chunks[c] = self._cast(chunk)
        else:
            cache = dict(zip(self.keys, self.chunks, strict=True))
            self.keys = [_chunk_key(chunk) for chunk in col.chunks]
            self.chunks = [cache.get(key) or self._cast(chunk)
                           for key, chunk in zip(self.keys, col.chunks, strict=True)]
        return pa.chunked_array(self.chunks, type=self.target)


class FrameMirror:
    """Keeps one DataFrame (index ``id``) equal to the public Arrow table of a live query.

    Arrow-backed columns mirror the table's chunks (``ChunkMirror``); numpy and other pandas
    columns take cell writes and spliced rebuilds. A column whose dtype must change (the first
    null in an int column) is converted again as a whole.
    """

    def __init__(self, table: pa.Table) -> None:
        self.df = to_pandas(table).set_index("id")
        self._build(table)

    def _build(self, table: pa.Table) -> None:
        df = self.df
        self.names = {name: j for j, name in enumerate(df.columns)}
        self.types = {name: table.schema.field(name).type for name in self.names}
        self.mirrors: dict[int, ChunkMirror] = {}
        self.templates: dict[int, Any] = {}  # an array of each mirrored column's dtype
        self.dtypes: dict[int, Any] = {}
        for name, j in self.names.items():
            array = column_array(df, j)
            self.dtypes[j] = _real_dtype(array)
            if _writable(array) is not array:  # zero-copy from Arrow: make it writable once
                df.isetitem(j, _writable(array))
            if arrow_backed(array):
                mirror = self.mirrors[j] = ChunkMirror(array._pa_array.type)
                self.templates[j] = array
                df.isetitem(j, with_chunks(array, mirror.sync(table.column(name))))
        index = df.index.array
        self.index_mirror = ChunkMirror(index._pa_array.type) if arrow_backed(index) else None
        self.index_template = index
        if self.index_mirror is not None:
            df.index = pd.Index(with_chunks(index, self.index_mirror.sync(table.column("id"))),
                                name=df.index.name, copy=False)

    def reset(self, table: pa.Table) -> None:
        """Replace everything (a full refresh), keeping the frame object."""
        replace_frame(self.df, to_pandas(table).set_index("id"))
        self._build(table)

    def _dtype_changes(self, table: pa.Table, names: Sequence[str]) -> list[str]:
        out = []
        for name in names:
            j = self.names[name]
            if j in self.mirrors:
                continue
            col = table.column(name)
            if expected_dtype(col.type, col.null_count > 0) != self.dtypes[j]:
                out.append(name)
        return out

    def _whole(self, col: pa.ChunkedArray | pa.Array) -> Any:
        return _writable(col.to_pandas().array)  # per column, as Table.to_pandas converts it

    def _values(self, values: pa.Array, dtype: Any) -> Any:
        if _nested(values.type) or pa.types.is_timestamp(values.type):
            out = self._whole(values)
            return out if _real_dtype(out) == dtype else out.astype(dtype)
        return values.to_pylist()

    def update_cells(self, table: pa.Table,
                     updates: Sequence[tuple[str, np.ndarray, pa.Array, list[int] | None]],
                     ) -> None:
        """Write changed cells: ``(column, positions, new values, rebuilt table chunks)``
        (``None``: any chunk may have changed)."""
        df = self.df
        retyped = set(self._dtype_changes(table, [u[0] for u in updates]))
        for name, positions, values, rebuilt in updates:
            j = self.names[name]
            if name in retyped:
                continue
            mirror = self.mirrors.get(j)
            if mirror is not None:
                set_column(df, j, with_chunks(self.templates[j],
                                              mirror.sync(table.column(name), rebuilt)))
                continue
            vals = self._values(values, self.dtypes[j])
            if _is_object(self.dtypes[j]):
                _write_object_cells(df, j, positions, _object_values(vals))
            elif len(positions) == 1:
                df.iat[int(positions[0]), j] = vals[0]
            else:
                write_cells(df, j, positions, vals if not isinstance(vals, list)
                            else _array(vals, self.dtypes[j]))
        for name in retyped:
            self._retype(name, table.column(name))

    def _retype(self, name: str, col: pa.ChunkedArray) -> None:
        j = self.names[name]
        whole = self._whole(col)
        self.df.isetitem(j, whole)
        self.dtypes[j] = _real_dtype(whole)

    def splice(self, table: pa.Table, plan: Sequence[Piece], new_rows: pa.Table) -> None:
        """Rebuild every column once by ``plan`` (old rows and ``new_rows``), in place."""
        df = self.df
        retyped = set(self._dtype_changes(table, list(self.names)))
        arrays = []
        for name, j in self.names.items():
            mirror = self.mirrors.get(j)
            if mirror is not None:
                arrays.append(with_chunks(self.templates[j], mirror.sync(table.column(name))))
                continue
            if name in retyped:
                arrays.append(self._whole(table.column(name)))
                continue
            new = self._whole(new_rows.column(name))
            if _real_dtype(new) != self.dtypes[j]:
                new = new.astype(self.dtypes[j])
            arrays.append(splice_array(column_array(df, j), plan, new))
        if self.index_mirror is not None:
            index = with_chunks(self.index_template, self.index_mirror.sync(table.column("id")))
        else:
            index = splice_array(df.index.array, plan, self._whole(new_rows.column("id")))
        replace_frame(df, build_frame(df, arrays, index))
        for name in retyped:
            j = self.names[name]
            self.dtypes[j] = _real_dtype(column_array(df, j))


def _array(values: list[Any], dtype: Any) -> Any:
    return pd.array(values, dtype=dtype)
