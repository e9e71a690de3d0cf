"""A hostile client's toolkit: server processes, raw WebSocket peers, crafted frames, users.

Everything here talks to a real ``jazz-nb server`` process on 127.0.0.1 the way an attacker
would: raw WebSocket messages (``Peer``), hand-built binary frames (``batch_frame``), raw HTTP
over sockets (``http``). Honest clients (``jazz_nb.sync.connect``) are the victims and
bystanders (``Team.client``).

Example:
    >>> alice = User.named("alice")
    >>> len(alice.id), alice.token("some-app").count(".")
    (36, 2)
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from jazz_nb import s
from jazz_nb.auth.identity import generate_secret, user_id
from jazz_nb.auth.tokens import ANONYMOUS_ISSUER, mint_token
from jazz_nb.store.versions import RowVersion, new_batch_id, new_row_id
from jazz_nb.sync.frames import decode_frame, encode_frame, segment_versions, versions_segments
from jazz_nb.sync.process import LocalServer

ADMIN = "security-admin-secret"
BACKEND = "security-backend-secret"
DEADLINE = 10.0  # seconds any single answer may take (a correctness deadline)


# -- users --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class User:
    """A local-first identity: ``secret``, its Jazz ``id`` and tokens for an app.

    Example:
        >>> User.named("bob").name
        'bob'
    """

    name: str
    secret: str

    @classmethod
    def named(cls, name: str) -> User:
        """A fresh identity called ``name``."""
        return cls(name, generate_secret())

    @property
    def id(self) -> str:
        """The Jazz user id the secret signs in as."""
        return user_id(self.secret)

    def token(self, app_id: str, **kw: Any) -> str:
        """A local-first token for ``app_id`` (``mint_token`` keywords pass through).

        Example:
            >>> User.named("x").token("a", ttl=60).count(".")
            2
        """
        return mint_token(self.secret, app_id, **kw)

    def anonymous_token(self, app_id: str) -> str:
        """A Jazz anonymous token for ``app_id`` (may read, never write).

        Example:
            >>> from jazz_nb.auth.tokens import unverified_issuer
            >>> unverified_issuer(User.named("x").anonymous_token("a"))
            'urn:jazz:anonymous'
        """
        return mint_token(self.secret, app_id, issuer=ANONYMOUS_ISSUER)


# -- server processes ---------------------------------------------------------------------------
@functools.cache
def server_flags() -> frozenset[str]:
    """The flags ``jazz-nb server`` knows (read once from its ``--help``).

    Example:
        >>> # "--max-frame-bytes" in server_flags()  -> True
    """
    text = subprocess.run([sys.executable, "-m", "jazz_nb.sync.cli", "server", "--help"],
                          capture_output=True, text=True, timeout=60).stdout
    return frozenset(word.strip("[],") for word in text.split() if word.startswith("--"))


def cli_supports(flag: str) -> bool:
    """Whether ``jazz-nb server`` knows ``flag``.

    Example:
        >>> # cli_supports("--http-head-seconds")
    """
    return flag in server_flags()


def server_command(*, data_dir: Path | None = None, flags: Sequence[str] = (),
                   port: int = 0) -> list[str]:
    """The argv of a loopback server on ``port`` (in memory unless ``data_dir``).

    Example:
        >>> server_command(flags=["--max-subscriptions", "5"])[-2:]
        ['--max-subscriptions', '5']
    """
    args = [sys.executable, "-m", "jazz_nb.sync.cli", "server", "--host", "127.0.0.1",
            "--port", str(port), "--allow-local-first-auth"]
    args += ["--data-dir", str(data_dir)] if data_dir is not None else ["--in-memory"]
    return args + list(flags)


def server_env() -> dict[str, str]:
    """The environment a test server runs with: the suite's admin and backend secrets.

    Example:
        >>> server_env()["JAZZ_ADMIN_SECRET"] == ADMIN
        True
    """
    env = {k: v for k, v in os.environ.items() if k not in ("JAZZ_ENV", "NODE_ENV")}
    env.update(JAZZ_ADMIN_SECRET=ADMIN, JAZZ_BACKEND_SECRET=BACKEND)
    return env


def launch(log: Path, *, data_dir: Path | None = None, flags: Sequence[str] = (),
           port: int = 0, timeout: float = 30.0) -> LocalServer:
    """Start a server process (stderr to ``log``) and wait for its listening line.

    Example:
        >>> # with launch(tmp_path / "server.log", flags=["--max-subscriptions", "5"]) as srv:
    """
    with open(log, "ab") as stderr:
        process = subprocess.Popen(server_command(data_dir=data_dir, flags=flags, port=port),
                                   stdout=subprocess.PIPE, stderr=stderr,
                                   stdin=subprocess.DEVNULL, env=server_env())
    assert process.stdout is not None
    line = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in line and time.monotonic() < deadline:
            if selector.select(deadline - time.monotonic()):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
    process.stdout.close()
    if b"\n" not in line:
        process.kill()
        process.wait()
        raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")
    info = json.loads(line.split(b"\n", 1)[0])
    return LocalServer(info["url"], info["port"], process, process.pid, ADMIN, BACKEND,
                       data_dir)


def alive(server: LocalServer) -> bool:
    """Whether the server process is still running (not crashed).

    Example:
        >>> # assert alive(server), server.process.returncode
    """
    return server.process is not None and server.process.poll() is None


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size (``VmHWM``).

    Example:
        >>> peak_rss_bytes(os.getpid()) > 0
        True
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def wait_until(condition: Callable[[], Any], timeout: float = DEADLINE,
               what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s.

    Example:
        >>> wait_until(lambda: 42)
        42
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


# -- raw HTTP -----------------------------------------------------------------------------------
def http(server: LocalServer, method: str, path: str, *, headers: dict[str, str] | None = None,
         body: bytes = b"", timeout: float = DEADLINE) -> tuple[int, bytes]:
    """One raw HTTP/1.1 request over a socket: ``(status, body bytes)``.

    Example:
        >>> # http(server, "GET", "/health") -> (200, b'{"status":"healthy"}')
    """
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}",
             f"Content-Length: {len(body)}", "Connection: close",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


# -- raw WebSocket peers ------------------------------------------------------------------------
def hello(schema_hash: str, auth: Any, client_id: Any = "raw-peer") -> dict[str, Any]:
    """A ``hello`` message.

    Example:
        >>> hello("ab", {"token": "t"})["type"]
        'hello'
    """
    return {"type": "hello", "protocol": 1, "client_id": client_id, "schema_hash": schema_hash,
            "auth": auth}


@dataclass
class Peer:
    """A raw protocol connection: send anything, read answers with deadlines.

    Binary ``rows`` frames received are kept in ``frames`` (decode them with ``versions``).

    Example:
        >>> # with Peer.open(server, app_id, app, {"token": alice.token(app_id)}) as p:
        >>> #     p.subscribe(1, app.todos.to_ir())
    """

    ws: ClientConnection
    app: s.App
    welcome: dict[str, Any]
    apps: dict[str, s.App] = field(default_factory=dict)
    frames: list[bytes] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def open(cls, server: LocalServer, app_id: str, app: s.App, auth: Any,
             schema_hash: str | None = None, apps: Iterable[s.App] = ()) -> Iterator[Peer]:
        """Connect, send ``hello`` and require a ``welcome``."""
        with ws_connect(f"{server.url}/apps/{app_id}/ws", max_size=None, open_timeout=DEADLINE,
                        close_timeout=2) as ws:
            ws.send(json.dumps(hello(schema_hash or app.schema_hash, auth)))
            first = json.loads(ws.recv(timeout=DEADLINE))
            assert first["type"] == "welcome", first
            known = {a.schema_hash: a for a in (app, *apps)}
            yield cls(ws, app, first, known)

    @property
    def user_id(self) -> str | None:
        """The user id the server gave this connection."""
        return self.welcome.get("user_id")

    def send(self, message: dict[str, Any] | bytes | str) -> None:
        """Send a JSON message (dict), a text frame (str) or a binary frame (bytes)."""
        self.ws.send(json.dumps(message) if isinstance(message, dict) else message)

    def next(self, match: Callable[[dict[str, Any]], bool] = lambda m: True,
             timeout: float = DEADLINE) -> dict[str, Any]:
        """The next JSON message satisfying ``match`` (heartbeats and others are kept in
        ``messages``; binary frames in ``frames``)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching message within {timeout} s; "
                                     f"got {self.messages[-5:]}")
            try:
                raw = self.ws.recv(timeout=left)
            except TimeoutError:
                continue
            if isinstance(raw, bytes):
                self.frames.append(raw)
                continue
            message = json.loads(raw)
            if message.get("type") == "heartbeat":
                continue
            self.messages.append(message)
            if match(message):
                return message

    def fate(self, batch_id: str, timeout: float = DEADLINE) -> dict[str, Any]:
        """The fate of ``batch_id`` (fails if an error ends the connection first)."""
        return self.next(lambda m: m.get("type") == "fate" and m.get("batch_id") == batch_id,
                         timeout)

    def error(self, timeout: float = DEADLINE) -> dict[str, Any]:
        """The next ``error`` message."""
        return self.next(lambda m: m.get("type") == "error", timeout)

    def answer(self, batch_id: str, timeout: float = DEADLINE) -> dict[str, Any]:
        """The fate of ``batch_id`` or an ``error``, whichever comes first."""
        return self.next(lambda m: m.get("type") == "error" or (
            m.get("type") == "fate" and m.get("batch_id") == batch_id), timeout)

    def subscribe(self, sub_id: int, query: Any, tier: str = "edge",
                  timeout: float = DEADLINE) -> dict[str, Any]:
        """Subscribe; returns its ``settled`` or the ``error`` refusing it."""
        self.send({"type": "subscribe", "id": sub_id, "query": query, "tier": tier})
        return self.next(lambda m: m.get("id") == sub_id and m.get("type") in (
            "settled", "error"), timeout)

    def batch(self, versions: Sequence[RowVersion], *, batch_id: str | None = None,
              mode: str = "direct", replay: bool = False,
              timeout: float = DEADLINE) -> dict[str, Any]:
        """Send one batch of ``versions`` (their batch id is ``batch_id``) and return its fate
        (or the error that answered it)."""
        batch_id = batch_id or versions[0].batch_id
        self.send(batch_frame(self.apps, versions, batch_id, mode=mode, replay=replay))
        return self.answer(batch_id, timeout)

    def drain(self, timeout: float = 0.5) -> None:
        """Read whatever arrives within ``timeout`` s (nothing is expected)."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(TimeoutError):
            while (left := deadline - time.monotonic()) > 0:
                raw = self.ws.recv(timeout=left)
                if isinstance(raw, bytes):
                    self.frames.append(raw)
                elif (message := json.loads(raw)).get("type") != "heartbeat":
                    self.messages.append(message)

    def versions(self) -> list[RowVersion]:
        """Every row version received so far, decoded."""
        out = []
        for frame in self.frames:
            for seg in decode_frame(frame, self.apps, check_values=False)[1]:
                out += segment_versions(seg, self.apps[seg.schema_hash].table(seg.table),
                                        self.app.schema_hash)
        return out

    def wait_row(self, row_id: str, timeout: float = DEADLINE) -> None:
        """Read until a version of ``row_id`` has arrived."""
        def arrived() -> bool:
            self.drain(0.05)
            return any(v.row_id == row_id for v in self.versions())

        wait_until(arrived, timeout, f"row {row_id}")

    def closed(self, timeout: float = DEADLINE) -> int | None:
        """Wait until the server closes the connection; its close code."""
        deadline = time.monotonic() + timeout
        try:
            while (left := deadline - time.monotonic()) > 0:
                with contextlib.suppress(TimeoutError):
                    raw = self.ws.recv(timeout=left)
                    if isinstance(raw, str):
                        self.messages.append(json.loads(raw))
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        raise AssertionError(f"the server kept the connection open for {timeout} s")


def first_message(server: LocalServer, app_id: str, message: str | bytes,
                  timeout: float = DEADLINE) -> dict[str, Any]:
    """Open a WebSocket, send ``message`` first, return the server's first JSON answer.

    Example:
        >>> # first_message(server, app_id, json.dumps(hello(...)))["code"]
    """
    with ws_connect(f"{server.url}/apps/{app_id}/ws", open_timeout=DEADLINE,
                    close_timeout=2) as ws:
        ws.send(message)
        raw = ws.recv(timeout=timeout)
        assert isinstance(raw, str), raw
        return json.loads(raw)


# -- crafted row versions -----------------------------------------------------------------------
def now_us() -> int:
    """Wall-clock µs (the unit of ``_jz_updated_at``).

    Example:
        >>> now_us() > 1_700_000_000_000_000
        True
    """
    return time.time_ns() // 1000


def version(app: s.App, table: str, user: User | str, data: dict[str, Any], *,
            row_id: str | None = None, batch_id: str | None = None,
            parents: Sequence[str] = (), created_by: str | None = None,
            created_at: int | None = None, updated_at: int | None = None,
            updated_by: str | None = None, delete_kind: str | None = None,
            state: str = "VisibleDirect", schema_hash: str = "") -> RowVersion:
    """A row version as an honest client of ``user`` would write it (defaults for every user
    column not in ``data``); any field can be forged by keyword.

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"t": s.table(n=s.int().optional())})
        >>> version(app, "t", "u", {}).data
        {'n': None}
    """
    author = user if isinstance(user, str) else user.id
    at = now_us() if updated_at is None else updated_at
    columns = app.table(table).columns
    full = {} if delete_kind == "hard" else {
        name: data.get(name, column.default if column.has_default else None)
        for name, column in columns.items()}
    return RowVersion(table, row_id or new_row_id(), batch_id or new_batch_id(), tuple(parents),
                      at, created_by or author, at if created_at is None else created_at,
                      updated_by or author, full, state, None, delete_kind, schema_hash)


def batch_frame(apps: dict[str, s.App] | s.App, versions: Sequence[RowVersion], batch_id: str,
                *, mode: str = "direct", replay: bool = False, **header: Any) -> bytes:
    """A binary ``batch`` frame of ``versions`` (schema versions taken from ``apps``).

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"t": s.table(n=s.int())})
        >>> batch_frame(app, [], "ab" * 16)[:4]
        b'JZB1'
    """
    known = {apps.schema_hash: apps} if isinstance(apps, s.App) else apps
    own = next(iter(known))
    head = {"type": "batch", "batch_id": batch_id, "mode": mode, **header}
    if replay:
        head["replay"] = True
    return encode_frame(head, versions_segments(versions, own, known))


def with_segment(frame: bytes, body: bytes) -> bytes:
    """``frame`` (one segment) with that segment's bytes replaced by ``body``.

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"t": s.table(n=s.int())})
        >>> frame = batch_frame(app, [version(app, "t", "u", {"n": 1})], "ab" * 16)
        >>> with_segment(frame, b"junk").endswith(b"junk")
        True
    """
    size = int.from_bytes(frame[4:8], "big")
    header = json.loads(frame[8:8 + size])
    header["segments"][0]["bytes"] = len(body)
    text = json.dumps(header, separators=(",", ":")).encode()
    return b"JZB1" + len(text).to_bytes(4, "big") + text + body


def segment_body(frame: bytes) -> bytes:
    """The segment bytes of a one-segment frame.

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"t": s.table(n=s.int())})
        >>> frame = batch_frame(app, [version(app, "t", "u", {"n": 1})], "ab" * 16)
        >>> segment_body(with_segment(frame, b"xyz"))
        b'xyz'
    """
    size = int.from_bytes(frame[4:8], "big")
    return frame[8 + size:]
