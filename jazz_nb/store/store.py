"""The local DuckDB store: row histories, visible rows and the change feed (§1.4–1.6, §4.2).

Data enters two ways. ``write_local`` takes the versions this process just wrote (new, linear)
into the memtable (``store/memtable.py``; journalled for a file store, ``store/journal.py``),
which DuckDB absorbs in bulk before any whole-table read (``absorb``). ``apply`` takes versions
from anywhere (sync deliveries, merges): versions go to history and each touched row's visible
entry is brought up to date in the same DuckDB transaction. A version whose parents are the row's
current frontier simply becomes the visible row; anything else (concurrent edits, versions
arriving out of order) re-merges the row's whole history with ``visible_preview``, so every
arrival order of the same versions ends in the same visible table.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.store.versions import RowVersion, new_batch_id, new_row_id
    >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
    >>> v = RowVersion("todos", new_row_id(), new_batch_id(), (), 1, "me", 1, "me", {"title": "a"})
    >>> changes = store.apply([v])
    >>> store.current("todos", [v.row_id])[v.row_id].data
    {'title': 'a'}
    >>> bool(store.apply([v]))  # a duplicate changes nothing
    False
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from jazz_nb import filelock
from jazz_nb.errors import JazzError, QueryError, WriteError
from jazz_nb.schema.app import App
from jazz_nb.store import shared
from jazz_nb.store.changes import ChangeCollector, ChangeSet
from jazz_nb.store.journal import Journal, Part
from jazz_nb.store.memtable import LIMIT, MAX_AGE
from jazz_nb.store.merge import visible_preview
from jazz_nb.store.tables import SMALL, SOURCE, PhysicalTable, Record
from jazz_nb.store.versions import VISIBLE_STATES, RowState, RowVersion, VisibleRow

log = logging.getLogger(__name__)
Listener = Callable[[ChangeSet], None]
MAX_ID_PARAMS = 64  # longer id lists are bound as one UUID[] (list_contains) than one by one


def _fast_forward(versions: list[RowVersion]) -> tuple[dict[str, int], set[str]]:
    """For new linear versions: ``{row: position of its last visible version}`` and the rows
    whose first visible version has parents (they update a visible row rather than insert one).
    """
    shown = [i for i, v in enumerate(versions) if v.state in VISIBLE_STATES]
    last = {versions[i].row_id: i for i in shown}
    first = last if len(last) == len(shown) else {
        versions[i].row_id: i for i in reversed(shown)}
    return last, {row for row, i in first.items() if versions[i].parents}


def _by_table(versions: Sequence[RowVersion]) -> dict[tuple[str, str], list[RowVersion]]:
    """Versions grouped by ``(table, schema_hash)``, in order."""
    keys = {(v.table, v.schema_hash) for v in versions}
    if len(keys) == 1:
        return {keys.pop(): list(versions)}
    groups: dict[tuple[str, str], list[RowVersion]] = {}
    for version in versions:
        groups.setdefault((version.table, version.schema_hash), []).append(version)
    return groups


def _pick(versions: list[RowVersion], picks: list[int], source: pa.Table | None) -> _Rows:
    """The versions at ``picks``, with the matching slice of their Arrow source if needed."""
    records: list[Record] = [versions[i] for i in picks]
    if source is None or len(picks) <= SMALL:
        return _Rows(records)
    whole = len(picks) == len(versions)  # then picks is every position, in order
    return _Rows(records, source if whole else source.take(picks))


@dataclass
class _Rows:
    """Records for one visible-table statement, with their Arrow source when already built."""

    records: list[Record]
    source: pa.Table | None = None

    def arrow(self, table: PhysicalTable) -> pa.Table:
        if self.source is None:
            self.source = table.arrow(self.records)
        return self.source


def _open(path: str | None) -> tuple[filelock.Lock | None, duckdb.DuckDBPyConnection]:
    """Connect to the DuckDB file ``path`` (or memory) holding ``path + ".lock"``: a store in
    use by another process raises ``InUse`` naming it, not DuckDB's lock error.

    Example:
        >>> _open(None)[0] is None
        True
    """
    if path is None or path == ":memory:":
        return None, duckdb.connect(":memory:")
    what = f"store {path}"
    try:
        lock: filelock.Lock | None = filelock.hold(f"{path}.lock", what, shared=True)
    except OSError:  # no lock file possible here (read-only folder): DuckDB's own lock only
        lock = None
    try:
        return lock, duckdb.connect(path)
    except duckdb.IOException as err:
        if lock is not None:
            lock.release()
        found = re.search(r"Could not set lock.*?\(PID (\d+)\)", str(err))
        if "Could not set lock" not in str(err):
            raise
        raise filelock.InUse(what, Path(path), int(found.group(1)) if found else None) from None


class Store:
    """Row versions and visible rows of an app in one DuckDB database (file or in memory).

    Every use of the connection holds ``store.lock`` (a DuckDB connection is not thread-safe);
    other threads read through their own ``store.cursor()``.

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"todos": s.table(title=s.string(), done=s.boolean())})
        >>> with Store(app) as store:
        ...     store.execute("SELECT count(*) FROM todos__bfd77d25b069").fetchall()
        [(0,)]
    """

    def __init__(self, app: App, path: str | None = None) -> None:
        self.app = app
        self.path = path
        self._file_lock, self._conn = _open(path)
        # the lock, memtable and journal of this database (stores open on one file share them)
        self._shared = shared.attach(path)
        self.lock = self._shared.lock
        self._memtable = self._shared.memtable  # recent local writes, absorbed in bulk
        self._tables: dict[tuple[str, str], PhysicalTable] = {}
        self._listeners: list[Listener] = []
        self._closed = False
        try:
            with self.lock:
                self.register_schema(app)
                if self._shared.key is not None and self._shared.journal is None:
                    self._shared.journal = Journal(f"{path}.journal", self._identity())
                    self._replay(self._shared.journal.records())
        except BaseException:
            self.close()
            raise

    def _identity(self) -> str:
        """The random id this database file was given on its first open (its journal's owner)."""
        self._conn.execute("CREATE TABLE IF NOT EXISTS _jz_store (id VARCHAR NOT NULL)")
        found = self._conn.execute("SELECT id FROM _jz_store").fetchall()
        if found:
            return str(found[0][0])
        made = uuid.uuid4().hex
        self._conn.execute("INSERT INTO _jz_store VALUES (?)", [made])
        return made

    # -- connection ------------------------------------------------------------------------------
    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        """The store's DuckDB connection; use it only while holding ``store.lock``.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> with store.lock:
            ...     store.conn.execute("SELECT 1").fetchall()
            [(1,)]
        """
        self.absorb()
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Run one statement on the store's connection under the lock and return its result.

        Fetch the result while still holding ``store.lock`` if other threads use the store.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> with store.lock:
            ...     store.execute("SELECT ? + 1", [1]).fetchall()
            [(2,)]
        """
        with self.lock:
            self.absorb()
            return self._conn.execute(sql, params)

    @property
    def pending(self) -> int:
        """Versions the memtable holds that DuckDB has not absorbed yet.

        Example:
            >>> from jazz_nb import s
            >>> Store(s.define_app({"todos": s.table(title=s.string())})).pending
            0
        """
        return len(self._memtable)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A separate connection to the same database, for reading on another thread. It sees
        what DuckDB holds: the store absorbs its memtable first, but writes made after that
        wait in the memtable until something absorbs them (``store.absorb()``).

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> store.cursor().execute("SELECT 42").fetchall()
            [(42,)]
        """
        with self.lock:
            self.absorb()
            return self._conn.cursor()

    def close(self) -> None:
        """Close the connection (a file-backed store keeps its data for the next ``Store``).

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> store.close(); store.close()  # closing twice is fine
        """
        with self.lock:
            if not self._closed:
                journal = self._shared.journal
                last = shared.detach(self._shared)
                try:
                    if last and journal is not None:  # leave nothing to replay
                        self.absorb()
                finally:
                    self._closed = True
                    self._conn.close()
                    if last and journal is not None:
                        journal.close()
                    if self._file_lock is not None:
                        self._file_lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register_schema(self, app: App) -> None:
        """Create (if missing) the tables of another schema version so its versions can be stored.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> old = s.define_app({"todos": s.table(name=s.string())})
            >>> store.register_schema(old)
            >>> v = RowVersion("todos", "01900000-0000-7000-8000-000000000001", "ab" * 16, (), 1,
            ...                "me", 1, "me", {"name": "x"}, schema_hash=old.schema_hash)
            >>> store.apply([v]).tables
            {'todos': ('01900000-0000-7000-8000-000000000001',)}
        """
        with self.lock:
            current = app.schema_hash == self.app.schema_hash
            for name, schema in app.tables.items():
                if (name, app.schema_hash) in self._tables:
                    continue
                table = PhysicalTable(name, schema, app.schema_hash, current)
                for statement in table.create_statements():
                    self._conn.execute(statement)
                self._tables[(name, app.schema_hash)] = table
            if self._shared.unreplayed:
                self._replay(self._shared.unreplayed)

    def physical(self, name: str, schema_hash: str = "", error: type[JazzError] = QueryError,
                 ) -> PhysicalTable:
        """The DuckDB tables and statements of table ``name`` in schema version
        ``schema_hash`` (default: the store's own); ``error`` is raised for an unknown one.

        Example:
            >>> from jazz_nb import s
            >>> Store(s.define_app({"todos": s.table(title=s.string())})).physical("todos").name
            'todos'
        """
        key = (name, schema_hash or self.app.schema_hash)
        table = self._tables.get(key)
        if table is None:
            known = any(h == key[1] for _, h in self._tables)
            what = f"table {name!r}" if known else f"schema version {key[1][:12]}"
            raise error(f"unknown {what} for rows of table {name!r}", table=name)
        return table

    # -- listeners -------------------------------------------------------------------------------
    def add_listener(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(changeset)`` after each commit that changed something; returns a remover.

        Listeners run on the writing thread while it still holds ``store.lock``; one that
        raises is logged and the others still run.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> row = "01900000-0000-7000-8000-000000000001"
            >>> v = RowVersion("todos", row, "ab" * 16, (), 1, "me", 1, "me", {"title": "x"})
            >>> seen = []
            >>> remove = store.add_listener(seen.append)
            >>> store.apply([v]) == seen[0]
            True
            >>> remove()
        """
        with self.lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self.lock, contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return remove

    def _publish(self, changes: ChangeSet) -> ChangeSet:
        if changes:
            for listener in list(self._listeners):
                try:
                    listener(changes)
                except Exception:
                    log.exception("store listener %r failed", listener)
        return changes

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # keep the original error
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def _source(self, name: str, table: pa.Table) -> Iterator[None]:
        self._conn.register(name, table)
        try:
            yield
        finally:
            self._conn.unregister(name)

    # -- writes ----------------------------------------------------------------------------------
    def apply(self, versions: Sequence[RowVersion], *, fresh: bool = False) -> ChangeSet:
        """Store row versions and update the visible rows, all or nothing, in one transaction.

        A version already stored (same row id and batch id) changes nothing. ``fresh=True``
        promises new versions whose parents are their row's current frontier (rows a server
        just created, a server's linear batches), which skips the look-ups that make re-applies
        and out-of-order arrivals safe.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> row = "01900000-0000-7000-8000-000000000001"
            >>> v = RowVersion("todos", row, "ab" * 16, (), 1, "me", 1, "me", {"title": "x"})
            >>> store.apply([v], fresh=True).batch_ids
            ('abababababababababababababababab',)
            >>> store.apply([v])  # already stored
            ChangeSet(tables={}, batch_ids=())
        """
        if not versions:
            return ChangeSet()
        groups = _by_table(versions)
        tables = {key: self.physical(*key, WriteError) for key in groups}
        changes = ChangeCollector()
        with self.lock:
            self.absorb()
            with self._transaction():
                for key, members in groups.items():
                    with _storage_errors(tables[key], len(members)):
                        self._apply_table(tables[key], members, fresh, changes)
            return self._publish(changes.build())

    def write_local(self, versions: Sequence[RowVersion]) -> ChangeSet:
        """Store versions this process just wrote: new, under new batch ids, each extending its
        row's current frontier (what ``apply(..., fresh=True)`` promises). They wait in the
        memtable (``absorb`` writes them to DuckDB later, in bulk); a file store also appends
        them to its journal and fsyncs it before returning.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> row = "01900000-0000-7000-8000-000000000001"
            >>> v = RowVersion("todos", row, "ab" * 16, (), 1, "me", 1, "me", {"title": "x"})
            >>> store.write_local([v]).tables
            {'todos': ('01900000-0000-7000-8000-000000000001',)}
            >>> store.current("todos", [row])[row].data  # from the memtable
            {'title': 'x'}
        """
        return self._hold(versions, journaled=True)

    def deliver(self, versions: Sequence[RowVersion]) -> ChangeSet:
        """Store versions a server sent. When each one is visible and extends its row's current
        frontier exactly (a new row: no parents and no entry here), they wait in the memtable
        like local writes (not journaled: a server sends again what a crash lost); otherwise
        they go through ``apply``, which drops the ones stored already and merges the rest. A file
        store absorbs them before it journals a local write that may build on them.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> row = "01900000-0000-7000-8000-000000000001"
            >>> v = RowVersion("todos", row, "ab" * 16, (), 1, "me", 1, "me", {"title": "x"})
            >>> store.deliver([v]).tables
            {'todos': ('01900000-0000-7000-8000-000000000001',)}
            >>> store.pending
            1
            >>> store.deliver([v])  # the same version again: apply finds it stored
            ChangeSet(tables={}, batch_ids=())
        """
        if not versions:
            return ChangeSet()
        with self.lock:
            if self._extend_frontiers(versions):
                return self._hold(versions, journaled=False)
            return self.apply(versions)

    def _extend_frontiers(self, versions: Sequence[RowVersion]) -> bool:
        """Whether every version is visible and, in order, extends its row's current frontier."""
        for (name, schema_hash), members in _by_table(versions).items():
            if any(not v.is_visible for v in members):
                return False
            shown = self.current(name, [v.row_id for v in members], schema_hash=schema_hash)
            tips = {row: frozenset(entry.frontier) for row, entry in shown.items()}
            for v in members:
                if frozenset(v.parents) != tips.get(v.row_id, frozenset()):
                    return False
                tips[v.row_id] = frozenset((v.batch_id,))
        return True

    def _hold(self, versions: Sequence[RowVersion], *, journaled: bool) -> ChangeSet:
        """Put new linear versions in the memtable (and the journal of a file store if asked)."""
        if not versions:
            return ChangeSet()
        memtable = self._memtable
        groups = _by_table(versions)
        tables = {key: self.physical(*key, WriteError) for key in groups}
        changes = ChangeCollector()
        with self.lock:
            store_journal = self._shared.journal
            log_file = store_journal if journaled else None
            if len(memtable) + len(versions) > LIMIT or memtable.age() > MAX_AGE or (
                    log_file is not None and memtable.unjournaled):
                # a full layer is written out before, so a failure stores nothing; so are
                # deliveries the journal lacks, which a journaled write may build on (replayed
                # without them, it would show as concurrent with their parents)
                self.absorb()
            if log_file is None and store_journal is not None:
                memtable.unjournaled = True
            if log_file is not None:
                parts = []
                for key, members in groups.items():
                    with _storage_errors(tables[key], len(members)):
                        parts.append((key[0], tables[key].schema_hash, tables[key].arrow(members)))
                log_file.append(parts)
            for key, members in groups.items():
                table = tables[key]
                fast, existed = _fast_forward(members)
                shown = {row: members[i] for row, i in fast.items()}
                memtable.add(table, members, shown, existed)
                changes.add_rows(table.name, list(fast), _own(table, shown))
                changes.add_batches([v.batch_id for v in members])
            if len(memtable) > LIMIT:  # one write bigger than the layer: out with it now
                try:
                    self.absorb()
                except WriteError as err:  # the write is held; the next read tries again
                    log.warning("absorbing a write of %d versions failed: %s", len(versions), err)
            return self._publish(changes.build())

    def absorb(self) -> None:
        """Write the memtable's pending versions into DuckDB: per table one bulk history insert
        and one visible-table write, all in one transaction. Every read of DuckDB as a whole
        (``conn``, ``execute``, merges, history) does this first, so it sees every write.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> row = "01900000-0000-7000-8000-000000000001"
            >>> v = RowVersion("todos", row, "ab" * 16, (), 1, "me", 1, "me", {"title": "x"})
            >>> _ = store.write_local([v])  # held in the memtable
            >>> store.absorb()
            >>> store.execute("SELECT title FROM todos__dae5d95131c6").fetchall()
            [('x',)]
        """
        with self.lock:
            memtable = self._memtable
            if not len(memtable) or self._closed:
                return
            try:
                with self._transaction():
                    for layer in memtable.layers.values():
                        table = layer.table
                        with _storage_errors(table, len(layer.versions)):
                            self._insert_history(table, layer.versions)
                            new = [v for row, v in layer.shown.items() if row not in layer.existed]
                            old = [v for row, v in layer.shown.items() if row in layer.existed]
                            self._write_visible(table, _Rows(new), _Rows(old), [])
            except WriteError as err:  # DuckDB holds some already (an absorb interrupted after
                log.warning("absorbing the memtable failed (%s); storing it batch by batch", err)
                self._absorb_each()  # its commit), or one batch cannot be stored
            memtable.clear()
            self._rewrite_journal()

    def _absorb_each(self) -> None:
        """Absorb batch by batch, skipping versions DuckDB holds and re-merging the rows; a batch
        DuckDB refuses is dropped and reported (after the rest is stored), so the store goes on."""
        failed: list[str] = []
        for layer in self._memtable.layers.values():
            batches: dict[str, list[RowVersion]] = {}
            for version in layer.versions:
                batches.setdefault(version.batch_id, []).append(version)
            for batch_id, members in batches.items():
                try:
                    with self._transaction():
                        self._restore(layer.table, layer.table.arrow(members))
                except JazzError as err:
                    log.error("batch %s of table %r could not be stored: %s", batch_id,
                              layer.table.name, err)
                    failed.append(batch_id)
                    self._recompute(layer.table, list({v.row_id for v in members}))
        if failed:
            self._memtable.clear()
            self._rewrite_journal()
            raise WriteError(f"{len(failed)} batch(es) could not be stored and were dropped: "
                             f"{', '.join(failed)}")

    def _rewrite_journal(self) -> None:
        """Empty the journal (DuckDB committed what it held) but for writes not replayed yet."""
        journal = self._shared.journal
        if journal is not None:
            journal.replace(self._shared.unreplayed)

    def _replay(self, records: list[list[Part]]) -> None:
        """Store the journal's writes DuckDB does not hold yet (a crash came before it absorbed
        them), re-merging their rows; writes of schema versions not registered yet wait."""
        with self.lock:
            known = [r for r in records if all((n, h) in self._tables for n, h, _ in r)]
            if known:  # the journal is rewritten below: nothing it holds may wait in memory
                self.absorb()
            self._shared.unreplayed = [r for r in records if r not in known]
            if not known:
                return
            with self._transaction():
                for record in known:
                    for name, schema_hash, rows in record:
                        self._restore(self._tables[(name, schema_hash)], rows)
            self._rewrite_journal()
        log.info("store %s: replayed %d journal write(s)", self.path, len(known))

    def _restore(self, table: PhysicalTable, rows: pa.Table) -> None:
        """Insert the versions of ``rows`` (history-source form) not stored yet; re-merge them."""
        with _storage_errors(table, rows.num_rows), self._source(SOURCE, rows):
            self._conn.execute(
                table.insert_history_sql(None) + f" WHERE NOT EXISTS (SELECT 1 FROM "
                f"{table.history} h WHERE h._jz_row_id = CAST({SOURCE}._jz_row_id AS UUID) AND "
                f"h._jz_batch_id = CAST({SOURCE}._jz_batch_id AS UUID))")
            self._recompute(table, pc.unique(rows.column("_jz_row_id")).to_pylist())

    def insert_rows(self, table: str, ids: pa.Array, user: pa.Table, *, batch_id: str,
                    author: str, first_updated_at: int) -> ChangeSet:
        """Store brand-new rows of one batch given column by column (``db.insert_many``).

        ``ids`` are fresh row ids, ``user`` the user columns in storage form; history and
        visible tables get them in two ``INSERT ... SELECT`` statements, all or nothing.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> ids = pa.array(["01900000-0000-7000-8000-000000000001"])
            >>> store.insert_rows("todos", ids, pa.table({"title": ["x"]}), batch_id="ab" * 16,
            ...                   author="me", first_updated_at=1).tables["todos"][0][:8]
            '01900000'
        """
        physical = self.physical(table, "", WriteError)
        source = physical.new_rows_source(ids, user, batch_id, author, first_updated_at)
        with _storage_errors(physical, source.num_rows):
            return self._insert_source(physical, source, [batch_id])

    def insert_first_versions(self, table: str, rows: pa.Table, *, schema_hash: str = "",
                              records: Mapping[str, Record] | None = None) -> ChangeSet | None:
        """Store versions that are each their row's first and only one (parentless, visible),
        straight from Arrow rows in wire form (``jazz_nb.sync.frames``), all or nothing.

        Returns ``None`` (nothing written) when a row is stored already: the caller merges
        instead. ``records`` (their ``RowVersion``s by row id, own schema only) go into the
        change set, so live queries re-evaluate the rows in memory. Initial fills and rows
        the server just created take this path.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> ids = pa.array(["01900000-0000-7000-8000-000000000001"])
            >>> rows = store.physical("todos").new_rows_source(
            ...     ids, pa.table({"title": ["x"]}), "ab" * 16, "me", 1).drop_columns(
            ...     ["_jz_frontier"])
            >>> store.insert_first_versions("todos", rows).tables
            {'todos': ('01900000-0000-7000-8000-000000000001',)}
            >>> store.insert_first_versions("todos", rows) is None  # stored already
            True
        """
        physical = self.physical(table, schema_hash, WriteError)
        source = rows.append_column("_jz_frontier",
                                    pa.nulls(rows.num_rows, pa.list_(pa.string())))
        batches = pc.unique(rows.column("_jz_batch_id")).to_pylist()
        try:
            return self._insert_source(physical, source, batches, records)
        except duckdb.ConstraintException:  # a duplicate delivery
            return None

    def _insert_source(self, physical: PhysicalTable, source: pa.Table, batch_ids: list[str],
                       records: Mapping[str, Record] | None = None) -> ChangeSet:
        """Insert brand-new rows from an Arrow source into history and visible tables."""
        changes = ChangeCollector()
        with self.lock:
            self.absorb()
            with self._source(SOURCE, source), self._transaction():  # rolled back first
                self._conn.execute(physical.insert_history_sql(None))
                self._conn.execute(physical.insert_visible_sql(None))
            changes.add_rows(physical.name, source.column("_jz_row_id").to_pylist(),
                             _own(physical, records or None))
            changes.add_batches(batch_ids)
            return self._publish(changes.build())

    def write_successor(self, table: str, row_id: str, changes: Mapping[str, Any], *,
                        batch_id: str, author: str, updated_at: int, delete: bool = False,
                        ) -> RowVersion | None:
        """Write a visible row's next version built from its current entry (the memtable's, else
        one primary-key read): ``changes`` (user columns, storage form) applied, or a soft delete
        (``delete=True``); stored like ``write_local``.

        Returns the version written, or ``None`` (nothing written) when the row is missing,
        deleted or has concurrent tips. The local single-row ``db.update``/``db.delete`` path.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> row = "01900000-0000-7000-8000-000000000001"
            >>> v = RowVersion("todos", row, "ab" * 16, (), 1, "me", 1, "me", {"title": "x"})
            >>> _ = store.apply([v])
            >>> store.write_successor("todos", row, {"title": "y"}, batch_id="cd" * 16,
            ...                       author="me", updated_at=2).parents
            ('abababababababababababababababab',)
            >>> store.current("todos", [row])[row].data
            {'title': 'y'}
        """
        self.physical(table, "", WriteError)
        with self.lock:
            row = self.current(table, [row_id]).get(row_id)
            if row is None or row.is_deleted or row.frontier != (row.batch_id,):
                return None
            version = RowVersion(table, row_id, batch_id, row.frontier, updated_at,
                                 row.created_by, row.created_at, author, {**row.data, **changes},
                                 delete_kind="soft" if delete else None)
            self.write_local([version])
            return version

    def _apply_table(self, table: PhysicalTable, versions: Sequence[RowVersion], fresh: bool,
                     changes: ChangeCollector) -> None:
        """Store one table's versions."""
        if fresh:  # new and linear: each row shows its last visible version
            new = list(versions)
            fast, existed = _fast_forward(new)
            dirty: list[str] = []
        else:
            new, fast, existed, dirty = self._plan(table, versions)
        if not new:
            return
        source = self._insert_history(table, new)
        if existed:
            inserts = [i for row, i in fast.items() if row not in existed]
            updates = [i for row, i in fast.items() if row in existed]
        else:
            inserts, updates = list(fast.values()), []
        self._write_visible(table, _pick(new, inserts, source), _pick(new, updates, source), [])
        merged = self._recompute(table, dirty)
        records: dict[str, Record | None] = {row: new[i] for row, i in fast.items()}
        records.update(merged)
        changes.add_rows(table.name, list(fast) if not merged else [
            v.row_id for v in new if v.row_id in records], _own(table, records))
        changes.add_batches([v.batch_id for v in new])

    def _plan(self, table: PhysicalTable, versions: Sequence[RowVersion],
              ) -> tuple[list[RowVersion], dict[str, int], set[str], list[str]]:
        """Split arriving versions: the new ones, rows they fast-forward, rows to re-merge.

        Returns the versions not stored yet, ``{row: position of the version it now shows}``
        for rows whose versions each extend the current frontier, the rows that had a visible
        entry before, and the rows that need a full merge.
        """
        unique: dict[tuple[str, str], RowVersion] = {}
        for version in versions:
            unique.setdefault((version.row_id, version.batch_id), version)
        stored, frontiers = self._lookup(table, list(dict.fromkeys(r for r, _ in unique)))
        new = [v for key, v in unique.items() if key not in stored]
        existed = set(frontiers)
        fast: dict[str, int] = {}
        dirty: dict[str, None] = {}
        for i, v in enumerate(new):
            row = v.row_id
            if not v.is_visible or row in dirty:
                continue
            if frozenset(v.parents) == frontiers.get(row, frozenset()):
                fast[row] = i
                frontiers[row] = frozenset((v.batch_id,))
            else:
                fast.pop(row, None)
                dirty[row] = None
        return new, fast, existed, list(dirty)

    def _lookup(self, table: PhysicalTable, row_ids: list[str],
                ) -> tuple[set[tuple[str, str]], dict[str, frozenset[str]]]:
        """Stored (row id, batch id) pairs and current frontiers of ``row_ids``, in one query."""
        rows = self._select_ids(lambda match: (
            "SELECT CAST(_jz_row_id AS VARCHAR), replace(CAST(_jz_batch_id AS VARCHAR), '-', ''), "
            f"CAST(NULL AS UUID[]), false FROM {table.history} WHERE {match('_jz_row_id')} "
            "UNION ALL SELECT CAST(id AS VARCHAR), replace(CAST(_jz_batch AS VARCHAR), '-', ''), "
            f"_jz_frontier, true FROM {table.visible} WHERE {match('id')}"), row_ids)
        stored = {(row, batch) for row, batch, _, shown in rows if not shown}
        frontiers = {row: frozenset((batch,)) if tips is None else frozenset(t.hex for t in tips)
                     for row, batch, tips, shown in rows if shown}
        return stored, frontiers

    def _select_ids(self, sql: Callable[[Callable[[str], str]], str], ids: Sequence[str],
                    ) -> list[tuple[Any, ...]]:
        """Rows of ``sql(match)``, where ``match(column)`` restricts a UUID column to ``ids``."""
        if not ids:
            return []
        many = len(ids) > MAX_ID_PARAMS  # one list scan beats a join (and many index probes)
        test = "list_contains(CAST(? AS UUID[]), {})" if many else \
            "{} IN (" + ", ".join(["CAST(? AS UUID)"] * len(ids)) + ")"
        uses: list[str] = []

        def match(column: str) -> str:
            uses.append(column)
            return test.format(column)

        text = sql(match)
        params = [list(ids)] * len(uses) if many else list(ids) * len(uses)
        return self._conn.execute(text, params).fetchall()

    def _insert_history(self, table: PhysicalTable, versions: list[RowVersion],
                        ) -> pa.Table | None:
        """Insert versions; returns their Arrow source when one was built (reused for rows)."""
        if len(versions) <= SMALL:
            self._conn.execute(table.insert_history_sql(len(versions)),
                               table.history_params(versions))
            return None
        source = table.arrow(versions)
        with self._source(SOURCE, source):
            self._conn.execute(table.insert_history_sql(None))
        return source

    def _write_visible(self, table: PhysicalTable, inserts: _Rows, updates: _Rows,
                       deletes: list[str]) -> None:
        if 0 < len(inserts.records) <= SMALL:
            self._conn.execute(table.insert_visible_sql(len(inserts.records)),
                               table.visible_params(inserts.records))
        elif inserts.records:
            with self._source(SOURCE, inserts.arrow(table)):
                self._conn.execute(table.insert_visible_sql(None))
        # Rows change by delete + insert, never UPDATE: an in-memory DuckDB table keeps ~100 B
        # for every UPDATE of a row with a list column (here _jz_frontier) and never frees it;
        # a deleted row's space is reused. It also beats UPDATE's cost per column on big writes.
        if 0 < len(updates.records) <= SMALL:
            self._delete_visible(table, [r.row_id for r in updates.records])
            self._conn.execute(table.insert_visible_sql(len(updates.records)),
                               table.visible_params(updates.records))
        elif updates.records:
            with self._source(SOURCE, updates.arrow(table)):
                self._conn.execute(f"DELETE FROM {table.visible} WHERE id IN "
                                   f"(SELECT CAST(_jz_row_id AS UUID) FROM {SOURCE})")
                self._conn.execute(table.insert_visible_sql(None))
        self._delete_visible(table, deletes)

    def _delete_visible(self, table: PhysicalTable, row_ids: list[str]) -> None:
        for start in range(0, len(row_ids), MAX_ID_PARAMS):
            chunk = row_ids[start:start + MAX_ID_PARAMS]
            marks = ", ".join(["CAST(? AS UUID)"] * len(chunk))
            self._conn.execute(f"DELETE FROM {table.visible} WHERE id IN ({marks})", chunk)

    def _recompute(self, table: PhysicalTable, row_ids: list[str],
                   ) -> dict[str, VisibleRow | None]:
        """Re-merge rows from their whole history; returns the rows whose visible entry changed
        (in ``row_ids`` order) with their new entry (``None``: no longer visible)."""
        if not row_ids:
            return {}
        histories: dict[str, list[RowVersion]] = {}
        for raw in self._select_ids(
                lambda match: table.select_history_sql(match("_jz_row_id")), row_ids):
            version = table.decode_version(raw)
            histories.setdefault(version.row_id, []).append(version)
        before = {row.row_id: row for row in map(
            table.decode_visible, self._select_ids(
                lambda match: table.select_visible_sql(match("id")), row_ids))}
        inserts: list[VisibleRow] = []
        updates: list[VisibleRow] = []
        deletes: list[str] = []
        for row_id in row_ids:
            after = visible_preview(histories.get(row_id, ()), table.schema.columns)
            old = before.get(row_id)
            if after == old:
                continue
            if after is None:
                deletes.append(row_id)
            else:
                (updates if old is not None else inserts).append(after)
        self._write_visible(table, _Rows(list(inserts)), _Rows(list(updates)), deletes)
        changed: dict[str, VisibleRow | None] = dict.fromkeys(deletes)
        changed.update((r.row_id, r) for r in [*inserts, *updates])
        return {row_id: changed[row_id] for row_id in row_ids if row_id in changed}

    def set_batch_state(self, batch_id: str, state: RowState, tier: int | None = None,
                        ) -> ChangeSet:
        """Move every version of a batch to ``state`` (and raise its tier) and re-merge its rows.

        Accepting a staged transaction makes its rows visible; rejecting it removes them or
        falls back to the rest of their history. ``tier`` only ever raises the confirmed tier.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> row = "01900000-0000-7000-8000-000000000001"
            >>> v = RowVersion("todos", row, "ab" * 16, (), 1, "me", 1, "me", {"title": "x"})
            >>> _ = store.apply([v.with_state("StagingPending")])
            >>> store.current("todos", [row])
            {}
            >>> store.set_batch_state(v.batch_id, "VisibleTransactional", tier=2).tables
            {'todos': ('01900000-0000-7000-8000-000000000001',)}
            >>> store.current("todos", [row])[row].tier
            2
        """
        if state not in get_args(RowState):
            raise WriteError(f"unknown row state {state!r} (one of {get_args(RowState)})")
        sql = "UPDATE {h} SET _jz_state = ?"
        params: list[Any] = [state]
        changed = "_jz_state <> ?"
        if tier is not None:
            sql += ", _jz_tier = greatest(coalesce(_jz_tier, ?), ?)"
            changed += " OR _jz_tier IS NULL OR _jz_tier < ?"
            params += [tier, tier]
        sql += (f" WHERE _jz_batch_id = CAST(? AS UUID) AND ({changed}) "
                "RETURNING CAST(_jz_row_id AS VARCHAR)")
        params += [batch_id, state] + ([tier] if tier is not None else [])
        changes = ChangeCollector()
        with self.lock:
            self.absorb()
            with self._transaction():
                for table in self._tables.values():
                    with _storage_errors(table, 1):
                        rows = self._conn.execute(sql.format(h=table.history), params).fetchall()
                        if rows:
                            changes.add_batches([batch_id])
                            merged = self._recompute(table, [r for (r,) in rows])
                            changes.add_rows(table.name, list(merged), _own(table, merged))
            return self._publish(changes.build())

    # -- reads -----------------------------------------------------------------------------------
    def current(self, table: str, row_ids: Sequence[str], *, schema_hash: str = "",
                ) -> dict[str, VisibleRow]:
        """The visible rows of ``row_ids`` (soft- and hard-deleted ones too; missing ids absent).

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> row = "01900000-0000-7000-8000-000000000001"
            >>> v = RowVersion("todos", row, "ab" * 16, (), 1, "me", 1, "me", {"title": "x"})
            >>> _ = store.apply([v])
            >>> store.current("todos", [row])[row].frontier
            ('abababababababababababababababab',)
        """
        physical = self.physical(table, schema_hash)
        ids = list(dict.fromkeys(row_ids))
        found: dict[str, VisibleRow] = {}
        with self.lock:
            key = (physical.name, physical.schema_hash)  # the memtable's entries are newer
            for row_id in ids:
                row = self._memtable.shown(key, row_id)
                if row is not None:
                    found[row_id] = row
            ids = [row_id for row_id in ids if row_id not in found]
            rows = self._select_ids(lambda match: physical.select_visible_sql(match("id")), ids)
        found.update((r.row_id, r) for r in map(physical.decode_visible, rows))
        return found

    def history(self, table: str, row_id: str, *, schema_hash: str = "") -> list[RowVersion]:
        """Every stored version of one row, oldest first by ``(updated_at, batch_id)``.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> row = "01900000-0000-7000-8000-000000000001"
            >>> v = RowVersion("todos", row, "ab" * 16, (), 1, "me", 1, "me", {"title": "x"})
            >>> _ = store.apply([v])
            >>> store.history("todos", row) == [v]
            True
        """
        physical = self.physical(table, schema_hash)
        with self.lock:
            self.absorb()
            rows = self._select_ids(lambda match: physical.select_history_sql(match("_jz_row_id")),
                                    [row_id])
        return sorted(map(physical.decode_version, rows), key=lambda v: v.order_key)

    def versions_of_batch(self, batch_id: str) -> list[RowVersion]:
        """Every stored version written by one batch, in every table and schema version.

        Example:
            >>> from jazz_nb import s
            >>> store = Store(s.define_app({"todos": s.table(title=s.string())}))
            >>> row = "01900000-0000-7000-8000-000000000001"
            >>> v = RowVersion("todos", row, "ab" * 16, (), 1, "me", 1, "me", {"title": "x"})
            >>> _ = store.apply([v])
            >>> store.versions_of_batch(v.batch_id) == [v]
            True
        """
        out: list[RowVersion] = []
        with self.lock:
            self.absorb()
            for table in self._tables.values():
                sql = (table.select_history_sql("_jz_batch_id = CAST(? AS UUID)")
                       + " ORDER BY _jz_row_id")
                out += map(table.decode_version, self._conn.execute(sql, [batch_id]).fetchall())
        return out


def _own(table: PhysicalTable, records: Mapping[str, Any] | None,
         ) -> Mapping[str, Any] | None:
    """Records for the change feed: only rows of the store's own schema version carry them."""
    return None if table.version_hash else records


@contextlib.contextmanager
def _storage_errors(table: PhysicalTable, count: int) -> Iterator[None]:
    """Turn DuckDB's errors into ``WriteError``s naming the table."""
    try:
        yield
    except duckdb.Error as err:
        raise WriteError(f"cannot store {count} version(s) of table {table.name!r}: {err}",
                         table=table.name) from err
