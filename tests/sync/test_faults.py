"""Bad input and faults: malformed frames, bad tokens, dropped connections, SIGKILL, reordering."""

from __future__ import annotations

import contextlib
import json
import random
import struct
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

import jazz_nb as jz
from jazz_nb.auth.identity import generate_secret, user_id
from jazz_nb.auth.tokens import mint_token
from jazz_nb.policy import define_permissions
from jazz_nb.store.versions import RowVersion, new_batch_id, new_row_id
from jazz_nb.sync import connect, deploy, start_local_server
from jazz_nb.sync.bulk import apply_segments
from jazz_nb.sync.frames import decode_frame, encode_frame, segment_versions, versions_segments
from jazz_nb.sync.process import LocalServer
from tests.sync.conftest import ADMIN, creator_rules, open_rules
from tests.sync.proxy import Proxy

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def raw(server: LocalServer, app_id: str, app, auth: dict | None = None,
        ) -> Iterator[ClientConnection]:
    """A raw protocol connection after a successful hello."""
    with ws_connect(f"{server.url}/apps/{app_id}/ws", max_size=None, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client_id": "raw",
                            "schema_hash": app.schema_hash,
                            "auth": auth or {"token": mint_token(generate_secret(), app_id)}}))
        welcome = json.loads(ws.recv(timeout=10))
        assert welcome["type"] == "welcome", welcome
        yield ws


def raw_frame(header: dict, body: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return b"JZB1" + struct.pack(">I", len(text)) + text + body


def next_json(ws: ClientConnection) -> dict:
    while True:
        message = ws.recv(timeout=10)
        if isinstance(message, str):
            data = json.loads(message)
            if data["type"] != "heartbeat":
                return data


def test_bad_frames_get_errors_and_the_server_keeps_serving(server, open_app, app_id, clients):
    app = open_app
    bystander = clients()
    live = bystander.live(app.todos)
    with raw(server, app_id, app) as ws:
        ws.send("not json")
        assert next_json(ws)["code"] == "malformed_message"
        ws.send(json.dumps({"type": "teleport"}))
        assert next_json(ws)["code"] == "unknown_message_type"
        ws.send(json.dumps({"type": "subscribe", "id": 1, "query": {"table": "nope"},
                            "tier": "edge"}))
        refused = next_json(ws)
        assert (refused["code"], refused["id"]) == ("invalid_query", 1)
        batch = new_batch_id()
        ws.send(raw_frame({"type": "batch", "batch_id": batch, "mode": "direct", "segments": [
            {"table": "ghosts", "schema_hash": app.schema_hash, "bytes": 0}]}))
        fate = next_json(ws)
        assert (fate["type"], fate.get("kind"), fate["code"]) == ("fate", "rejected",
                                                                  "unknown_table"), fate
        assert next_json(ws)["code"] == "unknown_table"
        frame = encode_frame({"type": "batch", "batch_id": batch, "mode": "direct"}, [])
        ws.send(frame[:-3])  # truncated: the connection is closed after the error
        assert next_json(ws)["code"] == "malformed_frame"
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=10)
    row = bystander.insert(app.todos, {"title": "still served"}).wait("global", timeout=10)
    live.wait_for(lambda lq: row.id in lq.ids, timeout=10)


def test_handshake_and_credentials(server, open_app, app_id, clients):
    app = open_app
    with ws_connect(f"{server.url}/apps/{app_id}/ws", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "subscribe", "id": 1, "query": {}, "tier": "edge"}))
        assert json.loads(ws.recv(timeout=10))["code"] == "handshake_required"
    wrong = mint_token(generate_secret(), "another-app")  # audience mismatch
    with ws_connect(f"{server.url}/apps/{app_id}/ws", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client_id": "x",
                            "schema_hash": app.schema_hash, "auth": {"token": wrong}}))
        error = json.loads(ws.recv(timeout=10))
        assert (error["code"], error["reason"]) == ("unauthenticated", "invalid")
    with pytest.raises(jz.ProtocolError) as refused:
        clients(token=wrong)
    assert refused.value.code == "unauthenticated"
    with pytest.raises(jz.ProtocolError) as refused:
        clients(admin_secret="not the admin secret")
    assert refused.value.code == "unauthenticated"
    assert clients().status.connected


@pytest.fixture(scope="module")
def small_server() -> Iterator[LocalServer]:
    with start_local_server(port=0, admin_secret=ADMIN, max_frame_bytes=64 * 1024) as running:
        yield running


def test_frame_size_limit(small_server, app, app_id):
    deploy(small_server.url, app_id, admin_secret=ADMIN, app=app,
              permissions=define_permissions(app, open_rules))
    with raw(small_server, app_id, app) as ws:
        ws.send(b"x" * (65 * 1024))
        assert next_json(ws)["code"] == "frame_too_large"
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1009
    writer = connect(app, app_id=app_id, server_url=small_server.url, secret=generate_secret())
    reader = connect(app, app_id=app_id, server_url=small_server.url, secret=generate_secret())
    try:  # a batch bigger than a frame travels in parts, and comes back in several frames
        writer.insert_many(app.todos, [{"title": "x" * 100, "priority": i}
                                       for i in range(3000)]).wait("global", timeout=30)
        assert len(reader.all(app.todos, tier="edge")) == 3000
    finally:
        writer.close()
        reader.close()


def test_dropped_connections_lose_nothing(server, open_app, app_id, clients):
    app = open_app
    proxy = Proxy(server.port)
    try:
        flaky = clients(server_url=proxy.url)
        steady = clients()
        flaky_live, steady_live = flaky.live(app.todos), steady.live(app.todos)
        first = steady.insert(app.todos, {"title": "before"}).wait("global", timeout=10)
        flaky_live.wait_for(lambda lq: first.id in lq.ids, timeout=10)
        proxy.refusing = True
        proxy.drop()
        offline = flaky.insert(app.todos, {"title": "written offline"})
        during = steady.insert(app.todos, {"title": "while away"}).wait("global", timeout=10)
        flaky_live.flush()
        assert set(flaky_live.ids) == {first.id, offline.id}  # nothing removed by the drop
        assert flaky.status.state in ("reconnecting", "connecting")
        assert flaky.status.outbox == 1
        proxy.refusing = False
        offline.wait("global", timeout=30)  # reconnected, replayed, confirmed
        flaky_live.wait_for(lambda lq: during.id in lq.ids, timeout=30)  # resubscribed
        steady_live.wait_for(lambda lq: offline.id in lq.ids, timeout=10)
        assert flaky.status.connected and flaky.status.outbox == 0
    finally:
        proxy.close()


def test_outbox_survives_a_restart(server, open_app, app_id, tmp_path):
    app = open_app
    proxy = Proxy(server.port)
    path = str(tmp_path / "client.duckdb")
    secret = generate_secret()
    try:
        proxy.refusing = True
        db = connect(app, app_id=app_id, server_url=proxy.url, secret=secret, path=path)
        ids = [db.insert(app.todos, {"title": f"offline {i}"}).id for i in range(3)]
        with db.batch() as b:
            b.update(app.todos, ids[0], {"done": True})
        assert db.status.outbox == 4
        db.close()
        proxy.refusing = False
        db = connect(app, app_id=app_id, server_url=proxy.url, secret=secret, path=path)
        try:
            checker = connect(app, app_id=app_id, server_url=server.url,
                              secret=generate_secret())
            live = checker.live(app.todos)
            live.wait_for(lambda lq: set(lq.ids) == set(ids) and bool(
                lq.df.loc[ids[0], "done"]), timeout=30)
            checker.close()
            assert db.status.outbox == 0
        finally:
            db.close()
        db = connect(app, app_id=app_id, server_url=proxy.url, secret=secret, path=path)
        assert db.status.outbox == 0  # confirmed batches are not replayed again
        db.close()
    finally:
        proxy.close()


def test_sigkill_mid_stream_keeps_every_acknowledged_write(app, app_id, tmp_path):
    data = tmp_path / "server-data"
    first = start_local_server(port=0, data_dir=data, admin_secret=ADMIN)
    deploy(first.url, app_id, admin_secret=ADMIN, app=app,
              permissions=define_permissions(app, open_rules))
    writer = connect(app, app_id=app_id, server_url=first.url, secret=generate_secret())
    watcher = connect(app, app_id=app_id, server_url=first.url, secret=generate_secret())
    second = None
    try:
        live = watcher.live(app.todos)
        handles = [writer.insert(app.todos, {"title": f"w{i}", "priority": i})
                   for i in range(40)]
        handles[10].wait("global", timeout=10)
        first.kill()  # SIGKILL while batches are in flight
        acked = [h for h in handles if h.handle.tier == "global"]
        more = [writer.insert(app.todos, {"title": f"after{i}"}) for i in range(5)]
        second = start_local_server(port=first.port, data_dir=data, admin_secret=ADMIN)
        for handle in handles + more:
            handle.wait("global", timeout=60)
        live.wait_for(lambda lq: len(lq) == 45, timeout=60)
        fresh = connect(app, app_id=app_id, server_url=second.url, secret=generate_secret())
        stored = {r.id for r in fresh.all(app.todos, tier="edge")}
        fresh.close()
        assert {h.id for h in acked} <= stored and len(stored) == 45
        assert writer.df(app.todos).sort_index().equals(watcher.df(app.todos).sort_index())
    finally:
        writer.close()
        watcher.close()
        first.stop()
        if second is not None:
            second.stop()


def test_reordered_and_duplicated_deliveries_converge(server, open_app, app_id, clients):
    app = open_app
    alice, bob = clients(), clients()
    rows = [alice.insert(app.todos, {"title": f"r{i}", "priority": i}) for i in range(6)]
    for row in rows:
        row.wait("global", timeout=10)
    bob.all(app.todos, tier="edge")
    for i, row in enumerate(rows):  # concurrent edits of the same rows, then deletes
        alice.update(app.todos, row.id, {"title": f"alice{i}"})
        bob.update(app.todos, row.id, {"done": True, "priority": 10 + i})
    alice.delete(app.todos, rows[0].id)
    bob.delete(app.todos, rows[1].id).wait("global", timeout=10)
    alice.delete(app.todos, rows[2].id).wait("global", timeout=10)
    every = app.todos.include_deleted()
    expected = clients().df(every, tier="edge").sort_index()  # the server's merged answer
    frames = []
    with raw(server, app_id, app) as ws:  # the frames a fresh subscriber receives
        ws.send(json.dumps({"type": "subscribe", "id": 1, "query": every.to_ir(),
                            "tier": "edge"}))
        while (message := ws.recv(timeout=10)) and not (
                isinstance(message, str) and json.loads(message)["type"] == "settled"):
            if isinstance(message, bytes):
                frames.append(message)
    segments = [seg for f in frames for seg in decode_frame(f, {app.schema_hash: app})[1]]
    versions = [v for seg in segments
                for v in segment_versions(seg, app.table(seg.table), app.schema_hash)]
    rng = random.Random(7)
    for attempt in range(3):
        shuffled = versions + rng.sample(versions, len(versions) // 2)  # with duplicates
        rng.shuffle(shuffled)
        db = jz.create_db(app, app_id="replay")
        for start in range(0, len(shuffled), 4):
            chunk = shuffled[start:start + 4]
            apply_segments(db.store, app, versions_segments(chunk, app.schema_hash,
                                                         {app.schema_hash: app}))
        got = db.df(every).sort_index()
        assert got.equals(expected), attempt
        db.close()


def test_replayed_batches_are_idempotent(server, open_app, app_id, clients):
    app = open_app
    observer = clients()
    live = observer.live(app.todos)
    batch = new_batch_id()
    secret = generate_secret()
    author, me = mint_token(secret, app_id), user_id(secret)
    now = time.time_ns() // 1000
    version = RowVersion("todos", new_row_id(), batch, (), now, me, now, me,
                         {"title": "once", "done": False, "priority": None, "project_id": None})
    frame = encode_frame({"type": "batch", "batch_id": batch, "mode": "direct", "replay": True},
                         versions_segments([version], app.schema_hash, {app.schema_hash: app}))
    with raw(server, app_id, app, {"token": author}) as ws:
        for _ in range(3):
            ws.send(frame)
            fate = next_json(ws)
            assert (fate["batch_id"], fate["kind"]) == (batch, "durableDirect")
    live.wait_for(lambda lq: lq.ids == [version.row_id], timeout=10)
    assert len(observer.store.history("todos", version.row_id)) == 1


def test_a_parentless_version_of_an_existing_row_is_judged_as_an_update(server, app, app_id,
                                                                         clients):
    """The server takes parentless versions for new rows without a look-up; one that
    overwrites a stored row must still be judged as an update of that row."""
    deploy(server.url, app_id, admin_secret=ADMIN, app=app,
           permissions=define_permissions(app, creator_rules))
    alice_secret = generate_secret()
    row = clients(secret=alice_secret).insert(app.todos, {"title": "alice's"})
    row.wait("global", timeout=10)
    secret = generate_secret()
    mallory = user_id(secret)
    data = {"title": "mallory's", "done": False, "priority": None, "project_id": None}
    batch = new_batch_id()
    now = time.time_ns() // 1000
    stolen = RowVersion("todos", row.id, batch, (), now, mallory, now, mallory, data)
    fresh = RowVersion("todos", new_row_id(), batch, (), now, mallory, now, mallory, data)
    frame = encode_frame({"type": "batch", "batch_id": batch, "mode": "direct"},
                         versions_segments([fresh, stolen], app.schema_hash,
                                           {app.schema_hash: app}))
    with raw(server, app_id, app, {"token": mint_token(secret, app_id)}) as ws:
        ws.send(frame)
        fate = next_json(ws)
    assert (fate["batch_id"], fate["kind"], fate["code"]) == (batch, "rejected",
                                                              "permission_denied"), fate
    fresh_alice = clients(secret=alice_secret)  # the server's rows, as alice reads them
    assert [r["title"] for r in fresh_alice.all(app.todos, tier="edge")] == ["alice's"]
