"""Limits: one connection must not be able to exhaust the server for everyone else.

Threat: the cost of a subscription, a query, a frame or a batch is chosen by the client. Without
limits one socket opens thousands of subscriptions (every write then pays for each), sends a
query nested a hundred levels deep or a megabyte long, a few kilobytes of zstd that inflate to
gigabytes, or a batch of a million parts that is never finished. Each limit is answered with
``limit_exceeded`` naming it (``limit``, ``max``), per docs/protocol.md; the server keeps
serving everyone else. Limits are the ``ServerConfig`` defaults (no flags needed).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from websockets.exceptions import ConnectionClosed

from jazz_nb import s
from jazz_nb.store.versions import new_batch_id
from jazz_nb.sync.frames import Segment, encode_frame, versions_to_arrow
from tests.security.peer import (
    DEADLINE,
    Peer,
    User,
    alive,
    batch_frame,
    peak_rss_bytes,
    version,
    with_segment,
)
from tests.security.team import Team

pytestmark = pytest.mark.slow  # real server processes

LIMITS = {"subscriptions": 100, "query_depth": 4, "query_includes": 16,
          "query_bytes": 64 * 1024, "batch_parts": 1024, "batch_bytes": 2**30,
          "decompressed_bytes": 128 * 2**20, "pending_batches": 4}
GIB = 2**30


def assert_limit(message: dict[str, Any], name: str, sub_id: int | None = None) -> None:
    assert (message["type"], message.get("code"), message.get("limit"), message.get("max")) == (
        "error", "limit_exceeded", name, LIMITS[name]), message
    assert name in message.get("message", ""), message
    if sub_id is not None:
        assert message["id"] == sub_id, message


def assert_still_subscribes(peer: Peer, team: Team, sub_id: int) -> None:
    """The connection survived a subscription-level refusal."""
    assert peer.subscribe(sub_id, team.app.todos.to_ir())["type"] == "settled"


def test_the_welcome_announces_the_limits(team):
    with team.peer(team.alice) as peer:
        limits = peer.welcome.get("limits")
    assert isinstance(limits, dict), peer.welcome
    assert {name: limits.get(name) for name in LIMITS} == LIMITS


def test_subscriptions_beyond_the_limit_are_refused_and_the_rest_keep_flowing(team):
    cap = LIMITS["subscriptions"]
    with team.peer(team.mallory) as peer:
        for sub_id in range(1, cap + 1):  # distinct queries: distinct groups on the server
            peer.send({"type": "subscribe", "id": sub_id, "tier": "edge",
                       "query": team.app.todos.where(priority=sub_id).to_ir()})
        for sub_id in range(1, cap + 1):
            answer = peer.next(lambda m, i=sub_id: m.get("id") == i, timeout=3 * DEADLINE)
            assert answer["type"] == "settled", answer
        assert_limit(peer.subscribe(cap + 1, team.app.todos.to_ir()), "subscriptions", cap + 1)
        team.assert_serving()  # with 100 subscriptions open, a bystander's write still flows
        peer.send({"type": "unsubscribe", "id": 1})
        assert_still_subscribes(peer, team, cap + 2)


BAD_WINDOWS = [("limit", 1e20), ("limit", -1), ("limit", "x"), ("limit", 2**70),
               ("offset", 2**70), ("offset", -1), ("offset", 1.5)]


@pytest.mark.parametrize(("key", "value"), BAD_WINDOWS)
def test_a_bad_window_is_an_invalid_query_and_spares_a_peer_in_the_same_turn(team, key,
                                                                               value):
    query = {**team.app.todos.to_ir(), key: value}
    with team.peer(team.mallory) as attacker, team.peer(team.bob) as other, \
            team.peer(User.named("busy")) as busy:
        busy_id = team.keep_engine_busy(busy)
        attacker.send({"type": "subscribe", "id": 7, "query": query, "tier": "edge"})
        other.send({"type": "subscribe", "id": 8, "query": team.app.todos.to_ir(),
                    "tier": "edge"})
        refused = attacker.next(lambda m: m.get("id") == 7)
        assert (refused["type"], refused.get("code")) == ("error", "invalid_query"), refused
        assert other.next(lambda m: m.get("id") == 8)["type"] == "settled"
        assert busy.fate(busy_id)["kind"] == "durableDirect"
        assert_still_subscribes(attacker, team, 9)
        assert_still_subscribes(other, team, 10)
    team.assert_serving()


def chain(depth: int) -> dict[str, Any]:
    """``projects`` with includes nested ``depth`` deep (todos ↔ project)."""
    table, names = "projects", {"projects": ("todos_via_project", "todos"),
                                "todos": ("project", "projects")}
    node: dict[str, Any] = {"version": 1, "table": table}
    ir = node
    for _ in range(depth):
        name, target = names[node["table"]]
        child: dict[str, Any] = {"table": target}
        node["include"] = {name: child}
        node = child
    return ir


def bushy(app: s.App, table: str, depth: int) -> dict[str, Any]:
    """Every relation of ``table`` included, recursively to ``depth``."""
    node: dict[str, Any] = {"table": table}
    if depth:
        node["include"] = {name: bushy(app, rel.target, depth - 1)
                           for name, rel in app.relations[table].items()}
    return node


def count_includes(node: dict[str, Any]) -> int:
    return sum(1 + count_includes(child) for child in node.get("include", {}).values())


def test_queries_nested_too_deep_with_too_many_includes_or_too_long_are_refused(team):
    wide = {"version": 1, **bushy(team.app, "todos", 3)}
    assert count_includes(wide) > LIMITS["query_includes"]
    names = [f"{'x' * 40}{i}" for i in range(2000)]
    long = team.app.todos.where(title={"in": names}).to_ir()
    with team.peer(team.mallory) as peer:
        assert peer.subscribe(1, chain(LIMITS["query_depth"]))["type"] == "settled"
        assert_limit(peer.subscribe(2, chain(LIMITS["query_depth"] + 1)), "query_depth", 2)
        assert_limit(peer.subscribe(3, chain(60)), "query_depth", 3)
        assert_limit(peer.subscribe(4, wide), "query_includes", 4)
        assert_limit(peer.subscribe(5, long), "query_bytes", 5)
        assert_still_subscribes(peer, team, 6)
    team.assert_serving()


def test_a_multi_part_batch_with_too_many_parts_is_refused(team):
    batch_id = new_batch_id()
    with team.peer(team.mallory) as peer:
        try:
            for part in range(LIMITS["batch_parts"] + 1):
                peer.send(encode_frame({"type": "batch", "batch_id": batch_id, "mode": "direct",
                                        "part": part, "parts": 10 * LIMITS["batch_parts"]},
                                       []))
        except ConnectionClosed:
            pass  # refused part way: the answer is already on its way
        assert_limit(peer.error(), "batch_parts")
        assert peer.closed() in (1002, 1008)
    team.assert_serving()


def test_too_many_unfinished_multi_part_batches_are_refused(team):
    with team.peer(team.mallory) as peer:
        for _ in range(LIMITS["pending_batches"] + 1):
            v = version(team.app, "todos", team.mallory, {"title": "never finished"})
            peer.send(encode_frame({"type": "batch", "batch_id": v.batch_id, "mode": "direct",
                                    "part": 0, "parts": 2},
                                   [Segment("todos", team.app.schema_hash, versions_to_arrow(
                                       team.app.table("todos"), [v]))]))
        assert_limit(peer.error(), "pending_batches")
    team.assert_serving()



def zstd_bomb(team: Team, copies: int = 4) -> bytes:
    """An Arrow IPC stream of ``copies`` record batches, each a ~7 kB zstd body that inflates
    to one 130 MiB title (the batch message repeated; nothing that big is ever sent)."""
    v = version(team.app, "todos", team.mallory, {"title": "a" * (130 * 2**20)})
    table = versions_to_arrow(team.app.table("todos"), [v])
    options = pa.ipc.IpcWriteOptions(compression="zstd")

    def stream(batches: list[pa.RecordBatch]) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
            for batch in batches:
                writer.write_batch(batch)
        return sink.getvalue().to_pybytes()

    schema = stream([])[:-8]  # the schema message, without the end-of-stream marker
    whole = stream(table.to_batches())
    batch, end = whole[len(schema):-8], whole[-8:]
    return schema + batch * copies + end


def test_a_zstd_bomb_is_refused_before_it_inflates(own_server):
    team = Team.deploy(own_server)
    try:
        team.assert_serving()
        bomb = zstd_bomb(team)
        assert len(bomb) < 64 * 1024
        v = version(team.app, "todos", team.mallory, {"title": "carrier"})
        frame = with_segment(batch_frame(team.app, [v], v.batch_id), bomb)
        with team.peer(team.mallory) as peer:
            peer.send(frame)
            assert_limit(peer.answer(v.batch_id, timeout=3 * DEADLINE), "decompressed_bytes")
            assert peer.closed() in (1002, 1008, 1009)
        assert alive(own_server), f"server died: exit code {own_server.process.returncode}"
        assert peak_rss_bytes(own_server.pid) < GIB
        team.assert_serving()
    finally:
        team.close()
