"""Reading every schema version in one DuckDB statement: the migrations ``CompileContext``.

For a reader on schema R, ``MigrationContext.source(table)`` is a subquery: R's visible rows
UNION ALL, per other version V connected to R by lenses, V's visible rows translated into R's
shape (renames become column references, added columns constants; the lens path is composed
before any SQL is written). Per row id only the best entry across versions survives — the one
with the greatest ``($updatedAt, batch)`` (§1.5, last bullet; R wins ties) — by one hash
anti-join per other version. Deleted entries take part (a newer soft delete hides an older
version) and are filtered by the query itself, so filters, ordering and policies stay in the
same statement and DuckDB pushes them into every branch.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.lens import migration
    >>> from jazz_nb.lens.graph import LensGraph
    >>> v1 = s.define_app({"todos": s.table(title=s.string())})
    >>> v2 = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False))})
    >>> ctx = MigrationContext.build(LensGraph([migration(v1, v2)]), v2)
    >>> sql = ctx.source("todos").replace(v1.schema_hash[:12], "V1")
    >>> print(sql.replace(v2.schema_hash[:12], "V2"))  # doctest: +NORMALIZE_WHITESPACE
    (SELECT b.id, b."title", b."done", b."$createdBy", b."$createdAt", b."$updatedBy",
        b."$updatedAt", b._jz_batch, b._jz_frontier, b._jz_deleted, b._jz_tier
     FROM "todos__V2" AS b
     ANTI JOIN "todos__V1" AS o0 ON o0.id = b.id AND (o0."$updatedAt" > b."$updatedAt"
        OR o0."$updatedAt" = b."$updatedAt" AND o0._jz_batch > b._jz_batch)
     UNION ALL
     SELECT b.id, b."title", CAST(false AS BOOLEAN) AS "done", b."$createdBy",
        b."$createdAt", b."$updatedBy", b."$updatedAt", b._jz_batch, b._jz_frontier,
        b._jz_deleted, b._jz_tier
     FROM "todos__V1" AS b
     ANTI JOIN "todos__V2" AS o0 ON o0.id = b.id AND (o0."$updatedAt" > b."$updatedAt"
        OR o0."$updatedAt" = b."$updatedAt" AND o0._jz_batch >= b._jz_batch))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jazz_nb.lens.translate import Const, Source, TableState, initial, walk
from jazz_nb.lens.values import sql_literal
from jazz_nb.query.sql import CompileContext
from jazz_nb.schema.app import App, TableSchema
from jazz_nb.store.layout import ENGINE_COLUMNS, MAGIC_COLUMNS, quote, visible_table

if TYPE_CHECKING:
    from jazz_nb.lens.graph import LensGraph

META = (*map(quote, MAGIC_COLUMNS), *ENGINE_COLUMNS)


@dataclass(frozen=True)
class Branch:
    """Rows of one schema version as a reader's table: the stored table they live in and
    where each reader column comes from.

    Example:
        >>> Branch("ab" * 32, "todos", TableState("todos", {})).physical
        '"todos__abababababab"'
    """

    schema_hash: str
    table: str
    state: TableState

    @property
    def physical(self) -> str:
        """The visible table holding the branch's rows."""
        return quote(visible_table(self.table, self.schema_hash))


def branches(graph: LensGraph, reader: App) -> dict[str, list[Branch]]:
    """Per reader table, the versions whose rows it reads (the reader's own first).

    Example:
        >>> from jazz_nb import s
        >>> from jazz_nb.lens.graph import LensGraph
        >>> app = s.define_app({"t": s.table(a=s.int())})
        >>> [b.schema_hash == app.schema_hash for b in branches(LensGraph(), app)["t"]]
        [True]
    """
    out: dict[str, list[Branch]] = {
        name: [Branch(reader.schema_hash, name, state)]
        for name, state in initial(reader.tables).items()}
    for version in graph.reachable(reader.schema_hash)[1:]:
        path = graph.path(version, reader.schema_hash)
        assert path is not None
        state = walk(initial(graph.schemas[version].tables),
                     [op for step in path for op in step.ops])
        for name, table in state.items():
            if name in out and table.origin is not None:
                out[name].append(Branch(version, table.origin, table))
    return out


def select_translated(state: TableState, schema: TableSchema, relation: str) -> str:
    """``SELECT`` of the visible-row columns of ``schema`` from ``relation`` (rows of the
    walk's source table), each reader column read from its source column or a constant.

    Example:
        >>> from jazz_nb import s
        >>> from jazz_nb.schema import types as t
        >>> state = TableState("t", {"b": Source("a", t.Integer(), False)})
        >>> select_translated(state, s.table(b=s.int(), c=s.int().optional()), '"t__v1"')[:60]
        'SELECT b.id, b."a" AS "b", CAST(NULL AS INTEGER) AS "c", b."'
    """
    cols = ["b.id"]
    for name, column in schema.columns.items():
        cell = state.columns.get(name)
        if isinstance(cell, Source) and cell.column == name:
            cols.append(f"b.{quote(name)}")
        elif isinstance(cell, Source):
            cols.append(f"b.{quote(cell.column)} AS {quote(name)}")
        else:
            value = cell.value if isinstance(cell, Const) else None
            cols.append(f"{sql_literal(column.type, value)} AS {quote(name)}")
    return "SELECT " + ", ".join(cols + [f"b.{m}" for m in META]) + f" FROM {relation} AS b"


def _unless_beaten(others: list[tuple[Branch, bool]]) -> str:
    """Anti-joins dropping rows of the branch ``b`` that another branch has a better entry for
    (``True``: that branch also wins ties)."""
    joins = []
    for n, (other, ties) in enumerate(others):
        o = f"o{n}"
        joins.append(
            f" ANTI JOIN {other.physical} AS {o} ON {o}.id = b.id AND ({o}.\"$updatedAt\" > "
            f'b."$updatedAt" OR {o}."$updatedAt" = b."$updatedAt" AND {o}._jz_batch '
            f"{'>=' if ties else '>'} b._jz_batch)")
    return "".join(joins)


def union_sql(schema: TableSchema, table_branches: list[Branch]) -> str:
    """The reader's table over every branch: its own visible table if it is the only one.

    Example:
        >>> from jazz_nb import s
        >>> schema = s.table(a=s.int())
        >>> union_sql(schema, [Branch("ab" * 32, "t", initial({"t": schema})["t"])])
        '"t__abababababab"'
    """
    if len(table_branches) == 1:
        return table_branches[0].physical
    parts = []
    for i, branch in enumerate(table_branches):
        others = [(other, j < i) for j, other in enumerate(table_branches) if j != i]
        parts.append(select_translated(branch.state, schema, branch.physical)
                     + _unless_beaten(others))
    return "(" + " UNION ALL ".join(parts) + ")"


@dataclass(frozen=True)
class MigrationContext(CompileContext):
    """A ``CompileContext`` whose sources union every schema version reachable through lenses,
    translated into the reader's schema (use it as ``PolicyContext(base=...)``).

    Example:
        >>> from jazz_nb import s
        >>> from jazz_nb.lens.graph import LensGraph
        >>> app = s.define_app({"t": s.table(a=s.int())})
        >>> MigrationContext.build(LensGraph(), app).source("t") == f'"t__{app.schema_hash[:12]}"'
        True
    """

    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def build(cls, graph: LensGraph, reader: App) -> MigrationContext:
        """The context of a reader on ``reader``'s schema over ``graph``."""
        per_table = branches(graph, reader)
        return cls(reader.schema_hash, {
            name: union_sql(reader.tables[name], found) for name, found in per_table.items()})

    def source(self, table: str) -> str:
        """The reader's ``table`` across schema versions (a subquery, or the plain table)."""
        return self.sources.get(table) or super().source(table)
