"""A live query's plan: its compiled statements, sort keys and window, and what it depends on.

``Plan.of(db, query)`` compiles ``query`` for ``db``'s view (its session's policies and its
lens graph shape the statements). ``LiveQuery.replan()`` builds a new one when the lens graph
changes, and re-runs the query with it.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string(), priority=s.int())})
    >>> db = jz.create_db(app, app_id="plan-doc")
    >>> plan = Plan.of(db, app.todos.select("title").order_by("priority").limit(5))
    >>> plan.public, plan.hidden, [k.column for k in plan.keys], plan.windowed
    (['id', 'title'], ['priority'], ['priority', 'id'], True)
    >>> db.close()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jazz_nb.live import order
from jazz_nb.live.deps import Dependencies

if TYPE_CHECKING:
    from jazz_nb.query.builder import Query
    from jazz_nb.query.sql import Compiled


@dataclass(frozen=True)
class Plan:
    """What a query needs to be maintained: statements, sort keys, hidden columns, and the
    tables whose changes concern it."""

    public: list[str]  # the user's columns, in order
    hidden: list[str]  # sort columns fetched only to place rows
    keys: list[order.SortKey]  # the result order, ending with id
    windowed: bool  # limit or offset
    limit: int | None
    offset: int
    full: Compiled  # the whole result, with its window
    only_ids: Compiled  # restricted to $jz_ids, no window
    public_compiled: Compiled  # the user's query (for Row objects)
    deps: Dependencies  # root and included tables, and how included rows link to roots
    refresh: frozenset[str]  # tables any change of which re-runs the query (policy look-ups)

    @classmethod
    def of(cls, db: Any, query: Query) -> Plan:
        """Compile ``query`` for ``db``'s view."""
        public_compiled = db.compile(query)
        public = [c.name for c in public_compiled.columns]
        hidden = [c for c in dict.fromkeys(k.column for k in query.ordering) if c not in public]
        work = query
        if hidden:
            base = query.selection if query.selection is not None else ("*",)
            work = query.select(*base, *hidden)
        keys = []
        for key in query.ordering:
            desc = key.direction == "desc"
            keys.append(order.SortKey(key.column, desc,
                                      query.column(key.column).nullable and not desc))
        if all(k.column != "id" for k in query.ordering):
            keys.append(order.SortKey("id"))
        deps = Dependencies(db, query)
        looked_up = getattr(db.compile_context(), "refresh_tables", None)
        refresh = frozenset(looked_up(deps.tables)) if looked_up is not None else frozenset()
        return cls(public, hidden, keys, query.row_limit is not None or bool(query.row_offset),
                   query.row_limit, query.row_offset or 0, db.compile(work),
                   db.compile(work, only_ids=True), public_compiled, deps, refresh)
