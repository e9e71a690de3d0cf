"""A permissions bundle: per table, the clauses of Jazz's ``TablePolicies`` (§5.1), and JSON.

``select.using`` filters reads, ``insert.with_check`` checks new rows, ``update.using`` the old
row and ``update.with_check`` the new one, ``delete.using`` (else ``update.using``) the old row.

Example:
    >>> from jazz_nb.policy.ir import TRUE
    >>> perms = Permissions({"todos": TablePolicies(select_using=TRUE)})
    >>> perms.to_json()
    {'todos': {'select': {'using': {'type': 'True'}}}}
    >>> Permissions.from_json(perms.to_json()) == perms
    True
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jazz_nb.errors import PolicyError
from jazz_nb.policy import ir
from jazz_nb.policy.columns import column_info, reference_of

if TYPE_CHECKING:
    from jazz_nb.schema.app import App

_CLAUSES = {"select_using": ("select", "using"), "insert_check": ("insert", "with_check"),
            "update_using": ("update", "using"), "update_check": ("update", "with_check"),
            "delete_using": ("delete", "using")}


@dataclass(frozen=True)
class TablePolicies:
    """The policy clauses of one table; ``None`` = no rule (denied once a bundle is loaded).

    Example:
        >>> TablePolicies(update_using=ir.TRUE).effective_delete == ir.TRUE
        True
    """

    select_using: ir.PolicyExpr | None = None
    insert_check: ir.PolicyExpr | None = None
    update_using: ir.PolicyExpr | None = None
    update_check: ir.PolicyExpr | None = None
    delete_using: ir.PolicyExpr | None = None

    @property
    def effective_delete(self) -> ir.PolicyExpr | None:
        """``delete.using``, else ``update.using`` (Jazz's ``effective_delete_using``)."""
        return self.delete_using if self.delete_using is not None else self.update_using

    def for_operation(self, op: ir.PolicyOp) -> ir.PolicyExpr | None:
        """The clause an ``Inherits`` of ``op`` evaluates on the parent row."""
        return {"Select": self.select_using, "Insert": self.insert_check,
                "Update": self.update_using, "Delete": self.effective_delete}[op]

    def clauses(self) -> Iterator[tuple[str, ir.PolicyExpr]]:
        """``("select.using", expr)`` pairs of the clauses that are set."""
        for attr, (op, kind) in _CLAUSES.items():
            expr = getattr(self, attr)
            if expr is not None:
                yield f"{op}.{kind}", expr

    def to_json(self) -> dict[str, Any]:
        """Jazz's ``TablePolicies`` JSON (absent clauses omitted)."""
        out: dict[str, dict[str, Any]] = {}
        for attr, (op, kind) in _CLAUSES.items():
            expr = getattr(self, attr)
            if expr is not None:
                out.setdefault(op, {})[kind] = ir.expr_to_json(expr)
        return out

    @classmethod
    def from_json(cls, data: Any, table: str) -> TablePolicies:
        """Inverse of ``to_json``; unknown operations or clause kinds are a ``PolicyError``."""
        if not isinstance(data, dict):
            raise PolicyError(f"policies of table {table!r} must be an object", table=table)
        allowed = {op: {k for o, k in _CLAUSES.values() if o == op} for op, _ in _CLAUSES.values()}
        values: dict[str, ir.PolicyExpr] = {}
        for op, clauses in data.items():
            if op not in allowed or not isinstance(clauses, dict):
                raise PolicyError(f"table {table!r}: unknown policy operation {op!r} "
                                  f"(operations: {', '.join(allowed)})", table=table)
            for kind, expr in clauses.items():
                if kind not in allowed[op]:
                    raise PolicyError(f"table {table!r}: {op} has no {kind!r} clause",
                                      table=table)
                if expr is not None:
                    attr = next(a for a, ok in _CLAUSES.items() if ok == (op, kind))
                    values[attr] = ir.expr_from_json(expr)
        return cls(**values)


@dataclass(frozen=True)
class Permissions:
    """A loaded policy bundle. Once a db has one, it enforces: no grant means denied.

    Build it with ``define_permissions(app, rules)``, or load a compiled bundle with
    ``Permissions.from_json(data, app)``.

    Example:
        >>> Permissions({}).table("todos").select_using is None
        True
    """

    tables: dict[str, TablePolicies] = field(default_factory=dict)
    app: App | None = field(default=None, compare=False, repr=False)

    def table(self, name: str) -> TablePolicies:
        """The policies of ``name`` (empty when no rule mentions it)."""
        return self.tables.get(name) or TablePolicies()

    def dependencies(self, table: str, op: ir.PolicyOp = "Select") -> frozenset[str]:
        """Tables whose rows can change what ``op`` allows on ``table`` (including ``table``).

        Live queries re-evaluate when one of them changes.

        Example:
            >>> Permissions({}).dependencies("todos")
            frozenset({'todos'})
        """
        return self.looked_up(table, op) | {table}

    def looked_up(self, table: str, op: ir.PolicyOp = "Select") -> frozenset[str]:
        """Tables whose rows ``op``'s rule on ``table`` reads (``Exists``, inheritance), at any
        depth: a change there can change what it allows on rows of ``table`` that did not
        change themselves. ``table`` is among them only if a rule leads back to it.

        Example:
            >>> Permissions({}).looked_up("todos")
            frozenset()
        """
        tables: set[str] = set()
        seen: set[tuple[str, str]] = {(table, op)}

        def visit(name: str, operation: ir.PolicyOp) -> None:
            tables.add(name)
            if (name, operation) not in seen:
                seen.add((name, operation))
                expr = self.table(name).for_operation(operation)
                if expr is not None:
                    walk(expr, name)

        def walk(expr: ir.PolicyExpr, current: str) -> None:
            match expr:
                case ir.Exists(inner, condition):
                    tables.add(inner)
                    walk(condition, inner)
                case ir.Inherits(operation, via, _):
                    targets = [reference_of(self.app, current, via, current, allow_array=True)
                               ] if self.app is not None else list(self.tables)
                    for target in targets:
                        visit(target, operation)
                case ir.InheritsReferencing(operation, source, _, _):
                    visit(source, operation)
                case ir.And(exprs) | ir.Or(exprs):
                    for child in exprs:
                        walk(child, current)
                case ir.Not(inner_expr):
                    walk(inner_expr, current)

        start = self.table(table).for_operation(op)
        if start is not None:
            walk(start, table)
        return frozenset(tables)

    def bind(self, app: App) -> Permissions:
        """This bundle checked against ``app`` and tied to it (``create_db`` does this)."""
        if self.app is app:
            return self
        bound = Permissions(self.tables, app)
        bound.validate(app)
        return bound

    def to_json(self) -> dict[str, Any]:
        """Jazz's ``CompiledPermissions`` JSON: ``{table: TablePolicies}``."""
        return {name: policies.to_json() for name, policies in self.tables.items()
                if policies.to_json()}

    def to_json_text(self) -> str:
        """``to_json`` as compact JSON text (what a server stores and publishes)."""
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, data: Any, app: App | None = None) -> Permissions:
        """Load a compiled bundle (dict or JSON text); with ``app``, tables and columns are
        checked too.

        Example:
            >>> Permissions.from_json('{"todos": {"insert": {"with_check": {"type": "True"}}}}'
            ...                       ).table("todos").insert_check
            Const(value=True)
        """
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as err:
                raise PolicyError(f"permissions JSON is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise PolicyError("permissions are an object {table: {select: ..., insert: ...}}")
        perms = cls({str(name): TablePolicies.from_json(policies, str(name))
                     for name, policies in data.items()})
        return perms if app is None else perms.bind(app)

    def validate(self, app: App) -> None:
        """Check every table, column and foreign key the bundle names against ``app``."""
        for name, policies in self.tables.items():
            app.table(name)
            for clause, expr in policies.clauses():
                _validate(app, name, expr, None, f"{name} {clause}")

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{op}</th>" for op in ("read", "insert", "update (old → new)",
                                                   "delete"))
        rows = []
        for name, p in self.tables.items():
            update = _cell(p.update_using)
            if p.update_check != p.update_using:
                update += " → " + _cell(p.update_check)
            delete = _cell(p.delete_using) if p.delete_using is not None else (
                "<i>as update</i>" if p.update_using is not None else _cell(None))
            cells = [_cell(p.select_using), _cell(p.insert_check), update, delete]
            rows.append(f"<tr><td><b>{html.escape(name)}</b></td>"
                        + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return (f"<div><b>Permissions</b><table><tr><th>table</th>{head}</tr>"
                f"{''.join(rows)}</table></div>")


def _cell(expr: ir.PolicyExpr | None) -> str:
    return "<i>denied</i>" if expr is None else f"<code>{html.escape(ir.describe(expr))}</code>"


def _validate(app: App, table: str, expr: ir.PolicyExpr, outer: str | None, where: str) -> None:
    def column(name: str) -> None:
        column_info(app, table, name, where)

    def value(v: ir.PolicyValue) -> None:
        if isinstance(v, ir.SessionRef) and v.path[0] == ir.OUTER_ROW:
            if outer is None or v.outer_column is None:
                raise PolicyError(f"{where}: row references are only valid inside exists()",
                                  table=table)
            column_info(app, outer, v.outer_column, where)

    match expr:
        case ir.Cmp(name, _, v) | ir.Contains(name, v):
            column(name)
            value(v)
        case ir.IsNull(name) | ir.IsNotNull(name) | ir.In(name, _):
            column(name)
        case ir.InList(name, values):
            column(name)
            for v in values:
                value(v)
        case ir.Exists(inner, condition):
            app.table(inner)
            _validate(app, inner, condition, table, where)
        case ir.Inherits(_, via, _):
            reference_of(app, table, via, where)
        case ir.InheritsReferencing(_, source, via, _):
            target = reference_of(app, source, via, where, allow_array=True)
            if target != table:
                raise PolicyError(f"{where}: {source}.{via} references {target!r}, not {table!r}",
                                  table=table, column=via)
        case ir.And(exprs) | ir.Or(exprs):
            for child in exprs:
                _validate(app, table, child, outer, where)
        case ir.Not(inner_expr):
            _validate(app, table, inner_expr, outer, where)
