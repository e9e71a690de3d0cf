"""The registry of a database's live queries (every session view's): the store listener and
flush scheduling.

The store calls ``LiveRegistry._on_commit`` on the writing thread after every commit, holding
the store lock. Each live query queues the changed row ids that concern it (bounded: past
``MAX_PENDING`` ids it re-runs its query instead). A live query created on the writing thread
is flushed right away, so ``db.insert(...)`` returns with every affected frame updated; changes
committed on other threads (sync) are applied on the owner thread later — by a callback on the
Jupyter kernel's IO loop (at most one flush per ``flush_interval``), or by ``live.wait_for`` /
``db.flush()`` in scripts and tests.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> db = jz.create_db(app, app_id="reg-doc")
    >>> live = db.live(app.todos)
    >>> registry_for(db).live_queries() == [live]
    True
    >>> db.close(); live.status
    'closed'
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jazz_nb.live.schedule import kernel_loop

if TYPE_CHECKING:
    from jazz_nb.live.query import LiveQuery

log = logging.getLogger("jazz_nb.live")
_create_lock = threading.Lock()


class LiveRegistry:
    """Live queries of one database (``db.engine``), whatever their session; listens to its
    store."""

    def __init__(self, db: Any) -> None:
        self._lives: dict[int, LiveQuery] = {}
        self._lock = threading.Lock()
        self._scheduled: set[int] = set()
        self._watchers: list[Callable[[], Any]] = []
        self._remove_listener = db.store.add_listener(self._on_commit)

    # -- membership ------------------------------------------------------------------------------
    def add(self, live: LiveQuery) -> None:
        """Start delivering changes to ``live``."""
        with self._lock:
            self._lives[id(live)] = live
        self._changed()

    def discard(self, live: LiveQuery) -> None:
        """Stop delivering changes to ``live``."""
        with self._lock:
            self._lives.pop(id(live), None)
        self._changed()

    def watch(self, callback: Callable[[], Any]) -> Callable[[], None]:
        """Call ``callback()`` when a live query is added or closed; returns a remover."""
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback) if callback in self._watchers else None

    def _changed(self) -> None:
        for callback in list(self._watchers):
            try:
                callback()
            except Exception:
                log.exception("live registry watcher %r failed", callback)

    def live_queries(self) -> list[LiveQuery]:
        """Open live queries, oldest first."""
        with self._lock:
            return list(self._lives.values())

    def close_all(self) -> None:
        """Close every live query and stop listening (called by ``db.close()``)."""
        for live in self.live_queries():
            live.close()
        self._remove_listener()

    # -- change intake ---------------------------------------------------------------------------
    def _on_commit(self, changes: Any) -> None:
        if not getattr(changes, "tables", None):
            return
        me = threading.get_ident()
        for live in self.live_queries():
            try:
                if not live._receive(changes):
                    continue
                if live.owner == me:
                    live.flush()  # a local write: visible when the write call returns
                else:
                    self._schedule(live)
            except Exception:  # never break the writer; the live query records its error
                log.exception("live query intake failed")

    def _schedule(self, live: LiveQuery) -> None:
        """Arrange a flush of ``live`` on its owner thread (Jupyter: the kernel's IO loop)."""
        loop = kernel_loop(live.owner)
        if loop is None:
            return  # scripts/tests: wait_for() or db.flush() picks the changes up
        key = id(live)
        with self._lock:
            if key in self._scheduled:
                return
            self._scheduled.add(key)

        def run() -> None:
            wait = live.flush_interval - (time.monotonic() - getattr(live, "_last_flush", 0.0))
            if wait > 0:
                loop.call_later(wait, run)
                return
            with self._lock:
                self._scheduled.discard(key)
            live._last_flush = time.monotonic()
            live.flush()

        loop.add_callback(run)

    # -- flushing --------------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> int:
        """Apply queued changes to this thread's live queries; returns how many changed.

        With ``timeout``, first wait up to that long for a change to be queued when none is.
        """
        me = threading.get_ident()
        mine = [live for live in self.live_queries() if live.owner == me]
        if timeout and mine and all(live.status == "live" for live in mine):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and all(lq.status == "live" for lq in mine):
                mine[0]._event.wait(min(0.05, max(deadline - time.monotonic(), 0)))
        return sum(1 for live in mine if live.flush())


def registry_for(db: Any) -> LiveRegistry:
    """The registry of the db's engine (``db.engine.live_registry``), created on first use."""
    engine = db.engine
    registry = engine.live_registry
    if registry is None:
        with _create_lock:
            registry = engine.live_registry
            if registry is None:
                registry = engine.live_registry = LiveRegistry(db)
    return registry


def flush_all(db: Any, timeout: float | None = None) -> int:
    """``db.flush()``: apply changes queued from other threads to this thread's live queries."""
    return registry_for(db).flush(timeout)
