"""The immutable builder: state, repr and the errors bad input raises (each naming the problem)."""

from __future__ import annotations

import pytest

from jazz_nb.errors import JazzError, QueryError
from jazz_nb.query import Condition, OrderKey, Query
from jazz_nb.schema.app import App
from tests.query.query_helpers import uid


def test_every_method_returns_a_new_query(app: App) -> None:
    base = app.todos
    assert base.where(done=True) is not base and base.conditions == ()
    q = base.where(done=False).where(priority={"gte": 3, "lt": 9}).order_by("priority", "DESC")
    assert q.conditions == (Condition("done", "eq", False), Condition("priority", "gte", 3),
                            Condition("priority", "lt", 9))
    assert q.ordering == (OrderKey("priority", "desc"),)
    with pytest.raises(AttributeError):
        q.table = "projects"  # type: ignore[misc]
    assert app.todos == Query(app, "todos") and hash(q) == hash(base.where(done=False).where(
        priority={"gte": 3, "lt": 9}).order_by("priority", "desc"))


def test_where_forms(app: App) -> None:
    q = app.todos.where({"$createdBy": "alice"}, part_ids=[uid(1)], project_id=None,
                        due={"is_null": False})
    assert q.conditions == (Condition("$createdBy", "eq", "alice"),
                            Condition("part_ids", "eq", (uid(1),)),
                            Condition("project_id", "is_null", True),
                            Condition("due", "is_null", False))
    assert app.todos.where(priority={}).conditions == ()
    assert app.todos.where(priority={"in": (1, 2.0)}).conditions[0].value == (1, 2)


def test_select_include_window_and_deleted(app: App) -> None:
    q = app.todos.select("title", "id", "*", "title", "$createdAt").limit(3).offset(2)
    assert q.selection == ("title", "*", "$createdAt")
    assert (q.row_limit, q.row_offset) == (3, 2)
    assert q.limit(None).row_limit is None
    inc = app.projects.include(todos_via_project={"where": {"done": False}, "limit": 2,
                                                  "order_by": ["title", ["priority", "desc"]],
                                                  "select": ["title"], "include_deleted": True,
                                                  "include": {"project": True}})
    assert inc.includes == (("todos_via_project", app.todos.order_by("title")
                             .order_by("priority", "desc").where(done=False).limit(2)
                             .select("title").include(project=True).include_deleted()),)
    assert inc.include(todos_via_project=False).includes == ()
    assert app.todos.include_deleted().with_deleted and not app.todos.with_deleted


def test_repr_reads_like_the_builder(app: App) -> None:
    q = (app.todos.where(done=False, priority={"gte": 3}).where(title="a").order_by("title")
         .limit(2).include(project=True).select("title"))
    assert repr(q) == ("app.todos.where(done=False, priority={'gte': 3}, title='a')"
                       ".order_by('title').limit(2).select('title').include(project=True)")
    assert repr(app.todos.where(title="a").where(title="b")) == (
        "app.todos.where(title='a').where(title='b')")
    assert repr(app.todos.where({"$createdAt": 1})) == (
        "app.todos.where({'$createdAt': datetime.datetime(1970, 1, 1, 0, 0, 0, 1000, "
        "tzinfo=datetime.timezone.utc)})")
    assert repr(app.projects.include(todos_via_project=app.todos.limit(1))) == (
        "app.projects.include(todos_via_project=app.todos.limit(1))")


@pytest.mark.parametrize(("build", "message", "fields"), [
    (lambda app: Query(app, "nope"), "unknown table 'nope'", {"table": "nope"}),
    (lambda app: app["nope"], "unknown table 'nope'", {"table": "nope"}),
    (lambda app: app.todos.where(titel="x"), "unknown column 'titel' on table 'todos'",
     {"table": "todos", "column": "titel"}),
    (lambda app: app.todos.where({"$secret": 1}), r"unknown column '\$secret' on table 'todos'",
     {"column": "$secret"}),
    (lambda app: app.todos.order_by("nope"), "unknown column 'nope'", {"column": "nope"}),
    (lambda app: app.todos.select("title", "project"), "unknown column 'project'",
     {"column": "project"}),
    (lambda app: app.todos.include(owner=True), "unknown relation 'owner' on table 'todos'",
     {"table": "todos", "column": "owner"}),
    (lambda app: app.todos.where(priority="high"),
     r"todos.priority: expected a 32-bit integer, got str 'high' \(operator 'eq'\)",
     {"table": "todos", "column": "priority", "operator": "eq"}),
    (lambda app: app.todos.where(priority={"gt": 2**40}), "todos.priority.*operator 'gt'",
     {"operator": "gt"}),
    (lambda app: app.todos.where(id="not-a-uuid"), "todos.id: expected a UUID",
     {"column": "id", "operator": "eq"}),
    (lambda app: app.todos.where(due={"lt": "yesterday"}), "todos.due: expected a timestamp",
     {"operator": "lt"}),
    (lambda app: app.todos.where(priority={"in": 3}), "'in' on todos.priority needs a list",
     {"operator": "in"}),
    (lambda app: app.todos.where(priority={"in": [1, None]}), "use is_null",
     {"operator": "in"}),
    (lambda app: app.todos.where(priority={"like": 3}), "unknown operator 'like'",
     {"operator": "like"}),
    (lambda app: app.todos.where(priority={"is_null": "yes"}), "is_null on todos.priority",
     {"operator": "is_null"}),
    (lambda app: app.todos.where(title={"gt": "a"}), "'gt' is not supported by todos.title",
     {"operator": "gt", "column": "title"}),
    (lambda app: app.todos.where(part_ids={"ne": []}), "'ne' is not supported by todos.part_ids",
     {"operator": "ne"}),
    (lambda app: app.todos.where(meta={"eq": float("nan")}), "todos.meta: expected a JSON",
     {"operator": "eq"}),
    (lambda app: app.todos.order_by("title", "up"), "direction must be 'asc' or 'desc'",
     {"column": "title"}),
    (lambda app: app.todos.limit(-1), "limit on table 'todos' must be an int from 0", {}),
    (lambda app: app.todos.offset(1.5), "offset on table 'todos' must be an int from 0", {}),
    (lambda app: app.todos.limit(2**70), "limit on table 'todos' must be an int from 0", {}),
    (lambda app: app.todos.limit(True), "limit", {}),
    (lambda app: app.todos.include(project=app.todos), "needs a query of table 'projects'",
     {"column": "project"}),
    (lambda app: app.todos.include(project="yes"), "takes True, a query", {}),
    (lambda app: app.projects.include(todos_via_project=app.todos.offset(1)),
     "offset is not supported in includes", {}),
    (lambda app: app.projects.include(todos_via_project={"wher": {}}),
     r"unknown include option\(s\) \['wher'\]", {}),
])
def test_bad_input_raises_a_query_error_naming_the_problem(app: App, build, message, fields):
    with pytest.raises(QueryError, match=message) as err:
        build(app)
    for name, value in fields.items():
        assert getattr(err.value, name) == value
    assert isinstance(err.value, JazzError)


def test_where_values_are_coerced_with_the_column_type(app: App) -> None:
    q = app.todos.where(id=uid(1).upper(), priority=2.0, meta=[1, {"b": 2, "a": None}])
    assert [c.value for c in q.conditions] == [uid(1), 2, '[1,{"a":null,"b":2}]']
