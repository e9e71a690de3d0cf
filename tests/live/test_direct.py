"""In-memory re-evaluation of written rows (``jazz_nb.live.direct``) against DuckDB itself:
random rows (NULLs, NaN, unicode) and random conditions and orderings give the same rows in
the same order as the compiled ``only_ids`` statement. Real DuckDB, no mocks."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.live.direct import DirectEval

APP = s.define_app({
    "items": s.table(
        title=s.string().optional(), n=s.int().optional(), x=s.float().optional(),
        at=s.timestamp().optional(), flag=s.boolean(), tags=s.array(s.string()).optional(),
        kind=s.enum("a", "b").optional(),
    ),
})
TITLES = ["", "a", "ab", "B", "é", "z", "日本"]
POOLS: dict[str, list[Any]] = {
    "title": TITLES, "n": [-2, 0, 1, 7], "x": [-1.5, 0.0, 2.5],
    "at": [0, 1_000, 86_400_000], "flag": [True, False], "kind": ["a", "b"],
}
rows = st.lists(st.fixed_dictionaries({
    "title": st.one_of(st.none(), st.sampled_from(TITLES)),
    "n": st.one_of(st.none(), st.sampled_from(POOLS["n"])),
    "x": st.one_of(st.none(), st.sampled_from([*POOLS["x"], math.nan])),
    "at": st.one_of(st.none(), st.sampled_from(POOLS["at"])),
    "flag": st.booleans(),
    "tags": st.one_of(st.none(), st.lists(st.sampled_from(["p", "q"]), max_size=2)),
    "kind": st.one_of(st.none(), st.just("a"), st.just("b")),
}), min_size=1, max_size=12)


@st.composite
def queries(draw: st.DrawFn) -> jz.Query:
    q = APP.items
    for _ in range(draw(st.integers(0, 2))):
        column = draw(st.sampled_from(sorted(POOLS)))
        op = draw(st.sampled_from([o for o in q.column(column).operators if o != "contains"]
                                  + (["contains"] if column == "title" else [])))
        if op == "is_null":
            value: Any = draw(st.booleans())
        elif op == "in":
            value = draw(st.lists(st.sampled_from(POOLS[column]), min_size=1, max_size=3))
        elif op == "contains":
            value = draw(st.sampled_from(["a", "é", "b"]))
        else:
            value = draw(st.sampled_from(POOLS[column]))
        q = q.where(**{column: {op: value}})
    for column in draw(st.lists(st.sampled_from(["title", "n", "x", "at", "flag"]),
                                max_size=2, unique=True)):
        q = q.order_by(column, draw(st.sampled_from(["asc", "desc"])))
    if draw(st.booleans()):
        q = q.select("title", "$createdAt", "$updatedBy")
    return q


def _plain(table: Any) -> list[dict[str, Any]]:
    return [{k: ("NaN" if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in table.to_pylist()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=rows, query=queries())
def test_in_memory_evaluation_matches_duckdb(values: list[dict[str, Any]], query: jz.Query,
                                             ) -> None:
    _check(values, query)


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "gte", "lt", "lte", "in"])
def test_nan_and_null_compare_like_duckdb(op: str) -> None:
    values = [{"x": x, "flag": True} for x in (math.nan, 1.0, None, -2.0, 0.5)]
    _check([{"flag": True}, *values], APP.items.where(x={op: [0.5] if op == "in" else 0.5}))


def _check(values: list[dict[str, Any]], query: jz.Query) -> None:
    db = jz.create_db(APP, app_id="direct")
    try:
        ids = [db.insert(APP.items, v).id for v in values]
        if len(ids) > 1:
            db.delete(APP.items, ids[0])  # a soft-deleted row never matches
        with db.live(query) as live:
            direct = live._direct
            assert direct is not None
            shape = live.plan
            records = {**db.store.current("items", ids), "missing": None}
            expected = db.fetch_arrow(shape.only_ids, ids).cast(live._table.schema)
            assert _plain(direct.fetch(records)) == _plain(expected)
    finally:
        db.close()


def test_plain_live_queries_skip_duckdb_and_others_do_not() -> None:
    app = s.define_app({"projects": s.table(name=s.string()),
                        "todos": s.table(title=s.string(), done=s.boolean(default=False),
                                         project_id=s.ref("projects").optional())})
    db = jz.create_db(app, app_id="direct-spy")
    calls: list[Any] = []
    fetch = db.fetch_arrow
    db.fetch_arrow = lambda *a, **k: calls.append(a) or fetch(*a, **k)  # type: ignore[method-assign]
    plain = db.live(app.todos.where(done=False).order_by("title"))
    joined = db.live(app.todos.include(project=True))
    calls.clear()
    row = db.insert(app.todos, {"title": "b"})
    db.update(app.todos, row.id, {"title": "a"})
    assert list(plain.df["title"]) == ["a"] and list(joined.df["title"]) == ["a"]
    assert len(calls) == 2  # the include query's two re-evaluations only
    assert DirectEval.build(db, app.todos.include(project=True), plain._table.schema,
                            plain.plan.keys) is None
    db.close()
