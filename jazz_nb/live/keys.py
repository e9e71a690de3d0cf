"""Where is row ``id`` in a live result? A sorted array of 64-bit id keys, kept up to date.

A live query needs the positions of the few rows a write touched, in a result of maybe a
million rows, and must keep that answer right while rows are inserted, deleted and moved. A
Python dict from id to position would cost O(n) Python work after every insert or delete (all
later positions shift); a pandas ``Index`` lookup rebuilds its hash table after every change.
``PositionIndex`` keeps two numpy arrays instead — the 64-bit keys of all ids, sorted, and the
position of each — and shifts positions with a few vectorised passes (O(n) numpy, no Python
loop). Lookups are binary searches, verified against the real ids, so key collisions are
harmless.

Keys: canonical lowercase UUID strings (what the store issues) use their last 64 bits (random in
UUIDv7 and UUIDv4), parsed vectorised from the Arrow buffers; anything else gets pandas'
stable 64-bit hash.

Example:
    >>> import pyarrow as pa
    >>> ids = pa.array(["0190a0e0-0000-7000-8000-000000000001",
    ...                 "0190a0e0-0000-7000-8000-000000000002"])
    >>> index = PositionIndex(ids)
    >>> index.lookup(["0190a0e0-0000-7000-8000-000000000002", "nope"]).tolist()
    [1, -1]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jazz_nb.live.chunks import flat, gather

_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)
# the last 16 hex digits of "xxxxxxxx-xxxx-xxxx-XXXX-XXXXXXXXXXXX"
_KEY_CHARS = np.array([19, 20, 21, 22, *range(24, 36)], dtype=np.int64)
_SHIFTS = np.arange(60, -4, -4, dtype=np.uint64)
_DASHES = np.array([8, 13, 18, 23], dtype=np.int64)


def _as_string_array(ids: pa.Array | pa.ChunkedArray | Sequence[str]) -> pa.Array:
    if isinstance(ids, pa.ChunkedArray):
        ids = flat(ids)
    elif not isinstance(ids, pa.Array):
        ids = pa.array(list(ids), type=pa.string())
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        ids = pc.cast(ids, pa.string())
    return ids


_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _key(value: str | None) -> int | None:
    if value is not None and len(value) == 36 and _CANONICAL.fullmatch(value):
        return int(value[19:23] + value[24:], 16)
    return None


def id_keys(ids: pa.Array | pa.ChunkedArray | Sequence[str]) -> np.ndarray:
    """64-bit keys of row ids (vectorised; equal ids always get equal keys).

    Example:
        >>> hex(int(id_keys(["0190a0e0-0000-7000-8000-00000000002a"])[0]))
        '0x800000000000002a'
    """
    if len(ids) <= 16:  # a few ids: plain Python beats numpy's set-up cost
        values = ids.to_pylist() if isinstance(ids, (pa.Array, pa.ChunkedArray)) else list(ids)
        keys = [_key(v) for v in values]
        if None not in keys:
            return np.array(keys, dtype=np.uint64)
    arr = _as_string_array(ids)
    n = len(arr)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    off_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=off_type)[arr.offset:arr.offset + n + 1]
    data = (np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None
            else np.zeros(0, dtype=np.uint8))
    starts = offsets[:-1].astype(np.int64)
    canonical = np.diff(offsets) == 36
    if arr.null_count:
        canonical &= arr.is_valid().to_numpy(zero_copy_only=False)
    keys = np.zeros(n, dtype=np.uint64)
    if canonical.any():
        rows = np.flatnonzero(canonical)
        base = starts[rows][:, None]
        nibbles = _HEX[data[base + _KEY_CHARS]]
        hex_ok = (nibbles != 255).all(axis=1)
        hex_ok &= (data[base + _DASHES] == ord("-")).all(axis=1)
        hex_ok &= (_HEX[data[base + np.arange(8)]] != 255).all(axis=1)
        good = rows[hex_ok]
        keys[good] = (nibbles[hex_ok].astype(np.uint64) << _SHIFTS).sum(axis=1, dtype=np.uint64)
        canonical[rows[~hex_ok]] = False
    if not canonical.all():
        other = np.flatnonzero(~canonical)
        values = np.asarray(arr.take(pa.array(other)).to_pylist(), dtype=object)
        values[pd.isna(values)] = ""
        keys[other] = pd.util.hash_array(values, categorize=False)
    return keys


class PositionIndex:
    """Positions of row ids in an ordered result; supports splicing without a rebuild.

    ``ids`` is the result's id column in result order (kept by reference to verify lookups;
    call ``set_ids`` with the new column after each change).
    """

    def __init__(self, ids: pa.Array | pa.ChunkedArray, starts: np.ndarray | None = None,
                 ) -> None:
        keys = id_keys(ids)
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._pos = order.astype(np.int64)
        self._ids = ids
        self._starts = starts

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def nbytes(self) -> int:
        """Memory held by the index arrays."""
        return self._keys.nbytes + self._pos.nbytes

    def set_ids(self, ids: pa.Array | pa.ChunkedArray, starts: np.ndarray | None = None,
                ) -> None:
        """The id column after a change (same order as the positions), with its chunk
        starts (``chunks.bounds``) if known."""
        self._ids = ids
        self._starts = starts

    def _candidates(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = np.searchsorted(self._keys, keys, side="left")
        hi = np.searchsorted(self._keys, keys, side="right")
        return lo, hi

    def lookup(self, ids: Sequence[str] | pa.Array) -> np.ndarray:
        """Position of each id, or -1 when it is not in the result."""
        return self.positions(self.slots(ids))

    def positions(self, slots: np.ndarray) -> np.ndarray:
        """Positions of the rows at ``slots`` (from ``slots``); -1 stays -1."""
        out = np.full(len(slots), -1, dtype=np.int64)
        found = slots >= 0
        out[found] = self._pos[slots[found]]
        return out

    def slots(self, ids: Sequence[str] | pa.Array) -> np.ndarray:
        """Index into the sorted key array of each id, or -1 (used to remove entries)."""
        arr = _as_string_array(ids)
        keys = id_keys(arr)
        lo, hi = self._candidates(keys)
        out = np.full(len(keys), -1, dtype=np.int64)
        hit = np.flatnonzero(hi > lo)
        if len(hit) == 0:
            return out
        single = hit[hi[hit] - lo[hit] == 1]
        if len(single):
            positions = self._pos[lo[single]]
            got = gather(self._ids, positions, self._starts)
            want = arr.take(pa.array(single))
            if len(single) <= 16:
                same = np.array([a == b for a, b in zip(got.to_pylist(), want.to_pylist(),
                                                        strict=True)], dtype=bool)
            else:
                same = pc.equal(pc.cast(got, arr.type), want)
                same = same.fill_null(False).to_numpy(zero_copy_only=False)
            out[single[same]] = lo[single][same]
        for i in hit[hi[hit] - lo[hit] > 1]:  # key collision: compare each candidate
            want = arr[int(i)].as_py()
            for slot in range(int(lo[i]), int(hi[i])):
                if self._ids[int(self._pos[slot])].as_py() == want:
                    out[i] = slot
                    break
        return out

    def splice(self, removed_slots: np.ndarray, removed_pos: np.ndarray,
               inserted_pos: np.ndarray, inserted_ids: pa.Array | Sequence[str]) -> None:
        """Remove the rows at ``removed_pos`` (old positions; their ``removed_slots`` from
        ``slots``), then insert ``inserted_ids`` at final positions ``inserted_pos``.

        Rows not removed keep their relative order (the result's own order guarantees it).
        A few vectorised passes over the arrays; no Python loop over rows.
        """
        removed_pos = np.sort(np.asarray(removed_pos, dtype=np.int64))
        inserted_pos = np.asarray(inserted_pos, dtype=np.int64)
        keys, pos = self._keys, self._pos
        if len(removed_slots):
            keep = np.sort(np.asarray(removed_slots, dtype=np.int64))
            keys, pos = _delete(keys, keep), _delete(pos, keep)
        if len(removed_pos):
            pos = _shift(pos, removed_pos, -1, side="left")
        if len(inserted_pos):
            order = np.argsort(inserted_pos, kind="stable")
            ins_sorted = inserted_pos[order]
            # after removal, the j-th inserted row goes before intermediate row ins[j] - j
            gaps = ins_sorted - np.arange(len(ins_sorted))
            pos = _shift(pos, gaps, +1, side="right")
            new_keys = id_keys(inserted_ids)
            by_key = np.argsort(new_keys, kind="stable")
            new_keys = new_keys[by_key]
            at = np.searchsorted(keys, new_keys)
            keys = _insert(keys, at, new_keys)
            pos = _insert(pos, at, inserted_pos[by_key])
        self._keys, self._pos = keys, pos


_FEW = 8  # below this many changes, per-change vectorised passes beat searchsorted/np.insert


def _shift(pos: np.ndarray, marks: np.ndarray, sign: int, side: str) -> np.ndarray:
    """``pos`` plus/minus how many ``marks`` are below (``left``: strictly, ``right``: or at)."""
    if len(marks) > _FEW:  # a counting table over positions: O(n), no binary searches
        size = int(max(pos.max(initial=-1), marks.max(initial=-1))) + 2
        table = np.bincount(marks + (1 if side == "left" else 0), minlength=size)[:size]
        counts = np.cumsum(table)
        return pos + sign * counts[pos]
    out = pos.copy()
    for mark in marks.tolist():
        hit = pos > mark if side == "left" else pos >= mark
        if sign > 0:
            out += hit
        else:
            out -= hit
    return out


def _delete(a: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``np.delete`` for sorted unique indexes, as slice copies when there are few."""
    if len(at) > _FEW:
        return np.delete(a, at)
    out = np.empty(len(a) - len(at), dtype=a.dtype)
    src = dst = 0
    for i in at.tolist():
        out[dst:dst + i - src] = a[src:i]
        dst += i - src
        src = i + 1
    out[dst:] = a[src:]
    return out


def _insert(a: np.ndarray, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.insert`` for sorted insertion points, as slice copies when there are few."""
    if len(at) > _FEW:
        return np.insert(a, at, values)
    out = np.empty(len(a) + len(at), dtype=a.dtype)
    src = dst = 0
    for i, value in zip(at.tolist(), values.tolist(), strict=True):
        out[dst:dst + i - src] = a[src:i]
        dst += i - src
        out[dst] = value
        dst += 1
        src = i
    out[dst:] = a[src:]
    return out
