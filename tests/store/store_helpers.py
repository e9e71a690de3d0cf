"""Builders of row versions for the store tests."""

from __future__ import annotations

import itertools
from typing import Any

from jazz_nb import s
from jazz_nb.store.versions import RowVersion

APP = s.define_app({
    "todos": s.table(
        title=s.string(),
        done=s.boolean(default=False),
        priority=s.int().optional(),
        tags=s.array(s.string()).optional(),
        owner=s.uuid().optional(),
        blob=s.bytes().optional(),
    ),
    "counters": s.table(
        name=s.string(),
        hits=s.int().merge_with("counter"),
        labels=s.array(s.string()).merge_with("g-set"),
    ),
})
TODO = {"title": "t", "done": False, "priority": None, "tags": None, "owner": None, "blob": None}
_batch_numbers = itertools.count(1)


def batch(n: int | None = None) -> str:
    """A batch id whose byte order follows ``n`` (a fresh increasing one when omitted)."""
    return f"{next(_batch_numbers) if n is None else n:032x}"


def version(row_id: str, batch_id: str, parents: tuple[str, ...] = (), at: int = 1,
            data: dict[str, Any] | None = None, table: str = "todos", **kw: Any) -> RowVersion:
    """A version of ``row_id``; ``data`` goes over a default todo (or counter) body."""
    defaults = {"todos": TODO, "counters": {"name": "c", "hits": 0, "labels": []}}
    body = {**defaults.get(table, {}), **(data or {})}
    author = kw.pop("author", "alice")
    created_at = kw.pop("created_at", 1)
    return RowVersion(table, row_id, batch_id, tuple(parents), at, author, created_at, author,
                      body, **kw)
