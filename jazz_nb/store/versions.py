"""Row versions (Jazz's "row batch entries", §1.3), ids and the monotonic write clock.

Example:
    >>> v = RowVersion("todos", new_row_id(), new_batch_id(), (), 1, "alice", 1, "alice",
    ...                {"title": "x"})
    >>> v.is_visible
    True
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeGuard

RowState = Literal["StagingPending", "Superseded", "Rejected", "VisibleDirect",
                   "VisibleTransactional"]
VISIBLE_STATES = ("VisibleDirect", "VisibleTransactional")
DeleteKind = Literal["soft", "hard"]

UUID_TEXT = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # canonical form
_UUID_TEXT = re.compile(UUID_TEXT)


def is_canonical_id(value: Any) -> TypeGuard[str]:
    """Whether ``value`` is a UUID in canonical text form (lowercase, as the store issues).

    Example:
        >>> is_canonical_id("0190aaaa-0000-7000-8000-000000000001"), is_canonical_id("0190AAAA")
        (True, False)
    """
    return type(value) is str and _UUID_TEXT.fullmatch(value) is not None


_uuid7_lock = threading.Lock()
_uuid7_last = [0, 0]  # last ms, last 12-bit counter


def uuid7() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48-bit ms timestamp, monotonic within a process.

    Example:
        >>> uuid7().version
        7
    """
    with _uuid7_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _uuid7_last[0]:
            ms, counter = _uuid7_last[0], _uuid7_last[1] + 1
            if counter > 0xFFF:
                ms, counter = ms + 1, 0
        else:
            counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        _uuid7_last[0], _uuid7_last[1] = ms, counter
    rand = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return uuid.UUID(int=value)


def new_row_id() -> str:
    """A fresh row id: lowercase hyphenated UUIDv7.

    Example:
        >>> len(new_row_id()), new_row_id()[14]
        (36, '7')
    """
    return str(uuid7())


def new_batch_id() -> str:
    """A fresh batch id: UUIDv7 as 32 lowercase hex characters (Jazz's public form).

    Example:
        >>> len(new_batch_id()), new_batch_id() < new_batch_id()
        (32, True)
    """
    return uuid7().hex


class MonotonicClock:
    """Microseconds since the epoch, strictly increasing per clock (Jazz's ``MonotonicClock``).

    Example:
        >>> clock = MonotonicClock()
        >>> clock.now() < clock.now()
        True
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now(self) -> int:
        """The next timestamp: wall-clock µs, or last+1 if the wall clock did not advance.

        Example:
            >>> MonotonicClock().now() > 1_600_000_000_000_000
            True
        """
        with self._lock:
            now = time.time_ns() // 1000
            self._last = now if now > self._last else self._last + 1
            return self._last

    def observe(self, timestamp: int) -> None:
        """Never issue a timestamp at or below one already seen.

        Example:
            >>> clock = MonotonicClock()
            >>> clock.observe(2**62)
            >>> clock.now()
            4611686018427387905
        """
        with self._lock:
            self._last = max(self._last, timestamp)


@dataclass(frozen=True, slots=True)
class RowVersion:
    """One immutable version of a row: a full snapshot of its user columns plus metadata.

    ``row_id`` is a UUID string, ``batch_id`` 32 hex chars, ``parents`` the batch ids of the
    row-local versions it supersedes, ``updated_at``/``created_at`` µs, ``data`` storage values
    of *all* user columns (empty for hard deletes).

    Example:
        >>> RowVersion("todos", "r", "ab" * 16, (), 1, "me", 1, "me", {}).state
        'VisibleDirect'
    """

    table: str
    row_id: str
    batch_id: str
    parents: tuple[str, ...]
    updated_at: int
    created_by: str
    created_at: int
    updated_by: str
    data: dict[str, Any] = field(hash=False, compare=True)
    state: RowState = "VisibleDirect"
    tier: int | None = None  # index into layout.TIERS, None = not confirmed anywhere
    delete_kind: DeleteKind | None = None
    schema_hash: str = ""  # the schema version (branch) the version was written under

    @property
    def is_visible(self) -> bool:
        """Whether the version takes part in merges (``VisibleDirect``/``VisibleTransactional``).

        Example:
            >>> RowVersion("t", "r", "ab" * 16, (), 1, "me", 1, "me", {}, "Rejected").is_visible
            False
        """
        return self.state in VISIBLE_STATES

    @property
    def order_key(self) -> tuple[int, bytes]:
        """Jazz's total order for LWW: ``(updated_at, batch_id bytes)``.

        Example:
            >>> RowVersion("t", "r", "0f" * 16, (), 7, "me", 1, "me", {}).order_key[0]
            7
        """
        return (self.updated_at, bytes.fromhex(self.batch_id))

    def with_state(self, state: RowState, tier: int | None = None) -> RowVersion:
        """The same version in another state (e.g. staged → visible on commit).

        Example:
            >>> v = RowVersion("t", "r", "ab" * 16, (), 1, "me", 1, "me", {}, "StagingPending")
            >>> v.with_state("VisibleTransactional", tier=2).tier
            2
        """
        return replace(self, state=state, tier=tier if tier is not None else self.tier)


@dataclass(frozen=True, slots=True)
class VisibleRow:
    """The merged current answer for one row id (what the visible table holds).

    Example:
        >>> VisibleRow("t", "r", {}, "me", 1, "me", 1, "ab" * 16, ("ab" * 16,)).is_deleted
        False
    """

    table: str
    row_id: str
    data: dict[str, Any]
    created_by: str
    created_at: int
    updated_by: str
    updated_at: int
    batch_id: str  # batch shown (meta row)
    frontier: tuple[str, ...]  # batch ids of all tips
    delete_kind: DeleteKind | None = None
    tier: int | None = None

    @property
    def is_deleted(self) -> bool:
        """Soft or hard deleted.

        Example:
            >>> VisibleRow("t", "r", {}, "me", 1, "me", 1, "b", ("b",), "soft").is_deleted
            True
        """
        return self.delete_kind is not None
