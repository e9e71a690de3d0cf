"""Evaluation semantics (§5.3–5.5): modes, clauses, inheritance, batches, sessions, $can*."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.errors import PolicyDenied
from jazz_nb.policy import define_permissions

APP = s.define_app({
    "projects": s.table(name=s.string(), owner_id=s.string().optional(),
                        parent_id=s.ref("projects").optional()),
    "todos": s.table(title=s.string(), done=s.boolean(default=False),
                     project_id=s.ref("projects").optional(), tags=s.array(s.string()).optional()),
    "notes": s.table(body=s.string()),
})
ALICE, BOB = jz.Session("alice"), jz.Session("bob")


def rules(policy: Any, session: Any, allowed_to: Any, any_of: Any, all_of: Any) -> None:
    policy.projects.allow_read.where(any_of([
        {"owner_id": session.user_id},
        all_of([{"parent_id": {"ne": None}}, allowed_to.read("parent_id", max_depth=3)])]))
    policy.projects.allow_insert.always()
    policy.projects.allow_update.where({"owner_id": session.user_id})
    policy.todos.allow_read.where(allowed_to.read("project_id"))
    policy.todos.allow_insert.where(allowed_to.update("project_id"))
    policy.todos.allow_update.where(allowed_to.update("project_id"))
    # notes: no rules at all


@pytest.fixture
def db() -> Iterator[jz.Db]:
    with jz.create_db(APP, app_id="semantics", permissions=define_permissions(APP, rules)) as d:
        yield d


def titles(db: jz.Db, query: Any = APP.todos) -> list[str]:
    return sorted(r["title"] for r in db.all(query))


def test_unscoped_db_is_not_checked(db: jz.Db) -> None:
    note = db.insert(APP.notes, {"body": "backend"})
    db.update(APP.notes, note.id, {"body": "edited"})
    assert [r["body"] for r in db.all(APP.notes)] == ["edited"]
    assert db.one(APP.notes.select("$canRead", "$canEdit", "$canDelete"))["$canEdit"] is None


def test_enforcing_without_a_rule_denies(db: jz.Db) -> None:
    db.insert(APP.notes, {"body": "x"})
    alice = db.for_session(ALICE)
    assert alice.all(APP.notes) == []
    with pytest.raises(PolicyDenied, match="policy denied INSERT on table 'notes'"):
        alice.insert(APP.notes, {"body": "y"})


def test_permissive_without_a_bundle() -> None:
    with jz.create_db(APP, app_id="permissive") as db:
        alice = db.for_session(ALICE)
        note = alice.insert(APP.notes, {"body": "x"})
        alice.update(APP.notes, note.id, {"body": "y"})
        row = alice.one(APP.notes.select("body", "$canRead", "$canEdit"))
        assert (row["body"], row["$canRead"], row["$canEdit"]) == ("y", True, True)


def test_reads_filtered_silently_and_inherited(db: jz.Db) -> None:
    root = db.insert(APP.projects, {"name": "root", "owner_id": "alice"})
    child = db.insert(APP.projects, {"name": "child", "parent_id": root.id})
    grandchild = db.insert(APP.projects, {"name": "g", "parent_id": child.id})
    db.insert(APP.todos, {"title": "deep", "project_id": grandchild.id})
    db.insert(APP.todos, {"title": "loose"})  # NULL foreign key: inheritance passes
    db.insert(APP.todos, {"title": "bobs", "project_id": db.insert(
        APP.projects, {"name": "b", "owner_id": "bob"}).id})
    assert titles(db.for_session(ALICE)) == ["deep", "loose"]
    assert titles(db.for_session(BOB)) == ["bobs", "loose"]
    assert len(db.for_session(ALICE).all(APP.projects)) == 3


def test_inheritance_depth_limit(db: jz.Db) -> None:
    parent = db.insert(APP.projects, {"name": "p0", "owner_id": "alice"})
    for i in range(1, 6):
        parent = db.insert(APP.projects, {"name": f"p{i}", "parent_id": parent.id})
    names = sorted(r["name"] for r in db.for_session(ALICE).all(APP.projects))
    assert names == ["p0", "p1", "p2", "p3"]  # max_depth=3 hops


def test_inheritance_cycles_terminate(db: jz.Db) -> None:
    a = db.insert(APP.projects, {"name": "a"})
    b = db.insert(APP.projects, {"name": "b", "parent_id": a.id})
    db.update(APP.projects, a.id, {"parent_id": b.id})
    alice = db.for_session(ALICE)
    assert alice.all(APP.projects) == []
    with pytest.raises(PolicyDenied):
        alice.insert(APP.todos, {"title": "t", "project_id": a.id})


def test_write_denied_names_table_operation_and_rule(db: jz.Db) -> None:
    project = db.insert(APP.projects, {"name": "p", "owner_id": "alice"})
    bob = db.for_session(BOB)
    with pytest.raises(PolicyDenied) as info:
        bob.update(APP.projects, project.id, {"name": "mine"})
    err = info.value
    assert "policy denied UPDATE on table 'projects'" in str(err)
    assert err.table == "projects" and err.code == "permission_denied"
    assert err.operation == "update" and err.rule == "owner_id = session.user_id"
    db.for_session(ALICE).update(APP.projects, project.id, {"name": "renamed"})


def test_update_checks_old_and_new_row(db: jz.Db) -> None:
    project = db.insert(APP.projects, {"name": "p", "owner_id": "alice"})
    alice = db.for_session(ALICE)
    with pytest.raises(PolicyDenied, match=r"update.with_check failed on the new row"):
        alice.update(APP.projects, project.id, {"owner_id": "bob"})


def test_delete_falls_back_to_update_rule(db: jz.Db) -> None:
    project = db.insert(APP.projects, {"name": "p", "owner_id": "alice"})
    with pytest.raises(PolicyDenied, match="DELETE on table 'projects'"):
        db.for_session(BOB).delete(APP.projects, project.id)
    db.for_session(ALICE).delete(APP.projects, project.id)
    assert db.all(APP.projects) == []


def test_insert_inherits_with_null_foreign_key(db: jz.Db) -> None:
    bob = db.for_session(BOB)
    bob.insert(APP.todos, {"title": "no project"})
    mine = bob.insert(APP.projects, {"name": "mine", "owner_id": "bob"})
    bob.insert(APP.todos, {"title": "in mine", "project_id": mine.id})
    theirs = db.insert(APP.projects, {"name": "theirs", "owner_id": "alice"})
    with pytest.raises(PolicyDenied, match=r"allowed_to\.update"):
        bob.insert(APP.todos, {"title": "in theirs", "project_id": theirs.id})


def test_a_denied_member_rejects_the_whole_batch(db: jz.Db) -> None:
    theirs = db.insert(APP.projects, {"name": "theirs", "owner_id": "alice"})
    bob = db.for_session(BOB)
    with pytest.raises(PolicyDenied), bob.batch() as batch:
        batch.insert(APP.todos, {"title": "fine"})
        batch.insert(APP.todos, {"title": "denied", "project_id": theirs.id})
    with pytest.raises(PolicyDenied), bob.transaction() as tx:
        tx.insert(APP.todos, {"title": "fine too"})
        tx.update(APP.projects, theirs.id, {"name": "x"})
    assert db.all(APP.todos) == []


def test_anonymous_sessions_cannot_write(db: jz.Db) -> None:
    anon = db.for_session(jz.Session("anon", auth_mode="anonymous"))
    with pytest.raises(PolicyDenied, match="anonymous session cannot insert") as info:
        anon.insert(APP.projects, {"name": "x"})
    assert info.value.code == "anonymous_write_denied"
    db.insert(APP.todos, {"title": "public"})
    row = anon.one(APP.todos.select("title", "$canRead", "$canEdit"))
    assert (row["title"], row["$canRead"], row["$canEdit"]) == ("public", True, False)


def test_magic_columns_also_inside_includes(db: jz.Db) -> None:
    mine = db.insert(APP.projects, {"name": "mine", "owner_id": "alice"})
    child = db.insert(APP.projects, {"name": "child", "parent_id": mine.id})
    db.insert(APP.todos, {"title": "a", "project_id": mine.id})
    db.insert(APP.todos, {"title": "b", "project_id": child.id})
    query = APP.todos.select("title", "$canEdit").include(
        project={"select": ["name", "$canRead", "$canEdit", "$canDelete"]}).order_by("title")
    a, b = db.for_session(ALICE).all(query)
    assert (a["$canEdit"], b["$canEdit"]) == (True, False)  # update does not inherit upwards
    assert a["project"] == {"id": mine.id, "name": "mine", "$canRead": True, "$canEdit": True,
                            "$canDelete": True}
    assert b["project"] == {"id": child.id, "name": "child", "$canRead": True,
                            "$canEdit": False, "$canDelete": False}
    other = db.for_session(BOB).all(APP.projects.include(todos_via_project=True))
    assert other == []
    unscoped = db.one(APP.todos.include(project={"select": ["$canRead"]}))
    assert unscoped["project"]["$canRead"] is None


def test_included_rows_are_filtered_by_their_own_policy(db: jz.Db) -> None:
    theirs = db.insert(APP.projects, {"name": "theirs", "owner_id": "bob"})
    db.insert(APP.todos, {"title": "loose"})
    bob_todo = db.insert(APP.todos, {"title": "bobs", "project_id": theirs.id})
    rows = db.for_session(BOB).all(APP.projects.include(todos_via_project=True))
    assert [t["id"] for t in rows[0]["todos_via_project"]] == [bob_todo.id]


def test_claims_and_session_conditions() -> None:
    def claim_rules(policy: Any, session: Any, any_of: Any) -> None:
        policy.notes.allow_read.where(any_of([session.where({"claims.role": "manager"}),
                                              {"id": {"in": session["claims.note_ids"]}}]))
        policy.notes.allow_insert.where(session.where({"claims.level": {"gte": 2}}))

    perms = define_permissions(APP, claim_rules)
    with jz.create_db(APP, app_id="claims", permissions=perms) as db:
        a = db.insert(APP.notes, {"body": "a"})
        db.insert(APP.notes, {"body": "b"})
        manager = db.for_session(jz.Session("m", {"role": "manager", "level": 1}))
        member = db.for_session(jz.Session("u", {"role": "member", "note_ids": [a.id],
                                                 "level": 2}))
        assert len(manager.all(APP.notes)) == 2
        assert [r["body"] for r in member.all(APP.notes)] == ["a"]
        member.insert(APP.notes, {"body": "c"})
        with pytest.raises(PolicyDenied, match=r"claims\.level >= 2"):
            manager.insert(APP.notes, {"body": "d"})


def test_exists_sees_the_state_before_the_write() -> None:
    """Freezing columns on update (§5.6): the new row must match a stored row."""
    def freeze(policy: Any, session: Any, all_of: Any) -> None:
        policy.todos.allow_read.always()
        policy.todos.allow_insert.always()
        policy.todos.allow_update.where_old({"$createdBy": session.user_id}).where_new(
            lambda todo: all_of([{"$createdBy": session.user_id},
                                 policy.todos.exists.where({"id": todo.id,
                                                            "project_id": todo.project_id})]))

    with jz.create_db(APP, app_id="freeze",
                      permissions=define_permissions(APP, freeze)) as db:
        alice = db.for_session(ALICE)
        project = db.insert(APP.projects, {"name": "p"})
        todo = alice.insert(APP.todos, {"title": "t"})
        alice.update(APP.todos, todo.id, {"title": "renamed"})
        with pytest.raises(PolicyDenied, match=r"update\.with_check"):
            alice.update(APP.todos, todo.id, {"project_id": project.id})


def test_refresh_tables_for_live_queries(db: jz.Db) -> None:
    ctx = db.for_session(ALICE).compile_context()
    # projects decide which todos alice reads; a changed todo is re-judged by itself
    assert ctx.refresh_tables({"todos"}) == {"projects"}
    assert db.compile_context().refresh_tables({"todos"}) == frozenset()


def test_live_queries_follow_policy_relevant_changes(db: jz.Db) -> None:
    root = db.insert(APP.projects, {"name": "root", "owner_id": "bob"})
    child = db.insert(APP.projects, {"name": "child", "parent_id": root.id})
    db.insert(APP.todos, {"title": "t", "project_id": child.id})
    alice = db.for_session(ALICE)
    with alice.live(APP.todos) as todos, alice.live(APP.projects) as projects:
        assert len(todos.df) == 0 and len(projects.df) == 0
        db.update(APP.projects, root.id, {"owner_id": "alice"})
        db.flush()
        assert list(todos.df["title"]) == ["t"]
        assert sorted(projects.df["name"]) == ["child", "root"]
