"""Previewing a lens (even a draft) on a database's rows before it is activated.

The rows of the lens's source schema — as this database reads that schema — are translated
through the lens in SQL, and the query (on the target schema) runs over them: filters, order
and includes apply in the target's shape. ``round_trip=True`` translates there and back.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> from jazz_nb.lens import migration
    >>> v1 = s.define_app({"todos": s.table(name=s.string())})
    >>> v2 = s.define_app({"todos": s.table(title=s.string(), n=s.int())})
    >>> db = jz.create_db(v1, app_id="preview-doc")
    >>> _ = db.insert(v1.todos, {"name": "milk"})
    >>> lens = migration(v1, v2)  # a draft: name → title might be a rename
    >>> db.preview_lens(lens, v2.todos).to_dict("records")
    [{'title': 'milk', 'n': 0}]
    >>> db.preview_lens(lens.remove_column("todos", "name"), v2.todos).to_dict("records")
    [{'title': '', 'n': 0}]
    >>> db.close()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from jazz_nb.errors import MigrationError
from jazz_nb.lens.lens import Lens
from jazz_nb.lens.sql import META, MigrationContext, select_translated
from jazz_nb.lens.translate import initial, walk
from jazz_nb.lens.values import sql_literal
from jazz_nb.query.builder import Query
from jazz_nb.query.results import run_arrow, to_df
from jazz_nb.query.sql import CompileContext, compile_query
from jazz_nb.schema.app import App, TableSchema
from jazz_nb.store.layout import MAGIC_COLUMNS

if TYPE_CHECKING:
    from jazz_nb.db import Db
    from jazz_nb.lens.ops import LensOp

_META_TYPES = ("VARCHAR", "BIGINT", "VARCHAR", "BIGINT", "UUID", "UUID[]", "VARCHAR", "TINYINT")


@dataclass(frozen=True)
class PreviewContext(CompileContext):
    """Sources of the target schema's tables: ``base``'s rows of the source schema, translated
    by ``ops`` (a table the ops add has no rows).

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"t": s.table(a=s.int())})
        >>> ctx = PreviewContext(app.schema_hash, source_app=app, target_app=app,
        ...                      base=CompileContext(app.schema_hash))
        >>> ctx.source("t").startswith("(SELECT b.id, b.\\"a\\"")
        True
    """

    source_app: App | None = field(default=None, compare=False)
    target_app: App | None = field(default=None, compare=False)
    ops: tuple[LensOp, ...] = ()
    base: CompileContext | None = field(default=None, compare=False)

    def source(self, table: str) -> str:
        """``table`` of the target schema over the translated source rows."""
        assert self.source_app is not None and self.target_app is not None
        schema = self.target_app.table(table)
        state = walk(initial(self.source_app.tables), self.ops).get(table)
        if state is None or state.origin is None or self.base is None:
            return _empty(schema)
        return f"({select_translated(state, schema, self.base.source(state.origin))})"


def _empty(schema: TableSchema) -> str:
    cols = ["CAST(NULL AS UUID) AS id"]
    cols += [f"{sql_literal(c.type, None)} AS \"{n}\"" for n, c in schema.columns.items()]
    names = [*(f'"{m}"' for m in MAGIC_COLUMNS), *META[len(MAGIC_COLUMNS):]]
    cols += [f"CAST(NULL AS {ty}) AS {name}" for ty, name in zip(_META_TYPES, names, strict=True)]
    return f"(SELECT {', '.join(cols)} LIMIT 0)"


def view_context(db: Db, app: App) -> CompileContext | None:
    """How ``db`` reads schema ``app``: its own view, another version it stores (through its
    lens graph), or ``None`` (no rows of that schema here).

    Example:
        >>> # view_context(db, app_v1).source("todos")
    """
    if app.schema_hash == db.app.schema_hash:
        return db.compile_context()
    migrations = db.migrations
    if migrations is not None and app.schema_hash in migrations.graph.schemas:
        return MigrationContext.build(migrations.graph, migrations.graph.schemas[app.schema_hash])
    return None


def preview_lens(db: Db, lens: Lens, query: Any, *, round_trip: bool = False) -> pd.DataFrame:
    """``db.preview_lens``: the query's result as if ``lens`` were active (see the module).

    Example:
        >>> # preview_lens(db, lens, app_v2.todos.where(done=False))
    """
    if not isinstance(lens, Lens):
        raise TypeError(f"expected a Lens (s.migration(old, new)), got {type(lens).__name__}")
    if lens.old is None or lens.new is None:
        raise MigrationError(f"lens {lens.label} is not bound to its schemas; use "
                             "lens.bind(old_app, new_app)")
    if isinstance(query, str):
        query = lens.new[query]
    if not isinstance(query, Query):
        raise TypeError("preview_lens takes a query on the lens's source or target schema")
    target = query.app.schema_hash
    if round_trip:
        if target != lens.from_hash:
            raise MigrationError(f"a round trip previews a query on the source schema "
                                 f"{lens.from_hash[:12]}, not {target[:12]}")
        source, ops = lens.old, (*lens.forward, *lens.backward)
    elif target == lens.to_hash:
        source, ops = lens.old, lens.forward
    elif target == lens.from_hash:
        source, ops = lens.new, lens.backward
    else:
        raise MigrationError(f"the query's schema {target[:12]} is neither end of lens "
                             f"{lens.label}")
    ctx = PreviewContext(target, source_app=source, target_app=query.app, ops=tuple(ops),
                         base=view_context(db, source))
    compiled = compile_query(query, context=ctx)
    with db.store.lock:
        return to_df(run_arrow(db.store.conn, compiled))
