"""The outbox: local batches the server has not confirmed yet, in commit order.

A local write is stored with ``_jz_tier`` NULL in the same transaction that stores it, and a
server confirmation is recorded in the store's small table ``_jz_sync_confirmed`` (an append:
cheap, whatever the size of the store; ``jazz_nb.store.confirmations``). So the durable outbox
is "visible versions whose tier is NULL and whose batch is not confirmed" — rebuilt from the
store when a client starts (a file-backed store's unsent writes survive restarts) and replayed;
the server recognises batches it already has, so replays are idempotent. At start the recorded
confirmations are also folded into the history's ``_jz_tier`` and the table is emptied.
Confirmations are recorded only for a file-backed store (an in-memory outbox dies with its
process) and in bursts, off the path of the acknowledgement: a confirmation lost in a crash only
means one idempotent replay.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> db = jz.create_db(app, app_id="outbox-doc")
    >>> row = db.insert(app.todos, {"title": "offline"})
    >>> outbox = Outbox(db.store, app)
    >>> outbox.restore()
    1
    >>> outbox.mark_confirmed([row.batch_id]); outbox.discard(row.batch_id)
    True
    >>> Outbox(db.store, app).restore()
    0
    >>> db.close()
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from jazz_nb.errors import WriteError
from jazz_nb.schema.app import App
from jazz_nb.store.confirmations import GLOBAL, Confirmations
from jazz_nb.store.store import Store
from jazz_nb.store.versions import RowVersion
from jazz_nb.sync.frames import (
    Segment,
    encode_frame,
    split_segments,
    versions_segments,
    wire_schema,
)


@dataclass
class Pending:
    """One unconfirmed batch: its versions, or its rows already in wire form, or neither
    (restored from the store: read back when sent)."""

    batch_id: str
    mode: str  # "direct" or "transactional"
    versions: list[RowVersion] | None
    replay: bool  # sent before (or restored): the server may already have it
    segments: list[Segment] = field(default_factory=list)


class Outbox:
    """Unconfirmed local batches of one store, oldest first; thread-safe."""

    def __init__(self, store: Store, app: App) -> None:
        self.store = store
        self.app = app
        self._lock = threading.Lock()
        self._pending: OrderedDict[str, Pending] = OrderedDict()
        self.confirmations = Confirmations(store, app)

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def durable(self) -> bool:
        """Whether the outbox outlives the process (its store is a file): only then are
        confirmations recorded, so a restart does not replay confirmed batches."""
        return self.store.path is not None

    def restore(self) -> int:
        """Fold recorded confirmations into the history, then load the batch ids of
        unconfirmed local versions; returns how many."""
        found = self.confirmations.unconfirmed()
        with self._lock:
            for batch_id in sorted(found):  # UUIDv7: creation order
                mode = "transactional" if found[batch_id] == "VisibleTransactional" else "direct"
                self._pending.setdefault(batch_id, Pending(batch_id, mode, None, True))
        return len(found)

    def add(self, batch_id: str, versions: Sequence[RowVersion], mode: str) -> None:
        """Queue a just-committed batch."""
        with self._lock:
            self._pending[batch_id] = Pending(batch_id, mode, list(versions), False)

    def add_rows(self, table: str, ids: pa.Array, user: pa.Table, batch_id: str, author: str,
                 first_updated_at: int) -> None:
        """Queue a batch of brand-new rows stored column by column (``db.insert_many``)."""
        source = self.store.physical(table, "", WriteError).new_rows_source(
            ids, user, batch_id, author, first_updated_at)
        rows = source.drop_columns(["_jz_frontier"]).cast(wire_schema(self.app.table(table)))
        segment = Segment(table, self.app.schema_hash, rows)
        with self._lock:
            self._pending[batch_id] = Pending(batch_id, "direct", None, False, [segment])

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
        segments = item.segments
        if not segments:
            if item.versions is None:
                item.versions = self.store.versions_of_batch(item.batch_id)
            segments = versions_segments(item.versions, self.app.schema_hash,
                                         {self.app.schema_hash: self.app})
        parts = split_segments(segments, max_bytes) or [[]]
        return [encode_frame({"type": "batch", "batch_id": item.batch_id, "mode": item.mode,
                              "part": i, "parts": len(parts), "replay": item.replay}, part)
                for i, part in enumerate(parts)]

    def mark_confirmed(self, batch_ids: Sequence[str], tier: int = GLOBAL) -> None:
        """Record confirmations in the store, so the batches are not replayed."""
        self.confirmations.record(batch_ids, tier)
