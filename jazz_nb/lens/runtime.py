"""A database's migrations: its lens graph bound to its store (§6.1).

``Migrations`` keeps every schema version's tables registered in the store, hands each reader
(a ``Db`` view on one schema) its ``MigrationContext``, reads the best row across versions for
copy-on-write updates, and re-plans live queries when the graph grows. ``evolve(db, app,
lens)`` returns a view of the same store on another schema version — an old and a new client
side by side, each reading the other's rows in its own shape.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> from jazz_nb.lens import migration
    >>> v1 = s.define_app({"todos": s.table(title=s.string())})
    >>> v2 = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False))})
    >>> old = jz.create_db(v1, app_id="evolve-doc")
    >>> row = old.insert(v1.todos, {"title": "from v1"})
    >>> new = evolve(old, v2, migration(v1, v2))
    >>> new.one(v2.todos)["done"]
    False
    >>> new.update(v2.todos, row.id, {"done": True})  # copy-on-write onto the v2 branch
    <WriteHandle ...>
    >>> old.one(v1.todos)["title"], new.one(v2.todos)["done"]
    ('from v1', True)
    >>> old.close()
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from jazz_nb.errors import MigrationError
from jazz_nb.lens.graph import LensGraph
from jazz_nb.lens.lens import Lens
from jazz_nb.lens.sql import MigrationContext, branches
from jazz_nb.schema.app import App
from jazz_nb.store.layout import quote, read_expr, visible_table
from jazz_nb.store.versions import VisibleRow

if TYPE_CHECKING:
    from jazz_nb.db import Db
    from jazz_nb.store.store import Store


class Migrations:
    """The lens graph of one store and the readers compiled against it.

    Example:
        >>> from jazz_nb import s
        >>> from jazz_nb.store import Store
        >>> app = s.define_app({"t": s.table(a=s.int())})
        >>> Migrations(Store(app), LensGraph(schemas=[app])).graph.schemas.keys() == {
        ...     app.schema_hash}
        True
    """

    def __init__(self, store: Store, graph: LensGraph) -> None:
        self.store = store
        self.graph = graph
        self._contexts: dict[str, tuple[int, MigrationContext]] = {}
        self._stored: dict[str, tuple[int, dict[str, list[tuple[str, str]]]]] = {}
        self._views: weakref.WeakSet[Db] = weakref.WeakSet()
        self._register()

    @classmethod
    def create(cls, store: Store, app: App, migrations: Iterable[Lens] | LensGraph,
               ) -> Migrations:
        """``create_db(..., migrations=...)``: lenses (or a graph) that must reach ``app``.

        Example:
            >>> from jazz_nb import s
            >>> from jazz_nb.store import Store
            >>> app = s.define_app({"t": s.table(a=s.int())})
            >>> Migrations.create(Store(app), app, []).graph.reachable(app.schema_hash) == [
            ...     app.schema_hash]
            True
        """
        if isinstance(migrations, LensGraph):
            graph = migrations
        else:
            graph = LensGraph()
            for lens in migrations:
                graph.add_lens(lens)
        graph.add_schema(app)
        if len(graph.schemas) > 1 and len(graph.reachable(app.schema_hash)) == 1:
            raise MigrationError(f"none of the migrations connects this app's schema "
                                 f"{app.schema_hash[:12]} (lenses: "
                                 f"{', '.join(lens.label for lens in graph) or 'none'})")
        return cls(store, graph)

    def _register(self) -> None:
        for app in self.graph.schemas.values():
            self.store.register_schema(app)

    # -- growing the graph --------------------------------------------------------------------
    def add(self, *lenses: Lens, schemas: Sequence[App] = ()) -> list[Lens]:
        """Activate lenses (and make schemas known); live queries of every reader re-plan.

        Example:
            >>> # db.migrations.add(s.migration(v2, v3))
        """
        try:
            added = [self.graph.add_lens(lens) for lens in lenses]
            for app in schemas:
                self.graph.add_schema(app)
        finally:  # the lenses accepted before a bad one stay active
            self._register()
            self._recompile_live()
        return added

    def _recompile_live(self) -> None:
        registries = {id(r): r for view in list(self._views)
                      if (r := view.engine.live_registry) is not None}
        for registry in registries.values():
            for live in registry.live_queries():
                live.replan()

    # -- reading --------------------------------------------------------------------------------
    def context(self, db: Db) -> MigrationContext:
        """The compile context of a reader (a ``Db`` view) on ``db.app``'s schema.

        Example:
            >>> # db.migrations.context(db).source("todos")
        """
        self._views.add(db)
        reader = db.app
        cached = self._contexts.get(reader.schema_hash)
        if cached is None or cached[0] != self.graph.generation:
            if reader.schema_hash not in self.graph.schemas:
                self.graph.add_schema(reader)
                self.store.register_schema(reader)
            cached = (self.graph.generation, MigrationContext.build(self.graph, reader))
            self._contexts[reader.schema_hash] = cached
        return cached[1]

    def stored_tables(self, app: App) -> dict[str, list[tuple[str, str]]]:
        """Per table of ``app``, the stored tables its rows come from as ``(schema hash, table
        name there)``, ``app``'s own first (what a sync server sends for a subscription).

        Example:
            >>> # server.migrations.stored_tables(app_v1)["todos"]  -> [(v1, "todos"), (v2, ...)]
        """
        if app.schema_hash not in self.graph.schemas:
            self.graph.add_schema(app)
            self.store.register_schema(app)
        cached = self._stored.get(app.schema_hash)
        if cached is None or cached[0] != self.graph.generation:
            cached = (self.graph.generation, {
                name: [(b.schema_hash, b.table) for b in found]
                for name, found in branches(self.graph, app).items()})
            self._stored[app.schema_hash] = cached
        return cached[1]

    def current(self, db: Db, table: str, row_id: str) -> VisibleRow | None:
        """The row a write of ``db`` builds on: the best entry across schema versions, in
        ``db``'s shape, with the frontier of ``db``'s own branch (copy-on-write: the new
        version is written there, extending whatever that branch already holds).

        Example:
            >>> # db.migrations.current(db, "todos", row_id).data
        """
        own = self.store.current(table, [row_id], schema_hash=db.branch_key).get(row_id)
        source = self.context(db).source(table)
        if source == quote(visible_table(table, db.app.schema_hash)):
            return own
        schema = db.app.table(table)
        reads = [read_expr(f"t.{quote(c)}", col.type) for c, col in schema.columns.items()]
        sql = ("SELECT replace(CAST(t._jz_batch AS VARCHAR), '-', ''), t._jz_deleted, t._jz_tier, "
               't."$createdBy", t."$createdAt", t."$updatedBy", t."$updatedAt", '
               f"{', '.join(reads)} FROM {source} AS t WHERE t.id = CAST(? AS UUID)")
        with self.store.lock:
            found = self.store.conn.execute(sql, [row_id]).fetchall()
        row = found[0] if found else None
        if row is None or (own is not None and own.batch_id == row[0]):
            return own
        batch, deleted, tier, created_by, created_at, updated_by, updated_at, *values = row
        data = {} if deleted == "hard" else dict(zip(schema.columns, values, strict=True))
        return VisibleRow(table, row_id, data, created_by, created_at, updated_by, updated_at,
                          batch, own.frontier if own is not None else (), deleted, tier)

    def row_counts(self) -> dict[str, dict[str, int]]:
        """Visible (not deleted) rows stored per schema version and table.

        Example:
            >>> # db.migrations.row_counts()[app.schema_hash]["todos"]
        """
        return stored_rows(self.store, self.graph.schemas.values())


def stored_rows(store: Store, apps: Iterable[App]) -> dict[str, dict[str, int]]:
    """Visible (not deleted) rows stored under each app's schema, per table.

    Example:
        >>> from jazz_nb import s
        >>> from jazz_nb.store import Store
        >>> app = s.define_app({"t": s.table(a=s.int())})
        >>> stored_rows(Store(app), [app]) == {app.schema_hash: {"t": 0}}
        True
    """
    out: dict[str, dict[str, int]] = {}
    with store.lock:
        for app in apps:
            out[app.schema_hash] = {
                name: store.conn.execute(
                    f"SELECT count(*) FROM {quote(visible_table(name, app.schema_hash))} "
                    "WHERE _jz_deleted IS NULL").fetchall()[0][0]
                for name in app.tables}
    return out


def activate(db: Db, *lenses: Lens, schemas: Sequence[App] = ()) -> Migrations:
    """Activate lenses (and schemas) in ``db``'s store, creating its migrations if needed.

    Example:
        >>> # activate(db, s.migration(v1, v2))
    """
    migrations = db.migrations
    if migrations is None:
        migrations = db.engine.migrations = Migrations(db.store, LensGraph(schemas=[db.app]))
    migrations.context(db)  # follow db's live queries compiled before the graph existed
    migrations.add(*lenses, schemas=schemas)
    return migrations


def evolve(db: Db, app: App, *lenses: Lens) -> Db:
    """A view of ``db``'s store on schema ``app`` after activating ``lenses``: it reads every
    connected version in ``app``'s shape and writes on ``app``'s branch.

    Example:
        >>> # v2 = evolve(db, app_v2, s.migration(app_v1, app_v2))
    """
    migrations = activate(db, *lenses, schemas=[app])
    if app.schema_hash not in migrations.graph.reachable(db.app.schema_hash):
        raise MigrationError(f"no lens path from schema {db.app.schema_hash[:12]} to "
                             f"{app.schema_hash[:12]}; pass the lens connecting them")
    return type(db)(app, db.engine, db.session)
