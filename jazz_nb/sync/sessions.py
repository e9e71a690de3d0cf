"""The WebSocket side of the sync server: handshake, per-connection limits, the engine pump.

``serve_socket`` runs one accepted connection: a JSON ``hello`` validated field by field and
authenticated, then control messages and binary batch frames handed to the app's engine
(``AppRuntime``) in arrival order. Nothing a peer sends is trusted:

* the hello's every field has its JSON type and size checked before use; any failure after the
  upgrade is a protocol ``error`` on the socket, never an HTTP answer;
* a batch is refused *before its segments are decoded* unless the connection may write at all
  (a trusted peer, or a session that is not anonymous);
* segments are decoded off the event loop, so a big frame stalls nobody else;
* subscriptions, query size and depth, multi-part batches and bytes in flight are bounded per
  connection (``jazz_nb.sync.limits``); bytes in flight pause reading instead of failing;
* each app has its own engine thread, so a busy app does not hold up the others.

Example:
    >>> # await serve_socket(server, ws, "my-app")   (jazz_nb.sync.server)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.frames import CloseCode

from jazz_nb.auth.server_auth import Principal, UnauthenticatedError, auth_headers, resolve
from jazz_nb.auth.session import Session
from jazz_nb.errors import ProtocolError
from jazz_nb.sync import protocol as p
from jazz_nb.sync.frames import BATCH_RE, decode_frame, read_header
from jazz_nb.sync.http import HttpError
from jazz_nb.sync.limits import Limits, check_query, exceeded
from jazz_nb.sync.server_app import AppState, Drop, Output, Work
from jazz_nb.sync.validate import InvalidValues
from jazz_nb.sync.websocket import WebSocket

if TYPE_CHECKING:
    from jazz_nb.sync.server import SyncServer

log = logging.getLogger("jazz_nb.sync.server")
MAX_BACKLOG_BYTES = 512 * 1024 * 1024
HASH = re.compile(r"^[0-9a-f]{64}$")
AUTH_FIELDS = {"token": str, "backend_secret": str, "admin_secret": str, "session": dict}
MAX_CREDENTIAL_CHARS = 16 * 1024
# errors after which the connection is closed (its stream of frames can no longer be trusted)
CLOSING_CODES = ("malformed_frame", "handshake_required", "frame_too_large")
CLOSING_LIMITS = ("decompressed_bytes", "batch_parts", "batch_bytes", "pending_batches")


class Connection:
    """The loop side of one WebSocket session: an ordered send queue with its own task, and
    what the connection holds against its limits."""

    def __init__(self, ws: WebSocket, peer_id: str, principal: Principal, limits: Limits) -> None:
        self.ws = ws
        self.peer_id = peer_id
        self.principal = principal
        self.limits = limits
        self.last_seen = time.monotonic()
        self.subscriptions: set[int] = set()
        self.parts: dict[str, _Parts] = {}  # multi-part batches being received
        self.inflight = 0  # bytes handed to the engine and not handled yet
        self.room = asyncio.Event()
        self.room.set()
        self._queue: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._backlog = 0
        self._slow = False
        self._task = asyncio.get_running_loop().create_task(self._write())

    def send(self, message: str | bytes) -> None:
        """Queue a message; a peer too far behind is dropped (it reconnects and catches up)."""
        if self._task.done():
            return
        self._backlog += len(message)
        if self._backlog > MAX_BACKLOG_BYTES:
            self._queue.put_nowait(p.encode(p.error_message(
                "slow_consumer", "connection dropped: too far behind")))
            self._queue.put_nowait(None)
            self._slow = True
            return
        self._queue.put_nowait(message)

    def charge(self, size: int) -> None:
        """Count ``size`` bytes handed to the engine; past the limit, reading pauses."""
        self.inflight += size
        if self.inflight > self.limits.max_inflight_bytes:
            self.room.clear()

    def release(self, size: int) -> None:
        """The engine handled ``size`` bytes of this connection's messages."""
        self.inflight = max(0, self.inflight - size)
        if self.inflight <= self.limits.max_inflight_bytes:
            self.room.set()

    async def _write(self) -> None:
        while (message := await self._queue.get()) is not None:
            try:
                await self.ws.send(message)
            except (ConnectionError, OSError):
                return
            self._backlog -= len(message)
        if self._slow:  # dropped as a slow consumer (see send)
            await self.ws.close(CloseCode.POLICY_VIOLATION, "slow_consumer")

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Send what is queued, then close."""
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), 5)
        await self.ws.close(code, reason)


@dataclass
class _Parts:
    """A multi-part batch being received: the parts so far."""

    next: int
    count: int
    segments: list[Any] = field(default_factory=list)
    size: int = 0
    invalid: InvalidValues | None = None  # a part's values were refused: the batch will be


class AppRuntime:
    """The loop side of one app: its connections, its engine thread and the pump feeding it.

    Example:
        >>> # runtime.submit(Work("subscribe", peer_id, message), size=len(text))
    """

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.connections: dict[str, Connection] = {}
        self.queue: asyncio.Queue[tuple[Work, int]] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1,
                                           thread_name_prefix=f"jazz-app-{state.app_id[:20]}")
        self.task = asyncio.get_running_loop().create_task(self._pump())

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on this app's engine thread (every use of its state does)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def submit(self, work: Work, size: int = 0) -> None:
        """Hand a message to the engine (in arrival order), charging its sender ``size``."""
        connection = self.connections.get(work.peer_id)
        if connection is not None and size:
            connection.charge(size)
        self.queue.put_nowait((work, size))

    def dispatch(self, outputs: list[Output]) -> None:
        """Send engine outputs to their connections; a ``Drop`` closes one."""
        for peer_id, message in outputs:
            connection = self.connections.get(peer_id)
            if connection is None:
                continue
            if isinstance(message, Drop):
                connection.send(p.encode(p.error_message("internal", message.reason)))
                asyncio.get_running_loop().create_task(
                    connection.close(CloseCode.INTERNAL_ERROR, "internal"))
            else:
                connection.send(message)

    async def _pump(self) -> None:
        while True:
            items = [await self.queue.get()]
            while not self.queue.empty():
                items.append(self.queue.get_nowait())
            try:
                outputs = await self.run(self.state.process, [w for w, _ in items])
            except Exception:  # process isolates items itself: this is a bug in the pump
                log.exception("engine failed on %d messages of app %s", len(items),
                              self.state.app_id)
                outputs = [(peer_id, Drop("server error")) for peer_id in
                           {w.peer_id for w, _ in items}]
            for work, size in items:
                connection = self.connections.get(work.peer_id)
                if connection is not None and size:
                    connection.release(size)
            self.dispatch(outputs)

    async def stop(self) -> None:
        """Stop the pump, close the store on the engine thread and end the thread."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task  # a pump cancelled mid-turn ends before the store closes
        if self.state.store is not None:
            await self.run(self.state.store.close)
        self.executor.shutdown(wait=True)


async def serve_socket(server: SyncServer, ws: WebSocket, app_id: str) -> None:
    """Run one accepted WebSocket until it closes; every failure is answered on the socket."""
    try:
        await _serve(server, ws, app_id)
    except Exception:
        log.exception("WebSocket session of app %s failed", app_id)
        with contextlib.suppress(Exception):
            await ws.send(p.encode(p.error_message("internal", "server error")))
        with contextlib.suppress(Exception):
            await ws.close(CloseCode.INTERNAL_ERROR, "internal")


async def _serve(server: SyncServer, ws: WebSocket, app_id: str) -> None:
    config = server.config
    try:
        principal, hello = await _hello(server, ws, app_id)  # answered, whatever comes next
        try:
            runtime = await server._app(app_id)
        except HttpError as err:
            raise p.error("unknown_app", str(err)) from None
    except ProtocolError as err:
        with contextlib.suppress(ConnectionError):
            await ws.send(p.encode(p.error_of(err)))
        await ws.close(CloseCode.POLICY_VIOLATION, err.code or "malformed_message")
        return
    limits = Limits.from_config(config)
    peer_id = uuid.uuid4().hex
    await runtime.run(runtime.state.open_peer, peer_id, principal, hello["schema_hash"])
    connection = Connection(ws, peer_id, principal, limits)
    runtime.connections[peer_id] = connection
    session = principal.session
    connection.send(p.encode({
        "type": "welcome", "protocol": p.PROTOCOL_VERSION, "connection_id": peer_id,
        "client_id": hello["client_id"], "tier": "global", "role": principal.role,
        "user_id": session.user_id if session else None,
        "max_frame_bytes": limits.max_frame_bytes, "limits": limits.to_json(),
        "heartbeat_seconds": config.heartbeat_seconds,
        "schema_known": hello["schema_hash"] in runtime.state.catalogue.apps}))
    beat = asyncio.get_running_loop().create_task(_heartbeat(connection,
                                                             config.heartbeat_seconds))
    try:
        await _session(runtime, connection)
    finally:
        beat.cancel()
        runtime.connections.pop(peer_id, None)
        runtime.submit(Work("close", peer_id))
        await connection.close()


def _check_hello(hello: dict[str, Any]) -> None:
    """Every field of a hello has its JSON type and a sane size, or ``malformed_message``."""
    if len(hello["client_id"]) > 128:
        raise p.error("malformed_message", "hello.client_id is longer than 128 characters")
    if not HASH.match(hello["schema_hash"]):
        raise p.error("malformed_message", "hello.schema_hash must be 64 lowercase hex "
                                           "characters")
    for name, value in hello["auth"].items():
        kind = AUTH_FIELDS.get(name)
        if kind is None:
            raise p.error("malformed_message", f"hello.auth has an unknown field {name!r} "
                                               f"(fields: {', '.join(AUTH_FIELDS)})")
        if not isinstance(value, kind):
            raise p.error("malformed_message", f"hello.auth.{name} must be a JSON "
                                               f"{'string' if kind is str else 'object'}")
        if kind is str and len(value) > MAX_CREDENTIAL_CHARS:  # no credential is that long
            raise p.error("unauthenticated", f"hello.auth.{name} is longer than "
                                             f"{MAX_CREDENTIAL_CHARS} characters",
                          reason="invalid")


async def _hello(server: SyncServer, ws: WebSocket, app_id: str,
                 ) -> tuple[Principal, dict[str, Any]]:
    config = server.config
    seconds = config.handshake_seconds
    try:
        first = await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        raise p.error("handshake_required", f"no hello within {seconds:.0f} s") from None
    if not isinstance(first, str):
        raise p.error("handshake_required", "the first frame must be a JSON hello")
    hello = p.decode(first, p.CLIENT)
    if hello["type"] != "hello":
        raise p.error("handshake_required", f"expected hello, got {hello['type']!r}")
    p.check_version(hello["protocol"])
    _check_hello(hello)
    auth = hello["auth"]
    try:
        session = Session.from_json(auth["session"]) if "session" in auth else None
        headers = auth_headers(token=auth.get("token"), session=session,
                               backend_secret=auth.get("backend_secret"),
                               admin_secret=auth.get("admin_secret"))
        principal = await asyncio.get_running_loop().run_in_executor(
            None, lambda: resolve(headers, app_id, config.auth, required=True))
    except UnauthenticatedError as err:
        raise p.error("unauthenticated", err.message, reason=str(err.code)) from None
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise p.error("malformed_message", f"hello.auth is malformed: {err}") from None
    anonymous = principal.session is not None and principal.session.auth_mode == "anonymous"
    if anonymous and not config.allow_anonymous:
        raise p.error("unauthenticated", "this server does not accept anonymous sessions",
                      reason="disabled")
    return principal, hello


async def _heartbeat(connection: Connection, every: float) -> None:
    beat = p.encode({"type": "heartbeat"})
    while True:
        await asyncio.sleep(every)
        if time.monotonic() - connection.last_seen > 3 * every:
            await connection.ws.close(CloseCode.GOING_AWAY, "heartbeat timeout")
            return
        connection.send(beat)


async def _session(runtime: AppRuntime, connection: Connection) -> None:
    while (message := await connection.ws.recv()) is not None:
        connection.last_seen = time.monotonic()
        try:
            if isinstance(message, str):
                _control(runtime, connection, message)
            else:
                await _batch(runtime, connection, message)
        except ProtocolError as err:
            connection.send(p.encode(p.error_of(err)))
            if err.code in CLOSING_CODES or err.extra.get("limit") in CLOSING_LIMITS:
                code = CloseCode.POLICY_VIOLATION if err.code == "limit_exceeded" \
                    else CloseCode.PROTOCOL_ERROR
                await connection.close(code, err.code or "")
                return
        await connection.room.wait()  # the engine is behind on this peer's messages


def _control(runtime: AppRuntime, connection: Connection, text: str) -> None:
    message = p.decode(text, p.CLIENT)
    kind = message["type"]
    if kind == "subscribe":
        sub_id, limits = message["id"], connection.limits
        try:
            check_query(message["query"], len(text), limits)
            if sub_id not in connection.subscriptions and \
                    len(connection.subscriptions) >= limits.max_subscriptions:
                raise exceeded("subscriptions", limits.max_subscriptions,
                               f"a connection holds at most {limits.max_subscriptions} "
                               "subscriptions; unsubscribe one first")
        except ProtocolError as err:
            err.extra["id"] = sub_id
            raise
        connection.subscriptions.add(sub_id)
        runtime.submit(Work(kind, connection.peer_id, message), len(text))
    elif kind == "unsubscribe":
        connection.subscriptions.discard(message["id"])
        runtime.submit(Work(kind, connection.peer_id, message), len(text))
    elif kind == "hello":
        raise p.error("malformed_message", "hello was already received")


def _fate(connection: Connection, batch_id: str, code: str, reason: str) -> None:
    connection.send(p.encode({"type": "fate", "batch_id": batch_id, "kind": "rejected",
                              "code": code, "reason": reason}))


def _may_write(connection: Connection) -> tuple[str, str] | None:
    """Why this connection may not write at all (``(code, reason)``), or ``None``."""
    principal = connection.principal
    if principal.bypasses_policies:
        return None
    session = principal.session
    if session is None:
        return "permission_denied", "session required to write"
    if session.auth_mode == "anonymous":
        return "anonymous_write_denied", "anonymous sessions cannot write"
    return None


async def _batch(runtime: AppRuntime, connection: Connection, data: bytes) -> None:
    header, _ = read_header(data)
    batch_id, part, count = header.get("batch_id"), header.get("part", 0), \
        header.get("parts", 1)
    if header["type"] != "batch" or not isinstance(batch_id, str) or \
            not re.match(BATCH_RE, batch_id) or header.get("mode") not in (
                "direct", "transactional") or type(part) is not int or \
            type(count) is not int or not 0 <= part < count:
        raise p.error("malformed_frame", "a batch frame header needs batch_id (32 hex), "
                                         "mode direct|transactional and 0 <= part < parts")
    refused = _may_write(connection)
    if refused is not None:  # refused before any segment is decoded
        if part + 1 == count:
            _fate(connection, batch_id, *refused)
        return
    limits, parts = connection.limits, connection.parts
    if count > limits.max_batch_parts:
        raise exceeded("batch_parts", limits.max_batch_parts, f"batch {batch_id} has "
                                                              f"{count} parts")
    pending = parts.get(batch_id)
    if (pending.next if pending else 0) != part or (pending and pending.count != count):
        parts.pop(batch_id, None)
        raise p.error("malformed_frame", f"batch {batch_id}: part {part} of {count} out of "
                                         "order")
    if pending is None and count > 1:
        if len(parts) >= limits.max_pending_batches:
            raise exceeded("pending_batches", limits.max_pending_batches,
                           "too many multi-part batches begun and not finished")
        pending = parts[batch_id] = _Parts(0, count)
    size = len(data) + (pending.size if pending else 0)
    if size > limits.max_batch_bytes:
        parts.pop(batch_id, None)
        raise exceeded("batch_bytes", limits.max_batch_bytes, f"batch {batch_id} is over "
                                                              f"{size} bytes")
    apps = runtime.state.catalogue.apps
    invalid: InvalidValues | None = None
    try:
        header, segments = await asyncio.to_thread(
            decode_frame, data, apps, max_decompressed_bytes=limits.max_decompressed_bytes)
    except InvalidValues as err:  # a well-formed frame whose values no store may hold
        segments, invalid = [], err
    except ProtocolError as err:
        parts.pop(batch_id, None)
        if err.code in ("unknown_table", "unknown_schema"):  # the batch's fate, then the error
            _fate(connection, batch_id, err.code, str(err))
        raise
    if pending is not None:
        pending.segments += segments
        pending.size, pending.next = size, part + 1
        pending.invalid = pending.invalid or invalid
        if part + 1 < count:
            return
        invalid = parts.pop(batch_id).invalid
        segments = pending.segments
    if invalid is not None:  # rejected as a whole once its last part is in; nothing stored
        _fate(connection, batch_id, "invalid_batch_submission", str(invalid))
        return
    runtime.submit(Work("batch", connection.peer_id, (header, segments)), size)
