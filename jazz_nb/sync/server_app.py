"""One app on the sync server: catalogue, store, permission checks, subscriptions and fan-out.

Everything here runs on the server's single engine thread, in the order messages arrived. The
network side hands over ``Work`` items and sends back the ``(peer id, message)`` pairs that
``process`` returns.

Writes (§4.2, §5.4): a run of consecutive batches is checked batch by batch — states, ids,
provenance (the session must be the author), the permissions head, ``insert.with_check`` /
``update.using`` + ``with_check`` / ``delete.using`` against the server's rows, and the
optimistic-concurrency check of transactions — then every accepted batch is applied in one store
transaction. Each batch gets one fate; rejections are remembered so a replay gets the same one.
Backend (no session) and admin connections bypass policies; anonymous sessions cannot write.

Reads (§5.4, §8.2): a subscription's query is compiled for the connection's session, so only
rows its policies let it read are in scope; the fill sends the whole history of every row in
scope, then ``settled``. After writes, each group of equal subscriptions gets the new versions of
rows that were in scope and the history of rows that entered it (``scope``).

Example:
    >>> # state = AppState("my-app", None); state.publish_schema(app.to_json())
    >>> # outputs = state.process([Work("subscribe", peer.id, message)])
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from jazz_nb.auth.server_auth import Principal
from jazz_nb.db import Db
from jazz_nb.engine import Engine
from jazz_nb.errors import JazzError, WriteError
from jazz_nb.lens import Lens, Migrations
from jazz_nb.policy.bundle import Permissions
from jazz_nb.query.builder import Query
from jazz_nb.query.sql import Compiled
from jazz_nb.schema.app import App
from jazz_nb.store.fates import BatchRegistry, Record
from jazz_nb.store.store import Store
from jazz_nb.store.versions import RowVersion, VisibleRow
from jazz_nb.sync.admission import Admission, Rejected, now_us
from jazz_nb.sync.catalogue import Catalogue
from jazz_nb.sync.frames import Segment, encode_frame, segment_versions, split_segments
from jazz_nb.sync.frames import versions_segments as to_segments
from jazz_nb.sync.protocol import FINAL_REJECTIONS, encode, error_message
from jazz_nb.sync.readable import Pair, ReadableVersions
from jazz_nb.sync.scope import Group, RowFilters, Scope, history_arrow

log = logging.getLogger("jazz_nb.sync.server")
GLOBAL = 2  # a single server is a core: it confirms the global tier (§4.4)
# rejections that are a batch's fate for good (a replay gets the same); others (no permissions
# published yet, ...) are answered but not recorded, so the writer's next try is judged anew
RECORDED_REJECTIONS = (*FINAL_REJECTIONS, "invalid_batch_submission")


@dataclass(frozen=True)
class Drop:
    """An output that closes a peer's connection after an ``internal`` error message."""

    reason: str


Output = tuple[str, "str | bytes | Drop"]
RowKey = tuple[str, str, str]  # (schema mark, table, row id); mark "" = the store's schema


@dataclass
class Peer:
    """One authenticated connection as the engine sees it."""

    id: str
    principal: Principal
    schema_hash: str
    subs: dict[int, Group] = field(default_factory=dict)

    @property
    def trusted(self) -> bool:
        """Admin and sessionless backend connections bypass row policies."""
        return self.principal.bypasses_policies


@dataclass
class Work:
    """A message for the engine: ``subscribe``/``unsubscribe`` (``data`` = the message),
    ``batch`` (``data`` = (header, segments)) or ``close``."""

    kind: str
    peer_id: str
    data: Any = None


class _NotNew(Exception):
    """A version taken for a new row's first was not: redo the run with look-ups."""


Accepted = tuple[Peer, dict[str, Any], list[RowVersion]]


class AppState:
    """Catalogue, store and live subscriptions of one app id.

    Example:
        >>> # state = AppState("my-app", Path("data/my-app")); state.publish_schema(schema)
    """

    def __init__(self, app_id: str, directory: Path | None,
                 max_frame_bytes: int = 32 * 1024 * 1024) -> None:
        self.app_id = app_id
        self.directory = directory
        self.max_frame_bytes = max_frame_bytes
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.catalogue = Catalogue(directory / "catalogue.json" if directory else None)
        self.store: Store | None = None
        self.engine: Engine | None = None  # the store's engine: every peer's view reads through it
        self.batches: BatchRegistry | None = None  # owners and fates of decided batches
        self.admission: Admission | None = None  # the write checks (jazz_nb.sync.admission)
        self.migrations: Migrations | None = None  # the lens graph over the store (lens/)
        self.peers: dict[str, Peer] = {}
        self.groups: dict[str, Group] = {}
        self._bound: dict[str, Permissions] = {}  # permissions head bound per schema
        first = self.catalogue.first_app()
        if first is not None:
            self._open_store(first)
            for app in self.catalogue.apps.values():
                assert self.store is not None
                self.store.register_schema(app)

    # -- catalogue -------------------------------------------------------------------------------
    def _open_store(self, app: App) -> None:
        path = str(self.directory / "rows.duckdb") if self.directory else None
        self.store = Store(app, path)
        self.migrations = Migrations(self.store, self.catalogue.graph())
        self.engine = Engine(self.store, self.app_id, migrations=self.migrations)
        self.batches = BatchRegistry(self.store)
        self.admission = Admission(self.engine, self.catalogue, self._permissions)

    def publish_schema(self, schema: Any) -> str:
        """Publish a compiled schema; the store learns its tables. Returns the hash."""
        schema_hash = self.catalogue.publish_schema(schema)
        app = self.catalogue.apps[schema_hash]
        if self.store is None:
            self._open_store(app)
        else:
            assert self.migrations is not None
            self.migrations.add(schemas=[app])  # registers its tables
        return schema_hash

    def publish_migration(self, data: Any) -> tuple[Lens, list[Output]]:
        """Store a lens; every subscription re-scopes to read the versions it connects."""
        lens = self.catalogue.publish_migration(data)
        if self.migrations is not None:
            self.migrations.add(lens)
        out: list[Output] = []
        for peer in list(self.peers.values()):
            for sub_id, group in list(peer.subs.items()):
                out += self._subscribe(peer, sub_id, group.query.to_ir(), resend=True)
        return lens, out

    def publish_permissions(self, schema_hash: str, permissions: Any,
                            expected_parent: str | None) -> tuple[dict[str, Any], list[Output]]:
        """Move the permissions head (compare-and-swap) and re-scope every subscription."""
        before = self.catalogue.head
        head = self.catalogue.publish_permissions(schema_hash, permissions, expected_parent)
        if head is before:
            return head, []
        self._bound.clear()
        out: list[Output] = []
        for peer in list(self.peers.values()):
            for sub_id, group in list(peer.subs.items()):
                out += self._subscribe(peer, sub_id, group.query.to_ir(), resend=True)
        return head, out

    # -- peers -----------------------------------------------------------------------------------
    def open_peer(self, peer_id: str, principal: Principal, schema_hash: str) -> Peer:
        """Register an authenticated connection."""
        peer = Peer(peer_id, principal, schema_hash)
        self.peers[peer_id] = peer
        return peer

    def _db(self, peer: Peer) -> Db:
        """A view of the store as ``peer`` reads: its schema, its session, the policies."""
        app = self.catalogue.apps.get(peer.schema_hash)
        if app is None or self.store is None:
            raise Rejected(f"schema {peer.schema_hash[:12]} is not published to app "
                           f"{self.app_id!r}; deploy it first", code="unknown_schema")
        permissions = None if peer.trusted else self._permissions(app)
        assert self.engine is not None
        return Db(app, self.engine, peer.principal.session, permissions=permissions)

    def _permissions(self, app: App) -> Permissions:
        bound = self._bound.get(app.schema_hash)
        if bound is None:
            head = self.catalogue.permissions()
            if head is None:
                raise Rejected("backend has no published permissions head; push permissions "
                               "before running session-scoped queries or writes against this "
                               "backend", code="permissions_head_missing")
            try:
                bound = self._bound[app.schema_hash] = head[1].bind(app)
            except JazzError as err:
                raise Rejected(f"the published permissions do not fit schema "
                               f"{app.schema_hash[:12]}: {err}", code="permission_denied") from None
        return bound

    # -- the engine loop ---------------------------------------------------------------------------
    def process(self, items: Sequence[Work]) -> list[Output]:
        """Handle messages in order; consecutive batches are checked and applied together.

        One item's failure (an engine bug, or input no check foresaw) costs only the peers
        that sent it: they get ``internal`` and are dropped (they reconnect and replay), and
        everyone else's items of the same turn go on."""
        out: list[Output] = []
        run: list[Work] = []
        for item in items:
            if item.kind == "batch":
                run.append(item)
                continue
            if run:
                out += self._isolated_writes(run)
                run = []
            try:
                out += self._handle(item)
            except Exception:
                log.exception("engine failed on a %s of peer %s", item.kind, item.peer_id)
                out.append((item.peer_id, Drop(f"server error on {item.kind}")))
        if run:
            out += self._isolated_writes(run)
        return out

    def _handle(self, item: Work) -> list[Output]:
        peer = self.peers.get(item.peer_id)
        if peer is None:
            return []
        if item.kind == "subscribe":
            return self._subscribe(peer, item.data["id"], item.data["query"])
        if item.kind == "unsubscribe":
            self._drop(peer, item.data["id"])
        elif item.kind == "close":
            for sub_id in list(peer.subs):
                self._drop(peer, sub_id)
            del self.peers[peer.id]
        return []

    def _isolated_writes(self, run: list[Work]) -> list[Output]:
        """``_writes`` of a run; if it fails, of each batch alone, so one bad batch fails
        only its sender."""
        try:
            return self._writes(run)
        except Exception:
            if len(run) == 1:
                log.exception("engine failed on a batch of peer %s", run[0].peer_id)
                return [(run[0].peer_id, Drop("server error on a batch"))]
            log.exception("engine failed on %d batches; retrying them one by one", len(run))
        out: list[Output] = []
        for item in run:
            out += self._isolated_writes([item])
        return out

    # -- subscriptions ---------------------------------------------------------------------------
    def _subscribe(self, peer: Peer, sub_id: int, ir: Any, resend: bool = False,
                   ) -> list[Output]:
        try:
            db = self._db(peer)
            try:
                query = Query.from_ir(db.app, ir)
                group = self.groups.get(Group.key_of(db, query)) or Group(db, query)
                frames = self._frames(group)
            except (JazzError, duckdb.Error) as err:  # the query's values can still be bad
                raise Rejected(str(err), code="invalid_query") from None
        except Rejected as err:
            if resend:
                self._drop(peer, sub_id)
            return [(peer.id, encode(error_message(err.code or "invalid_query", str(err),
                                                   id=sub_id)))]
        self._drop(peer, sub_id)
        group = self.groups.setdefault(group.key, group)
        group.members.add((peer.id, sub_id))
        peer.subs[sub_id] = group
        return [*((peer.id, frame) for frame in frames),
                (peer.id, encode({"type": "settled", "id": sub_id, "tier": "global"}))]

    def _drop(self, peer: Peer, sub_id: int) -> None:
        group = peer.subs.pop(sub_id, None)
        if group is not None:
            group.members.discard((peer.id, sub_id))
            if not group.members:
                self.groups.pop(group.key, None)

    def _frames(self, group: Group) -> list[bytes]:
        """Row frames of a new subscription: every version of the rows in its scope that its
        session may read (``readable``)."""
        assert self.store is not None and self.migrations is not None
        readable = ReadableVersions.of(group.db)
        scope = group.fill_scope() if readable is None else dict(group.full_scope())
        stored = self.migrations.stored_tables(group.db.app)  # every schema version of a table
        segments = []
        for table, ids in scope.items():
            if not isinstance(ids, Compiled) and not len(ids):
                continue
            allowed = None if readable is None else readable.pairs(table, ids.to_pylist())
            for h, name in stored[table]:
                rows = history_arrow(self.store, self.catalogue.apps[h], name, ids)
                segments.append(Segment(name, h, _only(rows, allowed)))
        gone = group.deleted_scope()
        if len(gone):  # their deletes only (the versions before are the receiver's or private)
            table = group.query.table
            allowed = None if readable is None else readable.pairs(table, gone.to_pylist())
            for h, name in stored[table]:
                rows = history_arrow(self.store, self.catalogue.apps[h], name, gone)
                deletes = rows.filter(pc.is_valid(rows.column("_jz_delete_kind")))
                segments.append(Segment(name, h, _only(deletes, allowed)))
        segments = [s for s in segments if s.rows.num_rows]
        return [encode_frame({"type": "rows"}, part)
                for part in split_segments(segments, self.max_frame_bytes)]

    # -- writes ----------------------------------------------------------------------------------
    def _writes(self, run: list[Work]) -> list[Output]:
        """Check and apply a run of batches. Versions that look like new rows (no parents, not
        deletes, one schema version of their table) are first taken to be new without a
        look-up: the store's keys refuse them if they were not, and the run is redone with
        look-ups (nothing was stored or recorded by the first attempt)."""
        try:
            return self._write_run(run, presume_new=True)
        except _NotNew:
            return self._write_run(run, presume_new=False)

    def _write_run(self, run: list[Work], presume_new: bool) -> list[Output]:
        store = self.store
        if store is None:  # frames were checked against the catalogue, so this cannot happen
            return []
        batches = [(self.peers[w.peer_id], *w.data) for w in run if w.peer_id in self.peers]
        known = self._known(batches)
        decoded = [[v for s in segs for v in segment_versions(
            s, self.catalogue.apps[s.schema_hash].table(s.table), store.app.schema_hash)]
            for _, _, segs in batches]
        guessed = {id(v) for vs in decoded for v in vs if presume_new and self._looks_new(v)}
        olds = self._olds(v for vs in decoded for v in vs if id(v) not in guessed)
        overlay: dict[RowKey, VisibleRow] = {}
        seen: dict[RowKey, set[str]] = {}

        def old_of(key: RowKey) -> VisibleRow | None:
            return overlay[key] if key in overlay else olds.get(key)

        fates: list[Output] = []
        answers: dict[str, dict[str, Any]] = {}  # batch id -> the fate its first copy got
        echoes: list[tuple[Peer, str]] = []  # later copies of a batch from the same owner
        first: dict[str, str] = {}  # batch id -> owner of its first copy in this run
        rejected: list[Record] = []
        accepted: list[Accepted] = []
        linear = True  # every version extends its row's frontier: a fast store.apply
        now = now_us()
        for (peer, header, _), versions in zip(batches, decoded, strict=True):
            batch_id, owner = header["batch_id"], peer.principal.owner
            if batch_id in known:
                fates.append((peer.id, encode(known[batch_id])))
                continue
            if batch_id in first:  # sent twice in one turn (a replay after a reconnect)
                if first[batch_id] == owner:
                    echoes.append((peer, batch_id))
                else:
                    fates.append((peer.id, encode(_taken(batch_id))))
                continue
            first[batch_id] = owner
            try:
                versions = self._check(peer, header, versions, old_of, seen, now)
            except Rejected as err:
                if any(id(v) in guessed for v in versions):
                    raise _NotNew() from None  # judged on a guess: judge it on the store
                code = err.code or "permission_denied"
                if code in RECORDED_REJECTIONS:  # else the writer may send it again later
                    rejected.append((batch_id, owner, code, str(err)))
                answers[batch_id] = _rejection(batch_id, code, str(err))
                fates.append((peer.id, encode(answers[batch_id])))
                continue
            for v in versions:
                old = old_of(_key(v))
                linear = linear and sorted(v.parents) == sorted(old.frontier if old else ())
                overlay[_key(v)] = _as_visible(v)
                seen.setdefault(_key(v), set()).add(v.batch_id)
            accepted.append((peer, header, versions))
        before = self._scopes_before(accepted, olds)
        accepted, failed = self._apply(accepted, linear, bool(guessed))
        assert self.batches is not None
        self.batches.record(rejected + [(h["batch_id"], peer.principal.owner, None, None)
                                        for peer, h, _ in accepted])
        answers.update((h["batch_id"], _fate(h)) for _, h, _ in accepted)
        answers.update((fate["batch_id"], fate) for _, fate in failed)
        fates += [(peer.id, encode(fate)) for peer, fate in failed]
        fates += [(peer.id, encode(_fate(h))) for peer, h, _ in accepted]
        fates += [(peer.id, encode(answers[batch_id])) for peer, batch_id in echoes]
        try:
            return fates + self._fanout(accepted, olds, before)
        except Exception:  # stored, but not sent: subscribers start over from a fresh fill
            log.exception("engine failed sending %d accepted batches", len(accepted))
            return fates + [(peer.id, Drop("server error while sending rows"))
                            for peer in self.peers.values() if peer.subs]

    def _looks_new(self, v: RowVersion) -> bool:
        """Whether a version looks like a new row's first: no parents, not a delete, and its
        table lives in one schema version only (else the row may exist in another)."""
        assert self.migrations is not None and self.store is not None
        if v.parents or v.delete_kind is not None:
            return False
        app = self.catalogue.apps[v.schema_hash or self.store.app.schema_hash]
        return len(self.migrations.stored_tables(app).get(v.table, ())) < 2

    def _known(self, batches: Sequence[tuple[Peer, dict[str, Any], Any]],
               ) -> dict[str, dict[str, Any]]:
        """The fate to answer for batches already decided: the recorded one to their owner,
        ``batch_id_taken`` to anyone else. A replayed batch the registry lacks (stored before
        it was recorded) is found in the histories; it is its writer's if every version of it
        names the writer as ``updated_by`` (trusted peers: always)."""
        assert self.batches is not None and self.store is not None
        ids = [h["batch_id"] for _, h, _ in batches]
        decided = self.batches.lookup(ids)
        missing = [h["batch_id"] for _, h, _ in batches
                   if h.get("replay") and h["batch_id"] not in decided]
        stored = self.batches.stored(self.catalogue.apps.values(), missing)
        out: dict[str, dict[str, Any]] = {}
        for peer, header, _ in batches:
            batch_id, owner = header["batch_id"], peer.principal.owner
            record = decided.get(batch_id)
            if record is not None:
                out[batch_id] = _taken(batch_id) if record.owner != owner else (
                    _fate(header) if record.code is None
                    else _rejection(batch_id, record.code, record.reason or ""))
            elif batch_id in stored:
                state, authors = stored[batch_id]
                session = peer.principal.session
                mine = peer.trusted or (session is not None and authors == {session.user_id})
                out[batch_id] = _fate({"batch_id": batch_id, "mode": "transactional"
                                       if state == "VisibleTransactional" else "direct"}) \
                    if mine else _taken(batch_id)
        return out

    def _olds(self, versions: Iterable[RowVersion]) -> dict[RowKey, VisibleRow]:
        """The server's visible rows the versions write over."""
        assert self.store is not None
        wanted: dict[tuple[str, str], set[str]] = {}
        for v in versions:
            wanted.setdefault((v.schema_hash, v.table), set()).add(v.row_id)
        out = {}
        for (mark, table), ids in wanted.items():
            found = self.store.current(table, list(ids), schema_hash=mark)
            for row_id in ids:
                row = found.get(row_id) or self._elsewhere(mark, table, row_id)
                if row is not None:
                    out[(mark, table, row_id)] = row
        return out

    def _elsewhere(self, mark: str, table: str, row_id: str) -> VisibleRow | None:
        """A row its writer's branch lacks, as the writer's schema reads it on other schema
        versions (the base of a copy-on-write update, jazz_nb.lens)."""
        assert self.store is not None and self.migrations is not None
        app = self.catalogue.apps[mark or self.store.app.schema_hash]
        if len(self.migrations.stored_tables(app).get(table, ())) < 2:
            return None  # no other version holds this table's rows
        assert self.engine is not None
        view = Db(app, self.engine)
        return self.migrations.current(view, table, row_id)

    def _check(self, peer: Peer, header: dict[str, Any], versions: list[RowVersion],
               old_of: Any, seen: dict[RowKey, set[str]], now: int) -> list[RowVersion]:
        """The batch's versions, confirmed at the global tier, or ``Rejected``
        (``jazz_nb.sync.admission`` says what is checked)."""
        batch_id, mode = header["batch_id"], header.get("mode")
        state = {"direct": "VisibleDirect", "transactional": "VisibleTransactional"}.get(mode)
        rows = {_key(v) for v in versions}
        if not versions or state is None or len(rows) != len(versions) or any(
                v.batch_id != batch_id or v.state != state for v in versions):
            raise Rejected("a batch needs versions of distinct rows, all with its batch id and "
                           "the state of its mode", code="invalid_batch_submission")
        session = None if peer.trusted else peer.principal.session
        if not peer.trusted and session is None:
            raise Rejected("session required to write", code="permission_denied")
        assert self.admission is not None
        for v in versions:
            old = old_of(_key(v))
            if mode == "transactional" and sorted(v.parents) != sorted(old.frontier if old
                                                                        else ()):
                raise Rejected("row visible parent changed since transaction write was staged",
                               code="transaction_conflict")
            self.admission.check(v, old, session, seen.get(_key(v), set()), now)
        return [replace(v, tier=GLOBAL) for v in versions]

    def _reject(self, peer: Peer, batch_id: str, err: Rejected) -> dict[str, Any]:
        code = err.code or "permission_denied"
        assert self.batches is not None
        self.batches.record([(batch_id, peer.principal.owner, code, str(err))])
        return _rejection(batch_id, code, str(err))

    def _apply(self, accepted: list[Accepted], linear: bool, presumed: bool,
               ) -> tuple[list[Accepted], list[tuple[Peer, dict[str, Any]]]]:
        """Apply accepted batches in one transaction (one by one if that fails; ``_NotNew``
        if some versions were only ``presumed`` new)."""
        assert self.store is not None
        if not accepted:
            return [], []
        try:
            self.store.apply([v for _, _, vs in accepted for v in vs], fresh=linear)
            return accepted, []
        except WriteError:
            if presumed:
                raise _NotNew() from None
            log.info("applying %d batches together failed; applying one by one", len(accepted))
        kept, failed = [], []
        for peer, header, versions in accepted:
            try:
                self.store.apply(versions)
                kept.append((peer, header, versions))
            except WriteError as err:
                rejection = Rejected(str(err), code="invalid_batch_submission")
                failed.append((peer, self._reject(peer, header["batch_id"], rejection)))
        return kept, failed

    # -- fan-out ---------------------------------------------------------------------------------
    def _changed(self, accepted: Sequence[Accepted]) -> dict[str, dict[str, set[str]]]:
        """Changed row ids per schema hash and table."""
        assert self.store is not None
        out: dict[str, dict[str, set[str]]] = {}
        for _, _, versions in accepted:
            for v in versions:
                schema_hash = v.schema_hash or self.store.app.schema_hash
                out.setdefault(schema_hash, {}).setdefault(v.table, set()).add(v.row_id)
        return out

    def _affected(self, changed: dict[str, dict[str, set[str]]]) -> list[Group]:
        return [g for g in self.groups.values()
                if g.tables & self._project(changed, g.db.app)[0].keys()]

    def _project(self, changed: dict[str, dict[str, set[str]]], app: App,
                 ) -> tuple[dict[str, set[str]], dict[tuple[str, str], list[RowKey]]]:
        """``changed`` as ``app``'s tables read it across schema versions (jazz_nb.lens): row
        ids per table of ``app``, and per ``(table, row id)`` the keys of the stored rows."""
        assert self.migrations is not None
        rows: dict[str, set[str]] = {}
        keys: dict[tuple[str, str], list[RowKey]] = {}
        for table, stored in self.migrations.stored_tables(app).items():
            for schema_hash, name in stored:
                for row_id in changed.get(schema_hash, {}).get(name, ()):
                    rows.setdefault(table, set()).add(row_id)
                    keys.setdefault((table, row_id), []).append(
                        (self._mark(schema_hash), name, row_id))
        return rows, keys

    def _mark(self, schema_hash: str) -> str:
        assert self.store is not None
        return "" if schema_hash == self.store.app.schema_hash else schema_hash

    def _scopes_before(self, accepted: Sequence[Accepted], olds: Mapping[RowKey, VisibleRow],
                       ) -> dict[str, Scope]:
        """Each affected group's scope of the changed rows before the write."""
        changed = self._changed(accepted)
        filters = RowFilters()
        out = {}
        for group in self._affected(changed):
            rows, keys = self._project(changed, group.db.app)
            if group.needs_full(rows):
                out[group.key] = group.full_scope()
                continue
            existed = {t: [r for r in ids if any(k in olds for k in keys[(t, r)])]
                       for t, ids in rows.items()}
            existed = {t: ids for t, ids in existed.items() if ids}
            table = group.query.table
            records = {r: olds.get(("", table, r)) for r in existed.get(table, ())}
            out[group.key] = group.rows_scope(existed, records, filters) if existed else {}
        return out

    def _records_after(self, changed: dict[str, dict[str, set[str]]],
                       ) -> dict[str, dict[str, VisibleRow]]:
        """The visible rows (own schema) of every changed row after the write, per table."""
        assert self.store is not None
        own = changed.get(self.store.app.schema_hash, {})
        return {table: self.store.current(table, list(ids)) for table, ids in own.items()}

    def _fanout(self, accepted: Sequence[Accepted], olds: Mapping[RowKey, VisibleRow],
                scopes_before: Mapping[str, Scope]) -> list[Output]:
        """Send every member of an affected group what the write changed in its scope."""
        if not accepted:
            return []
        changed = self._changed(accepted)
        origin = {h["batch_id"]: peer.id for peer, h, _ in accepted}
        incoming: dict[RowKey, list[RowVersion]] = {}
        for _, _, versions in accepted:
            for v in versions:
                incoming.setdefault(_key(v), []).append(v)
        deliveries: dict[str, _Delivery] = {}
        affected = self._affected(changed)
        records_after = self._records_after(changed) if any(
            g.direct is not None for g in affected) else {}
        filters, readable = RowFilters(), _ReadablePairs()
        for group in affected:
            news, whole, interest = self._group_changes(group, changed, olds, scopes_before,
                                                        incoming, records_after, filters)
            if not news and not whole:
                continue
            allowed = readable.of(group, interest)
            if allowed is not None:
                news = [v for v in news if (v.row_id, v.batch_id) in allowed]
            for peer_id in {peer_id for peer_id, _ in group.members}:
                delivery = deliveries.setdefault(peer_id, _Delivery())
                delivery.groups.append(group.key)
                delivery.news.update(((v.batch_id, v.row_id), v) for v in news)
                for key, ids in whole.items():
                    delivery.whole.setdefault(key, set()).update(ids)
                if allowed is not None:
                    delivery.allowed = (delivery.allowed or set()) | allowed
        histories = self._histories(deliveries.values())
        cache: dict[tuple[Any, ...], list[bytes]] = {}
        out: list[Output] = []
        for peer_id, delivery in deliveries.items():
            writer = peer_id if peer_id in origin.values() else None
            key = (*sorted(delivery.groups), writer)
            if key not in cache:
                cache[key] = self._payload(delivery, writer, origin, olds, histories)
            out += [(peer_id, frame) for frame in cache[key]]
        return out

    def _group_changes(self, group: Group, changed: dict[str, dict[str, set[str]]],
                       olds: Mapping[RowKey, VisibleRow], scopes_before: Mapping[str, Scope],
                       incoming: dict[RowKey, list[RowVersion]],
                       records_after: Mapping[str, Mapping[str, VisibleRow]],
                       filters: RowFilters,
                       ) -> tuple[list[RowVersion], dict[tuple[str, str], set[str]],
                                  dict[str, set[str]]]:
        """A group's new versions of changed rows in its scope before or after the write, the
        rows that entered its scope (their histories are sent), and per table every row id
        either touches (whose versions the session's read policy then filters)."""
        assert self.migrations is not None
        rows, keys = self._project(changed, group.db.app)
        stored = self.migrations.stored_tables(group.db.app)
        after = group.full_scope() if group.needs_full(rows) else group.rows_scope(
            rows, records_after.get(group.query.table, {}), filters)
        before = {t: set(ids.to_pylist()) for t, ids in scopes_before.get(group.key, {}).items()}
        news: list[RowVersion] = []
        whole: dict[tuple[str, str], set[str]] = {}
        interest: dict[str, set[str]] = {}
        for table, ids in after.items():
            for row_id in set(ids.to_pylist()) - before.get(table, set()):
                interest.setdefault(table, set()).add(row_id)
                origin = keys.get((table, row_id), [])
                if any(k in olds for k in origin) or row_id not in rows.get(table, ()):
                    for schema_hash, name in stored[table]:
                        whole.setdefault((schema_hash, name), set()).add(row_id)
                else:  # a row new on the server: its history is what just arrived
                    news += [v for k in origin for v in incoming[k]]
        for table, ids in rows.items():
            for row_id in ids & before.get(table, set()):
                interest.setdefault(table, set()).add(row_id)
                news += [v for k in keys[(table, row_id)] for v in incoming[k]]
        return news, whole, interest

    def _histories(self, deliveries: Iterable[_Delivery]) -> dict[tuple[str, str], pa.Table]:
        """Whole histories of every row entering some scope, read once per table."""
        assert self.store is not None
        wanted: dict[tuple[str, str], set[str]] = {}
        for delivery in deliveries:
            for key, ids in delivery.whole.items():
                wanted.setdefault(key, set()).update(ids)
        return {(schema_hash, table): history_arrow(self.store, self.catalogue.apps[schema_hash],
                                                    table, pa.array(sorted(ids), pa.string()))
                for (schema_hash, table), ids in wanted.items()}

    def _payload(self, delivery: _Delivery, writer: str | None, origin: dict[str, str],
                 olds: Mapping[RowKey, VisibleRow],
                 histories: dict[tuple[str, str], pa.Table]) -> list[bytes]:
        """Frames of one delivery; a writer does not get its own versions back."""
        assert self.store is not None
        own = self.store.app.schema_hash
        apps = self.catalogue.apps
        news = [v for v in delivery.news.values() if origin.get(v.batch_id) != writer]
        counts = Counter(_key(v) for v in news)
        new = {id(v) for v in news  # a row's only version, new to the server: new to everyone
               if not v.parents and counts[_key(v)] == 1 and _key(v) not in olds}
        segments = [replace(seg, fresh=True) for seg in to_segments(
            [v for v in news if id(v) in new], own, apps)]
        segments += to_segments([v for v in news if id(v) not in new], own, apps)
        mine = pa.array([b for b, p in origin.items() if p == writer], pa.string())
        for (schema_hash, table), ids in delivery.whole.items():
            rows = histories[(schema_hash, table)]
            keep = pc.is_in(rows.column("_jz_row_id"), value_set=pa.array(list(ids)))
            if len(mine):
                keep = pc.and_(keep, pc.invert(pc.is_in(rows.column("_jz_batch_id"),
                                                        value_set=mine)))
            segments.append(Segment(table, schema_hash, _only(rows.filter(keep),
                                                              delivery.allowed)))
        segments = [seg for seg in segments if seg.rows.num_rows]
        return [encode_frame({"type": "rows"}, part)
                for part in split_segments(segments, self.max_frame_bytes)]


@dataclass
class _Delivery:
    """What one connection gets after a run of writes."""

    groups: list[str] = field(default_factory=list)
    news: dict[tuple[str, str], RowVersion] = field(default_factory=dict)
    whole: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    allowed: set[Pair] | None = None  # (row, batch) its session may read; None: every version


class _ReadablePairs:
    """The versions each session may read, asked once per session, table and row in a turn
    (every group of one session shares the answers)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], dict[str, set[Pair]]] = {}

    def of(self, group: Group, interest: Mapping[str, set[str]]) -> set[Pair] | None:
        """The versions of ``interest``'s rows ``group``'s session may read (``None``: all)."""
        readable = ReadableVersions.of(group.db)
        if readable is None:
            return None
        out: set[Pair] = set()
        for table, ids in interest.items():
            found = group.db.compile_context().row_filter(table, "t")  # type: ignore[union-attr]
            known = self._seen.setdefault((table, repr(found)), {})
            missing = [i for i in ids if i not in known]
            if missing:
                pairs = readable.pairs(table, missing)
                known.update((i, set()) for i in missing)
                for row, batch in pairs:
                    known[row].add((row, batch))
            for i in ids:
                out |= known[i]
        return out


def _only(rows: pa.Table, allowed: set[Pair] | None) -> pa.Table:
    """The wire versions among ``rows`` that are in ``allowed`` (all when it is ``None``)."""
    if allowed is None or not rows.num_rows:
        return rows
    keys = pc.binary_join_element_wise(rows.column("_jz_row_id"), rows.column("_jz_batch_id"),
                                       ":")
    wanted = pa.array([f"{row}:{batch}" for row, batch in allowed], pa.string())
    return rows.filter(pc.is_in(keys, value_set=wanted))


def _key(v: RowVersion) -> RowKey:
    return (v.schema_hash, v.table, v.row_id)


def _as_visible(v: RowVersion) -> VisibleRow:
    return VisibleRow(v.table, v.row_id, v.data, v.created_by, v.created_at, v.updated_by,
                      v.updated_at, v.batch_id, (v.batch_id,), v.delete_kind, v.tier)


def _fate(header: Mapping[str, Any]) -> dict[str, Any]:
    kind = "acceptedTransaction" if header.get("mode") == "transactional" else "durableDirect"
    return {"type": "fate", "batch_id": header["batch_id"], "kind": kind, "tier": "global"}


def _taken(batch_id: str) -> dict[str, Any]:
    return _rejection(batch_id, "batch_id_taken", f"batch id {batch_id} belongs to another "
                                                  "writer; write under a fresh batch id")


def _rejection(batch_id: str, code: str, reason: str) -> dict[str, Any]:
    return {"type": "fate", "batch_id": batch_id, "kind": "rejected", "code": code,
            "reason": reason}
