"""Letting one user harm another's data: stolen batch ids and server answers that erase rows.

Threat: batch ids travel to every reader of a row (``_jz_batch_id``), and a replayed batch gets
the fate the server remembers for its id. If a denied write under someone else's batch id is
remembered as that id's fate, the owner's next replay (after a restart) is told "rejected" and
her client throws away rows the server holds; if a write under a stolen id is stored, or its
fate shown to the thief, ids stop meaning "this writer's batch". Separately, a client whose
schema the server does not (or no longer) know must keep its local rows: the server cannot
decide their fate, so nothing may be deleted — the rows stay pending and ``db.status`` says why.
"""

from __future__ import annotations

import pytest

from jazz_nb import s
from jazz_nb.store.versions import RowVersion
from tests.security.peer import (
    BACKEND,
    DEADLINE,
    Peer,
    batch_frame,
    launch,
    version,
    wait_until,
)
from tests.security.team import Team, team_app

pytestmark = pytest.mark.slow  # real server processes


def alices_batch_seen_by_bob(team: Team, alice: Peer, bob: Peer) -> RowVersion:
    """Alice writes a public todo (raw); bob, subscribed, learns its batch id from his rows."""
    assert bob.subscribe(1, team.app.todos.to_ir())["type"] == "settled"
    mine = version(team.app, "todos", team.alice, {"title": "alice's"})
    assert alice.batch([mine])["kind"] == "durableDirect"

    def learned() -> list[str]:
        bob.drain(0.05)
        return [v.batch_id for v in bob.versions() if v.row_id == mine.row_id]

    assert wait_until(learned, what="bob receiving alice's row") == [mine.batch_id]
    return mine


def test_a_denied_write_under_a_stolen_batch_id_does_not_change_the_owners_fate(team):
    _, project = team.private_project(team.alice)
    with team.peer(team.alice) as alice, team.peer(team.bob) as bob:
        mine = alices_batch_seen_by_bob(team, alice, bob)
        stolen = mine.batch_id
        denied = version(team.app, "todos", team.bob, {"title": "bob's",
                                                        "project_id": project},
                         batch_id=stolen)
        fate = bob.batch([denied])
        assert (fate["type"], fate["kind"]) == ("fate", "rejected"), fate
        replay = batch_frame(team.app, [mine], stolen, replay=True)
        alice.send(replay)
        assert alice.fate(stolen)["kind"] == "durableDirect"
    with team.peer(team.alice) as restarted:  # as her client replays after a restart
        restarted.send(replay)
        assert restarted.fate(stolen)["kind"] == "durableDirect"
    team.assert_serving()


def test_writes_under_a_stolen_batch_id_are_refused_and_never_learn_its_fate(team):
    with team.peer(team.alice) as alice, team.peer(team.bob) as bob:
        stolen = alices_batch_seen_by_bob(team, alice, bob).batch_id
        harmless = version(team.app, "todos", team.bob, {"title": "bob's"}, batch_id=stolen)
        fates = [bob.batch([harmless]), bob.batch([harmless], replay=True)]
        for fate in fates:
            assert (fate["type"], fate["kind"]) == ("fate", "rejected"), fate
            assert fate["code"] in ("batch_id_taken", "invalid_batch_submission"), fate
        alice.drain(0.2)
        assert not [m for m in alice.messages if m.get("batch_id") == stolen and
                    m.get("kind") == "rejected"]  # her batch's fate stays hers
    reader = team.client(backend_secret=BACKEND)
    titles = [r["title"] for r in reader.all(team.app.todos, tier="edge")]
    assert "bob's" not in titles and "alice's" in titles
    team.assert_serving()


def test_a_peer_never_receives_the_fate_of_another_users_batch(team):
    with team.peer(team.alice) as alice, team.peer(team.bob) as bob:
        stolen = alices_batch_seen_by_bob(team, alice, bob).batch_id
        alice.send(batch_frame(team.app, [version(team.app, "todos", team.alice,
                                                  {"title": "again"}, batch_id=stolen)],
                               stolen, replay=True))
        alice.fate(stolen)
        bob.drain(0.3)
        assert [m for m in bob.messages if m.get("type") == "fate"] == []



def newer_app() -> s.App:
    """``team_app`` plus a column: a schema version nobody deployed."""
    v1 = team_app()
    tables = {name: v1.table(name) for name in v1.tables}
    tables["todos"] = s.table(**tables["todos"].columns, tags=s.string().optional())
    return s.define_app(tables)


def test_rows_of_a_schema_the_server_never_published_stay_pending_locally(server):
    team = Team.deploy(server)
    try:
        app = newer_app()
        db = team.client(team.alice, app=app)
        row = db.insert(app.todos, {"title": "written under an unpublished schema"})
        wait_until(lambda: "unknown_schema" in (db.status.last_error or ""),
                   what="db.status naming unknown_schema")
        assert row.id in db.df(app.todos).index
        assert db.status.outbox >= 1
        team.assert_serving()
    finally:
        team.close()


def test_rows_written_for_an_app_the_server_lost_stay_pending_locally(own_server, tmp_path):
    team = Team.deploy(own_server)
    db = team.client(team.alice)
    try:
        kept = db.insert(team.app.todos, {"title": "confirmed"}).wait("global",
                                                                      timeout=DEADLINE)
        own_server.stop()
        wait_until(lambda: not db.status.connected, what="the client noticing the stop")
        offline = db.insert(team.app.todos, {"title": "written while the server was away"})
        wiped = launch(tmp_path / "wiped.log", port=own_server.port)  # never deployed
        try:
            wait_until(lambda: any(code in (db.status.last_error or "") for code in (
                "unknown_app", "unknown_schema")), timeout=3 * DEADLINE,
                what="db.status naming the unknown app or schema")
            ids = set(db.df(team.app.todos).index)
            assert {kept.id, offline.id} <= ids
            assert db.status.outbox >= 1
        finally:
            wiped.stop()
    finally:
        team.close()
