"""The immutable query builder (§3.1): every method returns a new ``Query``.

Example:
    >>> from jazz_nb.schema import define_app, table, string, boolean, int as int_
    >>> app = define_app({"todos": table(title=string(), done=boolean(),
    ...                                  priority=int_().optional())})
    >>> q = app.todos.where(done=False, priority={"gte": 3}).order_by("priority", "desc").limit(5)
    >>> q
    app.todos.where(done=False, priority={'gte': 3}).order_by('priority', 'desc').limit(5)
    >>> q.where(title="x") is q
    False
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from jazz_nb.errors import QueryError
from jazz_nb.query.columns import OPERATORS, MicrosTimestamp, QueryColumn, resolve
from jazz_nb.query.ir import query_from_ir, query_to_ir
from jazz_nb.query.sql import compile_query
from jazz_nb.schema import types as t

MAX_COUNT = 2**62  # limits and offsets: what DuckDB's BIGINT takes, with room

if TYPE_CHECKING:
    from jazz_nb.schema.app import App
    from jazz_nb.schema.relations import Relation

Direction = Literal["asc", "desc"]
INCLUDE_OPTIONS = ("where", "order_by", "limit", "select", "include", "include_deleted")


@dataclass(frozen=True)
class Condition:
    """One ``column op value`` filter; ``value`` is in storage form (see ``query.columns``)."""

    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` key."""

    column: str
    direction: Direction


@dataclass(frozen=True, repr=False)
class Query:
    """A query over one table: filters (AND), order, window, selection and includes.

    Fields are the query's state; build queries with the methods, not the constructor
    (``app.todos`` is ``Query(app, "todos")``).

    Example:
        >>> from jazz_nb.schema import define_app, table, string
        >>> app = define_app({"todos": table(title=string())})
        >>> app.todos.select("title", "$createdBy").selection
        ('title', '$createdBy')
    """

    app: App
    table: str
    conditions: tuple[Condition, ...] = ()
    ordering: tuple[OrderKey, ...] = ()
    row_limit: int | None = None
    row_offset: int | None = None
    selection: tuple[str, ...] | None = None
    includes: tuple[tuple[str, Query], ...] = ()
    with_deleted: bool = False

    def __post_init__(self) -> None:
        self.app.table(self.table)

    def column(self, name: str) -> QueryColumn:
        """The column ``name`` (``id``, user or magic) or a ``QueryError`` naming it."""
        return resolve(self.app, self.table, name)

    def relation(self, name: str) -> Relation:
        """The relation ``name`` usable in ``include`` or a ``QueryError`` naming it."""
        relations = self.app.relations[self.table]
        if name not in relations:
            raise QueryError(f"unknown relation {name!r} on table {self.table!r} "
                             f"(relations: {', '.join(relations) or 'none'})",
                             table=self.table, column=name)
        return relations[name]

    def where(self, mapping: Mapping[str, Any] | None = None, /, **columns: Any) -> Query:
        """AND conditions: a bare value means ``eq``, ``None`` means is-null, a dict of operators
        gives one condition per operator. Magic columns go in ``mapping``.

        Example: ``app.todos.where({"$createdBy": uid}, done=False, priority={"gte": 3})``
        """
        added = []
        for name, spec in [*(mapping or {}).items(), *columns.items()]:
            column = self.column(name)
            for op, value in _operations(column, spec):
                added.append(Condition(name, op, column.coerce(op, value)))
        return replace(self, conditions=self.conditions + tuple(added))

    def order_by(self, column: str, direction: str = "asc") -> Query:
        """Append a sort key (``"asc"``/``"desc"``); ``id`` ascending always breaks ties.

        Example: ``app.todos.order_by("priority", "desc").order_by("title")``
        """
        self.column(column)
        if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
            raise QueryError(f"order_by direction must be 'asc' or 'desc', got {direction!r} "
                             f"(column {column!r} on table {self.table!r})",
                             table=self.table, column=column)
        key = OrderKey(column, direction.lower())  # type: ignore[arg-type]
        return replace(self, ordering=(*self.ordering, key))

    def limit(self, n: int | None) -> Query:
        """At most ``n`` rows (after ``offset``); ``None`` removes the limit."""
        return replace(self, row_limit=self._count("limit", n))

    def offset(self, n: int | None) -> Query:
        """Skip the first ``n`` rows of the ordered result; ``None`` removes the offset."""
        return replace(self, row_offset=self._count("offset", n))

    def select(self, *columns: str) -> Query:
        """Narrow the result to ``id`` plus ``columns``; ``"*"`` = all user columns; magic
        columns only when named. Example: ``app.todos.select("*", "$createdAt")``
        """
        for name in columns:
            if name != "*":
                self.column(name)
        return replace(self, selection=tuple(dict.fromkeys(c for c in columns if c != "id")))

    def include(self, mapping: Mapping[str, Any] | None = None, /, **relations: Any) -> Query:
        """Load related rows as nested fields: ``True``, a sub-query of the target table or a
        dict of options (``where order_by limit select include include_deleted``); ``False``
        removes an include.

        Example: ``app.projects.include(todos_via_project=app.todos.where(done=False).limit(3))``
        """
        current = dict(self.includes)
        for name, spec in [*(mapping or {}).items(), *relations.items()]:
            rel = self.relation(name)
            if spec is False or spec is None:
                current.pop(name, None)
            else:
                current[name] = self._sub_query(rel, spec)
        return replace(self, includes=tuple(current.items()))

    def include_deleted(self, flag: bool = True) -> Query:
        """Also return soft-deleted rows (``include_deleted(False)`` undoes it)."""
        return replace(self, with_deleted=bool(flag))

    def to_ir(self) -> dict[str, Any]:
        """The JSON-serialisable IR of this query (format in ``docs/queries.md``)."""
        return query_to_ir(self)

    def to_json(self) -> str:
        """``to_ir`` as compact JSON text."""
        return json.dumps(self.to_ir(), separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)

    @classmethod
    def from_ir(cls, app: App, ir: Mapping[str, Any]) -> Query:
        """Rebuild (and re-validate) a query from its IR: ``Query.from_ir(app, q.to_ir()) == q``."""
        return query_from_ir(app, ir)

    @classmethod
    def from_json(cls, app: App, text: str) -> Query:
        """Inverse of ``to_json``."""
        try:
            ir = json.loads(text)
        except json.JSONDecodeError as err:
            raise QueryError(f"query JSON is not valid JSON: {err}") from None
        return cls.from_ir(app, ir)

    def sql(self) -> str:
        """The compiled DuckDB SQL (for display; parameters appear as ``$q0``...)."""
        return compile_query(self).sql

    def with_condition(self, column: str, op: str, stored: Any) -> Query:
        """Append a condition whose value is already in storage form (used by ``from_ir``)."""
        return replace(self, conditions=(*self.conditions, Condition(column, op, stored)))

    def _count(self, what: str, n: Any) -> int | None:
        if n is not None and (isinstance(n, bool) or not isinstance(n, int)
                              or not 0 <= n <= MAX_COUNT):
            raise QueryError(f"{what} on table {self.table!r} must be an int from 0 to "
                             f"{MAX_COUNT}, got {n!r}", table=self.table)
        return n

    def _sub_query(self, rel: Relation, spec: Any) -> Query:
        target = self.app[rel.target]
        if spec is True:
            return target
        if isinstance(spec, Mapping):
            sub = with_options(target, spec)
        elif isinstance(spec, Query):
            if spec.table != rel.target or spec.app is not self.app:
                raise QueryError(f"include {rel.name!r} on table {self.table!r} needs a query "
                                 f"of table {rel.target!r} of the same app, got {spec.table!r}",
                                 table=self.table, column=rel.name)
            sub = spec
        else:
            raise QueryError(f"include {rel.name!r} on table {self.table!r} takes True, a "
                             f"query of {rel.target!r} or a dict of options, got {spec!r}",
                             table=self.table, column=rel.name)
        if sub.row_offset is not None:
            raise QueryError(f"include {rel.name!r} on table {self.table!r}: offset is not "
                             "supported in includes (Jazz ignores it)", table=self.table,
                             column=rel.name)
        return sub

    def __repr__(self) -> str:
        return "app." + self.table + "".join(_repr_calls(self))


def _operations(column: QueryColumn, spec: Any) -> list[tuple[str, Any]]:
    """Split one ``where`` value into ``(operator, value)`` pairs."""
    if spec is None:
        return [("is_null", True)]
    is_ops = isinstance(spec, Mapping) and (
        not isinstance(column.type, t.Json) or (bool(spec) and all(k in OPERATORS for k in spec)))
    if not is_ops:
        return [("eq", spec)]
    out = []
    for op, value in spec.items():
        column.check(op)
        if value is None and op in ("eq", "ne"):
            out.append(("is_null", op == "eq"))
        else:
            out.append((op, value))
    return out


def with_options(query: Query, options: Mapping[str, Any]) -> Query:
    """Apply a dict of include options to ``query``.

    Example: ``with_options(app.todos, {"where": {"done": False}, "order_by": [["title",
    "desc"]], "limit": 3})``
    """
    unknown = [k for k in options if k not in INCLUDE_OPTIONS]
    if unknown:
        raise QueryError(f"unknown include option(s) {unknown} for table {query.table!r} "
                         f"(options: {', '.join(INCLUDE_OPTIONS)}; nest includes with "
                         "{'include': {...}})", table=query.table)
    keys = options.get("order_by", ())
    for key in [keys] if isinstance(keys, str) else keys:
        query = query.order_by(key) if isinstance(key, str) else query.order_by(*key)
    if "where" in options:
        query = query.where(options["where"])
    if "limit" in options:
        query = query.limit(options["limit"])
    if "select" in options:
        query = query.select(*options["select"])
    if "include" in options:
        query = query.include(options["include"])
    return query.include_deleted(options.get("include_deleted", query.with_deleted))


def _repr_calls(q: Query) -> list[str]:
    calls = []
    groups: list[dict[str, dict[str, Any]]] = []
    for c in q.conditions:
        if not groups or c.op in groups[-1].get(c.column, {}):
            groups.append({})
        ctype = q.column(c.column).type
        shown = c.value
        if isinstance(ctype, MicrosTimestamp):  # show µs as datetimes: ints would mean ms
            shown = tuple(map(ctype.to_python, shown)) if c.op == "in" else ctype.to_python(shown)
        groups[-1].setdefault(c.column, {})[c.op] = shown
    for group in groups:
        shown = {col: ops["eq"] if list(ops) == ["eq"] else None if ops == {"is_null": True}
                 else ops for col, ops in group.items()}
        if all(col.isidentifier() for col in shown):
            calls.append(f".where({', '.join(f'{k}={v!r}' for k, v in shown.items())})")
        else:
            calls.append(f".where({shown!r})")
    calls += [f".order_by({k.column!r}" + (", 'desc')" if k.direction == "desc" else ")")
              for k in q.ordering]
    calls += [f".{name}({n})" for name, n in (("limit", q.row_limit), ("offset", q.row_offset))
              if n is not None]
    if q.selection is not None:
        calls.append(f".select({', '.join(map(repr, q.selection))})")
    for name, sub in q.includes:
        plain = sub == q.app[sub.table]
        calls.append(f".include({name}={'True' if plain else repr(sub)})")
    if q.with_deleted:
        calls.append(".include_deleted()")
    return calls
