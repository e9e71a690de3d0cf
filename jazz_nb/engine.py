"""The engine of one database: what every session view of it shares, and its commit hook.

A ``Db`` is a view (an app schema and a session) onto an ``Engine``: the store, the clock that
stamps writes, the tracker of write tiers, the permissions and lens graph bound to the store,
the sync client, the live queries of every view, and the observers that hear of every commit.
Every local write, whatever its shape, ends in ``Engine.committed``: the batch counts as durable
at tier ``local`` and each observer (the sync client's outbox, for a connected db) receives it.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> db = jz.create_db(app, app_id="engine-doc")
    >>> seen = []
    >>> stop = db.engine.observe(lambda commit: seen.append(commit.batch_id))
    >>> row = db.insert(app.todos, {"title": "a"})
    >>> seen == [row.batch_id]
    True
    >>> stop(); db.close()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from jazz_nb.store.store import Store
from jazz_nb.store.versions import MonotonicClock, RowState, RowVersion
from jazz_nb.writes.handle import BatchTracker, WriteHandle

if TYPE_CHECKING:
    from jazz_nb.lens.runtime import Migrations
    from jazz_nb.live.registry import LiveRegistry
    from jazz_nb.policy.bundle import Permissions
    from jazz_nb.sync.client import SyncClient


@dataclass(frozen=True)
class InsertedColumns:
    """A bulk insert stored as whole Arrow columns (``Db.insert_many``): new rows ``ids`` with
    user columns ``user``, stamped from ``first_updated_at`` on, one µs apart."""

    table: str
    ids: pa.Array
    user: pa.Table
    author: str
    first_updated_at: int


@dataclass(frozen=True)
class Commit:
    """One batch the store holds now: its versions, or (for a bulk insert) its columns.

    Example:
        >>> Commit("b1", "VisibleDirect", []).size
        0
    """

    batch_id: str
    state: RowState
    versions: list[RowVersion]
    columns: InsertedColumns | None = None

    @property
    def size(self) -> int:
        """Row versions in the batch."""
        return len(self.versions) if self.columns is None else len(self.columns.ids)


CommitObserver = Callable[[Commit], Any]
"""Called with every commit, on the writing thread, after the store holds it."""


@dataclass(eq=False)
class Engine:
    """The store of one database and what its session views share (see the module doc).

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"todos": s.table(title=s.string())})
        >>> engine = Engine(Store(app), "doc-app")
        >>> engine.committed(Commit("b1", "VisibleDirect", [])).tier
        'local'
        >>> engine.close()
    """

    store: Store
    app_id: str
    clock: MonotonicClock = field(default_factory=MonotonicClock)
    tracker: BatchTracker = field(default_factory=BatchTracker)
    permissions: Permissions | None = None  # the bundle bound to the store's app (enforcing)
    migrations: Migrations | None = None  # the lens graph, once lenses are registered
    sync: SyncClient | None = None  # once connected (jz.connect)
    closed: bool = False
    live_registry: LiveRegistry | None = None  # the live queries of every view, made on first use
    observers: list[CommitObserver] = field(default_factory=list)

    def observe(self, observer: CommitObserver) -> Callable[[], None]:
        """Call ``observer(commit)`` after every commit; returns the function that stops it."""
        self.observers.append(observer)
        return lambda: self.observers.remove(observer) if observer in self.observers else None

    def attach_sync(self, client: SyncClient) -> None:
        """Connect a sync client: it observes every commit (its outbox sends them upstream)."""
        self.sync = client
        self.observe(client.committed)

    def committed(self, commit: Commit) -> WriteHandle:
        """Record that the store holds ``commit``: tier ``local`` is reached, observers hear of
        it; returns the batch's handle."""
        self.tracker.settle(commit.batch_id, "local")
        if commit.size:
            for observer in list(self.observers):
                observer(commit)
        return WriteHandle(commit.batch_id, self.tracker)

    def close(self) -> None:
        """Close every view's live queries, stop syncing, close the store (idempotent)."""
        if self.closed:
            return
        if self.live_registry is not None:
            self.live_registry.close_all()
        if self.sync is not None:
            self.sync.close()
        try:
            self.store.close()
        finally:
            self.closed = True
