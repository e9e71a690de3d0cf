"""The sync server: HTTP routes and WebSocket sessions on one asyncio loop, an engine per app.

Routes (§8.4): ``GET /health``; catalogue reads ``GET /apps/{app}/schemas``,
``GET /apps/{app}/schema/{hash}`` and ``GET /apps/{app}/migrations`` (the lens graph), for any
credential of the app (a session token, the backend or the admin secret; else 401);
``POST /apps/{app}/admin/schemas`` (deploy: the only route that creates an app),
``GET|POST /apps/{app}/admin/permissions``, ``GET /apps/{app}/admin/permissions/head``,
``POST /apps/{app}/admin/migrations`` and ``GET /apps/{app}/admin/introspection/subscriptions``
(all with ``X-Jazz-Admin-Secret``); ``/apps/{app}/ws`` (the sync protocol, docs/protocol.md).
Any other request for an app never deployed is 404 ``unknown_app`` and creates nothing; after a
restart the apps are the data dir's folders that hold a catalogue.

HTTP limits (``ServerConfig``): a head must arrive within ``http_head_seconds`` and a body
within ``http_body_seconds`` (else 408), a head is at most 64 KiB (431), a body 16 MiB (413);
beyond ``max_connections`` concurrent sockets a new one is answered 503 at once. One server
holds its data dir (``LOCK_FILE``, with its pid): a second one refuses to start.

The loop thread does network I/O and routing; WebSocket sessions are ``jazz_nb.sync.sessions``
(handshake, limits, decoding off the loop); each app's store work runs on that app's own engine
thread (``server_app.AppState``), fed in arrival order — messages that arrive while the engine is
busy are handled together in its next turn. A bad frame, message or credential gets an ``error``
message on that connection only.

Example:
    >>> # python -m jazz_nb.sync.cli server --port 0 --in-memory --admin-secret s3cret
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.frames import CloseCode

from jazz_nb import filelock
from jazz_nb.auth.server_auth import (
    ADMIN_SECRET_HEADER,
    AuthConfig,
    Principal,
    UnauthenticatedError,
    resolve,
)
from jazz_nb.errors import JazzError
from jazz_nb.sync import http
from jazz_nb.sync import protocol as p
from jazz_nb.sync.catalogue import CATALOGUE, StaleParent, parse_schema
from jazz_nb.sync.http import MAX_HEAD_BYTES, HttpError, Request, read_request, response
from jazz_nb.sync.server_app import AppState
from jazz_nb.sync.sessions import AppRuntime, serve_socket
from jazz_nb.sync.websocket import WebSocket

log = logging.getLogger("jazz_nb.sync.server")
HANDSHAKE_SECONDS = 10.0
APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass
class ServerConfig:
    """What ``jazz-nb server`` was started with (every limit is a flag, see ``LIMITS``).

    Example:
        >>> ServerConfig(port=0, in_memory=True).port
        0
        >>> ServerConfig().max_connections, ServerConfig().allow_anonymous
        (1024, True)
    """

    host: str = "127.0.0.1"
    port: int = 1625
    data_dir: Path | None = None
    in_memory: bool = False
    app_id: str | None = None  # serve only this app id
    auth: AuthConfig = field(default_factory=AuthConfig)
    allow_anonymous: bool = True  # accept Jazz anonymous tokens (--no-anonymous refuses them)
    heartbeat_seconds: float = p.HEARTBEAT_SECONDS
    # WebSocket limits (docs/protocol.md "Limits")
    max_frame_bytes: int = p.DEFAULT_MAX_FRAME_BYTES  # compressed bytes of one message
    max_decompressed_bytes: int = 128 * 1024 * 1024  # one Arrow segment, decompressed
    max_batch_parts: int = 1024  # parts of one multi-part batch
    max_batch_bytes: int = 1024 ** 3  # one batch over its parts
    max_pending_batches: int = 4  # unfinished multi-part batches per connection
    max_subscriptions: int = 100  # per connection
    max_query_depth: int = 4  # include nesting
    max_query_includes: int = 16  # includes of one query
    max_query_bytes: int = 64 * 1024  # a subscribe message's query IR
    handshake_seconds: float = HANDSHAKE_SECONDS  # from upgrade to hello
    # HTTP limits
    http_head_seconds: float = 10.0  # a request head must arrive within this, else 408
    http_body_seconds: float = 30.0  # a request body likewise
    max_connections: int = 1024  # concurrent sockets (HTTP and WebSocket); beyond: 503


LIMITS = ("max_frame_bytes", "max_decompressed_bytes", "max_batch_parts", "max_batch_bytes",
          "max_pending_batches", "max_subscriptions", "max_query_depth", "max_query_includes",
          "max_query_bytes", "handshake_seconds", "heartbeat_seconds", "http_head_seconds",
          "http_body_seconds", "max_connections")
"""The ``ServerConfig`` fields that ``jazz-nb server`` takes as ``--max-frame-bytes`` etc."""
LOCK_FILE = "jazz-server.lock"  # in the data dir: one server per folder (holder's pid inside)


class SyncServer:
    """The server: ``await server.start()`` returns the bound port; ``await server.stop()``.

    Example:
        >>> # port = await SyncServer(ServerConfig(port=0, in_memory=True)).start()
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.apps: dict[str, AppRuntime] = {}
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[Any]] = set()
        self._open = 0  # sockets being served (HTTP requests and WebSocket sessions)
        self._creating = asyncio.Lock()  # one app is loaded or created at a time
        self._lock: filelock.Lock | None = None

    @property
    def _data_dir(self) -> Path | None:
        return None if self.config.in_memory else self.config.data_dir

    async def start(self) -> int:
        """Hold the data dir, listen; returns the bound port (``port=0`` picks a free one).

        A data dir another server holds raises ``filelock.InUse`` naming it and that process.
        """
        if self._data_dir is not None:
            self._data_dir.mkdir(parents=True, exist_ok=True)
            self._lock = filelock.hold(self._data_dir / LOCK_FILE,
                                       f"data dir {self._data_dir}")
        try:
            self._server = await asyncio.start_server(self._handle, self.config.host,
                                                      self.config.port, limit=MAX_HEAD_BYTES)
        except BaseException:
            self._release()
            raise
        return self._server.sockets[0].getsockname()[1]

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    async def stop(self) -> None:
        """Stop listening, close every connection, close the stores, free the data dir."""
        if self._server is not None:
            self._server.close()
        await asyncio.gather(*(connection.ws.close(CloseCode.GOING_AWAY, "server stopping")
                               for runtime in self.apps.values()
                               for connection in list(runtime.connections.values())))
        if self._sessions:
            await asyncio.wait(list(self._sessions), timeout=5)
        for task in self._sessions:
            task.cancel()
        for runtime in self.apps.values():
            await runtime.stop()
        self._release()

    # -- apps ------------------------------------------------------------------------------------
    async def _app(self, app_id: str, create: bool = False) -> AppRuntime:
        """The app ``app_id``: loaded (its folder has a catalogue) or, with ``create`` (deploy
        only), created; else ``HttpError`` 404 ``unknown_app`` — nothing is made for it."""
        if not APP_ID.match(app_id) or self.config.app_id not in (None, app_id):
            raise HttpError(404, f"unknown app {app_id!r}", code="unknown_app")
        runtime = self.apps.get(app_id)
        if runtime is not None:
            return runtime
        directory = None if self._data_dir is None else self._data_dir / app_id
        async with self._creating:
            runtime = self.apps.get(app_id)
            if runtime is None:
                exists = directory is not None and (directory / CATALOGUE).is_file()
                if not (exists or create):
                    raise HttpError(404, f"unknown app {app_id!r} (apps are created by "
                                         "deploying a schema)", code="unknown_app")
                state = await asyncio.to_thread(AppState, app_id, directory,
                                                self.config.max_frame_bytes)
                runtime = self.apps[app_id] = AppRuntime(state)
        return runtime

    # -- HTTP --------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        config = self.config
        if self._open >= config.max_connections:  # refused at once: 503, not a silent reset
            body = {"error": f"server busy: max_connections ({config.max_connections}) reached",
                    "code": "limit_exceeded", "limit": "max_connections",
                    "max": config.max_connections}
            await http.finish(reader, writer, response(503, body, {"Retry-After": "1"}),
                              seconds=http.LINGER_SECONDS, linger=True)
            return
        self._open += 1
        self._sessions.add(task)
        linger = True  # until the whole request was read
        try:
            try:
                request = await read_request(reader, head_seconds=config.http_head_seconds,
                                             body_seconds=config.http_body_seconds)
                if request is None:
                    writer.close()
                    return
                linger = False
                if request.is_websocket:
                    await self._websocket(request, reader, writer)
                    return
                status, body = await self._route(request)
            except HttpError as err:
                status, body = err.status, err.body
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                writer.transport.abort()
                return  # the peer went away, or the server is stopping
            except Exception:
                log.exception("HTTP request failed")
                status, body = 500, {"error": "internal server error"}
            await http.finish(reader, writer, response(status, body),
                              seconds=config.http_body_seconds, linger=linger)
        finally:
            self._open -= 1
            self._sessions.discard(task)

    async def _route(self, request: Request) -> tuple[int, Any]:
        path, method = request.path.rstrip("/") or "/", request.method
        if path == "/health" and method == "GET":
            return 200, {"status": "healthy"}
        match = re.fullmatch(r"/apps/([^/]+)(/.*)", path)
        if match is None:
            raise HttpError(404, f"no route {method} {request.path}")
        app_id, rest = match.groups()
        if not APP_ID.match(app_id):
            raise HttpError(404, f"unknown app {app_id!r}", code="unknown_app")
        if method == "GET" and (rest in ("/schemas", "/migrations")
                                or rest.startswith("/schema/")):
            await self._member(request, app_id)  # catalogue reads: any credential of the app
            state = (await self._app(app_id)).state
            if rest == "/schemas":
                hashes = list(state.catalogue.schemas)
                return 200, {"hashes": hashes, "schemas": [
                    {"hash": h, "publishedAt": state.catalogue.schemas[h]["publishedAt"]}
                    for h in hashes]}
            if rest == "/migrations":  # the lens graph (jazz_nb.lens)
                return 200, state.catalogue.graph().to_json()
            entry = state.catalogue.schemas.get(rest[len("/schema/"):])
            if entry is None:
                raise HttpError(404, "schema not found")
            return 200, entry
        if not rest.startswith("/admin/"):
            raise HttpError(404, f"no route {method} {request.path}")
        self._admin(request)
        rest = rest[len("/admin"):]
        deploying = rest == "/schemas" and method == "POST"
        if deploying:  # a bad schema answers 400 before anything is created
            body = request.json()
            try:
                parse_schema(body.get("schema") if isinstance(body, dict) else None)
            except JazzError as err:
                raise HttpError(400, str(err)) from None
        runtime = await self._app(app_id, create=deploying)
        return await self._admin_route(runtime, rest, method, request)

    async def _member(self, request: Request, app_id: str) -> Principal:
        """The request's principal: a session token, the backend or the admin secret (401
        ``unauthenticated`` without; anonymous tokens too when ``allow_anonymous`` is off)."""
        try:
            principal = await asyncio.get_running_loop().run_in_executor(
                None, lambda: resolve(request.headers, app_id, self.config.auth, required=True))
        except UnauthenticatedError as err:
            raise HttpError(401, "unauthenticated", code=str(err.code),
                            message=err.message) from None
        session = principal.session
        if not self.config.allow_anonymous and session is not None and \
                session.auth_mode == "anonymous":
            raise HttpError(401, "unauthenticated", code="disabled",
                            message="anonymous sessions are refused (--no-anonymous)")
        return principal

    def _admin(self, request: Request) -> None:
        expected = self.config.auth.admin_secret
        if expected is None:
            raise HttpError(403, "Admin auth not configured")
        try:
            principal = resolve({ADMIN_SECRET_HEADER: request.headers.get(
                ADMIN_SECRET_HEADER.lower(), "")}, "-", self.config.auth)
        except UnauthenticatedError as err:
            raise HttpError(401, "unauthenticated", code=str(err.code),
                            message=err.message) from None
        if principal.role != "admin":
            raise HttpError(401, "unauthenticated", code="missing",
                            message="admin secret required")

    async def _admin_route(self, runtime: AppRuntime, rest: str, method: str,
                           request: Request) -> tuple[int, Any]:
        state = runtime.state
        if rest == "/schemas" and method == "POST":
            body = request.json()
            try:
                schema_hash = await runtime.run(state.publish_schema,
                                                (body or {}).get("schema"))
            except JazzError as err:
                raise HttpError(400, str(err)) from None
            return 201, {"objectId": schema_hash, "hash": schema_hash}
        if rest == "/migrations" and method == "POST":  # a lens (§8.4, jazz_nb.lens)
            try:
                lens, outputs = await runtime.run(state.publish_migration, request.json())
            except JazzError as err:
                raise HttpError(400, str(err)) from None
            runtime.dispatch(outputs)
            return 201, {"objectId": lens.object_id, "fromHash": lens.from_hash,
                         "toHash": lens.to_hash}
        if rest == "/permissions/head" and method == "GET":
            return 200, {"head": state.catalogue.head}
        if rest == "/permissions" and method == "GET":
            current = state.catalogue.permissions()
            return 200, {"head": state.catalogue.head,
                         "permissions": current[1].to_json() if current else None}
        if rest == "/permissions" and method == "POST":
            body = request.json()
            if not isinstance(body, dict) or not isinstance(body.get("schemaHash"), str):
                raise HttpError(400, "body needs schemaHash, permissions, "
                                     "expectedParentBundleObjectId")
            try:
                head, outputs = await runtime.run(
                    state.publish_permissions, body["schemaHash"], body.get("permissions"),
                    body.get("expectedParentBundleObjectId"))
            except StaleParent as err:
                raise HttpError(409, str(err)) from None
            except JazzError as err:
                raise HttpError(400, str(err)) from None
            runtime.dispatch(outputs)
            return 200, {"head": head}
        if rest == "/introspection/subscriptions" and method == "GET":
            return 200, {"subscriptions": [
                {"connection": peer_id, "id": sub_id, "query": group.query.to_ir()}
                for group in state.groups.values() for peer_id, sub_id in group.members]}
        raise HttpError(404, f"no route {method} /admin{rest}")

    # -- WebSocket sessions ----------------------------------------------------------------------
    async def _websocket(self, request: Request, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        match = re.fullmatch(r"/apps/([^/]+)/ws", request.path)
        if match is None:
            raise HttpError(404, f"no WebSocket route {request.path}")
        ws = await WebSocket.accept(reader, writer, request.head, self.config.max_frame_bytes)
        if ws is not None:  # from here on, every answer is a WebSocket message
            await serve_socket(self, ws, match.group(1))


def serve(config: ServerConfig, announce: Any = None, parent_fd: int | None = None) -> None:
    """Run a server until SIGTERM/SIGINT; ``announce(port)`` is called once it listens.

    ``parent_fd``: the read end of a pipe whose write end only the parent process holds; the
    server stops (gracefully) when it reaches end of file, i.e. when the parent exited, however
    it died (``start_local_server`` ties its children's lives to the caller this way).

    Example:
        >>> # serve(ServerConfig(port=0, in_memory=True), announce=print)
    """
    import signal

    async def main() -> None:
        server = SyncServer(config)
        port = await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if parent_fd is not None:
            loop.add_reader(parent_fd, lambda: os.read(parent_fd, 64) or stop.set())
        if announce is not None:
            announce(port)
        await stop.wait()
        if parent_fd is not None:
            loop.remove_reader(parent_fd)
        await server.stop()

    asyncio.run(main())


def listening_line(config: ServerConfig, port: int) -> str:
    """The JSON line a server process prints on stdout once it listens.

    Example:
        >>> json.loads(listening_line(ServerConfig(), 4200))["url"]
        'ws://127.0.0.1:4200'
    """
    return json.dumps({"event": "listening", "port": port,
                       "url": f"ws://{config.host}:{port}"})
