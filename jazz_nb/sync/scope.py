"""Query scope on the server: which rows a subscription needs, at fill time and after writes.

Subscriptions whose query compiles (for their session, policies included) to the same statement
form one ``Group`` and share every computation. A group's scope is its root rows plus every
row its includes pull in, read from the query result (the ``id`` of each included struct).

After a run of writes the server computes, per group, the scope of the *changed* rows before and
after applying them (``candidate_scope``: the changed root rows plus root rows linked to changed
included rows, re-evaluated with the query restricted to those ids). Rows in the old scope that
changed travel as their new versions; rows that entered the scope travel with their whole
history. Windowed queries (limit/offset) and policies that look up other tables re-run the full
query instead, since a change elsewhere can move rows in or out.

Example:
    >>> # group = Group(server_db, app.todos.where(done=False).include(project=True))
    >>> # group.full_scope()  -> {"todos": <ids>, "projects": <ids>}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from jazz_nb.live.deps import Dependencies, include_nodes
from jazz_nb.live.direct import DirectEval
from jazz_nb.live.order import SortKey
from jazz_nb.policy.context import PolicyContext
from jazz_nb.query.results import arrow_of
from jazz_nb.query.sql import CompileContext, Compiled, compile_query
from jazz_nb.schema.app import App
from jazz_nb.store import layout
from jazz_nb.sync.frames import META, wire_schema

if TYPE_CHECKING:
    from jazz_nb.db import Db
    from jazz_nb.query.builder import Query
    from jazz_nb.store.store import Store

Scope = dict[str, pa.Array]  # table -> row ids (strings)
ID_SCHEMA = pa.schema([("id", pa.string())])
IDS = "_jz_sync_ids"
FILTER_IDS = "jz_filter_ids"


class Group:
    """Subscriptions sharing one compiled statement (same query, same effective policies).

    Example:
        >>> # Group(server_db, app.todos.where(done=False)).full_scope()["todos"]
    """

    def __init__(self, db: Db, query: Query) -> None:
        self.db = db
        self.query = query
        light = query.select()  # ids and includes are all the scope needs
        self.full = db.compile(light)
        self.only_ids = db.compile(light, only_ids=True)
        self.deps = Dependencies(db, query)
        self.nodes = include_nodes(query)
        self.tables = frozenset(self.deps.tables)
        self.windowed = query.row_limit is not None or bool(query.row_offset)
        ctx = db.compile_context()
        self.refresh = ctx.refresh_tables(self.tables) if isinstance(ctx, PolicyContext) \
            else frozenset()
        # no filter, include or window: every changed root row may be in scope (a superset
        # only costs bandwidth), so no query is needed to find out
        self.trivial = not (query.conditions or query.includes or self.windowed) and (
            ctx is None or ctx.row_filter(query.table, "t") is None)
        # a plain query (one table of the store's own schema, no row policy, no window) is
        # judged on the changed rows in memory, without a statement per group and write
        self.direct = None if self.windowed else DirectEval.build(
            db, query, ID_SCHEMA, [SortKey("id")], row_filter=True)
        self.filtered = ctx is not None and ctx.row_filter(query.table, "t") is not None
        # the same query over its soft-deleted rows: a new subscriber may hold rows that
        # were deleted while it was away, and only a delete tells it so
        self.with_deleted = None if query.with_deleted else compile_query(
            replace(query.select(), includes=()).include_deleted(),
            context=SoftDeletedOnly(db.app.schema_hash, base=ctx))
        self.key = group_key(db.app.schema_hash, self.full.sql, self.full.params)
        self.members: set[tuple[str, int]] = set()  # (peer id, subscription id)

    @staticmethod
    def key_of(db: Db, query: Query) -> str:
        """The key a group of ``query`` read by ``db`` has (without building the group).

        Example:
            >>> # state.groups.get(Group.key_of(db, query))
        """
        full = db.compile(query.select())
        return group_key(db.app.schema_hash, full.sql, full.params)

    def full_scope(self) -> Scope:
        """Every row in scope now (runs the whole query)."""
        return self._scope(self.db.fetch_arrow(self.full))

    def fill_scope(self) -> dict[str, pa.Array | Compiled]:
        """What a new subscriber gets: ``full_scope()``, or for a query without includes the
        query itself (``history_arrow`` reads the histories in the same statement).
        """
        return dict(self.full_scope()) if self.nodes else {self.query.table: self.full}

    def deleted_scope(self) -> pa.Array:
        """Root rows that would be in scope but for a soft delete (their deletes travel with a
        fill, so a client that was away drops them); empty for a query that shows deleted
        rows itself.

        Example:
            >>> # group.deleted_scope() -> <row ids>
        """
        if self.with_deleted is None:
            return pa.array([], pa.string())
        return _flat(self.db.fetch_arrow(self.with_deleted).column("id")).cast(pa.string())

    def needs_full(self, changed: Iterable[str]) -> bool:
        """Whether a change of ``changed`` tables needs a full re-run (window, policies)."""
        tables = set(changed)
        return bool(tables & self.refresh) or (self.windowed and bool(tables & self.tables))

    def rows_scope(self, changed: Mapping[str, Iterable[str]],
                   records: Mapping[str, Any] | None = None,
                   filters: RowFilters | None = None) -> Scope:
        """Scope of the root rows that changed rows can affect: the changed root rows and the
        root rows linked to changed included rows, re-evaluated by id (no window).
        ``records`` (visible rows of the changed root rows, ``None`` for rows that have none)
        lets a plain query judge them in memory; its row filter (policy) is then taken from
        ``filters``, shared by every group of the same session."""
        root = self.query.table
        if self.trivial:
            ids = changed.get(root, ())
            return {root: pa.array(list(ids), pa.string())} if ids else {}
        if self.direct is not None and records is not None and (
                filters is not None or not self.filtered):
            ids = [r for r in changed.get(root, ()) if self.direct.matches(records.get(r))]
            if self.filtered and ids:
                assert filters is not None
                passing = filters.passing(self.db, root, ids)
                ids = [r for r in ids if r in passing]
            return {root: pa.array(ids, pa.string())} if ids else {}
        roots = self.deps.candidates({t: list(ids) for t, ids in changed.items()},
                                     pa.table({"id": pa.array([], pa.string())}))
        if not roots:
            return {}
        return self._scope(self.db.fetch_arrow(self.only_ids, roots))

    def _scope(self, result: pa.Table) -> Scope:
        out: dict[str, list[pa.Array]] = {self.query.table: [_flat(result.column("id"))]}
        many = {node.path: node.many for node in self.nodes}
        for node in self.nodes:
            values: Any = _flat(result.column(node.path[0]))
            for depth in range(len(node.path)):
                if depth:
                    values = pc.struct_field(values, node.path[depth])
                if many[node.path[:depth + 1]]:
                    values = pc.list_flatten(values)
            out.setdefault(node.table, []).append(pc.struct_field(values, "id").drop_null())
        root = self.query.table  # root ids are unique; included rows may repeat
        return {t: arrays[0] if t == root and len(arrays) == 1 else pc.unique(
            pa.concat_arrays([a.cast(pa.string()) for a in arrays])) for t, arrays in out.items()}


@dataclass(frozen=True)
class SoftDeletedOnly(CompileContext):
    """A compile context that keeps only soft-deleted rows, over ``base`` (sources, policies).

    Example:
        >>> SoftDeletedOnly("ab" * 32).row_filter("todos", "t0")
        ("t0._jz_deleted = 'soft'", {})
    """

    base: CompileContext | None = None

    def source(self, table: str) -> str:
        """The base context's source."""
        return self.base.source(table) if self.base is not None else super().source(table)

    def row_filter(self, table: str, alias: str) -> tuple[str, dict[str, Any]] | None:
        """The base's filter and ``_jz_deleted = 'soft'``."""
        own = f"{alias}._jz_deleted = 'soft'"
        base = self.base.row_filter(table, alias) if self.base is not None else None
        return (own, {}) if base is None else (f"({base[0]}) AND {own}", base[1])

    def magic(self, table: str, alias: str, name: str) -> str | None:
        """The base's magic columns."""
        return self.base.magic(table, alias, name) if self.base is not None else None


class RowFilters:
    """Which rows pass each session's row filter (its read policy), asked once per filter,
    table and row for every group that shares the filter. One instance per store state: a
    write changes the answers.

    Example:
        >>> # RowFilters().passing(group.db, "todos", changed_ids) -> {row ids}
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str, str], dict[str, bool]] = {}

    def passing(self, db: Db, table: str, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` whose visible row passes ``db``'s row filter on ``table``."""
        ctx = db.compile_context()
        found = ctx.row_filter(table, "t") if ctx is not None else None
        wanted = list(dict.fromkeys(ids))
        if found is None:
            return set(wanted)
        sql, params = found
        key = (db.app.schema_hash, table, sql, json.dumps(params, sort_keys=True, default=str))
        known = self._seen.setdefault(key, {})
        missing = [i for i in wanted if i not in known]
        if missing:
            assert ctx is not None
            with db.store.lock:
                hits = {row for (row,) in db.store.conn.execute(
                    f"SELECT CAST(t.id AS VARCHAR) FROM {ctx.source(table)} AS t WHERE t.id IN "
                    f"(SELECT CAST(unnest(${FILTER_IDS}) AS UUID)) AND ({sql})",
                    {**params, FILTER_IDS: missing}).fetchall()}
            known.update((i, i in hits) for i in missing)
        return {i for i in wanted if known[i]}


def _flat(column: pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)


def group_key(schema_hash: str, sql: str, params: Mapping[str, Any]) -> str:
    """The key subscriptions are grouped by: schema, SQL text and parameter values.

    Example:
        >>> group_key("ab", "SELECT 1", {"q0": 3})
        'ab\\nSELECT 1\\n{"q0": 3}'
    """
    return f"{schema_hash}\n{sql}\n{json.dumps(params, sort_keys=True, default=str)}"


def history_arrow(store: Store, app: App, table: str, ids: pa.Array | Compiled) -> pa.Table:
    """Every stored version of rows ``ids`` of ``table`` (schema ``app``), in wire form.
    ``ids`` is an array of row ids, or a compiled query whose ``id`` column lists them (read
    in the same statement: no round trip of the ids through Arrow). Versions come in no
    particular order.

    Example:
        >>> # history_arrow(server_store, app, "todos", pa.array([row_id]))
    """
    schema = app.table(table)
    history = layout.quote(layout.history_table(table, app.schema_hash))
    user = [f"{layout.read_expr(f'h.{layout.quote(n)}', c.type)} AS {layout.quote(n)}"
            for n, c in schema.columns.items()]
    source = f"(SELECT id FROM ({ids.sql}) AS q)" if isinstance(ids, Compiled) else IDS
    sql = ("SELECT CAST(h._jz_row_id AS VARCHAR) AS _jz_row_id, "
           "replace(CAST(h._jz_batch_id AS VARCHAR), '-', '') AS _jz_batch_id, "
           "CAST(h._jz_parents AS VARCHAR[]) AS _jz_parents, "
           + ", ".join(f"h.{f.name}" for f in list(META)[3:])
           + "".join(", " + u for u in user)
           + f" FROM {history} AS h WHERE h._jz_row_id IN (SELECT CAST(id AS UUID) FROM {source})")
    with store.lock:
        conn = store.conn
        if isinstance(ids, Compiled):
            result = arrow_of(conn.sql(sql, params=ids.params))
        else:
            conn.register(IDS, pa.table({"id": ids.cast(pa.string())}))
            try:
                result = arrow_of(conn.sql(sql))
            finally:
                conn.unregister(IDS)
    parents = result.column("_jz_parents").combine_chunks()
    dashless = pc.replace_substring(parents.flatten(), "-", "")  # public batch id form
    parents = pa.ListArray.from_arrays(parents.offsets, dashless)
    result = result.set_column(2, "_jz_parents", parents)
    return result.cast(wire_schema(schema))

