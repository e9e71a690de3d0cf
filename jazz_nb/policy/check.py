"""Write checks: is this insert/update/delete allowed for the db's session (§5.3–5.4)?

* no session: unscoped, everything is allowed;
* an anonymous session may not write at all;
* no bundle loaded: permissive, allowed;
* otherwise insert checks ``insert.with_check`` on the new row; update checks ``update.using``
  on the old row and ``update.with_check`` on the new one (at least one must exist); delete checks
  ``delete.using``, else ``update.using``, on the old row. A clause that is missing denies.

A denial raises ``PolicyDenied`` naming the table, the operation and the failing rule.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.auth.session import Session
    >>> from jazz_nb.policy.dsl import define_permissions
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> perms = define_permissions(app, lambda policy: policy.todos.allow_read.always())
    >>> check_write(app, perms, Session("bob"), None, "insert", "todos", None, {"title": "x"},
    ...             "0190a1b2-0000-7000-8000-000000000000")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    jazz_nb.errors.PolicyDenied: policy denied INSERT on table 'todos': no insert rule ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jazz_nb.errors import PolicyDenied
from jazz_nb.policy import ir
from jazz_nb.policy.evaluate import Evaluator, RowLookup
from jazz_nb.policy.rows import new_row, policy_row

if TYPE_CHECKING:
    from jazz_nb.auth.session import Session
    from jazz_nb.policy.bundle import Permissions
    from jazz_nb.schema.app import App
    from jazz_nb.store.versions import VisibleRow


def denied(op: str, table: str, reason: str, rule: str | None = None) -> PolicyDenied:
    """The ``PolicyDenied`` error of a refused write (``.operation`` and ``.rule`` set).

    Example:
        >>> str(denied("update", "todos", "update.using failed on the old row", "never"))
        "policy denied UPDATE on table 'todos': update.using failed on the old row (rule: never)"
    """
    message = f"policy denied {op.upper()} on table {table!r}: {reason}"
    if rule is not None:
        message += f" (rule: {rule})"
    return PolicyDenied(message, table=table, operation=op, rule=rule)


def check_write(app: App, permissions: Permissions | None, session: Session | None,
                rows: RowLookup | None, op: str, table: str, old: VisibleRow | None,
                new: dict[str, Any] | None, row_id: str) -> None:
    """Raise ``PolicyDenied`` unless ``session`` may apply this write."""
    if session is None:
        return
    if session.auth_mode == "anonymous":
        error = denied(op, table, f"anonymous session cannot {op} on table {table!r}")
        error.code = "anonymous_write_denied"
        raise error
    if permissions is None:
        return
    policies = permissions.table(table)
    checks: list[tuple[str, ir.PolicyExpr | None, str, ir.PolicyOp | None]] = []
    if op == "insert":
        checks.append(("insert.with_check", policies.insert_check, "new", "Insert"))
    elif op == "update":
        if policies.update_using is None and policies.update_check is None:
            raise denied(op, table, "no update rule (update.using / update.with_check) grants it")
        if policies.update_using is not None:
            checks.append(("update.using", policies.update_using, "old", "Update"))
        if policies.update_check is not None:
            checks.append(("update.with_check", policies.update_check, "new", None))
    else:
        clause = "delete.using" if policies.delete_using is not None else "update.using"
        checks.append((clause, policies.effective_delete, "old", "Delete"))
    evaluator = Evaluator(app, permissions, session, rows)
    for clause, expr, side, operation in checks:
        if expr is None:
            raise denied(op, table, f"no {op} rule ({clause}) grants it")
        if side == "old":
            assert old is not None
            row = policy_row(old)
        else:
            row = new_row(new or {}, row_id, session.user_id, old)
        if not evaluator.check(table, expr, row, operation):
            raise denied(op, table, f"{clause} failed on the {side} row {row_id}",
                         ir.describe(expr))


def authorize(db: Any, op: str, table: str, old: VisibleRow | None,
              new: dict[str, Any] | None, row_id: str) -> None:
    """``Db.authorize``: check a write of ``db`` (its session, its loaded bundle, its store).

    Example:
        >>> # authorize(bob_db, "update", "todos", old_row, new_values, row_id)
    """
    from jazz_nb.policy.rows import StoreRows

    permissions = db.permissions
    rows = None
    if permissions is not None and db.session is not None:
        rows = StoreRows(db.store, db.app, db.compile_context().source)
    check_write(db.app, permissions, db.session, rows, op, table, old, new, row_id)
