"""Write handles and batch fates: wait until a write is durable at a tier (§4.3–4.4).

Example:
    >>> tracker = BatchTracker()
    >>> tracker.settle("b1", "local")
    >>> WriteHandle("b1", tracker).wait("local").batch_id
    'b1'
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from jazz_nb.errors import WriteError, WriteRejected

Tier = Literal["local", "edge", "global"]
TIER_RANK: dict[str, int] = {"local": 0, "edge": 1, "global": 2}


def tier_rank(tier: str) -> int:
    """Position of a tier in ``local < edge < global``; unknown names raise ``WriteError``."""
    try:
        return TIER_RANK[tier]
    except KeyError:
        raise WriteError(f"unknown durability tier {tier!r} (use local, edge or global)") from None


class BatchTracker:
    """The fate of every batch a db wrote: highest tier reached, or the rejection."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._reached: dict[str, int] = {}
        self._rejected: dict[str, tuple[str, str]] = {}
        self._held: dict[str, tuple[str, str]] = {}  # not accepted yet, kept and retried
        self.highest_reachable = 0  # "local" only until a sync server is attached

    def settle(self, batch_id: str, tier: str) -> None:
        """Record that ``batch_id`` is durable at ``tier`` (and every lower tier)."""
        with self._cond:
            self._reached[batch_id] = max(self._reached.get(batch_id, -1), tier_rank(tier))
            self._held.pop(batch_id, None)
            self._cond.notify_all()

    def reject(self, batch_id: str, code: str, reason: str) -> None:
        """Record a whole-batch rejection; waiters raise ``WriteRejected``."""
        with self._cond:
            self._rejected[batch_id] = (code, reason)
            self._cond.notify_all()

    def hold(self, batch_id: str, code: str, reason: str) -> None:
        """Record why the server did not accept ``batch_id`` *yet* (it stays pending and is
        sent again); a waiter that times out says so."""
        with self._cond:
            self._held[batch_id] = (code, reason)

    def reached(self, batch_id: str) -> str | None:
        """Highest tier reached so far, or None."""
        rank = self._reached.get(batch_id)
        return None if rank is None else next(t for t, r in TIER_RANK.items() if r == rank)

    def wait(self, batch_id: str, tier: str, timeout: float | None) -> None:
        """Block until ``batch_id`` reaches ``tier``; raise on rejection or timeout."""
        want = tier_rank(tier)
        if want > self.highest_reachable:
            raise WriteError(f"tier {tier!r} needs a sync server; this db has none "
                             "(connect with jz.connect(...) to wait for edge/global)")
        with self._cond:
            done = self._cond.wait_for(
                lambda: batch_id in self._rejected or self._reached.get(batch_id, -1) >= want,
                timeout,
            )
            if batch_id in self._rejected:
                code, reason = self._rejected[batch_id]
                raise WriteRejected(code, reason, batch_id=batch_id)
            if not done:
                held = self._held.get(batch_id)
                why = (f"; the server has not accepted it ({held[0]}: {held[1]}) — it stays "
                       "pending locally and is sent again") if held else ""
                raise TimeoutError(f"batch {batch_id} did not reach tier {tier!r} "
                                   f"within {timeout} s{why}")


class WriteHandle:
    """A committed write (or batch): its ``batch_id`` and ``wait(tier)``.

    Example:
        >>> # db.update(app.todos, row.id, {"done": True}).wait("local")
    """

    def __init__(self, batch_id: str, tracker: BatchTracker, value: Any = None) -> None:
        self.batch_id = batch_id
        self.value = value
        self._tracker = tracker

    def wait(self, tier: Tier = "local", timeout: float | None = 10.0) -> WriteHandle:
        """Block until the write is durable at ``tier``; raises ``WriteRejected`` if rejected."""
        self._tracker.wait(self.batch_id, tier, timeout)
        return self

    @property
    def tier(self) -> str | None:
        """Highest durability tier reached so far."""
        return self._tracker.reached(self.batch_id)

    def __repr__(self) -> str:
        return f"<WriteHandle batch={self.batch_id[:12]}… tier={self.tier}>"
