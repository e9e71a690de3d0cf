"""Compile a ``Query`` to one parameterised DuckDB statement (filters, order, window, includes).

Filter semantics follow Jazz's filter node (§3.2): ``eq`` never matches NULL, ``ne`` does, NULL
sorts below every value so ``lt``/``lte`` match NULL and ``gt``/``gte`` do not. Includes are
correlated subqueries returning a struct (forward ref) or a list of structs (array refs, reverse
relations). Every value is a named parameter ``$q0``, ``$q1``... cast to the column's type.

Example:
    >>> from jazz_nb.schema import define_app, table, string, boolean
    >>> app = define_app({"todos": table(title=string(), done=boolean())})
    >>> print(compile_query(app.todos.where(done=False)).sql)  # doctest: +NORMALIZE_WHITESPACE
    SELECT t0.id, t0."title", t0."done"
    FROM "todos__bfd77d25b069" AS t0
    WHERE t0._jz_deleted IS NULL AND t0."done" = $q0::BOOLEAN
    ORDER BY t0.id ASC
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from jazz_nb.errors import QueryError
from jazz_nb.query.columns import QueryColumn, thaw
from jazz_nb.schema import types as t
from jazz_nb.store.layout import MAGIC_COLUMNS, quote, visible_table

if TYPE_CHECKING:
    from jazz_nb.query.builder import Condition, Query
    from jazz_nb.schema.relations import Relation

IDS_PARAM = "jz_ids"
_COMPARE = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True)
class CompileContext:
    """Where the compiler gets table sources, extra row predicates and magic columns.

    Subclass it to plug in features without changing the compiler: migrations override
    ``source`` (a union over schema versions), permissions override ``row_filter`` (applied to
    the root table and every included table) and ``magic`` (``$canRead``...).

    Example:
        >>> CompileContext("bfd77d25b0696da7").source("todos")
        '"todos__bfd77d25b069"'
    """

    schema_hash: str

    def source(self, table: str) -> str:
        """SQL usable after ``FROM`` for ``table``'s visible rows: a quoted table name or a
        parenthesised subquery, ready to alias (``FROM {source} AS t``); callers never wrap
        it in parentheses again (``FROM ("t") AS b`` is a syntax error in DuckDB 2)."""
        return quote(visible_table(table, self.schema_hash))

    def row_filter(self, table: str, alias: str) -> tuple[str, dict[str, Any]] | None:
        """An extra predicate on ``alias`` (a row of ``table``) and its named parameters."""
        return None

    def magic(self, table: str, alias: str, name: str) -> str | None:
        """SQL for the magic column ``name`` of ``alias`` — one self-contained expression
        (parenthesised if it has operators: it is compared and selected as it stands);
        ``None`` = the built-in one."""
        return None


@dataclass(frozen=True)
class OutputColumn:
    """One result column: a value of ``type``, or an include (``"one"`` struct / ``"many"``
    list of structs) whose fields are ``children``.

    Example:
        >>> OutputColumn("title", t.Text()).include is None
        True
    """

    name: str
    type: t.ColumnType | None = None
    include: Literal["one", "many"] | None = None
    children: tuple[OutputColumn, ...] = ()


@dataclass(frozen=True)
class Compiled:
    """A compiled query: SQL text, its named parameters and the shape of its result.

    With ``only_ids=True`` the SQL also reads ``$jz_ids`` (``ids_param``), a list of row ids:
    pass it with ``bind(ids)``.

    Example:
        >>> Compiled("SELECT 1", {}, []).bind()
        {}
    """

    sql: str
    params: dict[str, Any]
    columns: list[OutputColumn]
    ids_param: str | None = None

    def bind(self, ids: Iterable[str] | None = None) -> dict[str, Any]:
        """The parameters to execute with, adding the row ids of an ``only_ids`` query."""
        if (ids is None) != (self.ids_param is None):
            raise QueryError("row ids must be given exactly when the query was compiled with "
                             "only_ids=True")
        extra = {} if ids is None else {IDS_PARAM: [str(i) for i in ids]}
        return {**self.params, **extra}


def compile_query(query: Query, *, context: CompileContext | None = None,
                  only_ids: bool = False) -> Compiled:
    """Compile ``query`` into one DuckDB statement.

    ``only_ids=True`` restricts the root rows to the list parameter ``$jz_ids`` (see
    ``Compiled.bind``) and drops limit/offset: live queries re-evaluate just the changed rows.
    """
    ctx = context if context is not None else CompileContext(query.app.schema_hash)
    comp = _Compiler(ctx)
    alias = comp.alias("t")
    paged = not only_ids and (query.row_limit is not None or query.row_offset is not None)
    if paged and ctx.row_filter(query.table, alias) is not None:
        where = [f"{alias}.id IN ({_page(comp, query)})"]  # policy: pick the page's ids first
        paged = False
    else:
        where = comp.where(query, alias)
    if only_ids:
        where.append(f"{alias}.id IN (SELECT unnest(${IDS_PARAM}::UUID[]))")
    order = comp.order(query, alias)
    fields = comp.fields(query, alias)
    lines = [
        "SELECT " + ", ".join(_named(sql, col.name, alias) for sql, col in fields),
        f"FROM {ctx.source(query.table)} AS {alias}",
        "WHERE " + " AND ".join(where),
        "ORDER BY " + ", ".join(f"{sql} {direction}" for sql, direction in order),
        *_window(query if paged else None),
    ]
    return Compiled("\n".join(lines), comp.params, [col for _, col in fields],
                    IDS_PARAM if only_ids else None)


def _window(query: Query | None) -> list[str]:
    """``LIMIT``/``OFFSET`` lines of a query (none for ``None``)."""
    if query is None:
        return []
    return ([f"LIMIT {query.row_limit}"] if query.row_limit is not None else []) + (
        [f"OFFSET {query.row_offset}"] if query.row_offset is not None else [])


def _page(comp: _Compiler, query: Query) -> str:
    """The ids of one ordered page, selected before any other column is read.

    Under a row-reading policy DuckDB cannot defer reading the other columns of a top-N
    query past the policy's semi-join; choosing the page's ids first restores that.
    """
    alias = comp.alias("p")
    order = comp.order(query, alias)
    return " ".join([
        f"SELECT {alias}.id FROM {comp.ctx.source(query.table)} AS {alias}",
        "WHERE " + " AND ".join(comp.where(query, alias)),
        "ORDER BY " + ", ".join(f"{sql} {direction}" for sql, direction in order),
        *_window(query),
    ])


def _named(sql: str, name: str, alias: str) -> str:
    plain = f"{alias}.id" if name == "id" else f"{alias}.{quote(name)}"
    return sql if sql == plain else f"{sql} AS {quote(name)}"


@dataclass
class _Compiler:
    ctx: CompileContext
    params: dict[str, Any] = field(default_factory=dict)
    aliases: Counter[str] = field(default_factory=Counter)

    def alias(self, prefix: str) -> str:
        self.aliases[prefix] += 1
        return f"{prefix}{self.aliases[prefix] - 1}"

    def bind(self, value: Any, sql_type: str) -> str:
        name = f"q{len(self.params)}"
        self.params[name] = thaw(value)
        return f"${name}::{sql_type}"

    def value(self, table: str, alias: str, column: QueryColumn) -> str:
        """SQL of one column of ``alias``."""
        if column.kind == "id":
            return f"{alias}.id"
        if column.kind == "magic":
            custom = self.ctx.magic(table, alias, column.name)
            if custom is not None:
                return custom
            if column.name not in MAGIC_COLUMNS:  # $can*: NULL without a session (§1.2)
                return "CAST(NULL AS BOOLEAN)"
        return f"{alias}.{quote(column.name)}"

    def where(self, q: Query, alias: str) -> list[str]:
        """Deleted-row filter, the query's conditions and the context's row filter."""
        deleted = "IS DISTINCT FROM 'hard'" if q.with_deleted else "IS NULL"
        preds = [f"{alias}._jz_deleted {deleted}"]
        preds += [self.condition(q, alias, c) for c in q.conditions]
        extra = self.ctx.row_filter(q.table, alias)
        if extra is not None:
            sql, params = extra
            for name, value in params.items():
                if name in self.params and self.params[name] != value:
                    raise QueryError(f"row_filter parameter ${name} of table {q.table!r} "
                                     "clashes with another parameter", table=q.table)
                self.params[name] = value
            preds.append(f"({sql})")
        return preds

    def condition(self, q: Query, alias: str, cond: Condition) -> str:
        column = q.column(cond.column)
        expr = self.value(q.table, alias, column)
        if cond.op == "is_null":
            return f"{expr} IS {'' if cond.value else 'NOT '}NULL"
        sql_type = column.operand_type(cond.op).sql_type()
        if cond.op == "in":
            return f"list_contains({self.bind(cond.value, sql_type + '[]')}, {expr})"
        param = self.bind(cond.value, sql_type)
        if cond.op == "contains":
            text = isinstance(column.type, t.Text)
            return f"contains({expr}, {param})" if text else f"list_contains({expr}, {param})"
        if column.nullable and cond.op == "ne":
            return f"{expr} IS DISTINCT FROM {param}"
        if column.nullable and cond.op in ("lt", "lte"):
            return f"({expr} {_COMPARE[cond.op]} {param} OR {expr} IS NULL)"
        return f"{expr} {_COMPARE[cond.op]} {param}"

    def order(self, q: Query, alias: str) -> list[tuple[str, str]]:
        """``(sql, direction)`` sort keys: NULL first ascending (§3.2), then ``id``."""
        keys = []
        for key in q.ordering:
            column = q.column(key.column)
            direction = key.direction.upper()
            if column.nullable:
                direction += " NULLS FIRST" if key.direction == "asc" else " NULLS LAST"
            keys.append((self.value(q.table, alias, column), direction))
        if all(key.column != "id" for key in q.ordering):
            keys.append((f"{alias}.id", "ASC"))
        return keys

    def fields(self, q: Query, alias: str) -> list[tuple[str, OutputColumn]]:
        """``id``, the selected columns, then the includes."""
        names: list[str] = []
        user = list(q.app.table(q.table).columns)
        for name in user if q.selection is None else q.selection:
            names += user if name == "*" else [name]
        out = []
        for name in dict.fromkeys(["id", *names]):
            column = q.column(name)
            out.append((self.value(q.table, alias, column), OutputColumn(name, column.type)))
        out += [self.include(q.relation(name), sub, alias) for name, sub in q.includes]
        return out

    def include(self, rel: Relation, sub: Query, outer: str) -> tuple[str, OutputColumn]:
        """A correlated subquery for the include ``rel`` of the row ``outer``."""
        alias = self.alias("t")
        preds = self.where(sub, alias)
        fields = self.fields(sub, alias)
        struct = "struct_pack(" + ", ".join(f"{quote(c.name)} := {sql}" for sql, c in fields) + ")"
        out = OutputColumn(rel.name, None, "many" if rel.many else "one",
                           tuple(c for _, c in fields))
        source = f"{self.ctx.source(sub.table)} AS {alias}"
        fk = f"{outer}.{quote(rel.column)}"
        if rel.kind == "forward" and not rel.many:
            link = f"{alias}.id = {fk}"
            return f"(SELECT {struct} FROM {source} WHERE {link} AND {' AND '.join(preds)})", out
        if rel.kind == "forward":  # array of refs: the array's order unless the sub-query sorts
            pos = self.alias("u")
            source = f"(SELECT unnest({fk}) AS ref, generate_subscripts({fk}, 1) AS pos) " \
                     f"AS {pos} JOIN {source} ON {alias}.id = {pos}.ref"
            order = self.order(sub, alias) if sub.ordering else [(f"{pos}.pos", "ASC")]
            rows = self.rows(struct, source, preds, order, sub.row_limit)
            return f"CASE WHEN {fk} IS NULL THEN NULL ELSE {rows} END", out
        target = f"{alias}.{quote(rel.column)}"
        link = f"list_contains({target}, {outer}.id)" if rel.array_ref else f"{target} = {outer}.id"
        return self.rows(struct, source, [link, *preds], self.order(sub, alias),
                         sub.row_limit), out

    def rows(self, struct: str, source: str, preds: list[str], order: list[tuple[str, str]],
             limit: int | None) -> str:
        """``(SELECT list of struct ...)``, ordered, at most ``limit`` elements, ``[]`` if none."""
        where = " AND ".join(preds)
        if limit is None:
            keys = ", ".join(f"{sql} {direction}" for sql, direction in order)
            return f"(SELECT coalesce(list({struct} ORDER BY {keys}), []) FROM {source} " \
                   f"WHERE {where})"
        rows = self.alias("s")
        inner = ", ".join(f"{sql} AS k{i}" for i, (sql, _) in enumerate(order))
        inner_keys = ", ".join(f"k{i} {direction}" for i, (_, direction) in enumerate(order))
        keys = ", ".join(f"{rows}.k{i} {direction}" for i, (_, direction) in enumerate(order))
        return (f"(SELECT coalesce(list({rows}.v ORDER BY {keys}), []) FROM (SELECT {struct} "
                f"AS v, {inner} FROM {source} WHERE {where} ORDER BY {inner_keys} "
                f"LIMIT {limit}) AS {rows})")
