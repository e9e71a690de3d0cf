"""The sync client: a db's WebSocket, reconnects and outbox, on the process's sync thread.

Every connected db of a process shares one daemon thread running one asyncio loop
(``loop.SyncLoop``); the kernel's loop is never touched.

Writes apply locally first, then ``committed`` (an observer of the db's ``Engine``) queues the
batch in the ``Outbox``; the loop sends it and resolves the batch's fate: confirmed
(``WriteHandle.wait`` returns for ``edge``/``global``) or rejected (the rows are marked
``Rejected`` in the store, so they leave every result, and ``wait`` raises ``WriteRejected``).
Live queries and tier reads ``subscribe`` their query upstream; rows from the server go through
``store.apply`` like local writes, so live frames follow (frames that arrive together are
applied together; a subscription's first rows are buffered until its ``settled`` and stored in
one go). On a dropped connection the client reconnects with backoff (§8.3), subscribes again and
replays the outbox; nothing local is removed meanwhile.

Example:
    >>> # db = jz.connect(app, app_id="my-app", server_url=server.url)
    >>> # db.status.state -> 'connected'
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from jazz_nb.engine import Commit
from jazz_nb.errors import JazzError, ProtocolError
from jazz_nb.schema.app import App
from jazz_nb.store.store import Store
from jazz_nb.sync import protocol as p
from jazz_nb.sync.bulk import apply_segments
from jazz_nb.sync.frames import decode_frame
from jazz_nb.sync.loop import SyncLoop
from jazz_nb.sync.outbox import Outbox
from jazz_nb.writes.handle import BatchTracker

log = logging.getLogger("jazz_nb.sync.client")
Auth = Callable[[], dict[str, Any]]
HANDSHAKE_SECONDS = 10.0
FIRST_ROWS_SECONDS = 30.0  # how long a new live query waits for its first rows
MAX_INBOX_BYTES = 512 * 1024 * 1024  # apply at once past this many buffered bytes
CONFIRM_DELAY = 0.25  # seconds: confirmations are recorded in the store in bursts
HELD_RETRY_SECONDS = 5.0  # a batch the server refused for now is sent again after this, doubling
HELD_RETRY_MAX = 60.0


def backoff_seconds(attempt: int) -> float:
    """Jazz's reconnect delay: ``min(300 * 2**min(attempt, 5) + jitter(0..200), 10000)`` ms.

    Example:
        >>> 0.3 <= backoff_seconds(0) <= 0.5, 9.6 <= backoff_seconds(9) <= 9.8
        (True, True)
    """
    jitter = random.randrange(256) * 200 / 255
    return min(300 * 2 ** min(attempt, 5) + jitter, 10_000) / 1000


@dataclass(frozen=True)
class SyncStatus:
    """A snapshot of a db's sync state (``db.status``).

    ``state`` is ``connected``, ``connecting``, ``reconnecting``, ``offline`` (stopped: closed
    or credentials refused) or ``local`` (no server).

    Example:
        >>> SyncStatus("local").connected
        False
    """

    state: str
    server_url: str | None = None
    outbox: int = 0
    last_settled: float | None = None  # epoch seconds
    last_error: str | None = None
    connection_id: str | None = None
    user_id: str | None = None
    attempts: int = 0
    held: int = 0  # batches the server has not accepted yet (kept, sent again; see last_error)

    @property
    def connected(self) -> bool:
        """Whether the client is connected right now."""
        return self.state == "connected"

    def _repr_html_(self) -> str:
        from jazz_nb.sync.widget import status_html

        return status_html(self)


@dataclass(eq=False)
class Upstream:
    """One query subscribed upstream (shared by every local reader of the same query)."""

    id: int
    key: str
    ir: dict[str, Any]
    refs: int = 0
    settled: bool = False
    error: ProtocolError | None = None


class UpstreamHandle:
    """What ``SyncClient.subscribe`` returns: ``close()`` drops this reader's interest."""

    def __init__(self, client: SyncClient, upstream: Upstream) -> None:
        self.client = client
        self.upstream = upstream
        self._closed = False

    @property
    def settled(self) -> bool:
        """Whether the server said the query's rows are all here."""
        return self.upstream.settled

    def close(self) -> None:
        """Unsubscribe (upstream too once no local reader needs the query)."""
        if not self._closed:
            self._closed = True
            self.client._release(self.upstream)


@dataclass
class _Connection:
    """Per-connection state of the loop."""

    ws: ClientConnection
    max_frame_bytes: int
    sent: set[str] = field(default_factory=set)
    lost_rows: bool = False  # delivered rows could not be stored: the rest is ignored, resubscribe


class SyncClient:
    """Keeps ``store`` in sync with the app at ``url`` (``ws://host:port``).

    Example:
        >>> # client = SyncClient(store, app, "my-app", server.url, lambda: {"token": t},
        >>> #                     tracker); client.status.state
    """

    def __init__(self, store: Store, app: App, app_id: str, url: str, auth: Auth,
                 tracker: BatchTracker, *, user_id: str | None = None,
                 find_url: Callable[[], str] | None = None) -> None:
        self.store = store
        self.app = app
        self.app_id = app_id
        self.find_url = find_url  # where the server is now: asked before every reconnect
        self._use_url(url)
        self.auth = auth
        self.tracker = tracker
        self.user_id = user_id
        self.migrations: Any = None  # jazz_nb.lens.Migrations (set by connect): other schemas
        self.client_id = uuid.uuid4().hex
        self.outbox = Outbox(store, app)
        self.outbox.restore()
        self._cond = threading.Condition()
        self._upstreams: dict[str, Upstream] = {}
        self._by_id: dict[int, Upstream] = {}
        self._next_id = 1
        self._control: list[dict[str, Any]] = []
        self._state = "connecting"
        self._error: str | None = None
        self._fatal: JazzError | None = None
        self._store_failures = 0  # deliveries that could not be stored, in a row
        self._attempted = False
        self._last_settled: float | None = None
        self._attempts = 0
        self._connection_id: str | None = None
        self._listeners: list[Callable[[SyncStatus], Any]] = []
        self._closing = False
        self._confirmed: list[str] = []
        self._held: dict[str, tuple[str, str]] = {}  # batch id -> (code, reason) of a refusal
        self._retry_seconds = HELD_RETRY_SECONDS
        self._inbox: list[Any] = []  # received row segments not applied yet
        self._inbox_bytes = 0
        self._last_heard = time.monotonic()
        self._wake: asyncio.Event | None = None
        self._conn: _Connection | None = None
        self._sync_loop = SyncLoop.acquire()
        self._loop = self._sync_loop.loop
        self._task = self._sync_loop.submit(self._run())

    def _use_url(self, url: str) -> None:
        self.server_url = url.rstrip("/")
        self.endpoint = f"{self.server_url}/apps/{self.app_id}/ws"

    async def _find_server(self) -> None:
        """Ask ``find_url`` (off the loop: it may start a server) where the server is now."""
        if self.find_url is not None:
            self._use_url(await asyncio.get_running_loop().run_in_executor(None, self.find_url))

    # -- status ----------------------------------------------------------------------------------
    @property
    def status(self) -> SyncStatus:
        """The current ``SyncStatus``."""
        return SyncStatus(self._state, self.server_url, len(self.outbox), self._last_settled,
                          self._error, self._connection_id, self.user_id, self._attempts,
                          len(self._held))

    def on_status(self, callback: Callable[[SyncStatus], Any]) -> Callable[[], None]:
        """Call ``callback(status)`` (on the sync thread) whenever the status changes."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def _changed(self, state: str | None = None, error: str | None = None) -> None:
        with self._cond:
            if state is not None:
                self._state = state
            if error is not None:
                self._error = error
            self._cond.notify_all()
        status = self.status
        for callback in list(self._listeners):
            try:
                callback(status)
            except Exception:
                log.exception("sync status listener failed")

    def wait_first_attempt(self, timeout: float) -> None:
        """Block until the first connection attempt ended; raise if it was refused."""
        with self._cond:
            self._cond.wait_for(lambda: self._attempted, timeout)
        if self._fatal is not None:
            raise self._fatal

    # -- API used from other threads ---------------------------------------------------------------
    def committed(self, commit: Commit) -> None:
        """Queue a committed batch for the server (an observer of ``Engine.committed``); a
        bulk insert goes as the same Arrow columns it was stored from."""
        if commit.columns is not None:
            c = commit.columns
            self.outbox.add_rows(c.table, c.ids, c.user, commit.batch_id, c.author,
                                 c.first_updated_at)
        else:
            mode = "transactional" if commit.state == "VisibleTransactional" else "direct"
            self.outbox.add(commit.batch_id, commit.versions, mode)
        self._kick()

    def subscribe(self, query: Any, *, wait: bool = False) -> UpstreamHandle:
        """Subscribe ``query`` upstream (shared with other readers of the same query).

        ``wait``: when connected, block (up to ``FIRST_ROWS_SECONDS``) until the server has sent
        the query's rows, so a live query starts complete (Jazz gates a subscription's first
        delivery on ``settled``); offline, or on a refusal, return at once.
        """
        ir = query.to_ir()
        key = json.dumps(ir, sort_keys=True, separators=(",", ":"))
        with self._cond:
            upstream = self._upstreams.get(key)
            if upstream is None:
                upstream = Upstream(self._next_id, key, ir)
                self._next_id += 1
                self._upstreams[key] = self._by_id[upstream.id] = upstream
                self._control.append({"type": "subscribe", "id": upstream.id, "query": ir,
                                      "tier": "global"})
            upstream.refs += 1
        self._kick()
        if wait and self._state == "connected":
            with self._cond:
                self._cond.wait_for(lambda: upstream.settled or upstream.error is not None
                                    or self._state != "connected", FIRST_ROWS_SECONDS)
        return UpstreamHandle(self, upstream)

    def _release(self, upstream: Upstream) -> None:
        with self._cond:
            upstream.refs -= 1
            if upstream.refs > 0:
                return
            self._upstreams.pop(upstream.key, None)
            self._by_id.pop(upstream.id, None)
            self._control.append({"type": "unsubscribe", "id": upstream.id})
        self._kick()

    def settle(self, query: Any, tier: str, timeout: float | None) -> None:
        """Block until the server has sent every row of ``query`` (its ``settled`` signal)."""
        if tier == "local":
            return
        if tier not in p.TIERS:
            raise JazzError(f"unknown tier {tier!r} (use local, edge or global)")
        handle = self.subscribe(query)
        try:
            upstream = handle.upstream
            with self._cond:
                done = self._cond.wait_for(lambda: upstream.settled or upstream.error
                                           is not None or self._fatal is not None, timeout)
            if upstream.error is not None:
                raise upstream.error
            if self._fatal is not None:
                raise self._fatal
            if not done:
                raise TimeoutError(f"query on {query.table!r} was not settled at tier {tier!r} "
                                   f"within {timeout} s (sync status: {self._state})")
        finally:
            handle.close()

    def close(self, timeout: float = 5.0) -> None:
        """Stop syncing: close the connection (and the sync thread, if no db uses it)."""
        if self._closing:
            return
        self._closing = True
        self._kick()
        try:
            self._task.result(timeout)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            self._task.cancel()
        finally:
            self._sync_loop.release()
        self._changed("offline")

    def _kick(self) -> None:
        if self._wake is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake.set)

    # -- the loop thread ---------------------------------------------------------------------------
    async def _run(self) -> None:
        self._wake = asyncio.Event()
        attempt = 0
        while not self._closing:
            welcomed = False
            try:
                if self._attempted:  # a reconnect: the server may have moved (embedded restart)
                    await self._find_server()
                async with connect(self.endpoint, max_size=None, ping_interval=None,
                                   compression=None, open_timeout=HANDSHAKE_SECONDS,
                                   close_timeout=2) as ws:
                    welcomed = await self._session(ws)
            except (TimeoutError, OSError, InvalidHandshake, InvalidURI, ConnectionClosed) as err:
                self._error = f"{type(err).__name__}: {err}"
            except ProtocolError as err:
                self._error = str(err)
                if err.code in ("unauthenticated", "incompatible_protocol", "unknown_app"):
                    self._fatal = err
            except JazzError as err:  # find_url could not find or start the server: retry
                self._error = str(err)
            finally:
                self._conn = None
                self._connection_id = None
            with self._cond:
                self._attempted = True
                self._cond.notify_all()
            if self._closing or self._fatal is not None:
                break
            attempt = 0 if welcomed and not self._store_failures else attempt + 1
            self._attempts = attempt
            self._changed("reconnecting")
            deadline = time.monotonic() + backoff_seconds(attempt)
            while not self._closing and (left := deadline - time.monotonic()) > 0:
                self._wake.clear()  # writes wake us too; only close() cuts the wait short
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), left)
        self._mark_confirmed()
        self._changed("offline")

    async def _session(self, ws: ClientConnection) -> bool:
        await ws.send(p.encode({"type": "hello", "protocol": p.PROTOCOL_VERSION,
                                "client_id": self.client_id, "schema_hash": self.app.schema_hash,
                                "auth": self.auth()}))
        welcome = p.decode(await asyncio.wait_for(ws.recv(), HANDSHAKE_SECONDS), p.SERVER)
        if welcome["type"] == "error":
            raise p.error(welcome["code"], welcome["message"])
        if welcome["type"] != "welcome":
            raise p.error("malformed_message", f"expected welcome, got {welcome['type']!r}")
        p.check_version(welcome["protocol"])
        conn = self._conn = _Connection(ws, welcome["max_frame_bytes"])
        self._connection_id = welcome["connection_id"]
        with self._cond:  # a new connection: subscribe everything again
            self._control = [{"type": "subscribe", "id": u.id, "query": u.ir, "tier": "global"}
                             for u in self._upstreams.values()]
            self._attempted = True
        self._attempts = 0
        self._error = None
        self._changed("connected")
        sender = asyncio.get_running_loop().create_task(self._send_loop(conn))
        beat = asyncio.get_running_loop().create_task(
            self._heartbeat(conn, float(welcome.get("heartbeat_seconds", p.HEARTBEAT_SECONDS))))
        try:
            async for message in ws:
                self._last_heard = time.monotonic()
                try:
                    self._receive(message)
                except Exception as err:  # a bad frame or a store error: keep the connection
                    log.exception("sync client: could not handle a server message")
                    self._changed(error=f"{type(err).__name__}: {err}")
        finally:
            sender.cancel()
            beat.cancel()
            self._apply_inbox()
        if self._closing:
            await ws.close()
        return True

    async def _send_loop(self, conn: _Connection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send_all(conn)

    async def _send_all(self, conn: _Connection) -> None:
        assert self._wake is not None
        while not self._closing:
            with self._cond:
                control, self._control = self._control, []
            for message in control:
                await conn.ws.send(p.encode(message))
            for item in self.outbox.pending():
                if item.batch_id not in conn.sent:
                    conn.sent.add(item.batch_id)
                    for frame in self.outbox.frames(item, conn.max_frame_bytes):
                        await conn.ws.send(frame)
                    item.replay = True
            self._wake.clear()
            with self._cond:
                busy = bool(self._control)
            if not busy and all(i.batch_id in conn.sent for i in self.outbox.pending()):
                await self._wake.wait()
        await conn.ws.close()

    async def _heartbeat(self, conn: _Connection, every: float) -> None:
        self._last_heard = time.monotonic()
        beat = p.encode({"type": "heartbeat"})
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(every)
                if time.monotonic() - self._last_heard > 3 * every:
                    await conn.ws.close(1001, "heartbeat timeout")
                    return
                await conn.ws.send(beat)

    # -- receiving ---------------------------------------------------------------------------------
    def _receive(self, message: str | bytes) -> None:
        if self._conn is None or self._conn.lost_rows:
            return
        if isinstance(message, bytes):
            header, segments = self._decode(message)
            if header["type"] != "rows":
                raise p.error("unknown_message_type", f"unknown frame type {header['type']!r}")
            self._inbox += segments  # applied together once the buffered messages are read
            self._inbox_bytes += sum(seg.rows.nbytes for seg in segments)
            if self._inbox_bytes >= MAX_INBOX_BYTES:
                self._apply_inbox()
            elif len(self._inbox) == len(segments) and not self._filling():
                self._loop.call_soon(self._apply_inbox)
            return
        self._apply_inbox()  # rows before a control message are applied before it counts
        if self._conn.lost_rows:
            return
        msg = p.decode(message, p.SERVER)
        kind = msg["type"]
        if kind == "settled":
            with self._cond:
                upstream = self._by_id.get(msg["id"])
                if upstream is not None:
                    upstream.settled = True
                self._last_settled = time.time()
            self._changed()
        elif kind == "fate":
            self._fate(msg)
        elif kind == "error":
            self._server_error(msg)

    def _filling(self) -> bool:
        """Whether a subscription's first rows are arriving: they are applied in one go when
        its ``settled`` comes (one big insert costs far less than many medium ones)."""
        with self._cond:
            return any(not u.settled and u.error is None for u in self._upstreams.values())

    def _apply_inbox(self) -> None:
        segments, self._inbox, self._inbox_bytes = self._inbox, [], 0
        if not segments:
            return
        try:
            apply_segments(self.store, self._apps(), segments)
        except Exception as err:  # a store error: these rows are not here, so ask for them again
            log.exception("sync client: could not apply %d segments", len(segments))
            self._store_failures += 1
            self._changed(error=f"could not store {len(segments)} delivered segment(s), "
                                f"resubscribing: {type(err).__name__}: {err}")
            with self._cond:  # nothing counts as settled until the new connection says so
                for upstream in self._upstreams.values():
                    upstream.settled = False
            if self._conn is not None and not self._conn.lost_rows:  # a new connection
                self._conn.lost_rows = True  # subscribes everything again
                self._loop.create_task(self._conn.ws.close(1011, "client store error"))
            return
        self._store_failures = 0

    def _apps(self) -> dict[str, App]:
        """Schemas whose rows this client stores: its own and those lenses connect to it."""
        apps = dict(self.migrations.graph.schemas) if self.migrations is not None else {}
        apps[self.app.schema_hash] = self.app
        return apps

    def _decode(self, message: bytes) -> tuple[dict[str, Any], list[Any]]:
        """Decode a frame; rows of a schema unknown here make the client learn the server's
        lens graph first (a lens was published since it connected)."""
        try:  # the server checked the values; the framing and columns are checked here
            return decode_frame(message, self._apps(), check_values=False)
        except ProtocolError as err:
            if err.code != "unknown_schema" or self.migrations is None:
                raise
        from jazz_nb.lens.publish import learn_graph

        learn_graph(self.migrations, self.server_url, self.app_id, self.auth())
        return decode_frame(message, self._apps(), check_values=False)

    def _fate(self, msg: dict[str, Any]) -> None:
        batch_id = msg["batch_id"]
        if msg["kind"] == "rejected":
            code, reason = str(msg.get("code", "rejected")), str(msg.get("reason", ""))
            if code not in p.FINAL_REJECTIONS:
                self._hold(batch_id, code, reason)
                return
            self.outbox.discard(batch_id)
            self._held.pop(batch_id, None)
            self.store.set_batch_state(batch_id, "Rejected")
            self.tracker.reject(batch_id, code, reason)
        elif msg["kind"] in ("durableDirect", "acceptedTransaction"):
            self.outbox.discard(batch_id)
            self._held.pop(batch_id, None)
            self.tracker.settle(batch_id, msg.get("tier", "global"))
            if self.outbox.durable:  # recorded a moment later, many at once: replaying a
                self._confirmed.append(batch_id)  # batch whose record was lost is harmless
                if len(self._confirmed) == 1:
                    self._loop.call_later(CONFIRM_DELAY, self._mark_confirmed)
                elif len(self._confirmed) >= 1000:
                    self._mark_confirmed()
        if self._conn is not None:
            self._conn.sent.discard(batch_id)
        self._changed()

    def _hold(self, batch_id: str, code: str, reason: str) -> None:
        """A refusal that is not the write's final answer (the server lacks the schema, its
        permissions, ...): the rows stay, pending; the batch is sent again later, and
        ``db.status`` says why."""
        if batch_id not in {i.batch_id for i in self.outbox.pending()}:
            return
        self._held[batch_id] = (code, reason)
        self.tracker.hold(batch_id, code, reason)
        if len(self._held) == 1:
            self._loop.call_later(self._retry_seconds, self._retry_held)
            self._retry_seconds = min(self._retry_seconds * 2, HELD_RETRY_MAX)
        self._changed(error=f"{len(self._held)} batch(es) not accepted yet, kept and sent "
                            f"again: {code}: {reason}")

    def _retry_held(self) -> None:
        held, self._held = self._held, {}
        if self._conn is not None:
            self._conn.sent.difference_update(held)
        self._kick()

    def _mark_confirmed(self) -> None:
        confirmed, self._confirmed = self._confirmed, []
        if not confirmed:
            return
        try:
            self.outbox.mark_confirmed(confirmed)
        except Exception:  # the store closed under us: the batches are simply replayed
            log.exception("sync client: could not record %d confirmations", len(confirmed))

    def _server_error(self, msg: dict[str, Any]) -> None:
        err = p.error(msg["code"], msg["message"])
        if isinstance(msg.get("id"), int):
            with self._cond:
                upstream = self._by_id.get(msg["id"])
                if upstream is not None:
                    upstream.error = err
        self._changed(error=str(err))
