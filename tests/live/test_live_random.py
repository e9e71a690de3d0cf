"""Randomised write sequences against several live queries: after every step each live frame
equals a fresh ``db.df(q)`` (same object), each Arrow version a fresh ``db.arrow(q)``, and
``subscribe_all``'s rows rebuilt from its deltas equal ``db.all(q)``. Real DuckDB, no mocks."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.live import apply_jazz_delta
from jazz_nb.live import chunks as live_chunks


def make_app() -> s.App:
    return s.define_app({
        "projects": s.table(name=s.string()),
        "todos": s.table(
            title=s.string(), done=s.boolean(default=False), priority=s.int().optional(),
            tags=s.array(s.string()).optional(), score=s.float().optional(),
            project_id=s.ref("projects").optional(),
        ),
    })


def queries(app: s.App) -> list[jz.Query]:
    t = app.todos
    return [
        t,
        t.where(done=False),
        t.where(priority={"gte": 2}).order_by("priority", "desc"),
        t.order_by("score").order_by("title", "desc"),
        t.order_by("priority").select("title"),  # sort column not selected
        t.order_by("priority", "desc").limit(3),
        t.order_by("title").limit(2).offset(1),
        t.include(project=True).order_by("title"),
        app.projects.include(todos_via_project=app.todos.where(done=False).order_by("title")),
        app.projects.include(todos_via_project={"order_by": "priority", "limit": 2}),
    ]


titles = st.sampled_from(["a", "b", "c", "dd", "é", "Z"])
todo_values = st.fixed_dictionaries({}, optional={
    "title": titles,
    "done": st.booleans(),
    "priority": st.one_of(st.none(), st.integers(0, 4)),
    "tags": st.one_of(st.none(), st.lists(st.sampled_from(["x", "y"]), max_size=2)),
    "score": st.one_of(st.none(), st.sampled_from([0.5, -1.0, 2.25])),
})
op = st.one_of(
    st.tuples(st.just("insert"), todo_values, st.integers(0, 5)),
    st.tuples(st.just("update"), st.integers(0, 50), todo_values, st.integers(-1, 5)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("project"), titles),
    st.tuples(st.just("rename"), st.integers(0, 50), titles),
    st.tuples(st.just("drop_project"), st.integers(0, 50)),
    st.tuples(st.just("batch"), st.lists(st.tuples(todo_values, st.integers(0, 50)),
                                          min_size=1, max_size=6)),
)


class World:
    """A db with live queries and subscriptions, checked after every write."""

    def __init__(self) -> None:
        self.app = make_app()
        self.db = jz.create_db(self.app, app_id="random-live")
        self.todos: list[str] = []
        self.projects: list[str] = []
        for name in ("p0", "p1"):
            self.projects.append(self.db.insert(self.app.projects, {"name": name}).id)
        self.qs = queries(self.app)
        self.lives = [self.db.live(q) for q in self.qs]
        self.frames = [live.df for live in self.lives]
        self.subs = []
        self.seen: list[list] = []
        for i, q in enumerate(self.qs):
            self.seen.append([])
            self.subs.append(self.db.subscribe_all(q, self._collector(i)))

    def _collector(self, i: int):
        def collect(rows: list, delta: list) -> None:
            previous = self.seen[i][-1][0] if self.seen[i] else []
            self.seen[i].append((rows, apply_jazz_delta(previous, delta)))
        return collect

    def pick(self, ids: list[str], i: int) -> str | None:
        return ids[i % len(ids)] if ids else None

    def project(self, i: int) -> str | None:
        return None if i < 0 or not self.projects else self.pick(self.projects, i)

    def do(self, step: tuple) -> None:
        db, app = self.db, self.app
        kind = step[0]
        if kind == "insert":
            values = dict(step[1])
            values.setdefault("title", "t")
            values["project_id"] = self.project(step[2] - 1)
            self.todos.append(db.insert(app.todos, values).id)
        elif kind == "update" and self.todos:
            changes = dict(step[2])
            if step[3] >= 0:
                changes["project_id"] = self.project(step[3] - 1)
            if changes:
                db.update(app.todos, self.pick(self.todos, step[1]), changes)
        elif kind == "delete" and self.todos:
            victim = self.pick(self.todos, step[1])
            db.delete(app.todos, victim)
            self.todos.remove(victim)
        elif kind == "project":
            self.projects.append(db.insert(app.projects, {"name": step[1]}).id)
        elif kind == "rename" and self.projects:
            db.update(app.projects, self.pick(self.projects, step[1]), {"name": step[2]})
        elif kind == "drop_project" and self.projects:
            victim = self.pick(self.projects, step[1])
            db.delete(app.projects, victim)
            self.projects.remove(victim)
        elif kind == "batch":
            with db.batch() as b:
                for values, i in step[1]:
                    if i % 3 == 0 or not self.todos:
                        new = dict(values)
                        new.setdefault("title", "b")
                        self.todos.append(b.insert(app.todos, new).id)
                    elif i % 3 == 1:
                        if values:
                            b.update(app.todos, self.pick(self.todos, i), values)
                    else:
                        victim = self.pick(self.todos, i)
                        b.delete(app.todos, victim)
                        self.todos.remove(victim)

    def check(self) -> None:
        for q, live, frame, seen in zip(self.qs, self.lives, self.frames, self.seen,
                                        strict=True):
            assert live.df is frame
            assert live.status == "live", live.error
            pd.testing.assert_frame_equal(live.df, self.db.df(q))
            expected = self.db.arrow(q)
            assert live.arrow.equals(expected), (q, live.arrow, expected)
            rows, rebuilt = seen[-1]
            assert rows == self.db.all(q)
            assert [r.id for r in rebuilt] == [r.id for r in rows]
            assert rebuilt == rows


@pytest.mark.parametrize("chunk_rows", [3, 16_384])
@settings(max_examples=int(os.environ.get("JAZZ_LIVE_EXAMPLES", "20")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=st.lists(op, min_size=1, max_size=14))
def test_random_writes_keep_every_live_query_equal_to_a_fresh_read(
        steps: list, chunk_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_chunks, "CHUNK_ROWS", chunk_rows)
    world = World()
    try:
        world.check()
        for step in steps:
            world.do(step)
            world.check()
    finally:
        world.db.close()
