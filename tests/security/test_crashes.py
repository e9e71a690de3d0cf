"""Crashes anyone can cause: corrupted Arrow IPC segments and wrongly typed hello fields.

Threat: the server decodes Arrow IPC from the network with pyarrow, whose reader trusts the
flatbuffer metadata; a single crafted segment can abort or segfault the whole process (every
app, every user). An anonymous session — which anyone can mint — must never get that far: its
batch is refused before any segment is decoded. A hello with numbers, lists or objects where
strings belong must get a protocol error, not an exception that writes an HTTP 500 onto the
already-upgraded socket.
"""

from __future__ import annotations

import json
import random
import time

import pytest
from websockets.exceptions import ConnectionClosed

from tests.security.peer import (
    BACKEND,
    Peer,
    User,
    alive,
    batch_frame,
    first_message,
    hello,
    segment_body,
    version,
    with_segment,
)
from tests.security.team import Team

pytestmark = pytest.mark.slow  # real server processes

FUZZ_FRAMES = 300
FUZZ_SEED = 21



def corrupted(body: bytes, rng: random.Random) -> bytes:
    """One damaged copy of an Arrow IPC stream: byte flips in the metadata half, a 64-bit
    field overwritten with a huge value, or flips anywhere (in turn)."""
    data = bytearray(body)
    kind = rng.randrange(3)
    if kind == 0:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data) // 2, len(data))] = rng.randrange(256)
    elif kind == 1:
        at = rng.randrange(len(data) - 8)
        data[at:at + 8] = rng.choice([2**31 - 1, 2**32, 2**40, 2**62, 2**63 - 1]).to_bytes(
            8, "little")
    else:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def fuzz_frames(team: Team, author: User) -> tuple[str, bytes, list[bytes]]:
    """A valid one-row batch frame of ``author`` and ``FUZZ_FRAMES`` corrupted copies."""
    v = version(team.app, "todos", author, {"title": "fuzz", "priority": 3, "meta": '{"a":1}'})
    frame = batch_frame(team.app, [v], v.batch_id)
    rng = random.Random(FUZZ_SEED)
    body = segment_body(frame)
    return v.batch_id, frame, [with_segment(frame, corrupted(body, rng))
                               for _ in range(FUZZ_FRAMES)]


def test_corrupted_segments_never_kill_the_server(own_server):
    team = Team.deploy(own_server)
    try:
        team.assert_serving()
        fuzzer = User.named("fuzzer")
        batch_id, _, frames = fuzz_frames(team, fuzzer)
        answers: list[dict] = []
        sent, deadline = 0, time.monotonic() + 120
        while sent < len(frames) and alive(own_server) and time.monotonic() < deadline:
            try:
                with team.peer(fuzzer) as peer:
                    while sent < len(frames):
                        sent += 1
                        peer.send(frames[sent - 1])
                        answers.append(peer.answer(batch_id))
                        if answers[-1]["type"] == "error":
                            break  # a frame-level error closes the connection
            except (ConnectionClosed, OSError):
                answers.append({"type": "closed without an answer", "frame": sent})
        assert alive(own_server), f"server died: exit code {own_server.process.returncode}"
        assert sent == FUZZ_FRAMES
        unanswered = [a for a in answers if a["type"] not in ("fate", "error")]
        assert unanswered == [], f"{len(unanswered)} frames got no answer"
        internal = [a for a in answers if a.get("code") == "internal"]
        assert internal == [], f"{len(internal)} frames hit a server bug"
        team.assert_serving()
    finally:
        team.close()


def test_anonymous_batches_are_refused_without_decoding_their_segments(own_server):
    team = Team.deploy(own_server)
    try:
        stranger = User.named("anonymous")
        batch_id, frame, frames = fuzz_frames(team, stranger)
        garbage = with_segment(frame, b"\xff" * 64 + b"not arrow at all")
        with team.peer(auth={"token": stranger.anonymous_token(team.app_id)}) as peer:
            assert peer.welcome["user_id"] == stranger.id
            for bad in [frame, garbage, *frames]:
                peer.send(bad)
                fate = peer.answer(batch_id)
                assert (fate["type"], fate.get("kind"), fate.get("code")) == (
                    "fate", "rejected", "anonymous_write_denied"), fate
        assert alive(own_server), f"server died: exit code {own_server.process.returncode}"
        assert team.client().all(team.app.todos.where(title="fuzz"), tier="edge") == []
        team.assert_serving()
    finally:
        team.close()


WRONG_TYPES = [5, 1.5, True, None, ["text"], {"nested": "object"}]


@pytest.mark.parametrize("field", ["token", "backend_secret", "admin_secret", "session"])
def test_hello_auth_fields_of_the_wrong_json_type_are_malformed_messages(team, field):
    for value in WRONG_TYPES:
        auth = {field: value}
        if field == "session":
            auth["backend_secret"] = BACKEND
        answer = first_message(team.server, team.app_id,
                               json.dumps(hello(team.app.schema_hash, auth)))
        assert (answer["type"], answer["code"]) == ("error", "malformed_message"), (value, answer)
    team.assert_serving()


@pytest.mark.parametrize("field", ["client_id", "schema_hash"])
def test_hello_fields_of_the_wrong_json_type_are_malformed_messages(team, field):
    token = team.alice.token(team.app_id)
    for value in WRONG_TYPES:
        message = hello(team.app.schema_hash, {"token": token})
        message[field] = value
        answer = first_message(team.server, team.app_id, json.dumps(message))
        assert (answer["type"], answer["code"]) == ("error", "malformed_message"), (value, answer)
    with Peer.open(team.server, team.app_id, team.app, {"token": token}) as peer:
        assert peer.subscribe(1, team.app.todos.to_ir())["type"] == "settled"
    team.assert_serving()
