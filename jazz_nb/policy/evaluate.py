"""The Python evaluator: does one row pass a ``PolicyExpr`` for a session (§5.3)?

Used for writes (one row at a time). ``Exists``, ``Inherits`` and ``InheritsReferencing`` look
rows up through a ``StoreRows``-like object (``get``, ``candidates``, ``referencing``); the
read path compiles the same semantics to SQL instead (``policy.sql``).

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.auth.session import Session
    >>> from jazz_nb.policy import ir
    >>> from jazz_nb.policy.bundle import Permissions
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> ev = Evaluator(app, Permissions({}), Session("bob"), rows=None)
    >>> ev.check("todos", ir.Cmp("$createdBy", "Eq", ir.SessionRef(("user_id",))),
    ...          {"id": "0190a1b2-0000-7000-8000-000000000000", "title": "x", "$createdBy": "bob"})
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from jazz_nb.policy import ir
from jazz_nb.policy.columns import ColumnInfo, columns_of
from jazz_nb.policy.values import (
    MISMATCH,
    MISSING,
    compare_columns,
    compare_operand,
    contains,
    convert,
    operand,
    scalar,
    session_compare,
    session_value,
    strict_equal,
)

if TYPE_CHECKING:
    from jazz_nb.auth.session import Session
    from jazz_nb.policy.bundle import Permissions
    from jazz_nb.policy.rows import PolicyRow
    from jazz_nb.schema.app import App

PREFILTER_KINDS = ("text", "uuid", "int", "bool")


class RowLookup(Protocol):
    """What the evaluator needs from the store (``policy.rows.StoreRows``)."""

    def get(self, table: str, row_id: Any) -> PolicyRow | None: ...
    def candidates(self, table: str, equal: dict[str, Any]) -> list[PolicyRow]: ...
    def referencing(self, table: str, column: str, row_id: Any,
                    is_array: bool) -> list[PolicyRow]: ...


def session_truth(expr: ir.PolicyExpr, session: Session) -> bool | None:
    """The value of a session-only node (``SessionCmp`` …), ``None`` for any other node.

    Example:
        >>> from jazz_nb.auth.session import Session
        >>> session_truth(ir.SessionIsNull(("claims", "org")), Session("bob"))
        True
    """
    match expr:
        case ir.SessionCmp(path, op, value):
            return session_compare(op, scalar(session_value(session, path)), value)
        case ir.SessionIsNull(path):
            return session_value(session, path) in (None, MISSING)
        case ir.SessionIsNotNull(path):
            return session_value(session, path) not in (None, MISSING)
        case ir.SessionContains(path, value):
            found = session_value(session, path)
            if isinstance(found, str):
                return isinstance(value, str) and value in found
            return isinstance(found, list) and any(strict_equal(v, value) for v in found)
        case ir.SessionInList(path, values):
            found = scalar(session_value(session, path))
            return found is not MISSING and any(strict_equal(found, v) for v in values)
    return None


def max_depth(depth: int | None) -> int:
    """The effective depth limit of an inheritance node (0 means: deny).

    Example:
        >>> max_depth(None), max_depth(65)
        (10, 0)
    """
    depth = ir.DEFAULT_MAX_DEPTH if depth is None else depth
    return depth if 0 < depth <= ir.MAX_DEPTH_CAP else 0


class Evaluator:
    """Evaluates policy expressions on policy rows for one session and bundle."""

    def __init__(self, app: App, permissions: Permissions, session: Session,
                 rows: RowLookup | None) -> None:
        self.app = app
        self.permissions = permissions
        self.session = session
        self.rows = rows

    def check(self, table: str, expr: ir.PolicyExpr, row: PolicyRow,
              operation: ir.PolicyOp | None = None) -> bool:
        """Whether ``row`` of ``table`` passes ``expr`` — the row's ``operation`` policy, if
        given: an inheritance chain that comes back to the row for that operation is a cycle.

        Inheritance follows a row at most once per operation along one chain (a cycle denies
        that path), then stops at the depth limit."""
        start = {(table, row.get("id"), operation)} if operation is not None else set()
        return self._eval(expr, table, row, None, 0, frozenset(start))

    def _columns(self, table: str) -> dict[str, ColumnInfo]:
        return columns_of(self.app, table) if table in self.app.tables else {}

    def _eval(self, expr: ir.PolicyExpr, table: str, row: PolicyRow,
              outer: tuple[str, PolicyRow] | None, depth: int,
              visited: frozenset[tuple[str, Any, Any]]) -> bool:
        session_only = session_truth(expr, self.session)
        if session_only is not None:
            return session_only
        match expr:
            case ir.Const(value):
                return value
            case ir.And(exprs):
                return all(self._eval(e, table, row, outer, depth, visited) for e in exprs)
            case ir.Or(exprs):
                return any(self._eval(e, table, row, outer, depth, visited) for e in exprs)
            case ir.Not(inner):
                return not self._eval(inner, table, row, outer, depth, visited)
            case ir.Exists(inner, condition):
                return self._exists(inner, condition, table, row, depth, visited)
            case ir.Inherits(op, via, limit):
                return self._inherits(op, via, limit, table, row, depth, visited)
            case ir.InheritsReferencing(op, source, via, limit):
                return self._referencing(op, source, via, limit, table, row, depth, visited)
        info = self._columns(table).get(getattr(expr, "column", ""))
        if info is None:
            return False  # unknown column: false (§5.3)
        return self._leaf(expr, info, row.get(info.name), outer)

    def _leaf(self, expr: ir.PolicyExpr, info: ColumnInfo, value: Any,
              outer: tuple[str, PolicyRow] | None) -> bool:
        match expr:
            case ir.IsNull():
                return value is None
            case ir.IsNotNull():
                return value is not None
            case ir.Cmp(_, op, ir.SessionRef() as ref) if ref.path[0] == ir.OUTER_ROW:
                other = self._outer(ref, outer)
                if other is None:
                    return False
                other_info, other_value = other
                return compare_columns(op, value, info.full_kind, other_value,
                                       other_info.full_kind)
            case ir.Cmp(_, op, policy_value):
                return compare_operand(op, value, self._constant(policy_value), info.kind,
                                       info.element)
            case ir.Contains(_, policy_value):
                expected = "text" if info.kind == "text" else info.element or ""
                return contains(value, self._needle(policy_value, expected, outer), info.kind)
            case ir.In(_, path):
                found = session_value(self.session, path)
                return isinstance(found, list) and any(
                    compare_operand("Eq", value, scalar(item), info.kind, info.element)
                    for item in found)
            case ir.InList(column, values):
                return any(self._leaf(ir.Cmp(column, "Eq", v), info, value, outer)
                           for v in values)
        return False

    def _constant(self, value: ir.PolicyValue) -> Any:
        if isinstance(value, ir.Lit):
            return value.value
        return scalar(session_value(self.session, value.path))

    def _outer(self, ref: ir.SessionRef,
               outer: tuple[str, PolicyRow] | None) -> tuple[ColumnInfo, Any] | None:
        if outer is None or ref.outer_column is None:
            return None
        info = self._columns(outer[0]).get(ref.outer_column)
        return None if info is None else (info, outer[1].get(info.name))

    def _needle(self, value: ir.PolicyValue, expected: str,
                outer: tuple[str, PolicyRow] | None) -> Any:
        if isinstance(value, ir.SessionRef) and value.path[0] == ir.OUTER_ROW:
            other = self._outer(value, outer)
            return MISMATCH if other is None else convert(other[1], other[0].full_kind,
                                                          expected)
        constant = self._constant(value)
        return MISMATCH if constant is MISSING else operand(constant, expected)

    # -- look-ups -------------------------------------------------------------------------------
    def _exists(self, inner: str, condition: ir.PolicyExpr, table: str, row: PolicyRow,
                depth: int, visited: frozenset[tuple[str, Any, Any]]) -> bool:
        if inner not in self.app.tables or self.rows is None:
            return False
        equal = self._prefilter(condition, inner, (table, row))
        if equal is None:
            return False
        return any(self._eval(condition, inner, candidate, (table, row), depth, visited)
                   for candidate in self.rows.candidates(inner, equal))

    def _prefilter(self, condition: ir.PolicyExpr, inner: str,
                   outer: tuple[str, PolicyRow]) -> dict[str, Any] | None:
        """Equalities every matching row must satisfy (``None``: nothing can match)."""
        conjuncts = condition.exprs if isinstance(condition, ir.And) else (condition,)
        columns = self._columns(inner)
        equal: dict[str, Any] = {}
        for expr in conjuncts:
            if not (isinstance(expr, ir.Cmp) and expr.op == "Eq" and expr.column in columns):
                continue
            info = columns[expr.column]
            if info.kind not in PREFILTER_KINDS:
                continue
            ref = expr.value
            if isinstance(ref, ir.SessionRef) and ref.path[0] == ir.OUTER_ROW:
                other = self._outer(ref, outer)
                if other is None:
                    return None
                if other[0].full_kind != info.kind:
                    continue  # cross-kind comparisons are left to the full evaluation
                value = other[1]
            else:
                constant = self._constant(ref)
                value = MISMATCH if constant is MISSING else operand(constant, info.kind)
            if value is MISMATCH:
                return None
            if info.kind == "int" and value is not None and not -2**63 <= value < 2**63:
                continue
            if value is not None and equal.setdefault(expr.column, value) != value:
                return None
        return equal

    def _inherits(self, op: ir.PolicyOp, via: str, limit: int | None, table: str,
                  row: PolicyRow, depth: int, visited: frozenset[tuple[str, Any, Any]]) -> bool:
        info = self._columns(table).get(via)
        if info is None or info.references is None or info.is_array or not max_depth(limit):
            return False
        parent_id = row.get(via)
        if parent_id is None:
            return True  # no parent to check
        key = (info.references, parent_id, op)
        if depth >= max_depth(limit) or key in visited or self.rows is None:
            return False
        parent = self.rows.get(info.references, parent_id)
        expr = self.permissions.table(info.references).for_operation(op)
        if parent is None or expr is None:
            return False
        return self._eval(expr, info.references, parent, None, depth + 1, visited | {key})

    def _referencing(self, op: ir.PolicyOp, source: str, via: str, limit: int | None,
                     table: str, row: PolicyRow, depth: int,
                     visited: frozenset[tuple[str, Any, Any]]) -> bool:
        info = self._columns(source).get(via)
        if info is None or info.references != table or depth >= max_depth(limit):
            return False
        expr = self.permissions.table(source).for_operation(op)
        if expr is None or self.rows is None:
            return False
        for child in self.rows.referencing(source, via, row.get("id"), info.is_array):
            key = (source, child["id"], op)
            if key not in visited and self._eval(expr, source, child, None, depth + 1,
                                                 visited | {key}):
                return True
        return False

