"""Lens operations: inversion, JSON round trips and row translation, as properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jazz_nb import s
from jazz_nb.errors import MigrationError
from jazz_nb.lens import ops as lo
from jazz_nb.lens.translate import Const, Source, initial, translate_row, walk
from jazz_nb.lens.values import from_tagged, sql_literal, to_tagged
from jazz_nb.schema import types as t
from tests.lens.strategies import TYPES, apps, op_sequences, values


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_inverse_of_inverse_is_identity_and_json_round_trips(data: st.DataObject) -> None:
    app = data.draw(apps())
    ops = data.draw(op_sequences(app))
    assert lo.inverse(lo.inverse(ops)) == ops
    assert lo.from_json(lo.to_json(ops)) == ops
    assert lo.from_json(lo.to_json(lo.inverse(ops))) == lo.inverse(ops)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_forward_then_backward_restores_every_surviving_column(data: st.DataObject) -> None:
    app = data.draw(apps())
    ops = data.draw(op_sequences(app))
    there = walk(initial(app.tables), ops)
    back = walk(there, lo.inverse(ops))  # composing the two transforms
    assert set(back) == set(app.tables)
    for name, schema in app.tables.items():
        row = {c: data.draw(values(col.type)) for c, col in schema.columns.items()}
        if back[name].origin is None:  # the table was removed on the way: no rows come back
            assert any(isinstance(op, lo.RemoveTable) for op in ops)
            continue
        assert back[name].origin == name
        assert set(back[name].columns) == set(schema.columns)
        restored = translate_row(back[name], row, schema.columns)
        for column, cell in back[name].columns.items():
            if isinstance(cell, Source):
                assert cell.column == column and restored[column] == row[column]
            else:
                assert isinstance(cell, Const) and restored[column] == cell.value


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_tagged_values_round_trip(data: st.DataObject) -> None:
    column_type = data.draw(st.sampled_from(TYPES))
    value = data.draw(st.one_of(st.none(), values(column_type)))
    assert from_tagged(column_type, to_tagged(column_type, value)) == value


def test_every_operation_inverts_to_its_counterpart() -> None:
    text = t.Text()
    assert lo.AddColumn("t", "c", text, "x").invert() == lo.RemoveColumn("t", "c", text, "x")
    assert lo.RemoveColumn("t", "c", text, "y").invert() == lo.AddColumn("t", "c", text, "y")
    assert lo.RenameColumn("t", "a", "b").invert() == lo.RenameColumn("t", "b", "a")
    assert lo.AddTable("t").invert() == lo.RemoveTable("t")
    assert lo.RemoveTable("t").invert() == lo.AddTable("t")
    assert lo.RenameTable("a", "b").invert() == lo.RenameTable("b", "a")


def test_published_json_has_jazz_shape() -> None:
    ops = (lo.RenameTable("users", "people"), lo.RemoveColumn("people", "age", t.Integer(), 0),
           lo.RenameColumn("people", "name", "full_name"),
           lo.AddColumn("people", "tags", t.Array(t.Text()), []), lo.AddTable("audit"),
           lo.RemoveTable("legacy"))
    assert lo.to_json(ops) == [
        {"table": "people", "renamedFrom": "users", "operations": [
            {"type": "drop", "column": "age", "column_type": {"type": "Integer"},
             "value": {"type": "Integer", "value": 0}},
            {"type": "rename", "column": "name", "value": "full_name"},
            {"type": "introduce", "column": "tags",
             "column_type": {"type": "Array", "element": {"type": "Text"}},
             "value": {"type": "Array", "value": []}}]},
        {"table": "audit", "added": True, "operations": []},
        {"table": "legacy", "removed": True, "operations": []}]


def test_sql_literals_round_trip_through_duckdb() -> None:
    import duckdb

    conn = duckdb.connect()
    cases = [(t.Text(), "it's"), (t.Integer(), -3), (t.BigInt(), 2**40), (t.Double(), 0.5),
             (t.Boolean(), True), (t.Timestamp(), 1000), (t.Bytea(), b"\x00\xff"),
             (t.Array(t.Text()), ["a", "b"]), (t.Array(t.Integer()), []),
             (t.Json(), '{"a":1}'), (t.Enum(("x", "y")), "y"), (t.Integer(), None)]
    for column_type, value in cases:
        assert conn.execute(f"SELECT {sql_literal(column_type, value)}").fetchone()[0] == value
    uid = "01900000-0000-7000-8000-000000000001"
    got = conn.execute(f"SELECT CAST({sql_literal(t.Uuid(), uid)} AS VARCHAR)").fetchone()[0]
    assert got == uid


def test_json_refuses_column_operations_on_an_added_table() -> None:
    with pytest.raises(MigrationError, match="added or removed by the lens"):
        lo.to_json([lo.AddTable("t"), lo.AddColumn("t", "c", t.Text(), "")])
    with pytest.raises(MigrationError, match="cannot have column operations"):
        lo.from_json([{"table": "t", "removed": True, "operations": [
            {"type": "rename", "column": "a", "value": "b"}]}])


def test_walk_names_operation_table_and_column_on_bad_input() -> None:
    start = initial({"todos": s.table(title=s.string())})
    cases = [
        (lo.AddColumn("nope", "x", t.Text(), ""), "nope", None, "add_column"),
        (lo.RemoveColumn("todos", "x", t.Text(), ""), "todos", "x", "remove_column"),
        (lo.RemoveColumn("todos", "title", t.Integer(), 0), "todos", "title", "remove_column"),
        (lo.RenameColumn("todos", "title", "title"), "todos", "title", "rename_column"),
        (lo.AddTable("todos"), "todos", None, "add_table"),
        (lo.RenameTable("x", "y"), "x", None, "rename_table"),
    ]
    for op, table, column, name in cases:
        with pytest.raises(MigrationError) as info:
            walk(start, [op])
        assert (info.value.table, info.value.column, info.value.operator) == (table, column,
                                                                              name)
