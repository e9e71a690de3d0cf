"""The outbox: local batches the server has not confirmed yet, in commit order.

It needs no table of its own: a local write is stored with ``_jz_tier`` NULL in the same
transaction that stores it, and a server confirmation sets ``_jz_tier`` to the confirmed tier.
So the durable outbox is "visible versions whose tier is NULL" — rebuilt from the store when a
client starts (a file-backed store's unsent writes survive restarts) and replayed; the server
recognises batches it already has, so replays are idempotent.

Example:
    >>> # outbox = Outbox(db.store, app); outbox.restore(); len(outbox)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from jazz_nb.schema.app import App
from jazz_nb.store import layout
from jazz_nb.store.store import Store
from jazz_nb.store.versions import RowVersion
from jazz_nb.sync.frames import encode_frame, split_segments, versions_segments

GLOBAL = layout.TIERS.index("global")


@dataclass
class Pending:
    """One unconfirmed batch (``versions`` loaded lazily for batches restored from the store)."""

    batch_id: str
    mode: str  # "direct" or "transactional"
    versions: list[RowVersion] | None
    replay: bool  # sent before (or restored): the server may already have it


class Outbox:
    """Unconfirmed local batches of one store, oldest first; thread-safe."""

    def __init__(self, store: Store, app: App) -> None:
        self.store = store
        self.app = app
        self._lock = threading.Lock()
        self._pending: OrderedDict[str, Pending] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def restore(self) -> int:
        """Load the batch ids of unconfirmed local versions; returns how many."""
        found: dict[str, str] = {}
        with self.store.lock:
            for table in self.app.tables:
                history = layout.quote(layout.history_table(table, self.app.schema_hash))
                for batch_id, state in self.store.conn.execute(
                        f"SELECT DISTINCT replace(CAST(_jz_batch_id AS VARCHAR), '-', ''), "
                        f"_jz_state FROM {history} WHERE _jz_tier IS NULL AND _jz_state IN "
                        "('VisibleDirect', 'VisibleTransactional')").fetchall():
                    found[batch_id] = state
        with self._lock:
            for batch_id in sorted(found):  # UUIDv7: creation order
                mode = "transactional" if found[batch_id] == "VisibleTransactional" else "direct"
                self._pending.setdefault(batch_id, Pending(batch_id, mode, None, True))
        return len(found)

    def add(self, batch_id: str, versions: Sequence[RowVersion] | None, mode: str) -> None:
        """Queue a just-committed batch (``versions`` ``None``: loaded from the store later)."""
        with self._lock:
            self._pending[batch_id] = Pending(batch_id, mode, None if versions is None
                                              else list(versions), False)

    def pending(self) -> list[Pending]:
        """Unconfirmed batches, oldest first."""
        with self._lock:
            return list(self._pending.values())

    def discard(self, batch_id: str) -> bool:
        """Forget a batch (confirmed or rejected); returns whether it was queued."""
        with self._lock:
            return self._pending.pop(batch_id, None) is not None

    def frames(self, item: Pending, max_bytes: int) -> list[bytes]:
        """The batch's frames (several parts if it is bigger than ``max_bytes``)."""
        if item.versions is None:
            item.versions = self.store.versions_of_batch(item.batch_id)
        segments = versions_segments(item.versions, self.app.schema_hash,
                                     {self.app.schema_hash: self.app})
        parts = split_segments(segments, max_bytes) or [[]]
        return [encode_frame({"type": "batch", "batch_id": item.batch_id, "mode": item.mode,
                              "part": i, "parts": len(parts), "replay": item.replay}, part)
                for i, part in enumerate(parts)]

    def mark_confirmed(self, batch_ids: Sequence[str], tier: int = GLOBAL) -> None:
        """Record confirmations in the store (``_jz_tier``), so they are not replayed."""
        if not batch_ids:
            return
        ids = list(batch_ids)
        with self.store.lock:
            for table in self.app.tables:
                history = layout.quote(layout.history_table(table, self.app.schema_hash))
                visible = layout.quote(layout.visible_table(table, self.app.schema_hash))
                self.store.conn.execute(
                    f"UPDATE {history} SET _jz_tier = ? WHERE _jz_tier IS NULL AND "
                    "_jz_batch_id IN (SELECT unnest(CAST(? AS UUID[])))", [tier, ids])
                self.store.conn.execute(
                    f"UPDATE {visible} SET _jz_tier = ? WHERE _jz_tier IS NULL AND "
                    "_jz_frontier IS NULL AND _jz_batch IN (SELECT unnest(CAST(? AS UUID[])))",
                    [tier, ids])
