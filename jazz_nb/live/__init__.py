"""Live queries: pandas DataFrames and Arrow tables that follow every committed change.

``db.live(query)`` returns a ``LiveQuery`` (``.df`` reconciled in place, ``.arrow`` immutable
versions sharing unchanged chunks, ``.last_delta``, ``.on_change``, ``.wait_for``); ``db.
subscribe_all(query, callback)`` delivers Jazz's ``(all, delta)`` shape for non-pandas code.
See ``docs/live.md``.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> db = jz.create_db(app, app_id="live-init-doc")
    >>> seen = []
    >>> handle = db.subscribe_all(app.todos, lambda rows, delta: seen.append(len(rows)))
    >>> _ = db.insert(app.todos, {"title": "a"})
    >>> seen
    [0, 1]
    >>> handle.unsubscribe(); db.close()
"""

from jazz_nb.live.delta import ADDED, REMOVED, UPDATED, Delta, apply_jazz_delta
from jazz_nb.live.query import LiveQuery
from jazz_nb.live.registry import LiveRegistry, flush_all, registry_for
from jazz_nb.live.subscribe import Subscription, subscribe_all

__all__ = [
    "ADDED", "REMOVED", "UPDATED", "Delta", "LiveQuery", "LiveRegistry", "Subscription",
    "apply_jazz_delta", "flush_all", "registry_for", "subscribe_all",
]
