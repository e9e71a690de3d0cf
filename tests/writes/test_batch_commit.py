"""``db.batch()`` commits: rows read by taking them out of the visible table, all or nothing."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.store.changes import ChangeSet
from jazz_nb.store.store import MAX_ID_PARAMS
from jazz_nb.store.versions import new_batch_id


def _titles(db: jz.Db, app: s.App) -> dict[str, str]:
    return {r.id: r["title"] for r in db.all(app.todos)}


def test_a_large_mixed_batch_writes_one_version_per_row_and_reports_every_record(
        db: jz.Db, app: s.App) -> None:
    db.insert_many(app.todos, [{"title": f"t{i}", "priority": i} for i in range(100)])
    ids = list(_titles(db, app))
    before = db.store.current("todos", ids)
    seen: list[ChangeSet] = []
    db.store.add_listener(seen.append)
    with db.batch() as b:
        for rid in ids[:MAX_ID_PARAMS + 6]:
            b.update(app.todos, rid, {"title": "batch"})
        b.update(app.todos, ids[0], {"done": True})  # the same row again: one version
        b.delete(app.todos, ids[1])  # updated, then deleted
        for rid in ids[90:]:
            b.delete(app.todos, rid)
        new = b.insert(app.todos, {"title": "new"})
    assert b.handle is not None
    changed = [*ids[:MAX_ID_PARAMS + 6], *ids[90:], new.id]
    [changes] = seen
    assert set(changes.tables["todos"]) == set(changed)
    records = changes.rows["todos"]  # live queries re-evaluate these in memory
    assert set(records) == set(changed)
    assert records[ids[0]].data["done"] is True and records[ids[1]].delete_kind == "soft"
    titles = _titles(db, app)
    assert len(titles) == 100 - 11 + 1 and ids[1] not in titles and ids[95] not in titles
    assert titles[ids[0]] == titles[ids[2]] == "batch" and titles[ids[80]] == "t80"
    assert titles[new.id] == "new"
    assert db.one(app.todos.where(id=ids[2]))["priority"] == 2  # untouched columns kept
    for rid in [ids[0], ids[1], ids[95]]:
        history = db.store.history("todos", rid)
        assert [v.batch_id for v in history] == [before[rid].batch_id, b.handle.batch_id]
        assert history[-1].parents == before[rid].frontier
        assert history[-1].created_at == before[rid].created_at


def test_a_missing_row_in_a_large_batch_writes_nothing(db: jz.Db, app: s.App) -> None:
    db.insert_many(app.todos, [{"title": f"t{i}"} for i in range(MAX_ID_PARAMS + 10)])
    ids = list(_titles(db, app))
    before = db.store.current("todos", ids)
    missing = str(uuid.uuid4())
    with pytest.raises(jz.WriteError, match=f"row not found: {missing}"), db.batch() as b:
        for rid in ids:
            b.update(app.todos, rid, {"title": "batch"})
        b.insert(app.todos, {"title": "new"})
        b.delete(app.todos, missing)
    assert db.store.current("todos", ids) == before
    assert len(db.all(app.todos)) == len(ids)
    with pytest.raises(jz.WriteError, match="row already deleted"), db.batch() as b:
        b.delete(app.todos, ids[0])
        b.update(app.todos, ids[0], {"title": "after delete"})
    assert db.store.current("todos", ids) == before


def test_a_batch_builds_on_every_tip_of_a_concurrently_edited_row(
        db: jz.Db, app: s.App) -> None:
    row = db.insert(app.todos, {"title": "a"})
    other = db.insert(app.todos, {"title": "b"})
    base = db.store.history("todos", row.id)[0]
    tips = [replace(base, batch_id=new_batch_id(), parents=(base.batch_id,), updated_at=t,
                    data={**base.data, "title": title})
            for t, title in ((base.updated_at + 1, "x"), (base.updated_at + 2, "y"))]
    db.store.apply(tips)  # two peers edited the same version: the row has two tips
    with db.batch() as b:
        b.update(app.todos, row.id, {"done": True})
        b.update(app.todos, other.id, {"done": True})
    assert b.handle is not None
    latest = db.store.history("todos", row.id)[-1]
    assert latest.batch_id == b.handle.batch_id
    assert set(latest.parents) == {v.batch_id for v in tips}
    assert db.store.current("todos", [row.id])[row.id].frontier == (b.handle.batch_id,)
    got = db.one(app.todos.where(id=row.id))
    assert (got["title"], got["done"]) == ("y", True)


def test_a_batch_under_migrations_reads_rows_through_the_lenses(tmp_path: Path) -> None:
    v1 = s.define_app({"todos": s.table(title=s.string())})
    v2 = s.define_app({"todos": s.table(title=s.string(), priority=s.int(default=1))})
    path = str(tmp_path / "store.duckdb")
    with jz.create_db(v1, app_id="a", path=path) as old:
        milk = old.insert(v1.todos, {"title": "milk"})
    with jz.create_db(v2, app_id="a", path=path, migrations=[s.migration(v1, v2)]) as db:
        with db.batch() as b:
            b.update(v2.todos, milk.id, {"priority": 5})
        with pytest.raises(jz.WriteError, match="row not found"), db.batch() as b:
            b.update(v2.todos, str(uuid.uuid4()), {"priority": 5})
        got = db.one(v2.todos)
        assert (got.id, got["title"], got["priority"]) == (milk.id, "milk", 5)
        [copied] = db.store.history("todos", milk.id)  # copy-on-write onto the v2 branch
        assert copied.parents == ()
