"""Where is row ``id`` in a live result? A sorted array of 64-bit id keys, kept up to date.

A live query needs the positions of the few rows a write touched, in a result of maybe a
million rows, and must keep that answer right while rows are inserted, deleted and moved. A
Python dict from id to position would cost O(n) Python work after every insert or delete (all
later positions shift); a pandas ``Index`` lookup rebuilds its hash table after every change.
``PositionIndex`` keeps numpy arrays instead: the 64-bit keys of all ids as of a *base*
moment, sorted, with each row's position at that moment, plus a small log of what changed
since — the base positions of removed rows (``dead``) and the keys and current positions of
inserted rows (``side``). Rows keep their relative order, so a surviving base row's position
now is its rank among surviving base rows plus the number of inserted rows before it: two
binary searches in the log. A splice costs O(k log n + m) for k changed rows and m logged
ones; once the log passes ``n / COMPACT_FRACTION`` rows it is folded into the base in a few
O(n) counting passes (amortised O(COMPACT_FRACTION) per changed row). Lookups are binary
searches, verified against the real ids, so key collisions are harmless.

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

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jazz_nb.live.chunks import flat, gather
from jazz_nb.store.versions import is_canonical_id

_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)
_DASHES = np.array([8, 13, 18, 23], dtype=np.int64)


def _as_string_array(ids: pa.Array | pa.ChunkedArray | Sequence[str]) -> pa.Array:
    if isinstance(ids, pa.ChunkedArray):
        ids = flat(ids)
    elif not isinstance(ids, pa.Array):
        ids = pa.array(list(ids), type=pa.string())
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        ids = pc.cast(ids, pa.string())
    return ids


def _key(value: str | None) -> int | None:
    if is_canonical_id(value):
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
        if len(rows) == n:  # all 36 characters long: the text is an (n, 36) byte matrix
            chars = data[starts[0]:starts[0] + 36 * n].reshape(n, 36)
        else:
            chars = data[starts[rows][:, None] + np.arange(36)]
        nibbles = _HEX[np.concatenate([chars[:, 19:23], chars[:, 24:36]], axis=1)]
        hex_ok = (nibbles != 255).all(axis=1)
        hex_ok &= (chars[:, _DASHES] == ord("-")).all(axis=1)
        hex_ok &= (_HEX[chars[:, :8]] != 255).all(axis=1)
        packed = (nibbles[hex_ok, 0::2] << 4) | nibbles[hex_ok, 1::2]  # 8 bytes, big-endian
        keys[rows[hex_ok]] = packed.view(">u8").ravel()
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
        self._ids = ids
        self._starts = starts
        self._rebase(keys[order], order.astype(np.int64))

    def _rebase(self, keys: np.ndarray, pos: np.ndarray) -> None:
        """Start a new base: ``keys`` (sorted) at current positions ``pos``, empty logs."""
        self._keys, self._base = keys, pos
        self._dead = np.zeros(0, dtype=np.int64)
        self._side_keys = np.zeros(0, dtype=np.uint64)
        self._side_pos = np.zeros(0, dtype=np.int64)
        self._gaps = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._keys) - len(self._dead) + len(self._side_keys)

    @property
    def nbytes(self) -> int:
        """Memory held by the index arrays."""
        return sum(a.nbytes for a in (self._keys, self._base, self._dead, self._side_keys,
                                      self._side_pos, self._gaps))

    def set_ids(self, ids: pa.Array | pa.ChunkedArray, starts: np.ndarray | None = None,
                ) -> None:
        """The id column after a change (same order as the positions), with its chunk
        starts (``chunks.bounds``) if known."""
        self._ids = ids
        self._starts = starts

    def lookup(self, ids: Sequence[str] | pa.Array) -> np.ndarray:
        """Position of each id, or -1 when it is not in the result."""
        return self.positions(self.slots(ids))

    def _current(self, base: np.ndarray) -> np.ndarray:
        """Current positions of base rows still present, from their base positions."""
        rank = base - np.searchsorted(self._dead, base, side="left") if len(self._dead) \
            else base
        return rank + np.searchsorted(self._gaps, rank, side="right") if len(self._gaps) \
            else rank

    def positions(self, slots: np.ndarray) -> np.ndarray:
        """Positions of the rows at ``slots`` (from ``slots``); -1 stays -1."""
        slots = np.asarray(slots, dtype=np.int64)
        out = np.full(len(slots), -1, dtype=np.int64)
        n = len(self._keys)
        main = np.flatnonzero((slots >= 0) & (slots < n))
        if len(main):
            base = self._base[slots[main]]
            alive = base >= 0  # a removed row's slot has no position
            out[main[alive]] = self._current(base[alive])
        side = np.flatnonzero(slots >= n)
        if len(side):
            out[side] = self._side_pos[slots[side] - n]
        return out

    def _candidates(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per key, its only live slot (-2 when there is none, -3 when there are several)."""
        n = len(self._keys)
        lo = np.searchsorted(self._keys, keys, side="left")
        hits = np.searchsorted(self._keys, keys, side="right") - lo
        if len(self._dead):  # a single main hit may be a removed row
            single = np.flatnonzero(hits == 1)
            hits[single[self._base[lo[single]] < 0]] = 0
        s_lo = np.searchsorted(self._side_keys, keys, side="left")
        s_hits = np.searchsorted(self._side_keys, keys, side="right") - s_lo
        out = np.full(len(keys), -2, dtype=np.int64)
        out[hits > 0] = lo[hits > 0]
        out[s_hits > 0] = s_lo[s_hits > 0] + n
        out[(hits + s_hits > 1)] = -3
        return out

    def slots(self, ids: Sequence[str] | pa.Array) -> np.ndarray:
        """A handle on each id's entry (for ``positions`` and ``splice``), or -1."""
        arr = _as_string_array(ids)
        found = self._candidates(id_keys(arr))
        out = np.full(len(found), -1, dtype=np.int64)
        single = np.flatnonzero(found >= 0)
        if len(single):
            got = gather(self._ids, self.positions(found[single]), self._starts)
            want = arr.take(pa.array(single))
            if len(single) <= 16:
                same = np.array([a == b for a, b in zip(got.to_pylist(), want.to_pylist(),
                                                        strict=True)], dtype=bool)
            else:
                same = pc.equal(pc.cast(got, arr.type), want)
                same = same.fill_null(False).to_numpy(zero_copy_only=False)
            out[single[same]] = found[single][same]
        for i in np.flatnonzero(found == -3).tolist():  # key collision: try each candidate
            out[i] = self._collided(arr[i].as_py())
        return out

    def _collided(self, value: str) -> int:
        """The slot of ``value`` among entries whose keys collide, or -1."""
        key = id_keys([value])
        n = len(self._keys)
        main = range(int(np.searchsorted(self._keys, key, side="left")[0]),
                     int(np.searchsorted(self._keys, key, side="right")[0]))
        side = range(n + int(np.searchsorted(self._side_keys, key, side="left")[0]),
                     n + int(np.searchsorted(self._side_keys, key, side="right")[0]))
        for slot in [*main, *side]:
            pos = int(self.positions(np.array([slot]))[0])
            if pos >= 0 and self._ids[pos].as_py() == value:
                return slot
        return -1

    def splice(self, removed_slots: np.ndarray, removed_pos: np.ndarray,
               inserted_pos: np.ndarray, inserted_ids: pa.Array | Sequence[str]) -> None:
        """Remove the rows at ``removed_pos`` (old positions; their ``removed_slots`` from
        ``slots``), then insert ``inserted_ids`` at final positions ``inserted_pos``.

        Rows not removed keep their relative order (the result's own order guarantees it).
        Costs O(k log n + m) for k changed rows and m rows logged since the last compaction.
        """
        removed_slots = np.asarray(removed_slots, dtype=np.int64)
        removed_pos = np.sort(np.asarray(removed_pos, dtype=np.int64))
        inserted_pos = np.asarray(inserted_pos, dtype=np.int64)
        n = len(self._keys)
        main = removed_slots[(removed_slots >= 0) & (removed_slots < n)]
        if len(main):
            self._dead = np.sort(np.concatenate([self._dead, self._base[main]]))
            self._base[main] = -1
        side_keys, side_pos = self._side_keys, self._side_pos
        gone = removed_slots[removed_slots >= n] - n
        if len(gone):
            side_keys, side_pos = np.delete(side_keys, gone), np.delete(side_pos, gone)
        side_pos = _remap(side_pos, removed_pos, inserted_pos)
        if len(inserted_pos):
            new_keys = id_keys(inserted_ids)
            by_key = np.argsort(new_keys, kind="stable")
            at = np.searchsorted(side_keys, new_keys[by_key])
            side_keys = np.insert(side_keys, at, new_keys[by_key])
            side_pos = np.insert(side_pos, at, inserted_pos[by_key])
        self._side_keys, self._side_pos = side_keys, side_pos
        self._gaps = np.sort(side_pos) - np.arange(len(side_pos))
        if len(self._dead) + len(side_keys) > max(COMPACT_MIN, n // COMPACT_FRACTION):
            self.compact()

    def compact(self) -> None:
        """Fold the logged removals and insertions into the base arrays (O(n))."""
        alive = self._base >= 0
        keys = self._keys[alive]
        pos = _current_all(self._base[alive], self._dead, self._gaps)
        at = np.searchsorted(keys, self._side_keys)
        self._rebase(np.insert(keys, at, self._side_keys), np.insert(pos, at, self._side_pos))


COMPACT_MIN = 1024  # logged rows below which the index is never compacted
COMPACT_FRACTION = 16  # ... and above which (or above n / this) it is


def _remap(pos: np.ndarray, removed: np.ndarray, inserted: np.ndarray) -> np.ndarray:
    """Positions of rows that stay, after removing the rows at ``removed`` (sorted) and
    inserting rows at final positions ``inserted``."""
    if len(pos) == 0:
        return pos
    if len(removed):
        pos = pos - np.searchsorted(removed, pos, side="left")
    if len(inserted):
        ins = np.sort(inserted)
        pos = pos + np.searchsorted(ins - np.arange(len(ins)), pos, side="right")
    return pos


def _current_all(base: np.ndarray, dead: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """``PositionIndex._current`` for every live base row (``base`` and ``dead`` together
    are ``0..n-1``): counting tables instead of binary searches, O(n)."""
    counts = np.bincount(dead, minlength=len(base) + len(dead))
    rank = base - (np.cumsum(counts) - counts)[base]  # minus the removed rows before it
    return rank + np.cumsum(np.bincount(gaps, minlength=len(base) + 1))[rank]
