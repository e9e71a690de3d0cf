"""A store written by v1, v2 and v3 clients: read and written by each in its own shape."""

from __future__ import annotations

from pathlib import Path

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.errors import MigrationError
from jazz_nb.lens import Lens, migration
from jazz_nb.lens.runtime import evolve
from jazz_nb.policy import define_permissions


def rows(db: jz.Db, query: object) -> dict[str, dict]:
    return {r.id: {k: v for k, v in r.items() if k != "id"} for r in db.all(query)}


@pytest.fixture
def written_by_v1(tmp_path: Path, v1: s.App) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "store.duckdb"
    with jz.create_db(v1, app_id="lens-test", path=str(path)) as db:
        home = db.insert(v1.projects, {"name": "Home"})
        milk = db.insert(v1.todos, {"title": "milk", "project_id": home.id})
        bike = db.insert(v1.todos, {"title": "bike", "done": True})
    return path, {"home": home.id, "milk": milk.id, "bike": bike.id}


def test_v3_reads_v1_rows_in_its_shape(written_by_v1: tuple[Path, dict[str, str]], v3: s.App,
                                       lens12: Lens, lens23: Lens) -> None:
    path, ids = written_by_v1
    with jz.create_db(v3, app_id="lens-test", path=str(path),
                      migrations=[lens12, lens23]) as db:
        assert rows(db, v3.todos) == {
            ids["milk"]: {"text": "milk", "done": False, "priority": 1,
                          "project_id": ids["home"]},
            ids["bike"]: {"text": "bike", "done": True, "priority": 1, "project_id": None}}
        got = db.one(v3.todos.where(text="milk").include(project=True))
        assert got["project"]["name"] == "Home"
        assert db.one(v3.todos.where(priority={"gt": 1})) is None
        assert [r["text"] for r in db.all(v3.todos.order_by("text"))] == ["bike", "milk"]


def test_v3_writes_copy_on_write_and_v1_reads_them_back(
        written_by_v1: tuple[Path, dict[str, str]], v1: s.App, v3: s.App, lens12: Lens,
        lens23: Lens) -> None:
    path, ids = written_by_v1
    with jz.create_db(v3, app_id="lens-test", path=str(path),
                      migrations=[lens12, lens23]) as db:
        before = db.store.history("todos", ids["milk"], schema_hash=v1.schema_hash)
        db.update(v3.todos, ids["milk"], {"text": "oat milk", "priority": 5})
        new = db.insert(v3.todos, {"text": "taxes", "priority": 3})
        db.delete(v3.todos, ids["bike"])
        # the v1 branch is untouched; the update is a fresh row on the v3 branch
        assert db.store.history("todos", ids["milk"], schema_hash=v1.schema_hash) == before
        [copied] = db.store.history("todos", ids["milk"])
        assert copied.parents == ()
        assert (copied.created_by, copied.created_at) == (before[0].created_by,
                                                          before[0].created_at)
        assert copied.data["text"] == "oat milk" and copied.data["project_id"] == ids["home"]
        assert rows(db, v3.todos) == {
            ids["milk"]: {"text": "oat milk", "done": False, "priority": 5,
                          "project_id": ids["home"]},
            new.id: {"text": "taxes", "done": False, "priority": 3, "project_id": None}}
        db.update(v3.todos, ids["milk"], {"done": True})  # now extends the v3 branch
        assert db.store.history("todos", ids["milk"])[-1].parents == (copied.batch_id,)

    with jz.create_db(v1, app_id="lens-test", path=str(path),
                      migrations=[lens12, lens23]) as db:
        assert rows(db, v1.todos) == {
            ids["milk"]: {"title": "oat milk", "done": True, "project_id": ids["home"]},
            new.id: {"title": "taxes", "done": False, "project_id": None}}
        db.update(v1.todos, new.id, {"title": "pay taxes"})  # copy-on-write onto v1
        assert db.store.history("todos", new.id)[0].data == {
            "title": "pay taxes", "done": False, "project_id": None}

    with jz.create_db(v3, app_id="lens-test", path=str(path),
                      migrations=[lens12, lens23]) as db:
        # the newest entry wins as a whole row: v1 knows no priority, so it is the default
        assert rows(db, v3.todos)[new.id] == {"text": "pay taxes", "done": False,
                                              "priority": 1, "project_id": None}


def test_best_entry_across_branches_is_the_whole_row_with_max_updated_at(
        v1: s.App, v2: s.App, lens12: Lens) -> None:
    db1 = jz.create_db(v1, app_id="lens-test", migrations=[lens12])
    db2 = evolve(db1, v2)
    row = db1.insert(v1.todos, {"title": "a"}, updated_at=100)
    db2.update(v2.todos, row.id, {"priority": 7}, updated_at=200)
    db1.update(v1.todos, row.id, {"done": True}, updated_at=300)
    assert rows(db2, v2.todos)[row.id] == {"title": "a", "done": True, "priority": 1,
                                           "project_id": None}
    db2.update(v2.todos, row.id, {"title": "b"}, updated_at=400)
    assert rows(db1, v1.todos)[row.id] == {"title": "b", "done": True, "project_id": None}
    # the write built on v1's newer whole row, which knows no priority: the lens default
    assert rows(db2, v2.todos)[row.id]["priority"] == 1
    db1.delete(v1.todos, row.id, updated_at=500)
    assert rows(db2, v2.todos) == {} and rows(db1, v1.todos) == {}
    assert db2.one(v2.todos.include_deleted()) is not None
    with pytest.raises(jz.WriteError, match="already deleted"):
        db2.update(v2.todos, row.id, {"title": "c"})
    db1.close()


def test_insert_with_an_id_taken_on_another_branch_is_refused(v1: s.App, v2: s.App,
                                                              lens12: Lens) -> None:
    with jz.create_db(v1, app_id="lens-test", migrations=[lens12]) as db1:
        row = db1.insert(v1.todos, {"title": "a"})
        with pytest.raises(jz.WriteError, match="already exists"):
            evolve(db1, v2).insert(v2.todos, {"title": "b"}, id=row.id)


def test_transactions_and_batches_copy_on_write(v1: s.App, v2: s.App, lens12: Lens) -> None:
    with jz.create_db(v1, app_id="lens-test", migrations=[lens12]) as db1:
        a = db1.insert(v1.todos, {"title": "a"})
        db2 = evolve(db1, v2)
        with db2.transaction() as tx:
            tx.update(v2.todos, a.id, {"priority": 2})
            tx.update(v2.todos, a.id, {"done": True})
        assert rows(db2, v2.todos)[a.id] == {"title": "a", "done": True, "priority": 2,
                                             "project_id": None}
        assert len(db2.store.history("todos", a.id, schema_hash=v2.schema_hash)) == 1


def test_policies_apply_to_rows_of_every_version(tmp_path: Path, v1: s.App, v3: s.App,
                                                 lens12: Lens, lens23: Lens) -> None:
    path = str(tmp_path / "policies.duckdb")
    with jz.create_db(v1, app_id="lens-test", path=path) as db1:
        db1.for_session(jz.Session("alice")).insert(v1.todos, {"title": "alice's"})
        db1.for_session(jz.Session("bob")).insert(v1.todos, {"title": "bob's"})
    perms = define_permissions(v3, lambda policy: policy.todos.managed_by_creator())
    with jz.create_db(v3, app_id="lens-test", path=path, permissions=perms,
                      migrations=[lens12, lens23]) as db3:
        alice = db3.for_session(jz.Session("alice"))
        assert [r["text"] for r in alice.all(v3.todos)] == ["alice's"]
        sql = alice.compile(v3.todos).sql
        assert "UNION ALL" in sql and "\"$createdBy\" = 'alice'" in sql
        bob_row = db3.one(v3.todos.where(text="bob's"))
        with pytest.raises(jz.PolicyDenied):
            alice.update(v3.todos, bob_row.id, {"text": "mine"})


def test_drafts_and_unconnected_migrations_are_refused(v1: s.App, v2: s.App, v3: s.App,
                                                       lens12: Lens) -> None:
    with pytest.raises(MigrationError, match="is a draft"):
        jz.create_db(v3, app_id="x", migrations=[lens12, migration(v2, v3)])
    with pytest.raises(MigrationError, match="connects this app's schema"):
        jz.create_db(v3, app_id="x", migrations=[lens12])
    lonely = s.define_app({"other": s.table(a=s.int())})
    with pytest.raises(MigrationError, match="no lens path"), jz.create_db(v1, app_id="x") as db:
        evolve(db, lonely)


def test_renamed_table_reads_and_writes_both_ways() -> None:
    old = s.define_app({"users": s.table(name=s.string())})
    new = s.define_app({"people": s.table(full_name=s.string(), age=s.int().optional())})
    lens = migration(old, new).rename_table("users", "people").rename_column(
        "people", "name", "full_name")
    with jz.create_db(old, app_id="lens-test", migrations=[lens]) as db1:
        ann = db1.insert(old.users, {"name": "Ann"})
        db2 = evolve(db1, new)
        assert rows(db2, new.people) == {ann.id: {"full_name": "Ann", "age": None}}
        db2.update(new.people, ann.id, {"age": 40})
        bob = db2.insert(new.people, {"full_name": "Bob"})
        assert rows(db1, old.users) == {ann.id: {"name": "Ann"}, bob.id: {"name": "Bob"}}
        assert db1.store.history("people", ann.id, schema_hash=new.schema_hash)[0].data == {
            "full_name": "Ann", "age": 40}
