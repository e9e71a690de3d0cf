"""Denial of service below the protocol: slow HTTP, made-up app ids, a shared data directory.

Threat: before any credential is checked, the HTTP front holds a socket and a task for every
connection; a client that sends its request head (or body) one byte at a time keeps them
forever (slowloris), so a few hundred sockets starve everyone. Every request naming a new app
id must not create state on disk, or anyone fills the disk with empty apps. And a second
server process on the same data directory would corrupt both servers' stores: it must refuse
to start and say who holds the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jazz_nb.sync.process import LocalServer
from tests.security.peer import (
    DEADLINE,
    alive,
    cli_supports,
    first_message,
    hello,
    http,
    launch,
    server_command,
    server_env,
)
from tests.security.team import Team, new_app_id

pytestmark = pytest.mark.slow
SLOW_SOCKETS = 300
SHORT = 1.0  # seconds, when the CLI lets us shorten http_head_seconds / http_body_seconds


@pytest.fixture(scope="module")
def timeouts() -> dict[str, float]:
    """The server's head and body timeouts: short when the CLI has the flags, else the
    defaults of docs/protocol.md (10 s head, 30 s body)."""
    return {"--http-head-seconds": SHORT if cli_supports("--http-head-seconds") else 10.0,
            "--http-body-seconds": SHORT if cli_supports("--http-body-seconds") else 30.0}


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory,
                timeouts: dict[str, float]) -> Iterator[LocalServer]:
    flags = [x for flag, seconds in timeouts.items() if seconds == SHORT
             for x in (flag, str(seconds))]
    running = launch(tmp_path_factory.mktemp("slow") / "server.log", flags=flags)
    try:
        yield running
    finally:
        running.stop()


def hold_slowly(server: LocalServer, team: Team, count: int, start: bytes, drip: bytes,
                seconds: float) -> list[bytes]:
    """Open ``count`` sockets that send ``start`` and then one ``drip`` byte per socket every
    0.25 s; meanwhile check the server serves others. Returns what each socket received
    by the time the server closed it; fails if one stays open ``seconds``."""
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE)
             for _ in range(count)]
    received = {s.fileno(): b"" for s in socks}
    try:
        for sock in socks:
            sock.sendall(start)
        assert http(server, "GET", "/health")[0] == 200  # served while the sockets hang
        team.assert_serving()
        open_ = {s.fileno(): s for s in socks}
        deadline = time.monotonic() + seconds
        next_drip = time.monotonic()
        with selectors.DefaultSelector() as selector:
            for sock in socks:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            while open_ and time.monotonic() < deadline:
                for key, _ in selector.select(0.05):
                    try:
                        chunk = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    except (ConnectionError, BlockingIOError):
                        chunk = b""
                    received[key.fd] += chunk
                    if not chunk:
                        selector.unregister(key.fileobj)
                        open_.pop(key.fd, None)
                if time.monotonic() >= next_drip:
                    next_drip += 0.25
                    for sock in open_.values():
                        with contextlib.suppress(BlockingIOError, ConnectionError):
                            sock.send(drip)
        assert not open_, f"{len(open_)} of {count} slow sockets still open after {seconds} s"
        return list(received.values())
    finally:
        for sock in socks:
            sock.close()


def test_slow_request_heads_are_closed_with_408(slow_server, timeouts):
    team = Team.deploy(slow_server)
    try:
        replies = hold_slowly(slow_server, team, SLOW_SOCKETS,
                              b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ", b"a",
                              timeouts["--http-head-seconds"] + 5)
        assert all(r.startswith(b"HTTP/1.1 408") for r in replies), {r[:40] for r in replies}
        team.assert_serving()
    finally:
        team.close()


def test_slow_request_bodies_are_closed_with_408(slow_server, timeouts):
    team = Team.deploy(slow_server)
    try:
        head = (f"POST /apps/{team.app_id}/admin/schemas HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: 100000\r\n\r\n{").encode()
        replies = hold_slowly(slow_server, team, SLOW_SOCKETS // 3, head, b" ",
                              timeouts["--http-body-seconds"] + 5)
        assert all(r.startswith(b"HTTP/1.1 408") for r in replies), {r[:40] for r in replies}
        team.assert_serving()
    finally:
        team.close()


def app_folders(data_dir: Path) -> set[str]:
    return {p.name for p in data_dir.iterdir() if p.is_dir()} if data_dir.exists() else set()


def test_unauthenticated_requests_for_new_app_ids_create_nothing(tmp_path):
    data_dir = tmp_path / "data"
    server = launch(tmp_path / "server.log", data_dir=data_dir)
    try:
        team = Team.deploy(server)
        team.assert_serving()
        before = app_folders(data_dir)
        routes = ["/apps/{}/schemas", "/apps/{}/migrations", "/apps/{}/schema/abc",
                  "/apps/{}/nothing"]
        statuses = {}
        for i in range(1900):
            path = routes[i % len(routes)].format(new_app_id("ghost"))
            status, _ = http(server, "GET", path)
            statuses[status] = statuses.get(status, 0) + 1
        codes = {}
        for _ in range(100):
            app_id = new_app_id("ghost")
            token = team.mallory.token(app_id)
            answer = first_message(server, app_id,
                                   json.dumps(hello(team.app.schema_hash, {"token": token})))
            codes[answer.get("code", answer["type"])] = codes.get(
                answer.get("code", answer["type"]), 0) + 1
        # credentials are checked before the app: a stranger learns nothing of which apps exist
        assert set(statuses) <= {401, 404} and sum(statuses.values()) == 1900, statuses
        assert codes == {"unknown_app": 100}
        assert app_folders(data_dir) == before
        team.assert_serving()
        team.close()
    finally:
        server.stop()


def exit_or_listen(process: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes]:
    """Wait until ``process`` exits (its stdout and stderr) or prints its listening line
    (then it is killed and the test fails)."""
    assert process.stdout is not None
    out, ended = b"", False
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not ended and b"\n" not in out and time.monotonic() < deadline:
            if selector.select(deadline - time.monotonic()):
                chunk = os.read(process.stdout.fileno(), 4096)
                ended = not chunk
                out += chunk
    if not ended:
        process.kill()
        rest, err = process.communicate()
        pytest.fail(f"a second server started on the same data directory: {out + rest!r}")
    rest, err = process.communicate(timeout=DEADLINE)
    return out + rest, err


def test_a_second_server_on_the_same_data_directory_refuses_to_start(tmp_path):
    data_dir = tmp_path / "data"
    first = launch(tmp_path / "first.log", data_dir=data_dir)
    try:
        team = Team.deploy(first)
        second = subprocess.Popen(server_command(data_dir=data_dir), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                  env=server_env())
        out, err = exit_or_listen(second, 3 * DEADLINE)
        message = err.decode(errors="replace")
        assert second.returncode != 0, (out, message)
        assert b"listening" not in out
        assert str(data_dir) in message or os.path.realpath(data_dir) in message, message
        assert str(first.pid) in message, message
        assert alive(first)
        team.assert_serving()
        team.close()
    finally:
        first.stop()
