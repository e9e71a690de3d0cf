"""The permissions DSL compiles to Jazz's PolicyExpr JSON (§5.2); bad rules fail at definition."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from jazz_nb import s
from jazz_nb.errors import JazzError, PolicyError
from jazz_nb.policy import Permissions, define_permissions, expr_from_json, expr_to_json, ir

APP = s.define_app({
    "projects": s.table(name=s.string(), owner_id=s.string(),
                        parent_id=s.ref("projects").optional()),
    "todos": s.table(title=s.string(), done=s.boolean(default=False),
                     priority=s.int().optional(), tags=s.array(s.string()).optional(),
                     due=s.timestamp().optional(), project_id=s.ref("projects").optional(),
                     part_ids=s.array(s.ref("projects")).optional()),
    "shares": s.table(todo_id=s.ref("todos"), user_id=s.string(), can_read=s.boolean()),
})
ME = {"type": "SessionRef", "path": ["user_id"]}


def lit(value: Any) -> dict[str, Any]:
    return {"type": "Literal", "value": value}


def cmp(column: str, op: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Cmp", "column": column, "op": op, "value": value}


def compiled(rules: Any) -> dict[str, Any]:
    return define_permissions(APP, rules).to_json()


def read_of(rules: Any, table: str = "todos") -> dict[str, Any]:
    return compiled(rules)[table]["select"]["using"]


def test_operations_map_to_clauses() -> None:
    def rules(policy: Any, session: Any) -> None:
        policy.todos.allow_read.where({"title": "a"})
        policy.todos.allow_insert.where({"title": "b"})
        policy.todos.allow_update.where({"title": "c"})
        policy.todos.allow_delete.where({"title": "d"})

    assert compiled(rules) == {"todos": {
        "select": {"using": cmp("title", "Eq", lit("a"))},
        "insert": {"with_check": cmp("title", "Eq", lit("b"))},
        "update": {"using": cmp("title", "Eq", lit("c")),
                   "with_check": cmp("title", "Eq", lit("c"))},
        "delete": {"using": cmp("title", "Eq", lit("d"))},
    }}


@pytest.mark.parametrize(("build", "using", "check"), [
    (lambda u: u.where_old({"done": False}), False, False),
    (lambda u: u.where_new({"done": True}), True, True),
    (lambda u: u.where_old({"done": False}).where_new({"done": True}), False, True),
    (lambda u: u.where_new({"done": True}).where_old({"done": False}), False, True),
])
def test_where_old_and_where_new(build: Any, using: bool, check: bool) -> None:
    update = compiled(lambda policy: build(policy.todos.allow_update))["todos"]["update"]
    assert update == {"using": cmp("done", "Eq", lit(using)),
                      "with_check": cmp("done", "Eq", lit(check))}


def test_always_never_and_combinators() -> None:
    def rules(policy: Any, any_of: Any, all_of: Any) -> None:
        policy.todos.allow_read.always()
        policy.todos.allow_insert.never()
        policy.projects.allow_read.where(any_of([{"name": "a"}]))
        policy.projects.allow_insert.where(all_of({"name": "a"}, {"owner_id": "b"}))
        policy.shares.allow_read.where(all_of([]))
        policy.shares.allow_insert.where({})

    out = compiled(rules)
    assert out["todos"]["select"]["using"] == {"type": "True"}
    assert out["todos"]["insert"]["with_check"] == {"type": "False"}
    assert out["projects"]["select"]["using"] == cmp("name", "Eq", lit("a"))
    assert out["projects"]["insert"]["with_check"] == {"type": "And", "exprs": [
        cmp("name", "Eq", lit("a")), cmp("owner_id", "Eq", lit("b"))]}
    assert out["shares"]["select"]["using"] == out["shares"]["insert"]["with_check"] == {
        "type": "True"}


def test_rules_of_one_operation_or_together_update_sides_separately() -> None:
    def rules(policy: Any, session: Any) -> None:
        policy.todos.allow_read.where({"title": "a"})
        policy.todos.allow_read.where({"done": True})
        policy.todos.allow_update.where_old({"title": "a"}).where_new({"title": "b"})
        policy.todos.allow_update.where({"done": True})

    out = compiled(rules)["todos"]
    assert out["select"]["using"] == {"type": "Or", "exprs": [cmp("title", "Eq", lit("a")),
                                                             cmp("done", "Eq", lit(True))]}
    assert out["update"]["using"]["exprs"][0] == cmp("title", "Eq", lit("a"))
    assert out["update"]["with_check"]["exprs"][0] == cmp("title", "Eq", lit("b"))


def test_creator_helpers() -> None:
    creator = cmp("$createdBy", "Eq", ME)
    out = compiled(lambda policy: policy.todos.managed_by_creator())["todos"]
    assert out == {"select": {"using": creator}, "insert": {"with_check": creator},
                   "update": {"using": creator, "with_check": creator},
                   "delete": {"using": creator}}
    assert read_of(lambda policy, is_creator: policy.todos.allow_read.where(is_creator)) == creator
    assert read_of(lambda policy, session: policy.todos.allow_read.where(
        {"$createdBy": session.user_id})) == creator


def test_where_object_operators() -> None:
    def rules(policy: Any, session: Any) -> None:
        policy.todos.allow_read.where({
            "project_id": None, "priority": {"gte": 2, "lt": 5, "ne": None},
            "tags": {"contains": "x"}, "title": {"in": ["a", "b"]}, "id": {"in": []},
            "done": {"ne": True}, "due": {"is_null": False},
        })

    exprs = read_of(rules)["exprs"]
    assert exprs == [
        {"type": "IsNull", "column": "project_id"},
        cmp("priority", "Ge", lit(2)), cmp("priority", "Lt", lit(5)),
        {"type": "IsNotNull", "column": "priority"},
        {"type": "Contains", "column": "tags", "value": lit("x")},
        {"type": "InList", "column": "title", "values": [lit("a"), lit("b")]},
        {"type": "False"},
        cmp("done", "Ne", lit(True)),
        {"type": "IsNotNull", "column": "due"},
    ]


def test_session_values_and_claims() -> None:
    def rules(policy: Any, session: Any) -> None:
        policy.todos.allow_read.where({"title": session["claims.team.name"],
                                       "id": {"in": session["claims.todo_ids"]}})
        policy.projects.allow_read.where({"owner_id": session.userId})
        policy.shares.allow_read.where({"user_id": session.auth_mode})

    out = compiled(rules)
    assert read_of(rules)["exprs"] == [
        cmp("title", "Eq", {"type": "SessionRef", "path": ["claims", "team", "name"]}),
        {"type": "In", "column": "id", "session_path": ["claims", "todo_ids"]}]
    assert out["projects"]["select"]["using"]["value"]["path"] == ["user_id"]
    assert out["shares"]["select"]["using"]["value"]["path"] == ["auth_mode"]


def test_session_where() -> None:
    rule = read_of(lambda policy, session: policy.todos.allow_read.where(session.where({
        "claims.role": "manager", "authMode": {"ne": "anonymous"}, "claims.level": {"gte": 2},
        "claims.org": None, "claims.teams": {"contains": "red"}, "claims.tier": {"in": []},
        "user_id": {"in": ["a", "b"]}})))
    assert rule["exprs"] == [
        {"type": "SessionCmp", "path": ["claims", "role"], "op": "Eq", "value": "manager"},
        {"type": "SessionCmp", "path": ["authMode"], "op": "Ne", "value": "anonymous"},
        {"type": "SessionCmp", "path": ["claims", "level"], "op": "Ge", "value": 2},
        {"type": "SessionIsNull", "path": ["claims", "org"]},
        {"type": "SessionContains", "path": ["claims", "teams"], "value": "red"},
        {"type": "False"},
        {"type": "SessionInList", "path": ["user_id"], "values": ["a", "b"]},
    ]


def test_correlated_exists_uses_outer_row_refs() -> None:
    """The shape of Jazz's own test "compiles correlated exists row references"."""
    def rules(policy: Any, session: Any, any_of: Any, allowed_to: Any) -> None:
        policy.todos.allow_read.where(lambda todo: any_of([
            allowed_to.read("project"),
            policy.shares.exists.where({"todo_id": todo.id, "user_id": session.user_id,
                                        "can_read": True}),
        ]))

    assert read_of(rules) == {"type": "Or", "exprs": [
        {"type": "Inherits", "operation": "Select", "via_column": "project_id"},
        {"type": "Exists", "table": "shares", "condition": {"type": "And", "exprs": [
            cmp("todo_id", "Eq", {"type": "SessionRef", "path": ["__jazz_outer_row", "id"]}),
            cmp("user_id", "Eq", ME), cmp("can_read", "Eq", lit(True))]}}]}


def test_allowed_to_variants() -> None:
    def rules(policy: Any, allowed_to: Any) -> None:
        policy.todos.allow_read.where(allowed_to.read("project_id", max_depth=5))
        policy.todos.allow_insert.where(allowed_to.insert("project"))
        policy.todos.allow_update.where(allowed_to.update("project_id"))
        policy.todos.allow_delete.where(allowed_to.delete("project_id", max_depth=64))
        policy.projects.allow_read.where(allowed_to.read_referencing(policy.todos, "project_id"))
        policy.projects.allow_delete.where(allowed_to.delete_referencing("todos", "part_ids"))

    out = compiled(rules)
    assert out["todos"]["select"]["using"] == {"type": "Inherits", "operation": "Select",
                                               "via_column": "project_id", "max_depth": 5}
    assert out["todos"]["insert"]["with_check"]["operation"] == "Insert"
    assert out["todos"]["update"]["using"]["operation"] == "Update"
    assert out["todos"]["delete"]["using"]["max_depth"] == 64
    assert out["projects"]["select"]["using"] == {
        "type": "InheritsReferencing", "operation": "Select", "source_table": "todos",
        "via_column": "project_id"}
    assert out["projects"]["delete"]["using"]["via_column"] == "part_ids"


def test_literals_are_stored_like_query_values() -> None:
    when = datetime(2024, 1, 2, tzinfo=UTC)
    rule = read_of(lambda policy: policy.todos.allow_read.where(
        {"due": {"lt": when}, "$createdAt": {"gt": when}, "$updatedAt": {"gt": 1000}}))
    ms = int(when.timestamp() * 1000)
    assert [e["value"]["value"] for e in rule["exprs"]] == [ms, ms * 1000, 1_000_000]


def test_json_round_trip_and_text() -> None:
    def rules(policy: Any, session: Any, any_of: Any, allowed_to: Any) -> None:
        policy.todos.allow_read.where(lambda todo: any_of([
            {"$createdBy": session.user_id}, allowed_to.read("project_id", max_depth=3),
            policy.shares.exists.where({"todo_id": todo.id}),
            session.where({"claims.role": "admin"})]))
        policy.todos.allow_update.where_old({"done": False}).where_new({"done": True})

    perms = define_permissions(APP, rules)
    again = Permissions.from_json(perms.to_json_text(), APP)
    assert again == perms and again.to_json() == perms.to_json()
    expr = perms.table("todos").select_using
    assert expr is not None and expr_from_json(expr_to_json(expr)) == expr
    assert "allowed_to.read(project_id, max_depth=3)" in ir.describe(expr)
    assert "<table>" in perms._repr_html_()


def test_dependencies_follow_exists_and_inheritance() -> None:
    def rules(policy: Any, allowed_to: Any) -> None:
        policy.todos.allow_read.where(allowed_to.read("project_id"))
        policy.projects.allow_read.where(lambda p: policy.shares.exists.where({"user_id": "x"}))

    perms = define_permissions(APP, rules)
    assert perms.dependencies("todos") == {"todos", "projects", "shares"}
    assert perms.dependencies("shares") == {"shares"}


@pytest.mark.parametrize(("rules", "message"), [
    (lambda policy: policy.nope.allow_read.always(), "unknown table 'nope'"),
    (lambda policy: policy.todos.allow_read.where({"titel": "x"}), "unknown column 'titel'"),
    (lambda policy: policy.todos.allow_read.where({"$canRead": True}), "$can* columns"),
    (lambda policy: policy.todos.allow_read.where(lambda t: policy.shares.exists.where(
        {"todo_id": t.nope})), "unknown column 'nope'"),
    (lambda policy, session: policy.todos.allow_read.where({"title": session[3]}),
     "session path is a string"),
    (lambda policy, session: policy.todos.allow_read.where({"title": session["role"]}),
     "unknown session path 'role'"),
    (lambda policy, session: policy.todos.allow_read.where(session.where({7: "x"})),
     "session path is a string"),
    (lambda policy, session: policy.todos.allow_read.where(session.where({"claims.x": 1.5})),
     "literal text, integers"),
    (lambda policy, allowed_to: policy.todos.allow_read.where(
        allowed_to.read("project_id", max_depth=0)), "max_depth must be a positive integer"),
    (lambda policy, allowed_to: policy.todos.allow_read.where(
        allowed_to.read("project_id", max_depth=-2)), "max_depth"),
    (lambda policy, allowed_to: policy.todos.allow_read.where(
        allowed_to.read("project_id", max_depth=65)), "max_depth"),
    (lambda policy, allowed_to: policy.todos.allow_read.where(
        allowed_to.read("project_id", max_depth=2.5)), "max_depth"),
    (lambda policy, allowed_to: policy.todos.allow_read.where(allowed_to.read("title")),
     "not a foreign key reference"),
    (lambda policy, allowed_to: policy.todos.allow_read.where(allowed_to.read("part_ids")),
     "array of references"),
    (lambda policy, allowed_to: policy.todos.allow_read.where(
        allowed_to.read_referencing(policy.todos, "project_id")), "references 'projects', not"),
    (lambda policy: policy.todos.allow_read.where(lambda t: 3), "must return a condition"),
    (lambda policy: policy.todos.allow_read.where(lambda t: None), "must return a condition"),
    (lambda policy: policy.todos.allow_read.where(lambda t: True), "must return a condition"),
    (lambda policy: policy.todos.allow_read.where(True), "use .always()"),
    (lambda policy: policy.todos.allow_read.where(lambda t: {"id": t.id}),
     "only valid directly inside"),
    (lambda policy: policy.todos.allow_read.where(policy.shares.exists.where(lambda s: {})),
     "not a callback"),
    (lambda policy: policy.todos.allow_read.where(lambda t: policy.shares.exists.where(
        {"can_read": t.title})), "cannot compare"),
    (lambda policy: policy.todos.allow_read.where({"title": {"gt": "a"}}),
     "operator 'gt' is not supported"),
    (lambda policy: policy.todos.allow_read.where({"title": {"like": "a"}}), "unknown operator"),
    (lambda policy: policy.todos.allow_read.where({"done": "yes"}), "expected a boolean"),
    (lambda policy: policy.todos.allow_read.where({"title": None}), "not nullable"),
    (lambda policy: policy.todos.allow_update.where_old({}).where_old({}), "given twice"),
    (lambda policy, friends: None, "unknown helper"),
])
def test_bad_rules_fail_at_definition(rules: Any, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        define_permissions(APP, rules)
    assert message in str(info.value)


def test_bad_bundles_fail_to_load() -> None:
    with pytest.raises(PolicyError, match="unknown policy expression type 'Maybe'"):
        Permissions.from_json({"todos": {"select": {"using": {"type": "Maybe"}}}})
    with pytest.raises(PolicyError, match="unknown policy operation 'read'"):
        Permissions.from_json({"todos": {"read": {"using": {"type": "True"}}}})
    with pytest.raises(PolicyError, match="unknown column 'nope'"):
        Permissions.from_json({"todos": {"select": {"using": {"type": "IsNull",
                                                              "column": "nope"}}}}, APP)
    with pytest.raises(JazzError, match="unknown table 'ghosts'"):
        Permissions.from_json({"ghosts": {"select": {"using": {"type": "True"}}}}, APP)
    with pytest.raises(PolicyError, match="not valid JSON"):
        Permissions.from_json("{nope")
