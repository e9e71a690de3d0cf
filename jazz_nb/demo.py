"""``jazz-nb demo``: a todo app on the embedded sync server, as DataFrames and live frames.

Example:
    >>> # python -m jazz_nb.cli demo
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pandas as pd

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.writes.handle import WriteHandle

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


APP_ID = "jazz-nb-demo"


def demo_id(name: str) -> str:
    """A fixed row id per demo row, so every run starts from the same rows."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{APP_ID}/{name}"))


def seed(db: jz.Db, app: s.App) -> WriteHandle:
    """Write (or reset) the demo rows: two projects, six todos, in one batch."""
    with db.batch() as b:
        for project in ("Home", "Work"):
            b.upsert(app.projects, {"name": project}, id=demo_id(project))
        for title, priority, project, tags in [
            ("Buy milk", 2, "Home", ["errand"]), ("Fix the bike", 4, "Home", None),
            ("Write report", 5, "Work", ["writing"]), ("Review PR", 3, "Work", ["code"]),
            ("Plan sprint", 5, "Work", None), ("Call mum", 1, None, None),
        ]:
            b.upsert(app.todos, {"title": title, "priority": priority, "tags": tags,
                                 "done": False, "project_id": project and demo_id(project)},
                     id=demo_id(title))
    assert b.handle is not None
    return b.handle


def section(out: Print, title: str, body: object) -> None:
    """Print a titled block."""
    out(f"\n== {title} ==\n{body}")


def describe(delta: Any) -> str:
    """One line for a live delta: how many rows were added, updated, removed."""
    parts = [f"{len(ids)} {what}" for what, ids in
             (("added", delta.added), ("updated", delta.updated), ("removed", delta.removed))
             if ids]
    return ", ".join(parts) or "no change"


def live_updates(out: Print, writer: jz.Db, reader: jz.Db, app: s.App) -> None:
    """A second client's live frame follows the first client's writes, in place."""
    query = app.todos.where(done=False).order_by("priority", "desc").select("title", "priority")
    with reader.live(query) as board:
        frame = board.df
        board.on_change(lambda live, delta: out(f"\n-- live frame of the second client: "
                                                f"{describe(delta)} --\n{frame}"))
        section(out, "a second client's live query: open todos by priority", frame)
        new = writer.insert(app.todos, {"title": "Water plants", "priority": 6})
        board.wait_for(lambda live: new.id in live.df.index, timeout=30)
        writer.update(app.todos, new.id, {"priority": 2})
        board.wait_for(lambda live: live.df.loc[new.id, "priority"] == 2, timeout=30)
        writer.delete(app.todos, new.id)
        board.wait_for(lambda live: new.id not in live.df.index, timeout=30)
        assert board.df is frame, "the live frame is updated in place, never replaced"


def run(out: Print = print) -> None:
    """Run the demo, printing every step."""
    pd.set_option("display.width", 120)
    pd.set_option("display.max_columns", 10)
    app = demo_app()
    out(f"jazz_nb demo: app schema hash {app.schema_hash} (branch {app.branch})")
    with jz.connect(app, app_id=APP_ID) as db, jz.connect(app, app_id=APP_ID) as other:
        out(f"two clients connected to the embedded sync server {db.status.server_url} "
            f"as user {db.status.user_id}")
        seed(db, app).wait("global", timeout=30)
        urgent = (app.todos.where(done=False, priority={"gte": 3}).order_by("priority", "desc")
                  .select("title", "done", "priority", "tags"))
        section(out, "open todos with priority >= 3, highest first", db.df(urgent, tier="edge"))
        section(out, "the SQL it ran (filters, order and limit pushed down)", urgent.sql())
        first = db.one(urgent)
        assert first is not None
        db.update(app.todos, first.id, {"done": True})
        section(out, f"after marking {first['title']!r} done", db.df(urgent, tier="edge"))
        with_project = app.todos.include(project=True).select("title", "project_id")
        section(out, "todos with their project (include)", db.df(with_project))
        per_project = app.projects.include(todos_via_project=app.todos.order_by("title"))
        section(out, "projects with their todos (reverse include)", db.df(per_project))
        section(out, "who wrote what (magic columns)",
                db.df(app.todos.select("title", "$createdBy", "$createdAt").limit(3)))
        live_updates(out, db, other, app)
