"""The permission matrix: per table and operation, what each session may do and how many rows.

``read`` counts the rows a session sees out of all live rows, ``update``/``delete`` the rows it
may change (``$canEdit``/``$canDelete``), ``insert`` says ``yes``/``no`` or ``if <rule>`` when it
depends on the new row. One DuckDB statement per session and table, with the same SQL as queries.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> from jazz_nb.policy import define_permissions
    >>> app = s.define_app({"notes": s.table(body=s.string())})
    >>> perms = define_permissions(app, lambda policy: policy.notes.managed_by_creator())
    >>> db = jz.create_db(app, app_id="matrix-doc", permissions=perms)
    >>> _ = db.for_session(jz.Session("ann")).insert(app.notes, {"body": "hi"})
    >>> permission_matrix(db, {"ann": jz.Session("ann"), "bob": jz.Session("bob")})
    ... # doctest: +NORMALIZE_WHITESPACE
                     ann  bob
    table operation
    notes read       1/1  0/1
          insert     yes  yes
          update       1    0
          delete       1    0
    >>> db.close()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from jazz_nb.policy import ir
from jazz_nb.policy.evaluate import session_truth
from jazz_nb.policy.sql import TRUE
from jazz_nb.policy.values import compare_operand, scalar, session_value

if TYPE_CHECKING:
    from jazz_nb.auth.session import Session
    from jazz_nb.db import Db

OPERATIONS = ("read", "insert", "update", "delete")
AUTHOR_COLUMNS = ("$createdBy", "$updatedBy")
RULE_WIDTH = 60


def insert_cell(db: Db, table: str) -> str:
    """``yes``, ``no`` or ``if <rule>`` for inserts into ``table`` by ``db``'s session."""
    session, permissions = db.session, db.permissions
    if session is None or permissions is None:
        return "yes"
    if session.auth_mode == "anonymous":
        return "no"
    expr = permissions.table(table).insert_check
    if expr is None:
        return "no"
    known = _constant(expr, session)
    if known is not None:
        return "yes" if known else "no"
    rule = ir.describe(expr)
    return "if " + (rule if len(rule) <= RULE_WIDTH else rule[:RULE_WIDTH - 1] + "…")


def _constant(expr: ir.PolicyExpr, session: Session) -> bool | None:
    """The value of ``expr`` for any new row of ``session`` (its author columns are the session
    user), or ``None`` when it depends on the row's values."""
    value = session_truth(expr, session)
    if value is not None:
        return value
    match expr:
        case ir.Const(result):
            return result
        case ir.Cmp(column, op, ir.Lit(literal)) if column in AUTHOR_COLUMNS:
            return compare_operand(op, session.user_id, literal, "text")
        case ir.Cmp(column, op, ir.SessionRef(path)) if column in AUTHOR_COLUMNS and (
                path[0] != ir.OUTER_ROW):
            found = scalar(session_value(session, path))
            return compare_operand(op, session.user_id, found, "text")
        case ir.And(exprs) | ir.Or(exprs):
            values = [_constant(e, session) for e in exprs]
            decisive = isinstance(expr, ir.Or)
            if decisive in values:
                return decisive
            return None if None in values else not decisive
        case ir.Not(inner):
            inner_value = _constant(inner, session)
            return None if inner_value is None else not inner_value
    return None


def table_counts(db: Db, table: str) -> tuple[int, int, int, int]:
    """``(live rows, readable, editable, deletable)`` of ``table`` for ``db``'s session."""
    ctx = db.compile_context()
    assert ctx is not None
    alias = "m0"
    read = ctx.row_filter(table, alias)
    tests = [read[0] if read is not None else TRUE]
    for name in ("$canEdit", "$canDelete"):
        sql = ctx.magic(table, alias, name)
        tests.append(TRUE if sql is None or db.session is None else sql)
    counts = ", ".join(f"count(*) FILTER (WHERE {test})" for test in tests)
    statement = (f"SELECT count(*), {counts} FROM {ctx.source(table)} AS {alias} "
                 f"WHERE {alias}._jz_deleted IS NULL")
    with db.store.lock:
        row = db.store.conn.execute(statement, read[1] if read else None).fetchall()[0]
    return row[0], row[1], row[2], row[3]


def permission_matrix(db: Db, sessions: Mapping[str, Session | None],
                      tables: Iterable[str] | None = None) -> pd.DataFrame:
    """A frame indexed by ``(table, operation)`` with one column per named session
    (``None`` = the unscoped db)."""
    names = list(tables) if tables is not None else list(db.app.tables)
    columns: dict[str, list[Any]] = {}
    for label, session in sessions.items():
        view = db.for_session(session) if session is not None else db.unscoped()
        cells: list[Any] = []
        for table in names:
            total, readable, editable, deletable = table_counts(view, table)
            cells += [f"{readable}/{total}", insert_cell(view, table), editable, deletable]
        columns[label] = cells
    index = pd.MultiIndex.from_tuples([(t, op) for t in names for op in OPERATIONS],
                                      names=["table", "operation"])
    return pd.DataFrame(columns, index=index)
