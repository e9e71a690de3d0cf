"""Every write route ends in one commit hook: ``Engine.committed`` and its observers."""

from __future__ import annotations

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.engine import Commit


@pytest.fixture
def db():
    app = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False))})
    with jz.create_db(app, app_id="engine-commits") as opened:
        yield opened


def test_every_write_route_reaches_the_observers_once(db):
    app, seen = db.app, []
    db.engine.observe(seen.append)
    row = db.insert(app.todos, {"title": "a"})
    db.update(app.todos, row.id, {"done": True})  # the direct successor route
    db.for_session(jz.Session("bob")).update(app.todos, row.id, {"title": "b"})  # read first
    with db.batch() as batch:
        batch.insert(app.todos, {"title": "c"})
        batch.insert(app.todos, {"title": "d"})
    with db.transaction() as tx:
        tx.update(app.todos, row.id, {"title": "e"})
    many = db.insert_many(app.todos, [{"title": f"m{i}"} for i in range(3)])
    db.delete(app.todos, row.id)
    assert all(isinstance(c, Commit) for c in seen)
    assert [c.size for c in seen] == [1, 1, 1, 2, 1, 3, 1]
    assert seen[0].batch_id == row.batch_id and seen[5].batch_id == many.batch_id
    assert seen[4].state == "VisibleTransactional" and seen[0].state == "VisibleDirect"
    assert seen[5].columns is not None and seen[5].columns.table == "todos"
    assert len({c.batch_id for c in seen}) == len(seen)
    assert all(db.engine.tracker.reached(c.batch_id) == "local" for c in seen)


def test_a_stopped_observer_hears_nothing_more(db):
    seen = []
    stop = db.engine.observe(seen.append)
    db.insert(db.app.todos, {"title": "a"})
    stop()
    stop()  # stopping twice is harmless
    db.insert(db.app.todos, {"title": "b"})
    assert len(seen) == 1


def test_a_failed_write_commits_nothing(db):
    seen = []
    db.engine.observe(seen.append)
    with pytest.raises(jz.JazzError):
        db.update(db.app.todos, "0190f000-0000-7000-8000-000000000000", {"title": "x"})
    with pytest.raises(jz.JazzError), db.batch() as batch:
        batch.insert(db.app.todos, {"title": "ok"})
        batch.insert(db.app.todos, {"nope": 1})
    assert seen == []
