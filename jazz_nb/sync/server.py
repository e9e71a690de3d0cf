"""The sync server: HTTP routes and WebSocket sessions on one asyncio loop, an engine per app.

Routes (§8.4): ``GET /health``; ``GET /apps/{app}/schemas``; ``GET /apps/{app}/schema/{hash}``,
``POST /apps/{app}/admin/schemas``, ``GET|POST /apps/{app}/admin/permissions``,
``GET /apps/{app}/admin/permissions/head``, ``POST /apps/{app}/admin/migrations`` and
``GET /apps/{app}/admin/introspection/subscriptions`` (all with ``X-Jazz-Admin-Secret``);
``GET /apps/{app}/migrations`` (the lens graph); ``/apps/{app}/ws`` (the sync protocol,
docs/protocol.md).

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
import contextlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.frames import CloseCode

from jazz_nb.auth.server_auth import (
    ADMIN_SECRET_HEADER,
    AuthConfig,
    UnauthenticatedError,
    resolve,
)
from jazz_nb.errors import JazzError
from jazz_nb.sync import protocol as p
from jazz_nb.sync.catalogue import StaleParent
from jazz_nb.sync.http import HttpError, Request, read_request, response
from jazz_nb.sync.server_app import AppState
from jazz_nb.sync.sessions import AppRuntime, serve_socket
from jazz_nb.sync.websocket import WebSocket

log = logging.getLogger("jazz_nb.sync.server")
APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass
class ServerConfig:
    """What ``jazz-nb server`` was started with.

    Example:
        >>> ServerConfig(port=0, in_memory=True).port
        0
    """

    host: str = "127.0.0.1"
    port: int = 1625
    data_dir: Path | None = None
    in_memory: bool = False
    app_id: str | None = None  # serve only this app id
    auth: AuthConfig = field(default_factory=AuthConfig)
    max_frame_bytes: int = p.DEFAULT_MAX_FRAME_BYTES
    heartbeat_seconds: float = p.HEARTBEAT_SECONDS


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

    async def start(self) -> int:
        """Listen; returns the bound port (``port=0`` picks a free one)."""
        self._server = await asyncio.start_server(self._handle, self.config.host,
                                                  self.config.port, limit=64 * 1024)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening, close every connection, close the stores."""
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

    # -- apps ------------------------------------------------------------------------------------
    async def _app(self, app_id: str) -> AppRuntime:
        if not APP_ID.match(app_id) or self.config.app_id not in (None, app_id):
            raise HttpError(404, f"unknown app {app_id!r}")
        runtime = self.apps.get(app_id)
        if runtime is None:
            directory = None if self.config.in_memory or self.config.data_dir is None \
                else self.config.data_dir / app_id
            state = await asyncio.to_thread(AppState, app_id, directory,
                                            self.config.max_frame_bytes)
            runtime = self.apps.setdefault(app_id, AppRuntime(state))
        return runtime

    # -- HTTP --------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            try:
                request = await read_request(reader)
                if request is None:
                    return
                if request.is_websocket:
                    await self._websocket(request, reader, writer)
                    return
                status, body = await self._route(request)
            except HttpError as err:
                status, body = err.status, err.body
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                return  # the peer went away, or the server is stopping
            except Exception:
                log.exception("HTTP request failed")
                status, body = 500, {"error": "internal server error"}
            writer.write(response(status, body))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
        finally:
            self._sessions.discard(task)

    async def _route(self, request: Request) -> tuple[int, Any]:
        path, method = request.path.rstrip("/") or "/", request.method
        if path == "/health" and method == "GET":
            return 200, {"status": "healthy"}
        match = re.fullmatch(r"/apps/([^/]+)(/.*)", path)
        if match is None:
            raise HttpError(404, f"no route {method} {request.path}")
        runtime = await self._app(match.group(1))
        state, rest = runtime.state, match.group(2)
        if rest == "/schemas" and method == "GET":
            hashes = list(state.catalogue.schemas)
            return 200, {"hashes": hashes, "schemas": [
                {"hash": h, "publishedAt": state.catalogue.schemas[h]["publishedAt"]}
                for h in hashes]}
        if rest == "/migrations" and method == "GET":  # the lens graph (jazz_nb.lens)
            return 200, state.catalogue.graph().to_json()
        if rest.startswith("/schema/") and method == "GET":
            self._admin(request)
            entry = state.catalogue.schemas.get(rest[len("/schema/"):])
            if entry is None:
                raise HttpError(404, "schema not found")
            return 200, entry
        if not rest.startswith("/admin/"):
            raise HttpError(404, f"no route {method} {request.path}")
        self._admin(request)
        return await self._admin_route(runtime, rest[len("/admin"):], method, request)

    def _admin(self, request: Request) -> None:
        expected = self.config.auth.admin_secret
        if expected is None:
            raise HttpError(403, "Admin auth not configured")
        try:
            principal = resolve({ADMIN_SECRET_HEADER: request.headers.get(
                ADMIN_SECRET_HEADER.lower(), "")}, "-", self.config.auth)
        except UnauthenticatedError as err:
            raise HttpError(401, err.message, code=str(err.code)) from None
        if principal.role != "admin":
            raise HttpError(401, "admin secret required", code="missing")

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


def serve(config: ServerConfig, announce: Any = None) -> None:
    """Run a server until SIGTERM/SIGINT; ``announce(port)`` is called once it listens."""
    import signal

    async def main() -> None:
        server = SyncServer(config)
        port = await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if announce is not None:
            announce(port)
        await stop.wait()
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
