"""The ``Db`` facade: writes, one-shot reads, live queries and sessions over one local store.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False))})
    >>> db = jz.create_db(app, app_id="doc-app")
    >>> row = db.insert(app.todos, {"title": "Buy milk"})
    >>> db.one(app.todos.where(done=False))["title"]
    'Buy milk'
    >>> db.close()
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from jazz_nb.auth.session import SYSTEM_PRINCIPAL, Session
from jazz_nb.engine import Commit, Engine, InsertedColumns
from jazz_nb.errors import JazzError, QueryError, TransactionConflict
from jazz_nb.query.builder import Query
from jazz_nb.query.results import Row, rows_from_arrow, run_arrow, to_df
from jazz_nb.query.sql import CompileContext, Compiled, compile_query
from jazz_nb.schema.app import App
from jazz_nb.store.store import Store
from jazz_nb.store.versions import MonotonicClock, RowState, RowVersion, VisibleRow, new_batch_id
from jazz_nb.writes.batch import Batch, Transaction
from jazz_nb.writes.columnar import as_records, storage_columns, uuid7_array
from jazz_nb.writes.handle import WriteHandle
from jazz_nb.writes.values import update_values
from jazz_nb.writes.writer import Operation, Writer, row_id_of, table_name

if TYPE_CHECKING:
    from jazz_nb.live import LiveQuery


class Db:
    """A Jazz database: local DuckDB store, writes that apply at once, queries and live frames.

    Create it with ``jz.create_db`` (embedded) — a db without a session is unscoped, like Jazz's
    backend ``context.db()``; ``db.for_session(session)`` returns a scoped view.
    """

    def __init__(self, app: App, engine: Engine, session: Session | None = None, *,
                 permissions: Any = None) -> None:
        self.app = app
        self.engine = engine
        self.session = session
        self._permissions = permissions  # None: the engine's bundle

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The local DuckDB store (one per database, shared by session views)."""
        self._check_open()
        return self.engine.store

    @property
    def app_id(self) -> str:
        """The Jazz app id this database belongs to."""
        return self.engine.app_id

    @property
    def clock(self) -> MonotonicClock:
        """The monotonic µs clock stamping this database's writes."""
        return self.engine.clock

    @property
    def author(self) -> str:
        """Who ``$createdBy``/``$updatedBy`` record: the session user, else ``jazz:system``."""
        return self.session.user_id if self.session else SYSTEM_PRINCIPAL

    @property
    def permissions(self) -> Any:
        """The permissions this view enforces for its session (``jazz_nb.policy.Permissions``
        bound to its schema), or None: every session may do anything."""
        return self._permissions if self._permissions is not None else self.engine.permissions

    @property
    def migrations(self) -> Any:
        """The lens graph bound to this store (``jazz_nb.lens.runtime.Migrations``), or None."""
        return self.engine.migrations

    @property
    def branch_key(self) -> str:
        """``RowVersion.schema_hash`` of this view's writes: "" for the store's own schema."""
        own = self.app.schema_hash
        return "" if own == self.store.app.schema_hash else own

    def current_rows(self, table: str, row_ids: Sequence[str]) -> dict[str, VisibleRow]:
        """The visible rows writes build on (missing ids absent), in one store read; with
        migrations, each row's best entry across schema versions in this view's shape."""
        migrations = self.engine.migrations
        if migrations is not None:
            found = {row_id: migrations.current(self, table, row_id) for row_id in row_ids}
            return {row_id: row for row_id, row in found.items() if row is not None}
        return self.store.current(table, row_ids, schema_hash=self.branch_key)

    def _check_open(self) -> None:
        if self.engine.closed:
            raise JazzError("this database is closed")

    def authorize(self, op: Operation, table: str, old: VisibleRow | None,
                  new: dict[str, Any] | None, row_id: str) -> None:
        """Check a write against the loaded permissions (unscoped dbs may do anything)."""
        if self.session is not None:
            from jazz_nb.policy.check import authorize

            authorize(self, op, table, old, new, row_id)

    def row_of(self, version: RowVersion) -> Row:
        """The user-facing row of a stored version."""
        return self.row_from(version.table, version.row_id, version.data)

    def row_from(self, table: str, row_id: str, data: Mapping[str, Any]) -> Row:
        """The user-facing row of storage-form ``data``."""
        schema = self.app.table(table)
        values = {name: col.type.to_python(data.get(name)) for name, col in schema.columns.items()}
        return Row({"id": row_id, **values})

    def commit(self, writer: Writer, *, check_conflicts: bool = False) -> WriteHandle:
        """Apply a writer's staged versions in one store transaction and return the handle."""
        versions = list(writer.staged.values())
        store = self.store
        with store.lock:
            if check_conflicts:
                self._check_conflicts(versions)
            if versions and writer.only_new_rows:
                store.write_local(versions)
            elif versions:
                store.apply(versions)
            return self._committed(writer.batch_id, versions, writer.state)

    def commit_reading(self, writer: Writer, reads: Mapping[str, Collection[str]],
                       stage: Callable[[], None]) -> WriteHandle:
        """Commit writes that build on stored rows, under one hold of the store lock: the rows
        of ``reads`` (``{table: row ids}``) are read for ``writer`` in one go per table (the
        memtable first, then one DuckDB query), ``stage()`` stages the writes, and what it
        staged is stored, all or nothing."""
        with self.store.lock:
            for name, ids in reads.items():
                writer.know(name, ids, self.current_rows(name, list(ids)))
            stage()
            writer.only_new_rows = True  # built on the frontiers read under the same lock
            return self.commit(writer)

    def _committed(self, batch_id: str, versions: list[RowVersion], state: RowState,
                   ) -> WriteHandle:
        """Report a stored batch to the engine (tier local, observers) and return its handle."""
        return self.engine.committed(Commit(batch_id, state, versions))

    def _check_conflicts(self, versions: Sequence[RowVersion]) -> None:
        by_table: dict[str, list[RowVersion]] = {}
        for version in versions:
            by_table.setdefault(version.table, []).append(version)
        for table, members in by_table.items():
            current = self.store.current(table, [v.row_id for v in members],
                                         schema_hash=self.branch_key)
            for version in members:
                now = current.get(version.row_id)
                frontier = tuple(sorted(now.frontier)) if now else ()
                if frontier != tuple(sorted(version.parents)):
                    raise TransactionConflict(
                        f"transaction_conflict: row {version.row_id} of table {table!r} changed "
                        "since the transaction staged its write", table=table,
                        code="transaction_conflict")

    def _successor(self, table: Any, row_id: Any, changes: Mapping[str, Any] | None,
                   updated_at: int | None) -> WriteHandle | None:
        """Update (or, with ``changes=None``, soft-delete) a row straight from its stored entry
        when no permission or schema translation needs to see the old row first; ``None``
        when this path does not apply or the row is missing/deleted (the general path then
        writes or reports it)."""
        if self.session is not None or self.engine.migrations is not None:
            return None
        name = table_name(table)
        rid = row_id_of(row_id, name)
        data = {} if changes is None else update_values(name, self.app.table(name), changes)
        batch_id = new_batch_id()
        with self.store.lock:
            at = self.clock.now() if updated_at is None else int(updated_at)
            version = self.store.write_successor(name, rid, data, batch_id=batch_id,
                                                 author=self.author, updated_at=at,
                                                 delete=changes is None)
            if version is None:
                return None
            return self._committed(batch_id, [version], version.state)

    def _single(self, op: Callable[[Writer], RowVersion]) -> tuple[RowVersion, WriteHandle]:
        writer = Writer(self, new_batch_id(), "VisibleDirect")
        with self.store.lock:  # read-modify-write of one row is atomic against other threads
            version = op(writer)
            writer.only_new_rows = True  # built on the frontier read under the same lock
            return version, self.commit(writer)

    # -- writes ----------------------------------------------------------------------------------
    def insert(self, table: Any, values: Mapping[str, Any], *, id: Any = None,
               updated_at: int | None = None) -> WrittenRow:
        """Insert a row; returns it (a ``Row`` with ``.id``, ``.batch_id`` and ``.wait()``).

        Example:
            >>> # row = db.insert(app.todos, {"title": "Buy milk"}); row.id
        """
        version, handle = self._single(lambda w: w.insert(table, values, id=id,
                                                          updated_at=updated_at))
        return WrittenRow(self.row_of(version), handle)

    def update(self, table: Any, row_id: Any, changes: Mapping[str, Any], *,
               updated_at: int | None = None) -> WriteHandle:
        """Change some columns of a row; ``None`` clears an optional column.

        Example:
            >>> # db.update(app.todos, row.id, {"done": True})
        """
        handle = self._successor(table, row_id, changes, updated_at)
        if handle is not None:
            return handle
        return self._single(lambda w: w.update(table, row_id, changes, updated_at=updated_at))[1]

    def upsert(self, table: Any, values: Mapping[str, Any], *, id: Any,
               updated_at: int | None = None) -> WriteHandle:
        """Update row ``id`` if visible, else insert it under that id.

        Example:
            >>> # db.upsert(app.todos, {"title": "x"}, id="0190...")
        """
        return self._single(lambda w: w.upsert(table, values, id=id, updated_at=updated_at))[1]

    def delete(self, table: Any, row_id: Any, *, updated_at: int | None = None) -> WriteHandle:
        """Soft-delete a row (it leaves query results; history keeps it).

        Example:
            >>> # db.delete(app.todos, row.id)
        """
        handle = self._successor(table, row_id, None, updated_at)
        if handle is not None:
            return handle
        return self._single(lambda w: w.delete(table, row_id, updated_at=updated_at))[1]

    def batch(self) -> Batch:
        """Several writes, one batch id, all or nothing: ``with db.batch() as b: b.insert(...)``."""
        self._check_open()
        return Batch(self)

    def transaction(self) -> Transaction:
        """An optimistic transaction: ``with db.transaction() as tx: tx.update(...)``."""
        self._check_open()
        return Transaction(self)

    def insert_many(self, table: Any, rows: Any) -> WriteHandle:
        """Insert many rows in one batch: a list of dicts, a DataFrame or an Arrow table.

        Columns are checked and stored as whole Arrow arrays (≥ 100k rows/s); a session under
        permissions checks each row like ``insert`` does.

        Example:
            >>> # db.insert_many(app.todos, [{"title": f"t{i}"} for i in range(1000)])
        """
        name = table_name(table)
        if self.session is not None and self.permissions is not None:
            return self._insert_each(name, rows)
        user = storage_columns(name, self.app.table(name), rows)
        batch_id = new_batch_id()
        first = self.clock.now()
        self.clock.observe(first + user.num_rows)
        ids = uuid7_array(user.num_rows)
        self.store.insert_rows(name, ids, user, batch_id=batch_id, author=self.author,
                               first_updated_at=first)
        columns = InsertedColumns(name, ids, user, self.author, first)
        return self.engine.committed(Commit(batch_id, "VisibleDirect", [], columns))

    def _insert_each(self, name: str, rows: Any) -> WriteHandle:
        records = as_records(rows)
        with self.batch() as batch:
            for values in records:
                batch.insert(name, values)
        assert batch.handle is not None
        return batch.handle

    # -- reads -----------------------------------------------------------------------------------
    def _query(self, query: Any) -> Query:
        if isinstance(query, Query):
            if query.app is not self.app and query.app.schema_hash != self.app.schema_hash:
                raise QueryError(f"query on table {query.table!r} belongs to another app schema",
                                 table=query.table)
            return query
        if isinstance(query, str):
            return self.app[query]
        raise QueryError(f"expected a query such as app.todos.where(...), got "
                         f"{type(query).__name__}")

    def compile_context(self) -> CompileContext | None:
        """The compile context of this view (permissions plug in here)."""
        from jazz_nb.policy.context import PolicyContext

        migrations = self.engine.migrations
        base = migrations.context(self) if migrations is not None else None
        return PolicyContext(self.app.schema_hash, self.app, self.permissions,
                             self.session, base=base)

    def compile(self, query: Any, *, only_ids: bool = False) -> Compiled:
        """Compile a query to one DuckDB statement for this db's session.

        Example:
            >>> # print(db.compile(app.todos.where(done=False)).sql)
        """
        return compile_query(self._query(query), context=self.compile_context(),
                             only_ids=only_ids)

    def fetch_arrow(self, compiled: Compiled, ids: Sequence[str] | None = None) -> pa.Table:
        """Run a compiled statement (with ``ids`` bound for ``only_ids`` statements)."""
        store = self.store
        with store.lock:
            return run_arrow(store.conn, compiled, ids=ids)

    def settle(self, query: Any, tier: str | None, timeout: float | None = 10.0) -> None:
        """Wait until the sync server has sent every row of ``query`` (``tier`` edge/global);
        ``None``/``"local"`` reads the local store as it is.

        Example:
            >>> # db.settle(app.todos, "edge")
        """
        if tier is None or tier == "local":
            return
        sync = self.engine.sync
        if sync is None:
            raise QueryError(f"tier {tier!r} needs a sync server; this db has none "
                             "(connect with jz.connect(...))")
        sync.settle(self._query(query), tier, timeout)

    def arrow(self, query: Any, *, tier: str | None = None) -> pa.Table:
        """The query's result as a ``pyarrow.Table`` (``tier``: see ``settle``).

        Example:
            >>> # db.arrow(app.todos.order_by("title")).num_rows
        """
        self.settle(query, tier)
        return self.fetch_arrow(self.compile(query))

    def df(self, query: Any, *, tier: str | None = None) -> pd.DataFrame:
        """The query's result as a pandas DataFrame indexed by row ``id``.

        Example:
            >>> # db.df(app.todos.where(done=False), tier="edge")
        """
        return to_df(self.arrow(query, tier=tier))

    def all(self, query: Any, *, tier: str | None = None) -> list[Row]:
        """The query's rows as read-only mappings with ``.id`` (``tier``: see ``settle``).

        Example:
            >>> # [r["title"] for r in db.all(app.todos)]
        """
        self.settle(query, tier)
        compiled = self.compile(query)
        return rows_from_arrow(self.fetch_arrow(compiled), compiled)

    def one(self, query: Any, *, tier: str | None = None) -> Row | None:
        """The first row of the query (limit 1), or ``None``.

        Example:
            >>> # db.one(app.todos.where(title="Buy milk"))
        """
        rows = self.all(self._query(query).limit(1), tier=tier)
        return rows[0] if rows else None

    def preview_lens(self, lens: Any, query: Any, *, round_trip: bool = False) -> pd.DataFrame:
        """``query``'s result as if ``lens`` (even a draft) were active: a query on the lens's
        target schema reads this db's rows of its source schema translated forward, a query on
        its source schema reads the target's rows translated backward (``round_trip``: the
        source rows there and back again).

        Example:
            >>> # db.preview_lens(s.migration(app, app_v2), app_v2.todos.limit(5))
        """
        from jazz_nb.lens.preview import preview_lens

        return preview_lens(self, lens, query, round_trip=round_trip)

    # -- live ------------------------------------------------------------------------------------
    def live(self, query: Any) -> LiveQuery:
        """A live query: ``.df`` and ``.arrow`` follow every change, in place.

        Example:
            >>> # live = db.live(app.todos.where(done=False)); live.df
        """
        from jazz_nb.live import LiveQuery

        return LiveQuery(self, self._query(query))

    def subscribe_all(self, query: Any, callback: Callable[..., Any]) -> Any:
        """Call ``callback(rows, delta)`` now and after every change (Jazz's delta shape).

        Example:
            >>> # handle = db.subscribe_all(app.todos, lambda rows, delta: print(len(rows)))
        """
        from jazz_nb.live import subscribe_all

        return subscribe_all(self, self._query(query), callback)

    def flush(self, timeout: float | None = None) -> None:
        """Apply changes queued from other threads to this thread's live queries now."""
        from jazz_nb.live import flush_all

        flush_all(self, timeout=timeout)

    # -- sessions and lifecycle -----------------------------------------------------------------
    def for_session(self, session: Session) -> Db:
        """A view of the same database scoped to ``session`` (policies apply to it).

        Example:
            >>> # bob = db.for_session(jz.Session("bob", {"role": "member"}))
        """
        if not isinstance(session, Session):
            raise TypeError("for_session takes a jz.Session(user_id, claims)")
        return type(self)(self.app, self.engine, session, permissions=self._permissions)

    def unscoped(self) -> Db:
        """A view of the same database without a session (the backend's view: no policy
        applies).

        Example:
            >>> # db.for_session(jz.Session("bob")).unscoped().session is None -> True
        """
        return type(self)(self.app, self.engine, None, permissions=self._permissions)

    @property
    def status(self) -> Any:
        """Sync status (``jazz_nb.sync.client.SyncStatus``): connected, outbox size, ...

        Example:
            >>> # db.status.state -> 'connected'
        """
        from jazz_nb.sync.client import SyncStatus

        sync = self.engine.sync
        return sync.status if sync is not None else SyncStatus("local")

    def close(self) -> None:
        """Close the store and stop syncing; every live query and subscription of every session
        view of it closes too (their widgets show ``closed``)."""
        self.engine.close()

    def __enter__(self) -> Db:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        who = self.session.user_id if self.session else "unscoped"
        state = "closed" if self.engine.closed else "open"
        return f"<jazz_nb.Db app_id={self.app_id!r} {who} {state}>"


class WrittenRow(Row):
    """The row an insert stored, with its write handle (``.batch_id``, ``.wait(tier)``)."""

    __slots__ = ("handle",)

    def __init__(self, values: Mapping[str, Any], handle: WriteHandle) -> None:
        super().__init__(values)
        self.handle = handle

    @property
    def batch_id(self) -> str:
        """The batch the insert belongs to."""
        return self.handle.batch_id

    def wait(self, tier: str = "local", timeout: float | None = 10.0) -> WrittenRow:
        """Block until the insert is durable at ``tier``; returns the row."""
        self.handle.wait(tier, timeout)  # type: ignore[arg-type]
        return self


def create_db(app: App, *, app_id: str, path: str | None = None,
              session: Session | None = None, permissions: Any = None,
              migrations: Any = None) -> Db:
    """An embedded database for ``app``: in memory, or in the DuckDB file ``path``.

    ``migrations``: lenses (``s.migration(old, new)``, or a ``LensGraph``) connecting ``app``
    to the other schema versions whose rows it reads and updates (copy-on-write).

    Example:
        >>> # db = jz.create_db(app, app_id="my-app", path="todo.duckdb")
    """
    if not isinstance(app, App):
        raise TypeError("create_db takes an app from s.define_app(...)")
    engine = Engine(Store(app, path), app_id)
    if permissions is not None:  # a loaded bundle: session-scoped views enforce it
        from jazz_nb.policy.bundle import Permissions

        if not isinstance(permissions, Permissions):
            permissions = Permissions.from_json(permissions)
        engine.permissions = permissions.bind(app)
    if migrations is not None:
        from jazz_nb.lens.runtime import Migrations

        try:
            engine.migrations = Migrations.create(engine.store, app, migrations)
        except BaseException:
            engine.store.close()
            raise
    return Db(app, engine, session)

