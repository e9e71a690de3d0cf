"""Tables and apps: ``s.table(...)`` and ``s.define_app({...})``, validated at definition time.

Example:
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string(), done=s.boolean())})
    >>> app.schema_hash
    'bfd77d25b0696da75df2ca82ab129c6289432decaaad8b86adcb31a366bdd217'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from jazz_nb.errors import QueryError, SchemaError
from jazz_nb.schema import types as t
from jazz_nb.schema.columns import Column
from jazz_nb.schema.hash import branch_name, schema_hash
from jazz_nb.schema.relations import Relation, relations_of

if TYPE_CHECKING:
    from jazz_nb.query.builder import Query

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_COLUMNS = {"id"}
INTERNAL_PREFIX = "_jz_"


@dataclass(frozen=True)
class TableSchema:
    """A table's declared columns (in order) and optional ``index_only`` list.

    Example:
        >>> from jazz_nb import s
        >>> list(s.table(title=s.string()).columns)
        ['title']
    """

    columns: dict[str, Column]
    indexed_columns: tuple[str, ...] | None = None

    def index_only(self, *columns: str) -> TableSchema:
        """Index only these columns (Jazz's ``indexOnly``); changes the schema hash."""
        names = columns[0] if len(columns) == 1 and not isinstance(columns[0], str) else columns
        return replace(self, indexed_columns=tuple(names))

    def column(self, table: str, name: str) -> Column:
        """The column ``name`` or a ``QueryError`` naming table and column."""
        try:
            return self.columns[name]
        except KeyError:
            raise QueryError(f"unknown column {name!r} on table {table!r} "
                             f"(columns: {', '.join(self.columns)})",
                             table=table, column=name) from None

    def to_json(self) -> dict[str, Any]:
        """Jazz's compiled ``TableSchema`` JSON."""
        out: dict[str, Any] = {"columns": [c.to_json(n) for n, c in self.columns.items()]}
        if self.indexed_columns is not None:
            out["indexed_columns"] = list(self.indexed_columns)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableSchema:
        """Inverse of ``to_json``."""
        cols = {c["name"]: Column.from_json(c) for c in data["columns"]}
        indexed = data.get("indexed_columns")
        return cls(cols, tuple(indexed) if indexed is not None else None)


def table(**columns: Column) -> TableSchema:
    """Declare a table; keyword order is column order (it is part of the schema hash).

    Example:
        >>> from jazz_nb import s
        >>> s.table(title=s.string(), done=s.boolean(default=False)).columns["done"].default
        False
    """
    for name, column in columns.items():
        if not isinstance(column, Column):
            raise SchemaError(f"column {name!r} must be a column builder such as s.string()",
                              column=name)
    return TableSchema(dict(columns))


@dataclass(frozen=True, eq=False)
class App:
    """A validated schema with a query handle per table (``app.todos``).

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"todos": s.table(title=s.string())})
        >>> app.todos.table
        'todos'
    """

    tables: dict[str, TableSchema]
    env: str = "dev"
    user_branch: str = "main"
    _handles: dict[str, Query] = field(default_factory=dict, repr=False)

    @cached_property
    def schema_hash(self) -> str:
        """Jazz's 64-hex schema hash (policies are not part of it)."""
        return schema_hash(self.tables)

    @property
    def branch(self) -> str:
        """This schema version's branch, ``{env}-{hash[:12]}-{user_branch}``."""
        return branch_name(self.schema_hash, self.env, self.user_branch)

    @cached_property
    def relations(self) -> dict[str, dict[str, Relation]]:
        """Per table, the relations usable in ``include`` (forward refs and reverse lists)."""
        return relations_of(self.tables)

    def table(self, name: str) -> TableSchema:
        """The schema of ``name`` or a ``QueryError`` naming it."""
        try:
            return self.tables[name]
        except KeyError:
            raise QueryError(f"unknown table {name!r} (tables: {', '.join(self.tables)})",
                             table=name) from None

    def __getattr__(self, name: str) -> Query:
        tables = self.__dict__.get("tables", {})  # absent while pickle rebuilds an App
        if name.startswith("_") or name not in tables:
            raise AttributeError(f"app has no table {name!r} (tables: {', '.join(tables)})")
        return self[name]

    def __getitem__(self, name: str) -> Query:
        if name not in self._handles:
            from jazz_nb.query.builder import Query

            self.table(name)
            self._handles[name] = Query(self, name)
        return self._handles[name]

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self.tables]

    def to_json(self) -> dict[str, Any]:
        """Jazz's compiled schema JSON (``{table: {columns: [...]}}``)."""
        return {name: tbl.to_json() for name, tbl in self.tables.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any], **kwargs: Any) -> App:
        """Rebuild an app from ``to_json`` output (validated again)."""
        return define_app({n: TableSchema.from_json(tbl) for n, tbl in data.items()}, **kwargs)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><b>{n}</b></td><td>{', '.join(c for c in tbl.columns)}</td></tr>"
            for n, tbl in self.tables.items()
        )
        return (f"<div><b>Jazz app</b> <code>{self.schema_hash[:12]}</code>"
                f"<table>{rows}</table></div>")


def _check_column(table_name: str, name: str, column: Column, tables: dict[str, Any]) -> None:
    where = f"{table_name}.{name}"
    if name.startswith("$"):
        raise SchemaError(f"{where}: column names must not start with '$' (reserved for magic "
                          "columns)", table=table_name, column=name)
    if name in RESERVED_COLUMNS or name.startswith(INTERNAL_PREFIX) or not NAME.match(name):
        raise SchemaError(f"{where}: {name!r} is reserved or not a valid identifier",
                          table=table_name, column=name)
    if column.references is not None:
        if column.references not in tables:
            raise SchemaError(f"{where} references unknown table {column.references!r}",
                              table=table_name, column=name)
        suffixes = ("_ids", "Ids") if isinstance(column.type, t.Array) else ("_id", "Id")
        if not name.endswith(suffixes) or name in suffixes:
            raise SchemaError(f"{where}: a reference column's name must end in "
                              f"{' or '.join(suffixes)}", table=table_name, column=name)
    if column.merge == "counter" and (not isinstance(column.type, t.Integer) or column.nullable):
        raise SchemaError(f"{where}: merge 'counter' needs a required s.int() column",
                          table=table_name, column=name)
    if column.merge == "g-set" and (not isinstance(column.type, t.Array) or column.nullable):
        raise SchemaError(f"{where}: merge 'g-set' needs a required s.array() column",
                          table=table_name, column=name)


def define_app(schema: dict[str, TableSchema], *, env: str = "dev",
               user_branch: str = "main") -> App:
    """Validate a schema and return an ``App`` with a handle per table.

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"projects": s.table(name=s.string()),
        ...                     "todos": s.table(project_id=s.ref("projects").optional())})
        >>> sorted(app.relations["projects"])
        ['todos_via_project']
    """
    if not isinstance(schema, dict) or not schema:
        raise SchemaError("define_app takes a non-empty dict of table name -> s.table(...)")
    for name, tbl in schema.items():
        if not isinstance(name, str) or not NAME.match(name) or name.startswith(INTERNAL_PREFIX):
            raise SchemaError(f"invalid table name {name!r}", table=str(name))
        if not isinstance(tbl, TableSchema):
            raise SchemaError(f"table {name!r} must be defined with s.table(...)", table=name)
        if not tbl.columns:
            raise SchemaError(f"table {name!r} has no columns", table=name)
        for col_name, column in tbl.columns.items():
            _check_column(name, col_name, column, schema)
        for idx in tbl.indexed_columns or ():
            if idx not in tbl.columns:
                raise SchemaError(f"index_only names unknown column {idx!r} on table {name!r}",
                                  table=name, column=idx)
    app = App(dict(schema), env=env, user_branch=user_branch)
    app.relations  # noqa: B018 - validates relation names eagerly
    return app
