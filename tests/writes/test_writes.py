"""Writes through the Db facade: values, magic columns, batches, transactions, bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

import jazz_nb as jz
from jazz_nb import s


def test_insert_returns_the_stored_row_with_defaults(db: jz.Db, app: s.App) -> None:
    row = db.insert(app.todos, {"title": "Buy milk"})
    assert uuid.UUID(row.id).version == 7
    assert dict(row) == {"id": row.id, "title": "Buy milk", "done": False, "priority": None,
                         "tags": None,
                         "due": None, "project_id": None}
    assert row.wait("local") is row
    assert db.one(app.todos.where(title="Buy milk")).id == row.id


def test_update_changes_only_given_columns_and_none_clears(db: jz.Db, app: s.App) -> None:
    row = db.insert(app.todos, {"title": "a", "priority": 3, "tags": ["x"]})
    db.update(app.todos, row.id, {"done": True, "priority": None})
    got = db.one(app.todos.where(id=row.id))
    assert (got["title"], got["done"], got["priority"], got["tags"]) == ("a", True, None, ["x"])


def test_magic_columns_record_author_and_times(db: jz.Db, app: s.App) -> None:
    row = db.insert(app.todos, {"title": "a"})
    alice = db.for_session(jz.Session("alice"))
    alice.update(app.todos, row.id, {"done": True})
    got = db.one(app.todos.where(id=row.id).select("title", "$createdBy", "$updatedBy",
                                                   "$createdAt", "$updatedAt"))
    assert got["$createdBy"] == "jazz:system"
    assert got["$updatedBy"] == "alice"
    assert got["$createdAt"] < got["$updatedAt"]
    assert "$createdBy" not in db.one(app.todos.where(id=row.id))


def test_delete_hides_the_row_and_blocks_further_writes(db: jz.Db, app: s.App) -> None:
    row = db.insert(app.todos, {"title": "a"})
    db.delete(app.todos, row.id)
    assert db.one(app.todos.where(id=row.id)) is None
    assert db.one(app.todos.where(id=row.id).include_deleted())["title"] == "a"
    with pytest.raises(jz.WriteError, match="row already deleted"):
        db.update(app.todos, row.id, {"done": True})
    with pytest.raises(jz.WriteError, match="row already deleted"):
        db.insert(app.todos, {"title": "again"}, id=row.id)


def test_upsert_inserts_then_updates(db: jz.Db, app: s.App) -> None:
    known = str(uuid.uuid4())
    db.upsert(app.todos, {"title": "first"}, id=known)
    db.upsert(app.todos, {"title": "second"}, id=known)
    assert [r["title"] for r in db.all(app.todos)] == ["second"]
    with pytest.raises(jz.WriteError, match="object already exists"):
        db.insert(app.todos, {"title": "dup"}, id=known)


def test_timestamps_accept_datetimes_numbers_and_iso(db: jz.Db, app: s.App) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    a = db.insert(app.todos, {"title": "a", "due": when})
    b = db.insert(app.todos, {"title": "b", "due": int(when.timestamp() * 1000)})
    c = db.insert(app.todos, {"title": "c", "due": "2026-01-02T03:04:05Z"})
    assert a["due"] == b["due"] == c["due"] == when


def test_batch_commits_all_at_once_and_shares_one_batch_id(db: jz.Db, app: s.App) -> None:
    with db.batch() as b:
        p = b.insert(app.projects, {"name": "P"})
        t = b.insert(app.todos, {"title": "t", "project_id": p.id})
        b.update(app.todos, t.id, {"done": True})  # same row twice: one version
        assert db.all(app.todos) == []  # nothing visible before commit
    assert b.handle is not None and b.handle.wait("local").tier == "local"
    assert db.one(app.todos)["done"] is True
    assert len(db.store.history("todos", t.id)) == 1


def test_a_failing_batch_leaves_nothing_behind(db: jz.Db, app: s.App) -> None:
    with pytest.raises(jz.SchemaError), db.batch() as b:
        b.insert(app.todos, {"title": "kept?"})
        b.insert(app.todos, {"title": 42})
    assert db.all(app.todos) == []
    db.insert(app.todos, {"title": "still usable"})
    assert len(db.all(app.todos)) == 1


def test_a_batch_reads_the_store_once_per_table_and_reports_missing_rows_at_commit(
        db: jz.Db, app: s.App) -> None:
    rows = [db.insert(app.todos, {"title": f"t{i}"}) for i in range(5)]
    reads: list[tuple[str, int]] = []
    current = db.store.current  # the batch reads its rows in one go per table
    db.store.current = lambda t, ids, **kw: reads.append((t, len(ids))) or current(t, ids, **kw)  # type: ignore[method-assign]
    with db.batch() as b:
        for row in rows[:3]:
            b.update(app.todos, row.id, {"done": True})
        b.delete(app.todos, rows[3].id)
        with pytest.raises(jz.SchemaError):  # arguments are still checked at the call
            b.update(app.todos, rows[4].id, {"nope": 1})
    assert reads == [("todos", 4)]
    assert [r["done"] for r in db.all(app.todos.order_by("title"))] == [True, True, True, False]
    missing = str(uuid.uuid4())
    with pytest.raises(jz.WriteError, match=f"row not found: {missing}"), db.batch() as b:
        b.update(app.todos, rows[4].id, {"done": True})
        b.update(app.todos, missing, {"done": True})
    assert db.one(app.todos.where(id=rows[4].id))["done"] is False  # all or nothing


def test_transaction_conflict_when_a_row_changed_underneath(db: jz.Db, app: s.App) -> None:
    row = db.insert(app.todos, {"title": "a"})
    with pytest.raises(jz.TransactionConflict) as err, db.transaction() as tx:
        tx.update(app.todos, row.id, {"title": "from tx"})
        db.update(app.todos, row.id, {"title": "meanwhile"})
    assert err.value.code == "transaction_conflict"
    assert db.one(app.todos)["title"] == "meanwhile"
    with db.transaction() as tx:
        tx.update(app.todos, row.id, {"title": "tx wins now"})
    assert db.one(app.todos)["title"] == "tx wins now"


def test_edge_tier_without_a_server_is_a_clear_error(db: jz.Db, app: s.App) -> None:
    row = db.insert(app.todos, {"title": "a"})
    with pytest.raises(jz.WriteError, match="needs a sync server"):
        row.wait("edge")
    with pytest.raises(jz.WriteError, match="unknown durability tier"):
        row.wait("cloud")  # type: ignore[arg-type]


@pytest.mark.parametrize(("values", "error", "needle"), [
    ({"titel": "x"}, jz.SchemaError, "unknown column 'titel' on table 'todos'"),
    ({}, jz.SchemaError, "missing required field 'title' on table 'todos'"),
    ({"title": None}, jz.SchemaError, "cannot set required field todos.title to null"),
    ({"title": 1}, jz.SchemaError, "todos.title: expected a string"),
    ({"title": "x", "priority": 2**31}, jz.SchemaError, "todos.priority"),
    ({"title": "x", "priority": "high"}, jz.SchemaError, "todos.priority"),
    ({"title": "x", "done": "yes"}, jz.SchemaError, "todos.done: expected a boolean"),
    ({"title": "x", "tags": "a"}, jz.SchemaError, "todos.tags"),
    ({"title": "x", "tags": [1]}, jz.SchemaError, "todos.tags"),
    ({"title": "x", "project_id": "nope"}, jz.SchemaError, "todos.project_id: expected a UUID"),
    ({"title": "x", "due": "soon"}, jz.SchemaError, "todos.due"),
])
def test_bad_writes_name_the_fault_and_change_nothing(db: jz.Db, app: s.App, values, error,
                                                      needle) -> None:
    with pytest.raises(error) as err:
        db.insert(app.todos, values)
    assert needle in str(err.value)
    assert err.value.table == "todos"
    assert db.all(app.todos) == []
    db.insert(app.todos, {"title": "ok"})  # still usable
    assert len(db.all(app.todos)) == 1


def test_unknown_table_and_bad_ids(db: jz.Db, app: s.App) -> None:
    with pytest.raises(jz.QueryError, match="unknown table 'nope'"):
        db.insert("nope", {"x": 1})
    with pytest.raises(jz.WriteError, match="not a UUID"):
        db.update(app.todos, "not-a-uuid", {"done": True})
    with pytest.raises(jz.WriteError, match="row not found"):
        db.update(app.todos, str(uuid.uuid4()), {"done": True})


def test_file_store_reopens_with_its_data(tmp_path, app: s.App) -> None:
    path = str(tmp_path / "todo.duckdb")
    with jz.create_db(app, app_id="a", path=path) as db:
        row = db.insert(app.todos, {"title": "persisted"})
        db.update(app.todos, row.id, {"done": True})
    with jz.create_db(app, app_id="a", path=path) as again:
        got = again.one(app.todos)
        assert (got.id, got["title"], got["done"]) == (row.id, "persisted", True)
        again.update(app.todos, row.id, {"title": "edited after reopen"})
        assert len(again.store.history("todos", row.id)) == 3


def test_closed_db_refuses_work(app: s.App) -> None:
    db = jz.create_db(app, app_id="a")
    db.close()
    with pytest.raises(jz.JazzError, match="closed"):
        db.insert(app.todos, {"title": "x"})


def test_single_updates_build_on_every_tip_of_a_concurrently_edited_row(
        db: jz.Db, app: s.App) -> None:
    from dataclasses import replace

    from jazz_nb.store.versions import new_batch_id

    row = db.insert(app.todos, {"title": "a"})
    base = db.store.history("todos", row.id)[0]
    tips = [replace(base, batch_id=new_batch_id(), parents=(base.batch_id,), updated_at=t,
                    data={**base.data, "title": title})
            for t, title in ((base.updated_at + 1, "x"), (base.updated_at + 2, "y"))]
    db.store.apply(tips)  # two peers edited the same version: the row has two tips
    assert set(db.store.current("todos", [row.id])[row.id].frontier) == \
        {v.batch_id for v in tips}
    handle = db.update(app.todos, row.id, {"done": True})
    latest = [v for v in db.store.history("todos", row.id) if v.batch_id == handle.batch_id]
    assert set(latest[0].parents) == {v.batch_id for v in tips}
    assert db.store.current("todos", [row.id])[row.id].frontier == (handle.batch_id,)
    got = db.one(app.todos.where(id=row.id))
    assert (got["title"], got["done"]) == ("y", True)
    db.delete(app.todos, row.id)
    assert db.all(app.todos) == []
    with pytest.raises(jz.WriteError, match="row already deleted"):
        db.update(app.todos, row.id, {"done": False})
