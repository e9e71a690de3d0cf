"""Results: Arrow types, pandas frames indexed by id, Row objects, and the 1M-row budget."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jazz_nb.query import Row, compile_query, rows_from_arrow, run_arrow, to_df
from jazz_nb.schema.app import App
from jazz_nb.store.layout import quote, visible_table
from tests.query.query_helpers import BATCH, insert, uid


@pytest.fixture
def filled(app: App, conn: Any) -> Any:
    insert(conn, app, "projects", [{"id": uid(100), "name": "Home"}])
    insert(conn, app, "parts", [{"id": uid(200), "label": "p"}])
    insert(conn, app, "todos", [
        {"id": uid(1), "title": "a", "priority": 2, "due": datetime(2024, 5, 1, tzinfo=UTC),
         "project_id": uid(100), "part_ids": [uid(200)], "meta": {"k": [1, None]},
         "$createdAt": 1_714_521_600_000_001},
        {"id": uid(2), "title": "b"},
    ])
    return conn


def test_arrow_has_user_facing_types(app: App, filled: Any) -> None:
    q = app.todos.select("*", "$createdAt", "$createdBy").include(
        project=True, parts=app.parts.select("$updatedAt"))
    table = run_arrow(filled, compile_query(q))
    types = {f.name: f.type for f in table.schema}
    assert types["id"] == pa.string() and types["project_id"] == pa.string()
    assert types["due"] == pa.timestamp("ms", tz="UTC")
    assert types["$createdAt"] == pa.timestamp("us", tz="UTC")
    assert types["meta"] == pa.string() and types["part_ids"].value_type == pa.string()
    assert types["project"] == pa.struct([("id", pa.string()), ("name", pa.string()),
                                          ("archived", pa.bool_())])
    assert types["parts"].value_type == pa.struct([("id", pa.string()),
                                                   ("$updatedAt", pa.timestamp("us", tz="UTC"))])
    assert table.column("meta").to_pylist() == ['{"k":[1,null]}', None]


def test_rows_are_read_only_mappings_with_python_values(app: App, filled: Any) -> None:
    compiled = compile_query(app.todos.select("title", "due", "meta", "$createdAt").include(
        project=app.projects.select("name"), parts=True))
    first, second = rows_from_arrow(run_arrow(filled, compiled), compiled)
    assert first.id == uid(1) and list(first) == ["id", "title", "due", "meta", "$createdAt",
                                                   "project", "parts"]
    assert first["due"] == datetime(2024, 5, 1, tzinfo=UTC)
    assert first["$createdAt"] == datetime(2024, 5, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert first["meta"] == {"k": [1, None]}
    assert first["project"] == Row({"id": uid(100), "name": "Home"})
    assert first["parts"] == [{"id": uid(200), "label": "p"}]
    assert second["project"] is None and second["parts"] is None and second["meta"] is None
    with pytest.raises(TypeError):
        first["title"] = "x"  # type: ignore[index]
    assert repr(Row({"id": "r1", "n": 1})) == "Row(id='r1', n=1)"
    html = first._repr_html_()
    assert "<th style='text-align:left'>project</th>" in html and "Home" in html


def test_to_df_is_indexed_by_id(app: App, filled: Any) -> None:
    df = to_df(run_arrow(filled, compile_query(app.todos.select("title", "due", "priority"))))
    assert df.index.name == "id" and list(df.index) == [uid(1), uid(2)]
    assert list(df.columns) == ["title", "due", "priority"]
    assert df.loc[uid(1), "due"] == pd.Timestamp("2024-05-01", tz="UTC")
    assert pd.isna(df.loc[uid(2), "priority"])
    empty = to_df(run_arrow(filled, compile_query(app.todos.where(title="zz"))))
    assert empty.index.name == "id" and len(empty) == 0


def test_many_rows_to_arrow_keep_their_types(app: App, conn: Any) -> None:
    """Arrow results carry the schema's types (timestamps as UTC ms); the speed of the cast
    beside DuckDB's own export is a figure of ``python -m bench.engine``."""
    name = quote(visible_table("todos", app.schema_hash))
    conn.execute(f"""
        INSERT INTO {name} (id, title, done, priority, due, "$createdBy", "$createdAt",
                            "$updatedBy", "$updatedAt", _jz_batch)
        SELECT uuid(), 'todo ' || i, i % 2 = 0, (i % 100)::INTEGER, 1700000000000 + i,
               'alice', 1700000000000000 + i, 'alice', 1700000000000000 + i, '{BATCH}'
        FROM range(50000) AS r(i)""")
    compiled = compile_query(app.todos.select("title", "done", "priority", "due", "$createdAt"))
    table = run_arrow(conn, compiled)
    assert table.num_rows == 50_000
    assert table.schema.field("due").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("done").type == pa.bool_()
    assert pc.min(table.column("due")).as_py() == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
