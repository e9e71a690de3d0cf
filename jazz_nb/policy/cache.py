"""A per-store memo of the write-path look-ups, dropped table by table as commits change them.

Membership and parent rows change far less often than they are checked, so repeated write
checks (a user adding rows to the same workspace) skip DuckDB entirely. Entries of a table are
dropped by the store's change feed, which runs under ``store.lock`` — the lock every look-up
holds too.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.store.store import Store
    >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
    >>> cache = lookup_cache(store)
    >>> cache.get("todos", ("q",), lambda: [1]), cache.get("todos", ("q",), lambda: [2])
    ([1], [1])
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jazz_nb.store.changes import ChangeSet
    from jazz_nb.store.store import Store

PER_TABLE = 1024  # cached look-ups per table (least recently used ones are dropped)
_CACHES: weakref.WeakKeyDictionary[Store, LookupCache] = weakref.WeakKeyDictionary()


class LookupCache:
    """Look-up results per table, least recently used first out."""

    def __init__(self) -> None:
        self._tables: dict[str, OrderedDict[Hashable, Any]] = {}

    def get(self, table: str, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached result of ``key`` on ``table``, computing it on a miss."""
        entries = self._tables.setdefault(table, OrderedDict())
        if key in entries:
            entries.move_to_end(key)
            return entries[key]
        value = entries[key] = compute()
        if len(entries) > PER_TABLE:
            entries.popitem(last=False)
        return value

    def changed(self, changes: ChangeSet) -> None:
        """Forget every look-up on a table the commit changed."""
        for table in changes.tables:
            self._tables.pop(table, None)


def lookup_cache(store: Store) -> LookupCache:
    """The cache of ``store`` (created, and subscribed to its changes, on first use)."""
    with store.lock:
        cache = _CACHES.get(store)
        if cache is None:
            cache = _CACHES[store] = LookupCache()
            store.add_listener(cache.changed)
        return cache
