"""The compile context of a session-scoped db: read policies and ``$can*`` columns pushed into
the query's one DuckDB statement.

* no session: unscoped — no filter; ``$canRead/$canEdit/$canDelete`` are NULL;
* a session but no bundle loaded: permissive — no filter, ``$can*`` true;
* a session and a bundle: enforcing — rows failing ``select.using`` are dropped (no rule: no
  rows), ``$can*`` evaluate ``select.using`` / the old-row update check / the delete check.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.auth.session import Session
    >>> from jazz_nb.policy.dsl import define_permissions
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> perms = define_permissions(app, lambda policy: policy.todos.managed_by_creator())
    >>> ctx = PolicyContext(app.schema_hash, app, perms, Session("bob"))
    >>> ctx.row_filter("todos", "t0")
    ('t0."$createdBy" = \\'bob\\'', {})
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import count
from typing import TYPE_CHECKING, Any

from jazz_nb.policy import ir
from jazz_nb.policy.sql import FALSE, TRUE, PolicySql
from jazz_nb.query.sql import CompileContext

if TYPE_CHECKING:
    from jazz_nb.auth.session import Session
    from jazz_nb.policy.bundle import Permissions
    from jazz_nb.schema.app import App

CAN_COLUMNS = ("$canRead", "$canEdit", "$canDelete")


@dataclass(frozen=True)
class PolicyContext(CompileContext):
    """A ``CompileContext`` applying ``permissions`` for ``session``; ``base`` (if given, e.g.
    a migrations context) supplies table sources, other magic columns and its own filter."""

    app: App | None = field(default=None, compare=False)
    permissions: Permissions | None = None
    session: Session | None = None
    base: CompileContext | None = None
    aliases: count[int] = field(default_factory=count, compare=False, repr=False)

    def source(self, table: str) -> str:
        """The base context's source of ``table``."""
        return self.base.source(table) if self.base is not None else super().source(table)

    def _compiler(self) -> PolicySql:
        assert self.app is not None and self.permissions is not None and self.session
        return PolicySql(self.app, self.permissions, self.session, self.source, self.aliases)

    def row_filter(self, table: str, alias: str) -> tuple[str, dict[str, Any]] | None:
        """``select.using`` of ``table`` on ``alias`` (enforcing mode only), AND-ed with the
        base context's filter."""
        base = self.base.row_filter(table, alias) if self.base is not None else None
        if self.session is None or self.permissions is None:
            return base
        expr = self.permissions.table(table).select_using
        sql = FALSE if expr is None else self._compiler().predicate(table, alias, expr)
        if base is None:
            return None if sql == TRUE else (sql, {})
        return (base[0] if sql == TRUE else f"({base[0]}) AND {sql}"), base[1]

    def magic(self, table: str, alias: str, name: str) -> str | None:
        """``$canRead/$canEdit/$canDelete`` of ``alias``; ``None`` for other magic columns."""
        if name not in CAN_COLUMNS:
            return self.base.magic(table, alias, name) if self.base is not None else None
        if self.session is None:
            return "CAST(NULL AS BOOLEAN)"
        if self.permissions is None:
            return TRUE
        writes = name != "$canRead"
        if writes and self.session.auth_mode == "anonymous":
            return FALSE  # anonymous sessions may not write at all
        expr = can_expr(self.permissions, table, name)
        sql = FALSE if expr is None else self._compiler().predicate(table, alias, expr)
        return sql if sql in (TRUE, FALSE) else f"({sql})"  # compared as it stands

    def refresh_tables(self, tables: Iterable[str]) -> frozenset[str]:
        """Tables whose changes can change which rows of ``tables`` this session reads (or
        their ``$can*``) beyond the changed rows themselves — a live query over ``tables``
        must re-run in full when one of them changes. Empty when no policy looks up rows.

        Example:
            >>> # ctx.refresh_tables({"documents"}) -> frozenset({"documents", "members"})
        """
        if self.session is None or self.permissions is None:
            return frozenset()
        out: set[str] = set()
        for table in tables:
            for op in ("Select", "Update", "Delete"):
                expr = self.permissions.table(table).for_operation(op)  # type: ignore[arg-type]
                if expr is not None and looks_up_rows(expr):
                    out |= self.permissions.looked_up(table, op)  # type: ignore[arg-type]
        return frozenset(out)


def looks_up_rows(expr: ir.PolicyExpr) -> bool:
    """Whether ``expr`` reads other rows (``Exists``, ``Inherits``, ``InheritsReferencing``).

    Example:
        >>> looks_up_rows(ir.Or((ir.TRUE, ir.Inherits("Select", "project_id"))))
        True
    """
    match expr:
        case ir.Exists() | ir.Inherits() | ir.InheritsReferencing():
            return True
        case ir.And(exprs) | ir.Or(exprs):
            return any(looks_up_rows(e) for e in exprs)
        case ir.Not(inner):
            return looks_up_rows(inner)
    return False


def can_expr(permissions: Permissions, table: str, name: str) -> ir.PolicyExpr | None:
    """The expression behind ``$canRead`` (``select.using``), ``$canEdit`` (the old-row part
    of an update: ``update.using``, or true with only a ``with_check``) or ``$canDelete``
    (``delete.using``, else ``update.using``).

    Example:
        >>> from jazz_nb.policy.bundle import Permissions, TablePolicies
        >>> can_expr(Permissions({"t": TablePolicies(update_check=ir.TRUE)}), "t", "$canEdit")
        Const(value=True)
    """
    policies = permissions.table(table)
    if name == "$canRead":
        return policies.select_using
    if name == "$canDelete":
        return policies.effective_delete
    if policies.update_using is None and policies.update_check is not None:
        return ir.TRUE
    return policies.update_using
