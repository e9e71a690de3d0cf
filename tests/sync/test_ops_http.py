"""The HTTP side under abuse: slow and over-size requests, too many sockets, catalogue auth,
and apps created only by deploy (issue 21)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from jazz_nb import s
from jazz_nb.auth.identity import generate_secret
from jazz_nb.auth.server_auth import AuthConfig
from jazz_nb.auth.tokens import ANONYMOUS_ISSUER, mint_token
from jazz_nb.sync import connect, start_local_server
from jazz_nb.sync import protocol as p
from jazz_nb.sync.cli import add_sync_commands, server_config
from jazz_nb.sync.deploy import publish_schema, request
from jazz_nb.sync.process import LocalServer
from jazz_nb.sync.server import LIMITS, ServerConfig, SyncServer
from tests.sync.conftest import ADMIN, BACKEND, todo_app

DEADLINE = 20.0  # seconds a test waits for an answer before it counts as never coming


def raw(server: LocalServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE)


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (``socket.timeout`` if it never does)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return data


@pytest.fixture(scope="module")
def strict() -> Iterator[LocalServer]:
    """A server that gives heads and bodies half a second."""
    with start_local_server(port=0, admin_secret=ADMIN, limits={
            "http_head_seconds": 0.5, "http_body_seconds": 0.5}) as running:
        yield running


@pytest.mark.slow
def test_slow_heads_and_bodies_get_408_and_are_closed(strict):
    slow_heads = [raw(strict) for _ in range(5)]
    for sock in slow_heads:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finished
    slow_body = raw(strict)
    slow_body.sendall(b"POST /apps/a/admin/schemas HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    for sock in slow_heads:
        reply = answer(sock)
        assert reply.startswith(b"HTTP/1.1 408 ") and b"request head not complete" in reply
    reply = answer(slow_body)
    assert reply.startswith(b"HTTP/1.1 408 ") and b"request body not complete" in reply
    assert request(strict.url, "/health") == (200, {"status": "healthy"})


@pytest.mark.slow
def test_over_size_heads_431_and_bodies_413(strict):
    big_head = raw(strict)
    big_head.sendall(b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    assert answer(big_head).startswith(b"HTTP/1.1 431 ")
    big_body = raw(strict)
    big_body.sendall(b"POST /apps/a/admin/schemas HTTP/1.1\r\n"
                     b"Content-Length: 17000000\r\n\r\n")
    assert answer(big_body).startswith(b"HTTP/1.1 413 ")


@pytest.mark.slow
def test_sockets_beyond_max_connections_get_503():
    with start_local_server(port=0, limits={"max_connections": 2}) as server:
        held = [raw(server) for _ in range(2)]  # idle sockets: each holds a slot
        extra = raw(server)
        extra.sendall(b"GET /health HTTP/1.1\r\n\r\n")
        reply = answer(extra)
        assert reply.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in reply
        body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
        assert (body["limit"], body["max"]) == ("max_connections", 2)
        held.pop().close()  # a slot frees up once the server sees the close
        deadline = time.monotonic() + DEADLINE
        while request(server.url, "/health")[0] != 200:
            assert time.monotonic() < deadline, "the freed slot was never reused"
            time.sleep(0.05)
        for sock in held:
            sock.close()


@pytest.mark.slow
def test_catalogue_reads_need_credentials_of_the_app(server, app_id):
    v1 = todo_app()
    v2 = s.define_app({"todos": s.table(title=s.string(), note=s.string().optional())})
    publish_schema(server.url, app_id, v1, admin_secret=ADMIN)
    publish_schema(server.url, app_id, v2, admin_secret=ADMIN)
    token = mint_token(generate_secret(), app_id)
    elsewhere = mint_token(generate_secret(), "another-app")  # valid, but not for this app
    routes = ["/schemas", f"/schema/{v1.schema_hash}", "/migrations"]
    for route in routes:
        status, body = request(server.url, f"/apps/{app_id}{route}")
        assert (status, body["error"], body["code"]) == (401, "unauthenticated", "missing")
        status, body = request(server.url, f"/apps/{app_id}{route}", auth={"token": elsewhere})
        assert (status, body["code"]) == (401, "invalid")
        for auth in ({"token": token}, {"backend_secret": BACKEND}, {"admin_secret": ADMIN}):
            assert request(server.url, f"/apps/{app_id}{route}", auth=auth)[0] == 200
    status, _ = request(server.url, f"/apps/{app_id}/admin/schemas", auth={"token": token},
                        body={"schema": v1.to_json()})
    assert status == 401  # writes stay admin-only
    db = connect(v2, app_id=app_id, server_url=server.url, secret=generate_secret())
    try:  # the client sends its credentials: it learned the other version's schema
        assert v1.schema_hash in db.migrations.graph.schemas
    finally:
        db.close()


def test_only_deploy_creates_an_app(tmp_path: Path):
    app = todo_app()

    async def http(port: int, method: str, path: str, headers: dict[str, str] | None = None,
                   body: object = None) -> tuple[int, dict[str, object]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", "Host: x", f"Content-Length: {len(data)}",
                *(f"{k}: {v}" for k, v in (headers or {}).items())]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        reply = await reader.read()
        writer.close()
        status_line, _, payload = reply.partition(b"\r\n\r\n")
        return int(status_line.split()[1]), json.loads(payload)

    async def main() -> None:
        admin = {"X-Jazz-Admin-Secret": ADMIN}
        anonymous = {"Authorization": "Bearer " + mint_token(
            generate_secret(), "real", issuer=ANONYMOUS_ISSUER)}
        config = ServerConfig(port=0, data_dir=tmp_path, auth=AuthConfig(
            admin_secret=ADMIN, backend_secret=BACKEND))
        server = SyncServer(config)
        port = await server.start()
        for n in range(10):
            for method, route, headers, body in (
                    ("GET", "schemas", {"X-Jazz-Backend-Secret": BACKEND}, None),
                    ("GET", "migrations", admin, None),
                    ("GET", "admin/permissions/head", admin, None),
                    ("POST", "admin/migrations", admin, {}),
                    ("GET", "schemas", {}, None)):  # unauthenticated: 401 first
                status, answer = await http(port, method, f"/apps/new-{n}/{route}", headers,
                                            body)
                assert status in (401, 404) and (status == 401 or
                                                 answer["code"] == "unknown_app")
            with contextlib.suppress(ConnectionClosed):  # the server closes after its error
                async with ws_connect(f"ws://127.0.0.1:{port}/apps/new-{n}/ws") as ws:
                    await ws.send(p.encode({"type": "hello", "protocol": p.PROTOCOL_VERSION,
                                            "client_id": "c", "schema_hash": app.schema_hash,
                                            "auth": {"backend_secret": BACKEND}}))
                    assert json.loads(await ws.recv())["code"] == "unknown_app"
        status, _ = await http(port, "POST", "/apps/new-0/admin/schemas", admin,
                               {"schema": "not a schema"})
        assert status == 400
        assert server.apps == {}
        assert sorted(x.name for x in tmp_path.iterdir()) == ["jazz-server.lock"]
        status, _ = await http(port, "POST", "/apps/real/admin/schemas", admin,
                               {"schema": app.to_json()})
        assert status == 201 and (tmp_path / "real" / "catalogue.json").is_file()
        assert (await http(port, "GET", "/apps/real/schemas", anonymous))[0] == 200
        await server.stop()

        (tmp_path / "stray").mkdir()  # a folder without a catalogue is no app
        again = SyncServer(replace(config, allow_anonymous=False))
        port = await again.start()
        status, answer = await http(port, "GET", "/apps/real/schemas", admin)
        assert status == 200 and answer["hashes"] == [app.schema_hash]
        assert (await http(port, "GET", "/apps/stray/schemas", admin))[0] == 404
        status, answer = await http(port, "GET", "/apps/real/schemas", anonymous)
        assert (status, answer["code"]) == (401, "disabled")  # --no-anonymous
        assert list(again.apps) == ["real"]
        await again.stop()

    asyncio.run(main())



def test_every_limit_is_a_server_flag_with_an_env_fallback(monkeypatch):
    monkeypatch.setenv("JAZZ_MAX_CONNECTIONS", "7")
    monkeypatch.setenv("JAZZ_HTTP_BODY_SECONDS", "2.5")
    parser = argparse.ArgumentParser()
    add_sync_commands(parser.add_subparsers())
    flags = ["server", "--port", "0", "--no-anonymous"]
    for n, name in enumerate(LIMITS):
        if name not in ("max_connections", "http_body_seconds"):
            flags += [f"--{name.replace('_', '-')}", str(n + 1)]
    config = server_config(parser.parse_args(flags))
    assert config.allow_anonymous is False
    for n, name in enumerate(LIMITS):
        expected = {"max_connections": 7, "http_body_seconds": 2.5}.get(name, n + 1)
        assert getattr(config, name) == expected, name
    assert server_config(parser.parse_args(["server"])).max_subscriptions == \
        ServerConfig().max_subscriptions
