"""The parties of the fault simulation: the real engine and stores on a simulated network.

Real: the server's per-app engine (``AppState``: checks, fates, stores, fan-out) on a DuckDB file,
the clients' DuckDB file stores and ``Db`` write paths, their ``Outbox`` (restored after a
restart), the frames (``encode_frame``/``decode_frame``) and the client's apply path
(``apply_segments``). Simulated: the sockets and threads around them. ``SimServer`` does what
``server.py`` does with a connection's messages (decode, reassemble batch parts, queue ``Work``,
hand the engine everything queued in one turn, send its outputs to the open connections), and
``SimClient`` what ``client.py`` does (subscribe on connect, send control messages then the
unsent outbox batches, buffer rows until a subscription settles, apply fates, record
confirmations in bursts). A ``Link`` is one connection: two FIFO queues, so order within a
connection is kept as a WebSocket keeps it; reordering happens across connections and reconnects.

Example:
    >>> import random, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     server = SimServer(Path(tmp) / "server", "open")
    ...     alice = SimClient("alice", Path(tmp) / "alice.duckdb", server, Ledger())
    ...     alice.connect()
    ...     alice.write(random.Random(1), "insert")
    ...     alice.send(); server.receive(alice.link, 99); server.turn(); alice.read(99)
    ...     alice.ledger.accepted == list(alice.ledger.writes)
    ...     alice.db.close(); server.close()
    True
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jazz_nb import s
from jazz_nb.auth.server_auth import Principal
from jazz_nb.auth.session import Session
from jazz_nb.db import Db
from jazz_nb.engine import Commit, Engine
from jazz_nb.lens import LensGraph, Migrations
from jazz_nb.policy import define_permissions
from jazz_nb.policy.bundle import Permissions
from jazz_nb.store import layout
from jazz_nb.store.confirmations import TABLE as CONFIRMED
from jazz_nb.store.fates import TABLE as BATCHES
from jazz_nb.store.store import Store
from jazz_nb.sync import protocol as p
from jazz_nb.sync.bulk import apply_segments
from jazz_nb.sync.connect import allow_all
from jazz_nb.sync.frames import decode_frame
from jazz_nb.sync.outbox import Outbox
from jazz_nb.sync.server_app import AppState, Work
from jazz_nb.writes.handle import TIER_RANK

APP_ID = "faults"
Message = str | bytes


def sim_app() -> s.App:
    """The simulated app: public projects and todos.

    Example:
        >>> sorted(sim_app().tables)
        ['projects', 'todos']
    """
    return s.define_app({
        "projects": s.table(name=s.string()),
        "todos": s.table(title=s.string(), done=s.boolean(default=False),
                         priority=s.int().optional()),
    })


APP = sim_app()


def permissions(mode: str) -> Permissions:
    """``open``: everyone reads and writes everything. ``creator``: everyone reads everything
    and inserts; only a todo's creator updates or deletes it; projects are never updated or
    deleted (so some writes are rejected).

    Example:
        >>> permissions("creator").table("projects").update_using is None
        True
    """
    if mode == "open":
        return allow_all(APP)

    def rules(policy: Any, session: Any) -> None:
        policy.projects.allow_read.always()
        policy.projects.allow_insert.always()
        policy.todos.allow_read.always()
        policy.todos.allow_insert.always()
        policy.todos.allow_update.where({"$createdBy": session.user_id})
        policy.todos.allow_delete.where({"$createdBy": session.user_id})

    return define_permissions(APP, rules)


def wipe(store: Store) -> None:
    """Empty a store's row and sync tables, so the next schedule reuses its DuckDB file
    (opening one costs more than a short schedule's writes).

    Example:
        >>> store = Store(APP)
        >>> _ = store.apply([RowVersion("todos", "01900000-0000-7000-8000-000000000001",
        ...                             "ab" * 16, (), 1, "me", 1, "me", {"title": "x"})])
        >>> wipe(store); store.execute("SELECT count(*) FROM todos__" + APP.schema_hash[:12]
        ...                            ).fetchall()
        [(0,)]
    """
    tables = [layout.quote(f(t, APP.schema_hash)) for t in APP.tables
              for f in (layout.history_table, layout.visible_table)]
    known = {name for (name,) in store.execute("SELECT table_name FROM duckdb_tables()"
                                               ).fetchall()}
    tables += [name for name in (CONFIRMED, BATCHES) if name in known]
    with store.lock:
        for table in tables:
            store.conn.execute(f"DELETE FROM {table}")


@dataclass(eq=False)
class Link:
    """One connection: messages in flight up (to the server) and down, in order."""

    id: str
    up: deque[Message] = field(default_factory=deque)
    down: deque[Message] = field(default_factory=deque)


@dataclass
class Ledger:
    """Every write of a run (batch id -> author and rows) and every fate a client saw."""

    writes: dict[str, tuple[str, list[tuple[str, str]]]] = field(default_factory=dict)
    fates: dict[str, set[str]] = field(default_factory=dict)  # batch id -> {"accepted", ...}

    @property
    def accepted(self) -> list[str]:
        """Batches some client saw accepted."""
        return [b for b, kinds in self.fates.items() if "accepted" in kinds]

    @property
    def rejected(self) -> list[str]:
        """Batches some client saw rejected."""
        return [b for b, kinds in self.fates.items() if "rejected" in kinds]


class SimServer:
    """``server.py`` around a real ``AppState`` on a DuckDB file, without sockets."""

    def __init__(self, directory: Path, mode: str, max_frame_bytes: int = 32 << 20) -> None:
        self.directory = directory
        self.max_frame_bytes = max_frame_bytes
        self.state = AppState(APP_ID, directory, max_frame_bytes)
        self.state.publish_schema(APP.to_json())
        self.state.publish_permissions(APP.schema_hash, permissions(mode).to_json(), None)
        self.links: dict[str, Link] = {}  # open connections by peer id
        self.parts: dict[str, dict[str, Any]] = {}  # a connection's unfinished batch
        self.engine: list[Work] = []  # received, waiting for the engine's next turn
        self.zombies: list[Link] = []  # connections their client left, still open here
        self.errors: list[str] = []  # what a real server would have answered with `error`

    def reset(self, max_frame_bytes: int) -> None:
        """Forget every connection and row: a fresh server on the same files."""
        self._forget()
        self.errors = []
        self.state.peers.clear()
        self.state.groups.clear()
        assert self.state.store is not None
        wipe(self.state.store)
        self.max_frame_bytes = self.state.max_frame_bytes = max_frame_bytes

    def open(self, link: Link, session: Session) -> None:
        """A connection's hello was accepted (``open_peer`` runs on the engine before the
        ``welcome``)."""
        self.state.open_peer(link.id, Principal("user", session), APP.schema_hash)
        self.links[link.id] = link
        self.parts[link.id] = {}

    def receive(self, link: Link, count: int) -> None:
        """The server reads up to ``count`` messages of ``link`` and queues them for the
        engine (``SyncServer._session``)."""
        for _ in range(min(count, len(link.up))):
            message = link.up.popleft()
            if isinstance(message, str):
                msg = p.decode(message, p.CLIENT)
                if msg["type"] in ("subscribe", "unsubscribe"):
                    self.engine.append(Work(msg["type"], link.id, msg))
            else:
                self._batch(link, message)

    def _batch(self, link: Link, data: bytes) -> None:
        """``SyncServer._batch``: decode, collect a batch's parts, queue it when complete."""
        header, segments = decode_frame(data, self.state.catalogue.apps)
        parts = self.parts[link.id]
        batch_id, part, count = header["batch_id"], header.get("part", 0), header.get("parts", 1)
        pending = parts.get("segments") if parts.get("batch_id") == batch_id else None
        if part != (0 if pending is None else parts["next"]):
            parts.clear()
            self.errors.append(f"batch {batch_id}: part {part} out of order")
            return
        collected = [*(pending or []), *segments]
        if part + 1 < count:
            parts.update(batch_id=batch_id, segments=collected, next=part + 1)
            return
        parts.clear()
        self.engine.append(Work("batch", link.id, (header, collected)))

    def turn(self) -> None:
        """One engine turn: everything queued, in one ``process`` call; outputs go to the
        connections still open."""
        items, self.engine = self.engine, []
        for peer_id, message in self.state.process(items):
            link = self.links.get(peer_id)
            if link is not None:
                link.down.append(message)

    def orphan(self, link: Link) -> None:
        """The client left ``link``; the server notices later (``notice``): until then what
        is still in flight on it may arrive, interleaved with the client's next connection."""
        self.zombies.append(link)

    def notice(self, link: Link) -> None:
        """The server sees a connection end: what was still in flight is lost; the engine
        hears ``close`` after what was received."""
        link.up.clear()
        if link in self.zombies:
            self.zombies.remove(link)
        if self.links.pop(link.id, None) is not None:
            self.engine.append(Work("close", link.id))

    def restart(self) -> None:
        """A crash and a restart on the same data directory: connections, the engine's queue
        and unfinished batches are gone; the catalogue and rows are read back."""
        self._forget()
        self.close()
        self.state = AppState(APP_ID, self.directory, self.max_frame_bytes)

    def _forget(self) -> None:
        self.links.clear()
        self.zombies.clear()
        self.parts.clear()
        self.engine.clear()

    def close(self) -> None:
        """Close the store."""
        if self.state.store is not None:
            self.state.store.close()


class SimClient:
    """``client.py`` around a real ``Db`` on a DuckDB file and its real ``Outbox``."""

    _ids = itertools.count(1)

    def __init__(self, name: str, path: Path, server: SimServer, ledger: Ledger,
                 skew_us: int = 0, queries: tuple[Any, ...] = (APP.todos, APP.projects),
                 store: Store | None = None) -> None:
        self.name = name
        self.path = path
        self.server = server
        self.ledger = ledger
        self.skew_us = skew_us
        self.session = Session(name, {}, "local-first")
        self.queries = queries
        self.link: Link | None = None
        if store is not None:
            wipe(store)
        self._open(store)

    # -- process lifecycle -----------------------------------------------------------------------
    def _open(self, store: Store | None = None) -> None:
        """Start the client process: open the store as ``jz.connect`` does (or take ``store``,
        open on ``path``), restore the outbox and open the live queries (subscribed once
        connected)."""
        store = store if store is not None else Store(APP, str(self.path))
        engine = Engine(store, APP_ID)
        engine.tracker.highest_reachable = TIER_RANK["global"]
        graph = LensGraph()
        graph.add_schema(APP)
        engine.migrations = Migrations(store, graph)
        engine.attach_sync(self)  # every commit comes to ``committed``
        self.db = Db(APP, engine, self.session)
        self.outbox = Outbox(store, APP)
        self.outbox.restore()
        self.control: list[dict[str, Any]] = []
        self.upstreams: dict[int, dict[str, Any]] = {}  # id -> {"ir", "settled"}
        self.inbox: list[Any] = []
        self.apply_soon = False
        self.confirmed: list[str] = []
        self.sent: set[str] = set()  # batch ids sent on the current connection
        self.received: deque[bytes] = deque(maxlen=8)  # recent row frames, for duplicates
        self.last_us = 0
        for query in self.queries:
            self.subscribe(query.to_ir())

    def committed(self, commit: Commit) -> None:
        """``SyncClient.committed``: queue a committed batch (and note it in the ledger)."""
        batch_id, versions = commit.batch_id, commit.versions
        self.outbox.add(batch_id, versions, "transactional"
                        if commit.state == "VisibleTransactional" else "direct")
        self.ledger.writes[batch_id] = (self.name, [(v.table, v.row_id) for v in versions])

    def close(self) -> None:
        """``SyncClient.close`` (from ``Db.close``): the loop ends by recording confirmations."""
        self.mark_confirmed()

    def retire(self) -> Store:
        """End of a schedule: stop as ``close`` does, but hand the open store back for reuse."""
        self.close()
        return self.db.store

    def restart(self, clean: bool) -> None:
        """The process stops (cleanly, or killed: unrecorded confirmations and unapplied rows
        are lost) and starts again on the same store file."""
        if self.link is not None:
            self.server.orphan(self.link)
            self.link = None
        if clean:
            self.apply_inbox()
        else:
            self.confirmed = []
            self.inbox = []
        self.db.close()
        self._open()

    # -- connection ------------------------------------------------------------------------------
    def connect(self) -> None:
        """A new connection was welcomed: subscribe everything again (``_session``)."""
        self.link = Link(f"{self.name}-{next(self._ids)}")
        self.sent = set()
        self.server.open(self.link, self.session)
        self.control = [{"type": "subscribe", "id": i, "query": u["ir"], "tier": "global"}
                        for i, u in self.upstreams.items()]

    def drop(self, received_down: int) -> None:
        """The client gives the connection up (it broke, or went silent); the server may
        still read what was in flight up, and notices later."""
        assert self.link is not None
        self.server.orphan(self.link)
        self.cut(received_down)

    def cut(self, received_down: int) -> None:
        """The connection ended (a drop, or the server died): ``received_down`` of the
        messages in flight still arrive, then ``_session``'s ``finally`` applies the rows."""
        assert self.link is not None
        link, self.link = self.link, None
        self._read(link, received_down)
        link.down.clear()
        self.apply_inbox()

    # -- subscriptions ---------------------------------------------------------------------------
    def subscribe(self, ir: Any) -> int:
        """``SyncClient.subscribe`` of a new query."""
        sub_id = next(self._ids)
        self.upstreams[sub_id] = {"ir": ir, "settled": False}
        self.control.append({"type": "subscribe", "id": sub_id, "query": ir, "tier": "global"})
        return sub_id

    def reopen(self, sub_id: int) -> int:
        """Close a live query and open it again (``_release``, then ``subscribe``)."""
        ir = self.upstreams.pop(sub_id)["ir"]
        self.control.append({"type": "unsubscribe", "id": sub_id})
        return self.subscribe(ir)

    def _filling(self) -> bool:
        return any(not u["settled"] for u in self.upstreams.values())

    # -- sending ---------------------------------------------------------------------------------
    def unsent(self) -> bool:
        """Whether the send loop has something to send."""
        return bool(self.control) or any(i.batch_id not in self.sent
                                         for i in self.outbox.pending())

    def send(self) -> None:
        """One pass of ``_send_all``: control messages, then every batch not sent on this
        connection (later passes send it with ``replay``)."""
        assert self.link is not None
        control, self.control = self.control, []
        self.link.up.extend(p.encode(message) for message in control)
        for item in self.outbox.pending():
            if item.batch_id not in self.sent:
                self.sent.add(item.batch_id)
                self.link.up.extend(self.outbox.frames(item, self.server.max_frame_bytes))
                item.replay = True

    def resend(self, batch_id: str) -> None:
        """Send a batch again on the same connection (a duplicate)."""
        assert self.link is not None
        item = next(i for i in self.outbox.pending() if i.batch_id == batch_id)
        item.replay = True
        self.link.up.extend(self.outbox.frames(item, self.server.max_frame_bytes))

    # -- receiving -------------------------------------------------------------------------------
    def read(self, count: int) -> None:
        """The client reads up to ``count`` messages; rows not held back by a filling
        subscription are applied once the read stops (``call_soon``)."""
        assert self.link is not None
        self._read(self.link, count)

    def _read(self, link: Link, count: int) -> None:
        for _ in range(min(count, len(link.down))):
            self.receive(link.down.popleft())
        if self.apply_soon:
            self.apply_inbox()

    def receive(self, message: Message) -> None:
        """``SyncClient._receive`` of one message."""
        if isinstance(message, bytes):
            header, segments = decode_frame(message, {APP.schema_hash: APP},
                                            check_values=False)
            assert header["type"] == "rows", header
            self.received.append(message)
            self.inbox += segments
            if len(self.inbox) == len(segments) and not self._filling():
                self.apply_soon = True
            return
        self.apply_inbox()
        msg = p.decode(message, p.SERVER)
        if msg["type"] == "settled" and msg["id"] in self.upstreams:
            self.upstreams[msg["id"]]["settled"] = True
        elif msg["type"] == "fate":
            self._fate(msg)
        elif msg["type"] == "error":
            self.server.errors.append(f"{self.name}: {msg}")

    def apply_inbox(self) -> None:
        """``SyncClient._apply_inbox``."""
        segments, self.inbox, self.apply_soon = self.inbox, [], False
        if segments:
            apply_segments(self.db.store, {APP.schema_hash: APP}, segments)

    def _fate(self, msg: dict[str, Any]) -> None:
        """``SyncClient._fate``."""
        batch_id = msg["batch_id"]
        if msg["kind"] == "rejected":
            self.outbox.discard(batch_id)
            self.db.store.set_batch_state(batch_id, "Rejected")
            self.db.engine.tracker.reject(batch_id, str(msg.get("code")), str(msg.get("reason")))
            self.ledger.fates.setdefault(batch_id, set()).add("rejected")
        elif msg["kind"] in ("durableDirect", "acceptedTransaction"):
            self.outbox.discard(batch_id)
            self.db.engine.tracker.settle(batch_id, msg.get("tier", "global"))
            self.confirmed.append(batch_id)  # the store is a file: recorded a moment later
            self.ledger.fates.setdefault(batch_id, set()).add("accepted")
        self.sent.discard(batch_id)

    def mark_confirmed(self) -> None:
        """The confirmation timer fired: record confirmations in the store."""
        confirmed, self.confirmed = self.confirmed, []
        self.outbox.mark_confirmed(confirmed)

    # -- writes ----------------------------------------------------------------------------------
    def now_us(self) -> int:
        """This client's clock: wall-clock µs plus its skew, strictly increasing."""
        self.last_us = max(self.last_us + 1, time.time_ns() // 1000 + self.skew_us)
        return self.last_us

    def visible_ids(self, table: str) -> list[str]:
        """Ids of the rows of ``table`` this client shows (not deleted), in a stable order."""
        name = layout.quote(layout.visible_table(table, APP.schema_hash))
        return [r for (r,) in self.db.store.execute(
            f"SELECT CAST(id AS VARCHAR) FROM {name} WHERE _jz_deleted IS NULL ORDER BY id"
        ).fetchall()]

    def write(self, rng: Any, kind: str) -> None:
        """One local write of ``kind`` (``insert``, ``update``, ``delete``, ``batch``,
        ``transaction``, ``project``) on random rows this client sees."""
        todos = self.visible_ids("todos") if kind != "insert" else []
        if kind == "insert" or (kind in ("update", "delete") and not todos):
            self.db.insert(APP.todos, _todo(rng), updated_at=self.now_us())
        elif kind == "update":
            self.db.update(APP.todos, rng.choice(todos), _changes(rng), updated_at=self.now_us())
        elif kind == "delete":
            self.db.delete(APP.todos, rng.choice(todos), updated_at=self.now_us())
        elif kind == "project":
            projects = self.visible_ids("projects")
            if projects and rng.random() < 0.5:
                target = rng.choice(projects)
                if rng.random() < 0.7:
                    self.db.update(APP.projects, target, {"name": f"p{rng.randrange(99)}"},
                                   updated_at=self.now_us())
                else:
                    self.db.delete(APP.projects, target, updated_at=self.now_us())
            else:
                self.db.insert(APP.projects, {"name": f"p{rng.randrange(99)}"},
                               updated_at=self.now_us())
        else:
            self._several(rng, kind, todos)

    def _several(self, rng: Any, kind: str, todos: list[str]) -> None:
        """A batch (inserts, updates, deletes) or a transaction (updates and an insert)."""
        targets = rng.sample(todos, min(len(todos), rng.randint(1, 2)))
        block = self.db.batch() if kind == "batch" else self.db.transaction()
        with block as b:
            for row_id in targets:
                if kind == "batch" and rng.random() < 0.25:
                    b.delete(APP.todos, row_id, updated_at=self.now_us())
                else:
                    b.update(APP.todos, row_id, _changes(rng), updated_at=self.now_us())
            if not targets or rng.random() < 0.5:
                b.insert(APP.todos, _todo(rng), updated_at=self.now_us())


def _todo(rng: Any) -> dict[str, Any]:
    return {"title": f"t{rng.randrange(1000)}", "done": rng.random() < 0.3,
            "priority": rng.choice([None, 1, 2, 3])}


def _changes(rng: Any) -> dict[str, Any]:
    columns: list[tuple[str, Callable[[], Any]]] = [
        ("title", lambda: f"u{rng.randrange(1000)}"), ("done", lambda: rng.random() < 0.5),
        ("priority", lambda: rng.choice([None, 1, 2, 3]))]
    chosen = rng.sample(columns, rng.randint(1, 3))
    return {name: make() for name, make in chosen}
