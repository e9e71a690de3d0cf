"""Property: the SQL pushdown and the Python evaluator agree on random rows, sessions, policies.

Random ``PolicyExpr`` trees over two tables (``groups`` with a self reference, ``members``
referencing ``groups``) use every node type; data has NULLs, mismatched kinds, soft deletes,
missing and cyclic parents. ``Not`` wraps only subtrees without look-ups: the evaluator cuts an
inheritance cycle where SQL unrolls it to the depth limit, and the two agree exactly when the
policy is monotone in its look-ups.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.policy import ir
from jazz_nb.policy.bundle import Permissions, TablePolicies
from jazz_nb.policy.evaluate import Evaluator
from jazz_nb.policy.rows import StoreRows

APP = s.define_app({
    "groups": s.table(name=s.string(), owner=s.string().optional(), level=s.int().optional(),
                      score=s.float().optional(), flag=s.boolean().optional(),
                      tags=s.array(s.string()).optional(), code=s.string().optional(),
                      parent_id=s.ref("groups").optional()),
    "members": s.table(group_id=s.ref("groups").optional(), user_id=s.string(),
                       role=s.enum("a", "b", "c"), rank=s.int().optional()),
})
IDS = [str(uuid.UUID(int=i + 1, version=4)) for i in range(8)]
USERS = ["u1", "u2", "u3"]
LITERALS = [*USERS, "a", "b", "x", "", 0, 1, 2, -1, True, False, None, 1.5, 2.0, IDS[0],
            IDS[1].upper(), ["x"], ["x", "y"], []]
PATHS = [("user_id",), ("auth_mode",), ("claims", "role"), ("claims", "level"),
         ("claims", "ids"), ("claims", "org", "role"), ("claims", "missing")]
COLUMNS = {"groups": ["id", "name", "owner", "level", "score", "flag", "tags", "code",
                      "parent_id", "$createdBy", "$createdAt", "nope"],
           "members": ["id", "group_id", "user_id", "role", "rank", "$createdBy", "nope"]}
OPS = list(ir.CMP_OPS)


DOMAINS: dict[str, list[Any]] = {
    "id": IDS[:4], "name": ["a", "ab", "x"], "owner": USERS, "level": [0, 1, 2],
    "score": [0.5, 1.0, 2, 2.0], "flag": [True, False], "tags": [["x"], [], "x", "y"],
    "code": [IDS[1], "1", "x"], "parent_id": IDS[:4], "$createdBy": USERS,
    "$createdAt": [0, 2**40], "group_id": IDS[:4], "user_id": USERS, "role": ["a", "b", "c"],
    "rank": [1, 2], "nope": ["a"],
}


def values(draw: Any, outer: str | None, column: str = "nope") -> ir.PolicyValue:
    kind = draw(st.sampled_from(["own", "own", "lit", "session"]
                                + (["outer"] * 2 if outer else [])))
    if kind == "own":
        return ir.Lit(draw(st.sampled_from(DOMAINS[column])))
    if kind == "lit":
        return ir.Lit(draw(st.sampled_from(LITERALS)))
    if kind == "session":
        return ir.SessionRef(draw(st.sampled_from(PATHS)))
    return ir.SessionRef((ir.OUTER_ROW, draw(st.sampled_from(COLUMNS[outer]))))  # type: ignore


@st.composite
def exprs(draw: Any, table: str, outer: str | None = None, depth: int = 0,
          lookups: bool = True) -> ir.PolicyExpr:
    leaves = ["cmp", "cmp", "cmp", "null", "contains", "in", "inlist", "session", "const"]
    nodes = ["and", "or", "or", "not"] if depth < 3 else []
    if lookups and depth < 3:
        nodes += ["exists", "inherits", "referencing"]
    kind = draw(st.sampled_from(leaves + nodes))
    column = draw(st.sampled_from(COLUMNS[table]))
    if kind == "cmp":
        return ir.Cmp(column, draw(st.sampled_from(OPS)), values(draw, outer, column))
    if kind == "null":
        return draw(st.sampled_from([ir.IsNull(column), ir.IsNotNull(column)]))
    if kind == "contains":
        column = draw(st.sampled_from(["tags", "name", "owner", "user_id", column]))
        return ir.Contains(column, values(draw, outer, column))
    if kind == "in":
        return ir.In(column, draw(st.sampled_from(PATHS)))
    if kind == "inlist":
        return ir.InList(column, tuple(values(draw, outer, column) for _ in range(draw(
            st.integers(0, 3)))))
    if kind == "session":
        path = draw(st.sampled_from(PATHS))
        literal = draw(st.sampled_from(LITERALS[:14]))
        return draw(st.sampled_from([
            ir.SessionCmp(path, draw(st.sampled_from(OPS)), literal), ir.SessionIsNull(path),
            ir.SessionIsNotNull(path), ir.SessionContains(path, literal),
            ir.SessionInList(path, (literal, "a"))]))
    if kind == "const":
        return draw(st.sampled_from([ir.TRUE, ir.FALSE]))
    if kind in ("and", "or"):
        children = tuple(draw(exprs(table, outer, depth + 1, lookups))
                         for _ in range(draw(st.integers(0, 3))))
        return ir.And(children) if kind == "and" else ir.Or(children)
    if kind == "not":
        return ir.Not(draw(exprs(table, outer, depth + 1, lookups=False)))
    if kind == "exists":
        inner = draw(st.sampled_from(["groups", "members"]))
        condition = draw(exprs(inner, table, depth + 1, lookups))
        link = {("members", "groups"): ("group_id", "id"), ("groups", "members"): (
            "id", "group_id"), ("groups", "groups"): ("id", "parent_id"),
            ("members", "members"): ("group_id", "group_id")}[(inner, table)]
        if draw(st.booleans()):
            joined = ir.Cmp(link[0], "Eq", ir.SessionRef((ir.OUTER_ROW, link[1])))
            condition = ir.And((joined, condition))
        return ir.Exists(inner, condition)
    limit = draw(st.sampled_from([None, 1, 2, 3, 0, 65]))
    if kind == "inherits":
        via = "parent_id" if table == "groups" else "group_id"
        op = draw(st.sampled_from(["Select", "Update"]))
        return ir.Inherits(op, draw(st.sampled_from([via, via, "name"])), limit)
    if table == "groups":
        return ir.InheritsReferencing("Select", draw(st.sampled_from(["members", "groups"])),
                                      draw(st.sampled_from(["group_id", "parent_id"])), limit)
    return ir.InheritsReferencing("Select", "groups", "parent_id", limit)


@st.composite
def datasets(draw: Any) -> list[tuple[str, str, str, dict[str, Any], bool]]:
    rows = []
    for row_id in IDS[:draw(st.integers(2, 6))]:
        data = {
            "name": draw(st.sampled_from(["a", "ab", "x", "u1", IDS[0], IDS[0].upper()])),
            "owner": draw(st.sampled_from([None, *USERS])),
            "level": draw(st.sampled_from([None, 0, 1, 2])),
            "score": draw(st.sampled_from([None, 0.5, 1.0, 2.0])),
            "flag": draw(st.sampled_from([None, True, False])),
            "tags": draw(st.sampled_from([None, [], ["x"], ["x", "y"]])),
            "code": draw(st.sampled_from([None, IDS[1], "1", "x"])),
            "parent_id": draw(st.sampled_from([None, *IDS])),
        }
        rows.append(("groups", row_id, draw(st.sampled_from(USERS)), data,
                     draw(st.booleans()) and draw(st.booleans())))
    for i in range(draw(st.integers(1, 5))):
        data = {"group_id": draw(st.sampled_from([None, *IDS])),
                "user_id": draw(st.sampled_from(USERS)),
                "role": draw(st.sampled_from(["a", "b", "c"])),
                "rank": draw(st.sampled_from([None, 1, 2]))}
        rows.append(("members", str(uuid.UUID(int=100 + i, version=4)),
                     draw(st.sampled_from(USERS)), data, draw(st.booleans()) and draw(
                         st.booleans())))
    return rows


sessions = st.builds(
    lambda user, claims, mode: jz.Session(user, claims, mode),
    st.sampled_from(USERS),
    st.fixed_dictionaries({}, optional={
        "role": st.sampled_from(["a", "b", 1, True, None, 2.5, ["a", "b"]]),
        "level": st.sampled_from([0, 1, 2, None, "1"]),
        "ids": st.sampled_from([[IDS[0], IDS[2]], [1, 2, None], ["u1", "x"], "u1", []]),
        "org": st.sampled_from([{"role": "a"}, {"role": 2}, {}]),
    }),
    st.sampled_from(["external", "local-first", "anonymous"]),
)


def load(rows: list[tuple[str, str, str, dict[str, Any], bool]]) -> jz.Db:
    db = jz.create_db(APP, app_id="prop")
    for table, row_id, author, data, _ in rows:
        db.for_session(jz.Session(author)).insert(table, data, id=row_id)
    for table, row_id, _, _, deleted in rows:
        if deleted:
            db.delete(table, row_id)
    return db


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=datasets(), session=sessions, groups=exprs("groups"), members=exprs("members"),
       update=exprs("groups"))
def test_sql_and_evaluator_agree(rows: list[Any], session: jz.Session, groups: ir.PolicyExpr,
                                 members: ir.PolicyExpr, update: ir.PolicyExpr) -> None:
    perms = Permissions({"groups": TablePolicies(select_using=groups, update_using=update),
                         "members": TablePolicies(select_using=members)}, APP)
    db = load(rows)
    try:
        db.engine.permissions = perms
        scoped = db.for_session(session)
        evaluator = Evaluator(APP, perms, session,
                              StoreRows(db.store, APP, scoped.compile_context().source))
        for table, expr in (("groups", groups), ("members", members)):
            everything = db.all(APP[table].select("*", "$createdBy", "$createdAt"))
            expected = set()
            for row in everything:
                policy_row = evaluator.rows.get(table, row.id)  # type: ignore[union-attr]
                assert policy_row is not None
                if evaluator.check(table, expr, policy_row, "Select"):
                    expected.add(row.id)
            visible = {r.id for r in scoped.all(APP[table])}
            assert visible == expected, (table, ir.describe(expr))
        can_edit = {r.id: r["$canEdit"] for r in scoped.all(APP.groups.select("$canEdit"))}
        for row_id, flag in can_edit.items():
            policy_row = evaluator.rows.get("groups", row_id)  # type: ignore[union-attr]
            wanted = session.auth_mode != "anonymous" and evaluator.check(
                "groups", update, policy_row, "Update")
            assert flag == wanted, ir.describe(update)
    finally:
        db.close()
