"""Policy pushdown: a ``PolicyExpr`` as a DuckDB predicate over one row alias (§5.3 semantics).

The session is known when a query compiles, so session values and session-only nodes become
constants. ``Exists`` is a correlated ``EXISTS``; ``Inherits`` unrolls into nested ``EXISTS`` on
the parent table up to its depth limit. Every predicate is two-valued (never NULL), so ``NOT``
behaves as in the Python evaluator. Literals are inlined as escaped SQL literals.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.auth.session import Session
    >>> from jazz_nb.policy.bundle import Permissions
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> sql = PolicySql(app, Permissions({}), Session("bob"), lambda t: t)
    >>> sql.predicate("todos", "t0", ir.Cmp("$createdBy", "Eq", ir.SessionRef(("user_id",))))
    't0."$createdBy" = \\'bob\\''
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import TYPE_CHECKING, Any

from jazz_nb.policy import ir
from jazz_nb.policy.columns import ColumnInfo, columns_of
from jazz_nb.policy.evaluate import max_depth, session_truth
from jazz_nb.policy.values import (
    MISMATCH,
    MISSING,
    ORDERED_KINDS,
    UUID_TEXT,
    common_kind,
    operand,
    scalar,
    session_value,
)
from jazz_nb.store.layout import quote

if TYPE_CHECKING:
    from jazz_nb.auth.session import Session
    from jazz_nb.policy.bundle import Permissions
    from jazz_nb.schema.app import App

TRUE, FALSE = "TRUE", "FALSE"
_SYMBOL = {"Eq": "=", "Ne": "<>", "Lt": "<", "Le": "<=", "Gt": ">", "Ge": ">="}
_UUID_PATTERN = UUID_TEXT.pattern


def literal(value: Any, info: ColumnInfo) -> str:
    """A storage value of ``info``'s kind as an SQL literal.

    Example:
        >>> literal("it's", ColumnInfo("t", "c", "text", None, False, None))
        "'it''s'"
    """
    if value is None:
        return "NULL"
    kind = info.kind
    if kind in ("text", "json"):
        return _text(value)
    if kind == "uuid":
        return f"{_text(value)}::UUID"
    if kind == "bool":
        return TRUE if value else FALSE
    if kind == "int":
        return str(int(value))
    if kind == "float":
        return f"CAST({_text(repr(float(value)))} AS DOUBLE)"
    if kind == "bytes":
        return f"from_hex('{value.hex()}')"
    element = ColumnInfo(info.table, info.name, info.element or "", None, False, None)
    items = ", ".join(literal(v, element) for v in value)
    return f"CAST([{items}] AS {info.sql_type})"


def _text(value: str) -> str:
    parts = ["'" + part.replace("'", "''") + "'" for part in value.split("\x00")]
    return " || chr(0) || ".join(parts)


def _or(parts: list[str]) -> str:
    parts = [p for p in parts if p != FALSE]
    if TRUE in parts:
        return TRUE
    return FALSE if not parts else parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _and(parts: list[str]) -> str:
    parts = [p for p in parts if p != TRUE]
    if FALSE in parts:
        return FALSE
    return TRUE if not parts else parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _not(part: str) -> str:
    return FALSE if part == TRUE else TRUE if part == FALSE else f"(NOT {part})"


class PolicySql:
    """Compiles policy expressions of one bundle for one session.

    ``source(table)`` is the SQL after ``FROM`` for a table's visible rows (the query compile
    context's), so policy sub-queries read exactly what the query reads.
    """

    def __init__(self, app: App, permissions: Permissions, session: Session,
                 source: Callable[[str], str], aliases: Iterator[int] | None = None) -> None:
        self.app = app
        self.permissions = permissions
        self.session = session
        self.source = source
        self._aliases = aliases if aliases is not None else count()

    def predicate(self, table: str, alias: str, expr: ir.PolicyExpr) -> str:
        """SQL true exactly for the rows of ``table`` (as ``alias``) that pass ``expr``."""
        return self._expr(expr, table, alias, None, 0)

    def _alias(self) -> str:
        return f"_jzp{next(self._aliases)}"

    def _columns(self, table: str) -> dict[str, ColumnInfo]:
        return columns_of(self.app, table) if table in self.app.tables else {}

    def _expr(self, expr: ir.PolicyExpr, table: str, alias: str,
              outer: tuple[str, str] | None, depth: int) -> str:
        session_only = session_truth(expr, self.session)
        if session_only is not None:
            return TRUE if session_only else FALSE
        match expr:
            case ir.Const(value):
                return TRUE if value else FALSE
            case ir.And(exprs):
                return _and([self._expr(e, table, alias, outer, depth) for e in exprs])
            case ir.Or(exprs):
                return _or([self._expr(e, table, alias, outer, depth) for e in exprs])
            case ir.Not(inner):
                return _not(self._expr(inner, table, alias, outer, depth))
            case ir.Exists(inner, condition):
                return self._exists(inner, condition, table, alias, depth)
            case ir.Inherits(op, via, limit):
                return self._inherits(op, via, limit, table, alias, depth)
            case ir.InheritsReferencing(op, source, via, limit):
                return self._referencing(op, source, via, limit, table, alias, depth)
        info = self._columns(table).get(getattr(expr, "column", ""))
        if info is None:
            return FALSE
        return self._leaf(expr, info, _column(alias, info.name), outer)

    def _leaf(self, expr: ir.PolicyExpr, info: ColumnInfo, col: str,
              outer: tuple[str, str] | None) -> str:
        match expr:
            case ir.IsNull():
                return f"({col} IS NULL)"
            case ir.IsNotNull():
                return f"({col} IS NOT NULL)"
            case ir.Cmp(_, op, ir.SessionRef() as ref) if ref.path[0] == ir.OUTER_ROW:
                other = self._outer(ref, outer)
                return FALSE if other is None else _compare_columns(op, col, info, *other)
            case ir.Cmp(_, op, value):
                return self._compare_constant(op, col, info, self._constant(value))
            case ir.Contains(_, value):
                return self._contains(col, info, value, outer)
            case ir.In(_, path):
                found = session_value(self.session, path)
                if not isinstance(found, list):
                    return FALSE
                return _or([self._compare_constant("Eq", col, info, scalar(item))
                            for item in found])
            case ir.InList(column, values):
                return _or([self._leaf(ir.Cmp(column, "Eq", v), info, col, outer)
                            for v in values])
        return FALSE

    def _constant(self, value: ir.PolicyValue) -> Any:
        if isinstance(value, ir.Lit):
            return value.value
        return scalar(session_value(self.session, value.path))

    def _outer(self, ref: ir.SessionRef,
               outer: tuple[str, str] | None) -> tuple[str, ColumnInfo] | None:
        if outer is None or ref.outer_column is None:
            return None
        info = self._columns(outer[0]).get(ref.outer_column)
        return None if info is None else (_column(outer[1], info.name), info)

    def _compare_constant(self, op: str, col: str, info: ColumnInfo, raw: Any) -> str:
        if raw is MISSING:
            return FALSE
        value = operand(raw, info.kind, info.element)
        if value is MISMATCH:
            return TRUE if op == "Ne" else FALSE
        if value is None:
            null = {"Eq": f"({col} IS NULL)", "Ne": f"({col} IS NOT NULL)",
                    "Lt": FALSE, "Le": f"({col} IS NULL)", "Gt": f"({col} IS NOT NULL)",
                    "Ge": TRUE}[op]
            return null if op in ("Eq", "Ne") or info.kind in ORDERED_KINDS else FALSE
        lit = literal(value, info)
        if op == "Eq":
            return _guard(f"{col} = {lit}", col, info.nullable)
        if op == "Ne":
            return f"({col} IS DISTINCT FROM {lit})"
        if info.kind not in ORDERED_KINDS:
            return FALSE
        if info.kind == "uuid":
            col, lit = f"CAST({col} AS VARCHAR)", _text(value)
        test = f"{col} {_SYMBOL[op]} {lit}"
        if not info.nullable:
            return test
        return f"({col} IS NULL OR {test})" if op in ("Lt", "Le") else _guard(test, col, True)

    def _contains(self, col: str, info: ColumnInfo, value: ir.PolicyValue,
                  outer: tuple[str, str] | None) -> str:
        if info.kind not in ("text", "array"):
            return FALSE
        expected = "text" if info.kind == "text" else info.element or ""
        needle_info = ColumnInfo(info.table, info.name, expected, None, False, None)
        if isinstance(value, ir.SessionRef) and value.path[0] == ir.OUTER_ROW:
            other = self._outer(value, outer)
            if other is None:
                return FALSE
            needle = _convert(other[0], other[1].full_kind, expected)
            if needle is None:
                return FALSE
        else:
            raw = self._constant(value)
            found = MISMATCH if raw is MISSING else operand(raw, expected)
            if found is MISMATCH or found is None:
                return FALSE
            needle = literal(found, needle_info)
        function = "contains" if info.kind == "text" else "list_contains"
        return f"coalesce({function}({col}, {needle}), false)"

    # -- sub-queries ------------------------------------------------------------------------------
    def _exists(self, inner: str, condition: ir.PolicyExpr, table: str, alias: str,
                depth: int) -> str:
        if inner not in self.app.tables:
            return FALSE
        sub = self._alias()
        where = self._expr(condition, inner, sub, (table, alias), depth)
        if where == FALSE:
            return FALSE
        return (f"EXISTS (SELECT 1 FROM {self.source(inner)} AS {sub} "
                f"WHERE {sub}._jz_deleted IS NULL AND {where})")

    def _inherits(self, op: ir.PolicyOp, via: str, limit: int | None, table: str,
                  alias: str, depth: int) -> str:
        info = self._columns(table).get(via)
        if info is None or info.references is None or info.is_array or not max_depth(limit):
            return FALSE
        fk = _column(alias, via)
        expr = self.permissions.table(info.references).for_operation(op)
        if depth >= max_depth(limit) or expr is None:
            return f"({fk} IS NULL)"
        parent = self._alias()
        where = self._expr(expr, info.references, parent, None, depth + 1)
        if where == FALSE:
            return f"({fk} IS NULL)"
        return (f"({fk} IS NULL OR EXISTS (SELECT 1 FROM {self.source(info.references)} AS "
                f"{parent} WHERE {parent}.id = {fk} AND {parent}._jz_deleted IS DISTINCT FROM "
                f"'hard' AND {where}))")

    def _referencing(self, op: ir.PolicyOp, source: str, via: str, limit: int | None,
                     table: str, alias: str, depth: int) -> str:
        info = self._columns(source).get(via)
        if info is None or info.references != table or depth >= max_depth(limit):
            return FALSE
        expr = self.permissions.table(source).for_operation(op)
        if expr is None:
            return FALSE
        child = self._alias()
        where = self._expr(expr, source, child, None, depth + 1)
        if where == FALSE:
            return FALSE
        fk = _column(child, via)
        link = f"list_contains({fk}, {alias}.id)" if info.is_array else f"{fk} = {alias}.id"
        return (f"EXISTS (SELECT 1 FROM {self.source(source)} AS {child} "
                f"WHERE {child}._jz_deleted IS NULL AND {link} AND {where})")


def _guard(test: str, col: str, nullable: bool) -> str:
    """``test`` made two-valued when ``col`` may be NULL (a required column never is)."""
    return f"({col} IS NOT NULL AND {test})" if nullable else test


def _column(alias: str, name: str) -> str:
    return f"{alias}.id" if name == "id" else f"{alias}.{quote(name)}"


def _convert(sql: str, from_kind: str, to_kind: str) -> str | None:
    """SQL of ``values.convert`` (``None``: always a mismatch)."""
    if from_kind == to_kind:
        return sql
    if (from_kind, to_kind) == ("uuid", "text"):
        return f"CAST({sql} AS VARCHAR)"
    if (from_kind, to_kind) == ("text", "uuid"):
        return f"CASE WHEN regexp_full_match({sql}, '{_UUID_PATTERN}') THEN CAST({sql} AS UUID) END"
    if (from_kind, to_kind) == ("int", "float"):
        return f"CAST({sql} AS DOUBLE)"
    return None


def _compare_columns(op: str, a: str, a_info: ColumnInfo, b: str, b_info: ColumnInfo) -> str:
    """SQL of ``values.compare_columns`` for the columns ``a`` and ``b``."""
    kind_a, kind_b = a_info.full_kind, b_info.full_kind
    kind = common_kind(kind_a, kind_b)
    both_null = f"({a} IS NULL AND {b} IS NULL)"
    if kind is None or (kind == "uuid" and kind_a != kind_b):
        if op not in ("Eq", "Ne"):
            return FALSE
        equal = both_null
        if kind is not None:
            ca, cb = _convert(a, kind_a, kind), _convert(b, kind_b, kind)
            equal = f"(coalesce({ca} = {cb}, false) OR {both_null})"
        return equal if op == "Eq" else _not(equal)
    if op == "Eq":  # plain `=` where possible: DuckDB then hash-joins a correlated EXISTS fast
        if a_info.nullable and b_info.nullable:
            return f"({a} IS NOT DISTINCT FROM {b})"
        return _guard(f"{a} = {b}", *((a, True) if a_info.nullable else (b, b_info.nullable)))
    if op == "Ne":
        return f"({a} IS DISTINCT FROM {b})"
    if kind not in ORDERED_KINDS:
        return FALSE
    if kind == "uuid":
        a, b = f"CAST({a} AS VARCHAR)", f"CAST({b} AS VARCHAR)"
    test = f"coalesce({a} {_SYMBOL[op]} {b}, false)"
    return {"Lt": f"(({a} IS NULL AND {b} IS NOT NULL) OR {test})",
            "Le": f"({a} IS NULL OR {test})",
            "Gt": f"(({b} IS NULL AND {a} IS NOT NULL) OR {test})",
            "Ge": f"({b} IS NULL OR {test})"}[op]
