"""Clients and a real server process: writes, fates, tiers, live frames, policies, includes."""

from __future__ import annotations

import pytest

import jazz_nb as jz
from jazz_nb.auth.identity import generate_secret
from jazz_nb.auth.session import Session
from jazz_nb.policy import define_permissions
from jazz_nb.sync import deploy
from tests.sync.conftest import ADMIN, BACKEND, creator_rules, open_rules

pytestmark = pytest.mark.slow


def test_two_clients_follow_each_other(open_app, clients):
    app = open_app
    alice, bob = clients(), clients()
    alice_live, bob_live = alice.live(app.todos.order_by("title")), bob.live(app.todos)
    row = alice.insert(app.todos, {"title": "milk"})
    assert row.wait("global", timeout=10) is row
    bob_live.wait_for(lambda lq: row.id in lq.ids, timeout=10)
    bob.update(app.todos, row.id, {"done": True}).wait("edge", timeout=10)
    alice_live.wait_for(lambda lq: bool(lq.df.loc[row.id, "done"]), timeout=10)
    assert bob.status.connected and bob.status.outbox == 0
    assert alice.df(app.todos).equals(bob.df(app.todos))


def test_tier_read_waits_for_the_server(open_app, clients):
    app = open_app
    writer = clients()
    handles = [writer.insert(app.todos, {"title": f"t{i}", "priority": i}) for i in range(5)]
    for handle in handles:
        handle.wait("global", timeout=10)
    reader = clients()
    assert reader.all(app.todos) == []  # local tier: nothing here yet
    rows = reader.all(app.todos.where(priority={"gte": 3}), tier="edge")
    assert sorted(r["title"] for r in rows) == ["t3", "t4"]
    assert reader.status.last_settled is not None


def test_rejection_rolls_back_the_local_rows(server, app, app_id, clients):
    deploy(server.url, app_id, admin_secret=ADMIN, app=app,
           permissions=define_permissions(app, creator_rules))
    alice, bob = clients(), clients()
    project = alice.insert(app.projects, {"name": "home"}).wait("global", timeout=10)
    bob.all(app.projects, tier="edge")
    with pytest.raises(jz.WriteRejected) as caught:  # projects: no update rule
        bob.update(app.projects, project.id, {"name": "mine"}).wait("global", timeout=10)
    assert caught.value.code == "permission_denied"
    assert "UPDATE" in caught.value.reason
    assert bob.one(app.projects)["name"] == "home"  # the rejected version is gone locally
    todo = alice.insert(app.todos, {"title": "secret"}).wait("global", timeout=10)
    assert bob.all(app.todos, tier="edge") == []  # select policy: only the creator reads it
    assert [r.id for r in alice.all(app.todos, tier="edge")] == [todo.id]


def test_permissions_head_missing_fails_closed(server, app, app_id, clients):
    """The server stores nothing until permissions are published; the client keeps the row,
    pending, says why, and sends it again once the server can accept it."""
    deploy(server.url, app_id, admin_secret=ADMIN, app=app)  # schema only
    user = clients()
    row = user.insert(app.todos, {"title": "x"})
    with pytest.raises(TimeoutError, match="permissions_head_missing"):
        row.wait("global", timeout=10)
    assert [r.id for r in user.all(app.todos)] == [row.id]  # nothing the user wrote is lost
    assert user.status.held == 1 and "permissions_head_missing" in user.status.last_error
    with pytest.raises(jz.ProtocolError) as refused:
        user.all(app.todos, tier="edge")
    assert refused.value.code == "permissions_head_missing"
    backend = clients(backend_secret=BACKEND)  # trusted backends are not session-scoped
    backend.insert(app.todos, {"title": "from backend"}).wait("global", timeout=10)
    assert len(backend.all(app.todos, tier="edge")) == 1
    deploy(server.url, app_id, admin_secret=ADMIN, app=app,
           permissions=define_permissions(app, open_rules))
    row.wait("global", timeout=30)  # sent again after the held-batch retry
    assert user.status.held == 0


def test_includes_pull_in_related_rows(open_app, clients):
    app = open_app
    writer = clients()
    with writer.batch() as b:
        home = b.insert(app.projects, {"name": "home"})
        b.insert(app.todos, {"title": "fix bike", "project_id": home.id})
        b.insert(app.projects, {"name": "unrelated"})
    b.handle.wait("global", timeout=10)
    reader = clients()
    rows = reader.all(app.todos.include(project=True), tier="edge")
    assert rows[0]["project"]["name"] == "home"
    assert [r["name"] for r in reader.all(app.projects)] == ["home"]  # only what was in scope
    live = reader.live(app.todos.include(project=True))
    writer.update(app.projects, home.id, {"name": "house"}).wait("global", timeout=10)
    live.wait_for(lambda lq: lq.arrow.column("project").to_pylist()[0]["name"] == "house",
                  timeout=10)


def test_session_filtering_and_impersonation(server, app, app_id, clients):
    deploy(server.url, app_id, admin_secret=ADMIN, app=app,
           permissions=define_permissions(app, creator_rules))
    carol = clients(backend_secret=BACKEND, session=Session("carol"))
    dave = clients(backend_secret=BACKEND, session=Session("dave"))
    mine = carol.insert(app.todos, {"title": "carol's"}).wait("global", timeout=10)
    dave.insert(app.todos, {"title": "dave's"}).wait("global", timeout=10)
    assert [r.id for r in carol.all(app.todos, tier="edge")] == [mine.id]
    admin = clients(admin_secret=ADMIN)
    assert len(admin.all(app.todos, tier="edge")) == 2  # admin bypasses policies
    with pytest.raises(jz.WriteRejected) as caught:  # dave may not overwrite carol's todo
        dave.upsert(app.todos, {"title": "stolen"}, id=mine.id).wait("global", timeout=10)
    assert caught.value.code == "permission_denied"
    assert carol.one(app.todos, tier="edge")["title"] == "carol's"


def test_live_subscription_follows_policy_scoped_writes(server, app, app_id, clients):
    deploy(server.url, app_id, admin_secret=ADMIN, app=app,
           permissions=define_permissions(app, creator_rules))
    secret = generate_secret()
    phone, laptop = clients(secret=secret), clients(secret=secret)  # same user, two devices
    stranger = clients()
    phone_live, stranger_live = phone.live(app.todos), stranger.live(app.todos)
    row = laptop.insert(app.todos, {"title": "from laptop"})
    phone_live.wait_for(lambda lq: row.id in lq.ids, timeout=10)
    row.wait("global", timeout=10)
    stranger.all(app.projects, tier="edge")  # a round trip after the write's fan-out
    stranger_live.flush()
    assert stranger_live.ids == []


def test_transaction_conflict(open_app, clients):
    app = open_app
    alice, bob = clients(), clients()
    row = alice.insert(app.todos, {"title": "v1"}).wait("global", timeout=10)
    bob.all(app.todos, tier="edge")
    alice.update(app.todos, row.id, {"title": "v2"}).wait("global", timeout=10)
    with bob.transaction() as tx:  # bob has not seen v2 yet (no subscription)
        tx.update(app.todos, row.id, {"title": "bob"})
    with pytest.raises(jz.WriteRejected) as caught:
        tx.handle.wait("global", timeout=10)
    assert caught.value.code == "transaction_conflict"


def test_rows_from_the_server_are_re_evaluated_in_memory(open_app, clients):
    app = open_app
    alice, bob = clients(), clients()
    live = bob.live(app.todos.where(done=False).order_by("title"))
    calls: list[object] = []
    fetch = bob.fetch_arrow
    bob.fetch_arrow = lambda *a, **k: calls.append(a) or fetch(*a, **k)  # type: ignore[method-assign]
    batch = alice.insert_many(app.todos, [{"title": f"t{i:02}", "done": i % 2 == 1}
                                          for i in range(40)])  # past the per-row path
    batch.wait("global", timeout=10)
    live.wait_for(lambda lq: len(lq) == 20, timeout=10)
    assert list(live.df["title"]) == [f"t{i:02}" for i in range(0, 40, 2)]
    assert calls == []  # the delivered rows were evaluated from their records, not re-queried
    live.refresh()
    assert list(live.df["title"]) == [f"t{i:02}" for i in range(0, 40, 2)]


def test_rows_the_store_could_not_keep_are_delivered_again(open_app, clients, monkeypatch,
                                                           caplog):
    from jazz_nb.sync import client as sync_client

    app = open_app
    alice, bob = clients(), clients()
    bob_live = bob.live(app.todos)
    assert bob.all(app.todos, tier="edge") == []  # bob's subscription is settled
    failures = []
    real = sync_client.apply_segments

    def disk_full_once(store, apps, segments):
        if not failures:
            failures.append(len(segments))
            raise OSError("disk full")
        return real(store, apps, segments)

    monkeypatch.setattr(sync_client, "apply_segments", disk_full_once)
    row = alice.insert(app.todos, {"title": "kept"})
    row.wait("global", timeout=10)
    bob_live.wait_for(lambda lq: row.id in lq.ids, timeout=20)  # after a resubscription
    assert failures and "could not apply" in caplog.text and "disk full" in caplog.text
    assert bob.one(app.todos.where(id=row.id))["title"] == "kept"
