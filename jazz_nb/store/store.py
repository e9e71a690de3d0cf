"""The local DuckDB store: row histories, visible rows and the change feed (§1.4–1.6, §4.2).

``apply`` is the one way data enters: versions go to history and each touched row's visible
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
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import duckdb
import pyarrow as pa

from jazz_nb.errors import JazzError, QueryError, WriteError
from jazz_nb.schema.app import App
from jazz_nb.store.changes import ChangeCollector, ChangeSet
from jazz_nb.store.merge import visible_preview
from jazz_nb.store.tables import SMALL, SOURCE, PhysicalTable, Record
from jazz_nb.store.versions import RowState, RowVersion, VisibleRow

log = logging.getLogger(__name__)
Listener = Callable[[ChangeSet], None]
MAX_ID_PARAMS = 64  # longer id lists are joined from an Arrow table instead of bound one by one
_IDS = "_jz_ids"


def _pick(versions: list[RowVersion], picks: list[int], source: pa.Table | None) -> _Rows:
    """The versions at ``picks``, with the matching slice of their Arrow source if needed."""
    records: list[Record] = [versions[i] for i in picks]
    if source is None or len(picks) <= SMALL:
        return _Rows(records)
    return _Rows(records, source if picks == list(range(len(versions))) else source.take(picks))


@dataclass
class _Rows:
    """Records for one visible-table statement, with their Arrow source when already built."""

    records: list[Record]
    source: pa.Table | None = None

    def arrow(self, table: PhysicalTable) -> pa.Table:
        if self.source is None:
            self.source = table.arrow(self.records)
        return self.source


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
        self.lock = threading.RLock()
        self._conn = duckdb.connect(path or ":memory:")
        self._tables: dict[tuple[str, str], PhysicalTable] = {}
        self._listeners: list[Listener] = []
        self._closed = False
        self.register_schema(app)

    # -- connection ------------------------------------------------------------------------------
    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        """The store's DuckDB connection; use it only while holding ``store.lock``."""
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Run one statement on the store's connection under the lock and return its result.

        Fetch the result while still holding ``store.lock`` if other threads use the store.

        Example:
            >>> # with store.lock: store.execute("SELECT 1").fetchall()
        """
        with self.lock:
            return self._conn.execute(sql, params)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A separate connection to the same database, for reading on another thread.

        Example:
            >>> # threading.Thread(target=lambda: store.cursor().execute("SELECT 1")).start()
        """
        with self.lock:
            return self._conn.cursor()

    def close(self) -> None:
        """Close the connection (a file-backed store keeps its data for the next ``Store``)."""
        with self.lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register_schema(self, app: App) -> None:
        """Create (if missing) the tables of another schema version so its versions can be stored.

        Example:
            >>> # store.register_schema(old_app); store.apply([v_with_old_schema_hash])
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

    def _table(self, name: str, schema_hash: str = "", error: type[JazzError] = QueryError,
               ) -> PhysicalTable:
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
            >>> # remove = store.add_listener(lambda changes: print(changes.tables)); remove()
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
        promises new versions whose parents are their row's current frontier (the local write
        path), which skips the look-ups that make re-applies and out-of-order arrivals safe.

        Example:
            >>> # changes = store.apply(versions_from_the_server)
            >>> # changes.tables -> {"todos": ("0190...", ...)}
        """
        if not versions:
            return ChangeSet()
        groups: dict[tuple[str, str], list[RowVersion]] = {}
        for version in versions:
            key = (version.table, version.schema_hash)
            members = groups.get(key)
            if members is None:
                members = groups[key] = []
            members.append(version)
        tables = {key: self._table(*key, WriteError) for key in groups}
        changes = ChangeCollector()
        with self.lock:
            with self._transaction():
                for key, members in groups.items():
                    with _storage_errors(tables[key], len(members)):
                        self._apply_table(tables[key], members, fresh, changes)
            return self._publish(changes.build())

    def _apply_table(self, table: PhysicalTable, versions: Sequence[RowVersion], fresh: bool,
                     changes: ChangeCollector) -> None:
        if fresh:  # new and linear: each row shows its last visible version
            new = list(versions)
            fast = {v.row_id: i for i, v in enumerate(new) if v.is_visible}
            first = {v.row_id: v for v in reversed(new) if v.is_visible}
            existed = {row for row, v in first.items() if v.parents}  # updates, not inserts
            dirty: list[str] = []
        else:
            new, fast, existed, dirty = self._plan(table, versions)
        if not new:
            return
        source = self._insert_history(table, new)
        self._write_visible(table, _pick(new, [i for r, i in fast.items() if r not in existed],
                                         source),
                            _pick(new, [i for r, i in fast.items() if r in existed], source), [])
        changed = set(fast).union(self._recompute(table, dirty))
        changes.add_rows(table.name, [v.row_id for v in new if v.row_id in changed])
        changes.add_batches(v.batch_id for v in new)

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
        """Stored (row id, batch id) pairs and current frontiers of ``row_ids``."""
        stored = set(self._select_ids(
            lambda where: f"SELECT CAST(row_id AS VARCHAR), replace(CAST(batch_id AS VARCHAR), "
                          f"'-', '') FROM {table.history} WHERE {where}", "row_id", row_ids))
        visible = self._select_ids(
            lambda where: f"SELECT CAST(id AS VARCHAR), replace(CAST(_jz_batch AS VARCHAR), '-', "
                          f"''), _jz_frontier FROM {table.visible} WHERE {where}", "id", row_ids)
        frontiers = {row: frozenset((batch,)) if tips is None else frozenset(t.hex for t in tips)
                     for row, batch, tips in visible}
        return stored, frontiers

    def _select_ids(self, sql: Callable[[str], str], column: str, ids: Sequence[str],
                    ) -> list[tuple[Any, ...]]:
        """Rows of ``sql(where)`` with ``where`` restricting ``column`` to ``ids``."""
        if not ids:
            return []
        if len(ids) <= MAX_ID_PARAMS:
            where = f"{column} IN ({', '.join(['CAST(? AS UUID)'] * len(ids))})"
            return self._conn.execute(sql(where), list(ids)).fetchall()
        with self._source(_IDS, pa.table({"id": pa.array(ids, pa.string())})):
            where = f"{column} IN (SELECT CAST(id AS UUID) FROM {_IDS})"
            return self._conn.execute(sql(where)).fetchall()

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
        if 0 < len(updates.records) <= SMALL:
            for record in updates.records:
                self._conn.execute(table.update_visible_sql(False), table.update_params(record))
        elif updates.records:
            with self._source(SOURCE, updates.arrow(table)):
                self._conn.execute(table.update_visible_sql(True))
        for start in range(0, len(deletes), MAX_ID_PARAMS):
            chunk = deletes[start:start + MAX_ID_PARAMS]
            marks = ", ".join(["CAST(? AS UUID)"] * len(chunk))
            self._conn.execute(f"DELETE FROM {table.visible} WHERE id IN ({marks})", chunk)

    def _recompute(self, table: PhysicalTable, row_ids: list[str]) -> list[str]:
        """Re-merge rows from their whole history; returns those whose visible entry changed."""
        if not row_ids:
            return []
        histories: dict[str, list[RowVersion]] = {}
        for raw in self._select_ids(table.select_history_sql, "row_id", row_ids):
            version = table.decode_version(raw)
            histories.setdefault(version.row_id, []).append(version)
        before = {row.row_id: row for row in map(
            table.decode_visible, self._select_ids(table.select_visible_sql, "id", row_ids))}
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
        changed = {*deletes, *(r.row_id for r in inserts), *(r.row_id for r in updates)}
        return [row_id for row_id in row_ids if row_id in changed]

    def set_batch_state(self, batch_id: str, state: RowState, tier: int | None = None,
                        ) -> ChangeSet:
        """Move every version of a batch to ``state`` (and raise its tier) and re-merge its rows.

        Accepting a staged transaction makes its rows visible; rejecting it removes them or
        falls back to the rest of their history. ``tier`` only ever raises the confirmed tier.

        Example:
            >>> # store.set_batch_state(batch_id, "VisibleTransactional", tier=2)   # accepted
            >>> # store.set_batch_state(batch_id, "Rejected")                       # rejected
        """
        if state not in get_args(RowState):
            raise WriteError(f"unknown row state {state!r} (one of {get_args(RowState)})")
        sql = "UPDATE {h} SET state = ?"
        params: list[Any] = [state]
        changed = "state <> ?"
        if tier is not None:
            sql += ", tier = greatest(coalesce(tier, ?), ?)"
            changed += " OR tier IS NULL OR tier < ?"
            params += [tier, tier]
        sql += (f" WHERE batch_id = CAST(? AS UUID) AND ({changed}) "
                "RETURNING CAST(row_id AS VARCHAR)")
        params += [batch_id, state] + ([tier] if tier is not None else [])
        changes = ChangeCollector()
        with self.lock:
            with self._transaction():
                for table in self._tables.values():
                    with _storage_errors(table, 1):
                        rows = self._conn.execute(sql.format(h=table.history), params).fetchall()
                        if rows:
                            changes.add_batches([batch_id])
                            changes.add_rows(table.name,
                                             self._recompute(table, [r for (r,) in rows]))
            return self._publish(changes.build())

    # -- reads -----------------------------------------------------------------------------------
    def current(self, table: str, row_ids: Sequence[str], *, schema_hash: str = "",
                ) -> dict[str, VisibleRow]:
        """The visible rows of ``row_ids`` (soft- and hard-deleted ones too; missing ids absent).

        Example:
            >>> # row = store.current("todos", [row_id]).get(row_id)
            >>> # next_parents = row.frontier
        """
        physical = self._table(table, schema_hash)
        with self.lock:
            rows = self._select_ids(physical.select_visible_sql, "id",
                                    list(dict.fromkeys(row_ids)))
        return {r.row_id: r for r in map(physical.decode_visible, rows)}

    def history(self, table: str, row_id: str, *, schema_hash: str = "") -> list[RowVersion]:
        """Every stored version of one row, oldest first by ``(updated_at, batch_id)``.

        Example:
            >>> # [v.batch_id for v in store.history("todos", row_id)]
        """
        physical = self._table(table, schema_hash)
        with self.lock:
            rows = self._select_ids(physical.select_history_sql, "row_id", [row_id])
        return sorted(map(physical.decode_version, rows), key=lambda v: v.order_key)

    def versions_of_batch(self, batch_id: str) -> list[RowVersion]:
        """Every stored version written by one batch, in every table and schema version.

        Example:
            >>> # {v.row_id for v in store.versions_of_batch(handle.batch_id)}
        """
        out: list[RowVersion] = []
        with self.lock:
            for table in self._tables.values():
                sql = table.select_history_sql("batch_id = CAST(? AS UUID)") + " ORDER BY row_id"
                out += map(table.decode_version, self._conn.execute(sql, [batch_id]).fetchall())
        return out


@contextlib.contextmanager
def _storage_errors(table: PhysicalTable, count: int) -> Iterator[None]:
    """Turn DuckDB's errors into ``WriteError``s naming the table."""
    try:
        yield
    except duckdb.Error as err:
        raise WriteError(f"cannot store {count} version(s) of table {table.name!r}: {err}",
                         table=table.name) from err
