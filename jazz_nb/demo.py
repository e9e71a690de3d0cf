"""``jazz-nb demo``: a small todo app in an embedded store, queried as DataFrames.

Example:
    >>> # python -m jazz_nb.cli demo
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

import jazz_nb as jz
from jazz_nb import s

Print = Callable[[str], None]


def demo_app() -> s.App:
    """The demo schema: projects and their todos.

    Example:
        >>> demo_app().schema_hash[:12]  # doctest: +ELLIPSIS
        '...'
    """
    return s.define_app({
        "projects": s.table(name=s.string()),
        "todos": s.table(
            title=s.string(),
            done=s.boolean(default=False),
            priority=s.int().optional(),
            tags=s.array(s.string()).optional(),
            due=s.timestamp().optional(),
            project_id=s.ref("projects").optional(),
        ),
    })


def seed(db: jz.Db, app: s.App) -> None:
    """Write the demo rows: two projects, six todos (one batch)."""
    with db.batch() as b:
        home = b.insert(app.projects, {"name": "Home"})
        work = b.insert(app.projects, {"name": "Work"})
        for title, priority, project, tags in [
            ("Buy milk", 2, home, ["errand"]), ("Fix the bike", 4, home, None),
            ("Write report", 5, work, ["writing"]), ("Review PR", 3, work, ["code"]),
            ("Plan sprint", 5, work, None), ("Call mum", 1, None, None),
        ]:
            b.insert(app.todos, {"title": title, "priority": priority, "tags": tags,
                                 "project_id": project.id if project else None})


def section(out: Print, title: str, body: object) -> None:
    """Print a titled block."""
    out(f"\n== {title} ==\n{body}")


def describe(delta: Any) -> str:
    """One line for a live delta: how many rows were added, updated, removed."""
    parts = [f"{len(ids)} {what}" for what, ids in
             (("added", delta.added), ("updated", delta.updated), ("removed", delta.removed))
             if ids]
    return ", ".join(parts) or "no change"


def live_updates(out: Print, db: jz.Db, app: s.App) -> None:
    """Keep a live frame open and re-print it as writes change it, in place."""
    board = db.live(app.todos.where(done=False).order_by("priority", "desc")
                    .select("title", "priority"))
    frame = board.df
    board.on_change(lambda live, delta: out(f"\n-- live frame: {describe(delta)} --\n{frame}"))
    section(out, "a live query: open todos by priority (kept up to date in place)", frame)
    new = db.insert(app.todos, {"title": "Water plants", "priority": 6})
    db.update(app.todos, new.id, {"priority": 2})
    db.update(app.todos, new.id, {"done": True})
    assert board.df is frame, "the live frame is updated in place, never replaced"
    board.close()


def run(out: Print = print) -> None:
    """Run the demo, printing every step."""
    pd.set_option("display.width", 120)
    pd.set_option("display.max_columns", 10)
    app = demo_app()
    out(f"jazz_nb demo: app schema hash {app.schema_hash} (branch {app.branch})")
    with jz.create_db(app, app_id="jazz-nb-demo") as db:
        seed(db, app)
        urgent = app.todos.where(done=False, priority={"gte": 3}).order_by("priority", "desc")
        section(out, "open todos with priority >= 3, highest first", db.df(urgent))
        section(out, "the SQL it ran (filters, order and limit pushed down)", urgent.sql())
        first = db.one(urgent)
        assert first is not None
        db.update(app.todos, first.id, {"done": True})
        section(out, f"after marking {first['title']!r} done", db.df(urgent))
        with_project = app.todos.include(project=True).select("title", "project_id")
        section(out, "todos with their project (include)", db.df(with_project))
        per_project = app.projects.include(todos_via_project=app.todos.order_by("title"))
        section(out, "projects with their todos (reverse include)", db.df(per_project))
        section(out, "who wrote what (magic columns)",
                db.df(app.todos.select("title", "$createdBy", "$createdAt").limit(3)))
        live_updates(out, db, app)
