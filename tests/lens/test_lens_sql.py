"""Translation in SQL: one statement per query, filters and order pushed into every branch."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.lens import Lens
from jazz_nb.lens.runtime import evolve
from jazz_nb.store.layout import visible_table


@pytest.fixture
def views(v1: s.App, v2: s.App, v3: s.App, lens12: Lens,
          lens23: Lens) -> Iterator[tuple[jz.Db, jz.Db, jz.Db]]:
    db1 = jz.create_db(v1, app_id="lens-sql", migrations=[lens12, lens23])
    db2, db3 = evolve(db1, v2), evolve(db1, v3)
    for i in range(3):
        db1.insert(v1.todos, {"title": f"milk{i}"})
        db2.insert(v2.todos, {"title": f"bike{i}", "priority": i})
        db3.insert(v3.todos, {"text": f"tax{i}", "priority": i})
    yield db1, db2, db3
    db1.close()


def plan(db: jz.Db, query: Any) -> list[dict[str, Any]]:
    compiled = db.compile(query)
    with db.store.lock:
        raw = db.store.conn.execute("EXPLAIN (FORMAT json) " + compiled.sql,
                                    compiled.bind()).fetchall()[0][1]
    return json.loads(raw)


def scans(nodes: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """(table, predicate) for every filter of every sequential scan, (table, "") for a scan
    without one. DuckDB releases print plans differently (a string or a list of filters,
    ``(a = 1)`` or ``a=1``, ``SEQ_SCAN`` with or without a trailing space), so predicates
    lose their spaces and parentheses."""
    for node in nodes:
        info = node.get("extra_info", {})
        if node.get("name", "").strip() == "SEQ_SCAN":
            table = info["Table"].split(".")[-1]
            filters = info.get("Filters") or [""]
            for predicate in [filters] if isinstance(filters, str) else filters:
                yield table, re.sub(r"[\s()]", "", predicate)
        yield from scans(node.get("children", []))


def test_compiled_sql_is_one_statement_with_filters_order_and_window_outside(
        views: tuple[jz.Db, jz.Db, jz.Db], v1: s.App, v2: s.App, v3: s.App) -> None:
    db3 = views[2]
    sql = db3.compile(v3.todos.where(text="milk1").order_by("priority", "desc").limit(5)).sql
    source, _, outer = sql.partition(" AS t0\n")
    assert source.count("UNION ALL") == 2 and source.count("ANTI JOIN") == 6
    for app in (v1, v2, v3):
        assert visible_table("todos", app.schema_hash) in source
    assert 'b."title" AS "text"' in source and 'CAST(1 AS INTEGER) AS "priority"' in source
    assert outer.splitlines() == [
        'WHERE t0._jz_deleted IS NULL AND t0."text" = $q0::VARCHAR',
        'ORDER BY t0."priority" DESC, t0.id ASC', "LIMIT 5"]


def test_filters_reach_each_branch_in_its_own_column_names(
        views: tuple[jz.Db, jz.Db, jz.Db], v1: s.App, v2: s.App, v3: s.App) -> None:
    db3 = views[2]
    t1, t2, t3 = (visible_table("todos", a.schema_hash) for a in (v1, v2, v3))
    by_text = plan(db3, v3.todos.where(text="milk1").order_by("priority", "desc").limit(5))
    assert by_text[0]["name"] == "TOP_N"  # order and limit run over the union as a top-N
    assert (t1, "title='milk1'") in set(scans(by_text))  # the renamed column, in v1
    by_priority = set(scans(plan(db3, v3.todos.where(priority={"gte": 2}))))
    assert {(t2, "priority>=2"), (t3, "priority>=2")} <= by_priority
    # v1 rows all have the lens default 1: DuckDB drops that branch, only its anti-joins remain
    assert all(not f or f == "_jz_deletedISNULL" for t, f in by_priority if t == t1)
    assert [r["text"] for r in db3.all(v3.todos.where(priority={"gte": 2}))] == ["bike2",
                                                                                "tax2"]


def test_includes_and_live_id_refresh_use_the_union(views: tuple[jz.Db, jz.Db, jz.Db],
                                                     v1: s.App, v3: s.App) -> None:
    db1, _, db3 = views
    home = db1.insert(v1.projects, {"name": "Home"})
    row = db3.insert(v3.todos, {"text": "sweep", "project_id": home.id})
    got = db3.one(v3.todos.where(id=row.id).include(project=True))
    assert got["project"]["name"] == "Home"
    back = db1.one(v1.projects.include(todos_via_project=True))
    assert [t["title"] for t in back["todos_via_project"]] == ["sweep"]
    compiled = db1.compile(v1.todos, only_ids=True)
    assert "UNION ALL" in compiled.sql
    assert db1.fetch_arrow(compiled, [row.id]).column("title").to_pylist() == ["sweep"]
