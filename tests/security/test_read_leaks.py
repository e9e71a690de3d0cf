"""Reads that leak: row versions sent to a session whose read policy does not cover them.

Threat: the server decides per subscription which rows to ship, before and after each write.
If it judges by the scope *before* a write, a row moved out of bob's reach is sent to him with
its new, private data; if it ships whole histories, a row that just became readable carries
every private version it ever had; if a revocation and an edit are handled in one engine turn,
the edit is judged by the old membership. A subscription's query is attacker-written, so no
operator, column, include, window or magic column may widen what a session reads. The HTTP
catalogue (schemas, lenses) is app data too: nothing without credentials of the app.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import jazz_nb as jz
from jazz_nb.store.versions import RowVersion
from tests.security.peer import (
    ADMIN,
    BACKEND,
    DEADLINE,
    Peer,
    User,
    batch_frame,
    http,
    version,
)
from tests.security.team import Team

pytestmark = pytest.mark.slow  # real server processes


def shared_and_private(team: Team) -> tuple[jz.Db, str, str]:
    """Alice's client, a project bob is a member of and one only alice reads."""
    alice, private = team.private_project(team.alice, "alice only")
    shared = alice.insert(team.app.projects, {"name": "with bob"}).wait(
        "global", timeout=DEADLINE).id
    alice.insert(team.app.members, {"project_id": shared, "user_id": team.bob.id}).wait(
        "global", timeout=DEADLINE)
    return alice, shared, private


def latest(db: jz.Db, table: str, row_id: str) -> RowVersion:
    """The newest version of a row in ``db``'s store."""
    return db.store.history(table, row_id)[-1]


def successor(team: Team, base: RowVersion, author: User, changes: dict[str, Any], *,
              batch_id: str | None = None, delete_kind: str | None = None) -> RowVersion:
    """An honest next version of ``base`` (``changes`` applied)."""
    return version(team.app, base.table, author, {**base.data, **changes}, row_id=base.row_id,
                   parents=[base.batch_id], created_by=base.created_by,
                   created_at=base.created_at, batch_id=batch_id, delete_kind=delete_kind)


def received(peer: Peer, row_id: str) -> list[RowVersion]:
    return [v for v in peer.versions() if v.row_id == row_id]


def test_a_row_moved_out_of_reach_and_rewritten_in_the_same_write_is_not_sent(team):
    alice, shared, private = shared_and_private(team)
    todo = alice.insert(team.app.todos, {"title": "shared", "project_id": shared}).wait(
        "global", timeout=DEADLINE)
    with team.peer(team.bob) as bob:
        assert bob.subscribe(1, team.app.todos.to_ir())["type"] == "settled"
        assert received(bob, todo.id)
        alice.update(team.app.todos, todo.id, {"title": "secret plans",
                                               "project_id": private}).wait(
            "global", timeout=DEADLINE)
        team.barrier(bob)
        assert [v.data for v in received(bob, todo.id) if v.data.get("project_id") == private
                or v.data.get("title") == "secret plans"] == []
    team.assert_serving()


def test_a_row_that_becomes_readable_arrives_without_its_private_versions(team):
    alice, shared, private = shared_and_private(team)
    todo = alice.insert(team.app.todos, {"title": "secret draft", "project_id": private}).wait(
        "global", timeout=DEADLINE)
    for query in (team.app.todos, team.app.projects.include(todos_via_project=True)):
        alice.update(team.app.todos, todo.id, {"title": "secret", "project_id": private}).wait(
            "global", timeout=DEADLINE)
        with team.peer(team.bob) as bob:
            assert bob.subscribe(1, query.to_ir())["type"] == "settled"
            barriers = team.app.todos.where(title="barrier")  # what team.barrier waits for
            assert bob.subscribe(2, barriers.to_ir())["type"] == "settled"
            assert received(bob, todo.id) == []
            alice.update(team.app.todos, todo.id, {"title": f"shared via {query.table}",
                                                   "project_id": shared}).wait(
                "global", timeout=DEADLINE)
            bob.wait_row(todo.id)
            team.barrier(bob)
            assert [v.data for v in received(bob, todo.id)
                    if v.data.get("project_id") != shared] == []
        with team.peer(team.bob) as fresh:  # a new subscription: the same, no history
            assert fresh.subscribe(1, query.to_ir())["type"] == "settled"
            got = received(fresh, todo.id)
            assert got and [v.data for v in got if v.data.get("project_id") != shared] == []
    team.assert_serving()


def revoke_and_edit(team: Team, alice: jz.Db, shared: str, *, together: bool) -> None:
    """Bob is subscribed to todos; alice revokes his membership and edits a todo of the
    project in the same engine turn; bob must not get the edit."""
    todo = alice.insert(team.app.todos, {"title": "before", "project_id": shared}).wait(
        "global", timeout=DEADLINE)
    member = next(r for r in alice.all(team.app.members.where(user_id=team.bob.id))
                  if r["project_id"] == shared)
    membership = latest(alice, "members", member.id)
    edit = successor(team, latest(alice, "todos", todo.id), team.alice,
                     {"title": "after revoke"})
    with team.peer(team.bob) as bob, team.peer(team.alice) as one, \
            team.peer(team.alice) as two:
        assert bob.subscribe(1, team.app.todos.to_ir())["type"] == "settled"
        assert received(bob, todo.id)
        revoke = successor(team, membership, team.alice, {}, delete_kind="soft",
                           batch_id=edit.batch_id if together else None)
        if together:
            assert one.batch([revoke, edit])["kind"] == "durableDirect"
        else:
            with team.peer(User.named("busy")) as busy:
                busy_id = team.keep_engine_busy(busy)
                one.send(batch_frame(team.app, [revoke], revoke.batch_id))
                two.send(batch_frame(team.app, [edit], edit.batch_id))
                assert busy.fate(busy_id)["kind"] == "durableDirect"
            assert one.fate(revoke.batch_id)["kind"] == "durableDirect"
            assert two.fate(edit.batch_id)["kind"] == "durableDirect"
        team.barrier(bob)
        assert [v.data["title"] for v in received(bob, todo.id)] == ["before"]


def test_a_revocation_and_an_edit_in_one_batch_do_not_send_the_edit(team):
    alice, shared, _ = shared_and_private(team)
    revoke_and_edit(team, alice, shared, together=True)
    team.assert_serving()


def test_a_revocation_and_an_edit_in_one_engine_turn_do_not_send_the_edit(team):
    alice, shared, _ = shared_and_private(team)
    revoke_and_edit(team, alice, shared, together=False)
    team.assert_serving()


def alices_secrets(team: Team) -> set[str]:
    """Alice's private rows of every table, one public todo blocked by a private one; the
    ids bob must never receive."""
    alice, private = team.private_project(team.alice, "PRIVATE project")
    secret = alice.insert(team.app.todos, {"title": "PRIVATE todo", "project_id": private,
                                           "priority": 7, "meta": {"k": "PRIVATE"}}).wait(
        "global", timeout=DEADLINE)
    other = alice.insert(team.app.todos, {"title": "PRIVATE blocked",
                                          "project_id": private,
                                          "blocked_by_id": secret.id}).wait(
        "global", timeout=DEADLINE)
    alice.insert(team.app.todos, {"title": "public, blocked by a secret",
                                  "blocked_by_id": secret.id}).wait("global", timeout=DEADLINE)
    note = alice.insert(team.app.notes, {"body": "PRIVATE note"}).wait("global",
                                                                      timeout=DEADLINE)
    gone = alice.insert(team.app.notes, {"body": "PRIVATE deleted note"}).wait(
        "global", timeout=DEADLINE)
    alice.delete(team.app.notes, gone.id).wait("global", timeout=DEADLINE)
    mallory = team.client(team.mallory)
    theirs = mallory.insert(team.app.projects, {"name": "mallory's"}).wait(
        "global", timeout=DEADLINE)
    member = alice.insert(team.app.members, {"project_id": private,
                                             "user_id": team.mallory.id}).wait(
        "global", timeout=DEADLINE)
    return {private, secret.id, other.id, note.id, gone.id, theirs.id, member.id}


def crafted_queries(team: Team, secrets: set[str]) -> list[Any]:
    """Hostile subscription IRs: private filters, bad operators and columns, includes through
    unreadable rows, magic columns, odd windows, physical table names."""
    ids = sorted(secrets)
    where = [
        [{"column": "id", "op": "in", "value": ids}],
        [{"column": "id", "op": "eq", "value": ids[0]}],
        [{"column": "$createdBy", "op": "eq", "value": team.alice.id}],
        [{"column": "$createdBy", "op": "ne", "value": team.bob.id}],
        [{"column": "$canRead", "op": "eq", "value": False}],
        [{"column": "$canRead", "op": "is_null", "value": True}],
        [{"column": "title", "op": "contains", "value": "PRIVATE"}],
        [{"column": "title", "op": "like", "value": "%"}],
        [{"column": "title", "op": "eq", "value": "x' OR 1=1 --"}],
        [{"column": "_jz_created_by", "op": "eq", "value": team.alice.id}],
        [{"column": "secret", "op": "eq", "value": 1}],
        [{"column": "priority", "op": "gte", "value": -(2**63)}],
        [{"column": "project_id", "op": "eq", "value": ids[0]}],
        [{"column": "meta", "op": "eq", "value": {"k": "PRIVATE"}}],
        [{"column": "priority", "op": "in", "value": [7, "7", None]}],
    ]
    irs: list[Any] = []
    for table in ("todos", "projects", "members", "notes"):
        base = {"version": 1, "table": table}
        irs += [base, {**base, "include_deleted": True},
                {**base, "offset": 2**62}, {**base, "offset": -1},
                {**base, "limit": 0}, {**base, "order_by": [
                    {"column": "id; DROP TABLE x", "direction": "asc"}]},
                {**base, "select": ["$createdBy", "$canRead", "$canEdit", "$canDelete"]}]
        irs += [{**base, "where": w} for w in where]
    irs += [
        {"version": 1, "table": "todos", "include": {"blocked_by": {"table": "todos"}}},
        {"version": 1, "table": "todos", "include": {"blocked_by": {
            "table": "todos", "include": {"project": {"table": "projects"}}}}},
        {"version": 1, "table": "todos", "include": {"todos_via_blocked_by": {
            "table": "todos", "include_deleted": True}}},
        {"version": 1, "table": "todos", "include": {"project": {"table": "projects",
                                                                 "include": {
            "members_via_project": {"table": "members"}}}}},
        {"version": 1, "table": "members", "include": {"project": {"table": "projects"}}},
        {"version": 1, "table": "projects", "include": {"todos_via_project": {
            "table": "todos", "where": [{"column": "title", "op": "contains",
                                         "value": "PRIVATE"}]}}},
        {"version": 1, "table": "todos", "include": {"project": {"table": "notes"}}},
        {"version": 1, "table": "todos", "include": {"nope": True}},
        {"version": 99, "table": "todos"},
        {"table": f"todos__{team.app.schema_hash[:12]}"},
        {"table": "_jz_sync_fates"},
        {"table": "todos\" --"},
        {"table": ["todos"]},
        {},
    ]
    return irs


def test_crafted_subscriptions_never_return_a_row_outside_policy(team):
    secrets = alices_secrets(team)
    queries = crafted_queries(team, secrets)
    assert len(queries) >= 62
    answers = []
    with team.peer(team.bob) as bob:
        for sub_id, query in enumerate(queries, start=1):
            answers.append(bob.subscribe(sub_id, query))
            bob.send({"type": "unsubscribe", "id": sub_id})
        assert bob.subscribe(0, team.app.todos.to_ir())["type"] == "settled"
        team.barrier(bob)
        leaked = {v.row_id: v.data for v in bob.versions() if v.row_id in secrets}
        assert leaked == {}, leaked
    refused = [(q, a) for q, a in zip(queries, answers, strict=True) if a["type"] == "error"
               and a["code"] not in ("invalid_query", "unknown_table", "limit_exceeded")]
    assert refused == []
    team.assert_serving()


def test_catalogue_routes_need_credentials_of_the_app(team):
    app_id, schema_hash = team.app_id, team.app.schema_hash
    catalogue = [f"/apps/{app_id}/schemas", f"/apps/{app_id}/migrations",
                 f"/apps/{app_id}/schema/{schema_hash}"]
    strangers = [{}, {"X-Jazz-Admin-Secret": "wrong"}, {"X-Jazz-Backend-Secret": "wrong"},
                 {"Authorization": f"Bearer {team.alice.token('another-app')}"},
                 {"Authorization": "Bearer garbage"}]
    for path in catalogue:
        for headers in strangers:
            status, body = http(team.server, "GET", path, headers=headers)
            assert status == 401, (path, headers, status, body)
            assert schema_hash.encode() not in body and b"todos" not in body
        status, body = http(team.server, "GET", path, headers={"X-Jazz-Admin-Secret": ADMIN})
        assert status == 200, (path, status, body)
    member = {"Authorization": f"Bearer {team.alice.token(app_id)}"}
    for path in catalogue[:2]:  # clients read the schema versions and lenses of their app
        status, body = http(team.server, "GET", path, headers=member)
        assert status == 200 and schema_hash.encode() in body, (path, status, body)
    admin_only = [("GET", "/admin/permissions"), ("GET", "/admin/permissions/head"),
                  ("GET", "/admin/introspection/subscriptions"),
                  ("POST", "/admin/schemas"), ("POST", "/admin/permissions"),
                  ("POST", "/admin/migrations")]
    for method, rest in admin_only:
        for headers in [*strangers, member, {"X-Jazz-Backend-Secret": BACKEND}]:
            status, body = http(team.server, method, f"/apps/{app_id}{rest}",
                                headers=headers, body=json.dumps({}).encode())
            assert status in (401, 403), (rest, headers, status, body)
        if method == "GET":
            status, _ = http(team.server, method, f"/apps/{app_id}{rest}",
                             headers={"X-Jazz-Admin-Secret": ADMIN})
            assert status == 200, rest
    team.assert_serving()
