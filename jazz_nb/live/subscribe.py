"""``db.subscribe_all(query, callback)``: Jazz's subscription shape for non-pandas code (§3.5).

``callback(all, delta)`` runs once at once (every row ``Added``) and after every flush that
changed the result: ``all`` is a fresh list of ``Row`` objects in result order, ``delta`` a list
of ``{"kind": 0|1|2, "id", "index"[, "item"]}`` — ``0`` added / ``2`` updated with their index
in the new result and the new ``Row``, ``1`` removed with its index in the previous result.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> db = jz.create_db(app, app_id="sub-doc")
    >>> got = []
    >>> sub = db.subscribe_all(app.todos, lambda rows, delta: got.append(delta))
    >>> row = db.insert(app.todos, {"title": "a"})
    >>> got[-1] == [{"kind": 0, "id": row.id, "index": 0, "item": {"id": row.id, "title": "a"}}]
    True
    >>> sub.unsubscribe(); db.close()
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from jazz_nb.live.chunks import gather_table
from jazz_nb.live.delta import ADDED, Delta, apply_jazz_delta
from jazz_nb.live.query import LiveQuery
from jazz_nb.query.results import Row, rows_from_arrow

log = logging.getLogger("jazz_nb.live")


class Subscription:
    """The handle ``subscribe_all`` returns: ``.unsubscribe()``, ``.rows``, ``.live``."""

    def __init__(self, db: Any, query: Any, callback: Callable[[list[Row], list[dict]], Any],
                 ) -> None:
        self.callback = callback
        self.live = LiveQuery(db, query)  # .df never read: no frame is built
        self._compiled = self.live.plan.public_compiled
        self.rows: list[Row] = rows_from_arrow(self.live.arrow, self._compiled)
        self.live.on_change(self._changed)
        first = [{"kind": ADDED, "id": r.id, "index": i, "item": r}
                 for i, r in enumerate(self.rows)]
        self._deliver(first)

    def _deliver(self, delta: list[dict]) -> None:
        try:
            self.callback(list(self.rows), delta)
        except Exception as err:
            self.live.errors.append(err)
            log.exception("subscribe_all callback %r failed", self.callback)

    def _changed(self, live: LiveQuery, delta: Delta) -> None:
        positions = [*delta.added_index, *delta.updated_index]
        fresh = rows_from_arrow(gather_table(live.arrow, positions),
                                self._compiled) if positions else []
        by_id = {row.id: row for row in fresh}
        changes = delta.to_jazz(lambda rid: by_id[rid])
        self.rows = apply_jazz_delta(self.rows, changes)
        self._deliver(changes)

    def unsubscribe(self) -> None:
        """Stop the callbacks."""
        self.live.close()

    @property
    def active(self) -> bool:
        """Whether the subscription still delivers changes."""
        return not self.live.closed

    def __repr__(self) -> str:
        state = "active" if self.active else "unsubscribed"
        return f"<Subscription {self.live.query!r}: {len(self.rows)} rows, {state}>"


def subscribe_all(db: Any, query: Any, callback: Callable[[list[Row], list[dict]], Any],
                  ) -> Subscription:
    """``db.subscribe_all``: call ``callback(all, delta)`` now and after every change."""
    return Subscription(db, query, callback)
