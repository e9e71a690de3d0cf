"""Which root rows of a live query can a committed change affect?

Changed rows of the query's own table are candidates themselves. A changed row of an *included*
table (``todos.include(project=True)`` and a ``projects`` row changes) affects the root rows that
include it, found two ways:

* **new links, in SQL**: walk the include tree upwards with one small statement per level —
  a forward relation finds the parent rows whose foreign key points at the changed rows
  (``WHERE project_id IN $ids``), a reverse relation reads the changed child rows' foreign key
  (their parent's id);
* **old links, in memory**: the root rows whose current included data holds a changed id
  (a todo moved from project A to B must leave A's ``todos_via_project`` list), found by a
  vectorised scan of the live result's include column.

Example:
    >>> from jazz_nb.schema import define_app, table, string, ref
    >>> app = define_app({"projects": table(name=string()),
    ...                   "todos": table(title=string(), project_id=ref("projects").optional())})
    >>> [(n.path, n.table) for n in include_nodes(app.todos.include(project=True))]
    [(('project',), 'projects')]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jazz_nb.live.chunks import gather
from jazz_nb.query.sql import IDS_PARAM, CompileContext, Compiled, OutputColumn
from jazz_nb.schema import types as t
from jazz_nb.store.layout import quote

if TYPE_CHECKING:
    from jazz_nb.query.builder import Query
    from jazz_nb.schema.relations import Relation

IDS = f"SELECT unnest(${IDS_PARAM}::UUID[])"


@dataclass(frozen=True)
class IncludeNode:
    """One include in a query's include tree: ``path`` of include names from the root."""

    path: tuple[str, ...]
    relation: Relation

    @property
    def table(self) -> str:
        """The included table."""
        return self.relation.target

    @property
    def many(self) -> bool:
        """Whether the include is a list (array refs, reverse relations)."""
        return self.relation.many


def include_nodes(query: Query, prefix: tuple[str, ...] = ()) -> list[IncludeNode]:
    """Every include of ``query``, parents before children."""
    out = []
    for name, sub in query.includes:
        node = IncludeNode((*prefix, name), query.relation(name))
        out.append(node)
        out += include_nodes(sub, node.path)
    return out


def _sql_ids(sql: str) -> Compiled:
    return Compiled(sql, {}, [OutputColumn("id", t.Text())], IDS_PARAM)


class Dependencies:
    """The tables a live query reads and how their changes map to root row ids."""

    def __init__(self, db: Any, query: Query) -> None:
        self.db = db
        self.root = query.table
        self.nodes = include_nodes(query)
        self.tables = {self.root, *(n.table for n in self.nodes)}
        ctx = db.compile_context() or CompileContext(query.app.schema_hash)
        self._statements = {node.path: self._statement(ctx, node.relation)
                            for node in self.nodes}

    @staticmethod
    def _statement(ctx: CompileContext, rel: Relation) -> Compiled:
        """Ids of the parent rows (table ``rel.source``) linked to changed child rows."""
        fk = quote(rel.column)
        if rel.kind == "forward":
            match = (f"list_has_any(p.{fk}, ${IDS_PARAM}::UUID[])" if rel.many
                     else f"p.{fk} IN ({IDS})")
            return _sql_ids(f"SELECT CAST(p.id AS VARCHAR) AS id FROM {ctx.source(rel.source)} "
                            f"AS p WHERE {match}")
        value = f"unnest(c.{fk})" if rel.array_ref else f"c.{fk}"
        return _sql_ids(f"SELECT DISTINCT CAST({value} AS VARCHAR) AS id FROM "
                        f"{ctx.source(rel.target)} AS c WHERE c.id IN ({IDS}) AND "
                        f"c.{fk} IS NOT NULL")

    def _parents(self, node: IncludeNode, child_ids: list[str]) -> list[str]:
        table = self.db.fetch_arrow(self._statements[node.path], child_ids)
        return [i for i in table.column(0).to_pylist() if i is not None]

    def candidates(self, changed: dict[str, Iterable[str]], result: pa.Table) -> list[str]:
        """Root ids whose row may have changed (a superset; re-evaluation decides)."""
        out: dict[str, None] = {}
        if self.root in changed:
            out.update(dict.fromkeys(changed[self.root]))
        by_path = {node.path: node for node in self.nodes}
        for node in self.nodes:
            ids = list(changed.get(node.table, ()))
            if not ids:
                continue
            out.update(dict.fromkeys(self._old_links(result, node, ids)))
            # new links: climb the include tree through SQL
            level, path = ids, node.path
            while path and level:
                level = self._parents(by_path[path], level)
                path = path[:-1]
            out.update(dict.fromkeys(level))
        return list(out)

    def _old_links(self, result: pa.Table, node: IncludeNode, ids: list[str]) -> list[str]:
        """Root ids whose current include data (at ``node.path``) holds one of ``ids``."""
        if result.num_rows == 0:
            return []
        wanted = pa.array(ids, type=pa.string())
        kinds = []
        by_path = {n.path: n for n in self.nodes}
        for depth in range(1, len(node.path) + 1):
            kinds.append((node.path[depth - 1], by_path[node.path[:depth]].many))
        roots = result.column("id")
        hits: list[np.ndarray] = []
        base = 0
        for chunk in result.column(node.path[0]).chunks:
            parents = np.arange(base, base + len(chunk), dtype=np.int64)
            base += len(chunk)
            values: Any = chunk
            for depth, (name, many) in enumerate(kinds):
                if depth:
                    values = pc.struct_field(values, name)
                if many:
                    parents = parents[pc.list_parent_indices(values).to_numpy()]
                    values = pc.list_flatten(values)
            found = pc.is_in(pc.struct_field(values, "id"), value_set=wanted)
            found = found.fill_null(False).to_numpy(zero_copy_only=False)
            if found.any():
                hits.append(parents[found])
        if not hits:
            return []
        positions = np.unique(np.concatenate(hits))
        return gather(roots, positions).to_pylist()
