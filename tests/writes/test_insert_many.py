"""db.insert_many: the columnar fast path checks exactly what single inserts check."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.writes.columnar import uuid7_array


def test_list_of_dicts_gets_defaults_ids_and_one_batch(db: jz.Db, app: s.App) -> None:
    handle = db.insert_many(app.todos, [{"title": f"t{i}", "priority": i} for i in range(50)])
    frame = db.df(app.todos.order_by("priority"))
    assert list(frame["title"]) == [f"t{i}" for i in range(50)]
    assert not frame["done"].any()
    assert all(uuid.UUID(i).version == 7 for i in frame.index)
    assert handle.wait("local").tier == "local"
    history = db.store.history("todos", frame.index[0])
    assert [v.batch_id for v in history] == [handle.batch_id]


def test_dataframe_and_arrow_inputs(db: jz.Db, app: s.App) -> None:
    due = datetime(2026, 5, 1, tzinfo=UTC)
    frame = pd.DataFrame({"title": ["a", "b"], "priority": [1, None],
                          "due": [pd.Timestamp(due), pd.NaT]})
    db.insert_many(app.todos, frame)
    db.insert_many(app.todos, pa.table({"title": ["c"], "tags": [["x", "y"]]}))
    rows = {r["title"]: r for r in db.all(app.todos)}
    assert rows["a"]["due"] == due and rows["a"]["priority"] == 1
    assert rows["b"]["priority"] is None and rows["b"]["due"] is None
    assert rows["c"]["tags"] == ["x", "y"]


def test_mixed_keys_mean_defaults_not_nulls(db: jz.Db, app: s.App) -> None:
    db.insert_many(app.todos, [{"title": "a", "done": True}, {"title": "b"}])
    assert {r["title"]: r["done"] for r in db.all(app.todos)} == {"a": True, "b": False}


@pytest.mark.parametrize(("rows", "needle"), [
    ([{"title": "a", "priority": 2**31}], "todos.priority"),
    ([{"title": "a", "priority": "high"}], "todos.priority"),
    ([{"title": 1}], "todos.title: expected a string"),
    ([{"title": None}], "cannot set required field todos.title to null"),
    ([{"priority": 1}], "missing required field 'title' on table 'todos'"),
    ([{"title": "a", "nope": 1}], "unknown column 'nope' on table 'todos'"),
    ([{"title": "a", "project_id": "not-a-uuid"}], "todos.project_id: expected a UUID"),
    ([{"title": "a", "done": 1}], "todos.done: expected a boolean"),
    ([{"title": "a"}, {"title": "b", "priority": 1.5}], "todos.priority"),
])
def test_bad_rows_name_the_column_and_insert_nothing(db: jz.Db, app: s.App, rows,
                                                     needle) -> None:
    with pytest.raises(jz.SchemaError) as err:
        db.insert_many(app.todos, rows)
    assert needle in str(err.value)
    assert db.all(app.todos) == []
    db.insert_many(app.todos, [{"title": "still usable"}])
    assert len(db.all(app.todos)) == 1


def test_uuid_and_enum_columns_are_checked_as_arrays() -> None:
    app = s.define_app({"t": s.table(kind=s.enum("a", "b"), ref=s.uuid().optional())})
    with jz.create_db(app, app_id="x") as db:
        good = str(uuid.uuid4()).upper()
        db.insert_many(app.t, [{"kind": "a", "ref": good}])
        assert db.one(app.t)["ref"] == good.lower()
        with pytest.raises(jz.SchemaError, match=r"t\.kind"):
            db.insert_many(app.t, [{"kind": "c"}])


def test_uuid7_array_is_sorted_unique_and_valid() -> None:
    ids = uuid7_array(10_000).to_pylist()
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {uuid.UUID(i).version for i in ids} == {7}
    assert {uuid.UUID(i).variant for i in ids} == {uuid.RFC_4122}
