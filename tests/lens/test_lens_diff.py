"""``s.migration(old, new)``: generated operations, drafts and their resolution, bad input."""

from __future__ import annotations

import pytest

from jazz_nb import s
from jazz_nb.errors import MigrationError
from jazz_nb.lens import Lens, migration
from jazz_nb.lens import ops as lo
from jazz_nb.schema import types as t


def app(**tables: s.TableSchema) -> s.App:
    return s.define_app(dict(tables))


def test_added_column_with_default_is_ready(v1: s.App, v2: s.App) -> None:
    lens = migration(v1, v2)
    assert not lens.is_draft and lens.ambiguities == ()
    assert lens.forward == (lo.AddColumn("todos", "priority", t.Integer(), 1),)
    assert lens.backward == (lo.RemoveColumn("todos", "priority", t.Integer(), 1),)
    assert (lens.from_hash, lens.to_hash) == (v1.schema_hash, v2.schema_hash)


def test_zero_defaults_follow_jazz_heuristics() -> None:
    old = app(t=s.table(a=s.int()))
    new = app(t=s.table(a=s.int(), n=s.int(), txt=s.string(), flag=s.boolean(),
                        opt=s.float().optional(), tags=s.array(s.string()),
                        level=s.enum("low", "high"), at=s.timestamp()))
    defaults = {op.column: op.default for op in migration(old, new).forward}
    assert defaults == {"n": 0, "txt": "", "flag": False, "opt": None, "tags": [],
                        "level": "high", "at": 0}


def test_possible_rename_is_a_draft_until_resolved(v2: s.App, v3: s.App) -> None:
    lens = migration(v2, v3)
    assert lens.is_draft
    [ambiguity] = lens.ambiguities
    assert (ambiguity.kind, ambiguity.table, ambiguity.column) == ("possible_rename", "todos",
                                                                   "text")
    assert ".rename_column('todos', 'title', 'text')" in ambiguity.fix
    with pytest.raises(MigrationError, match="is a draft") as info:
        lens.check_active()
    assert (info.value.table, info.value.column) == ("todos", "text")

    renamed = lens.rename_column("todos", "title", "text")
    assert not renamed.is_draft
    assert renamed.forward == (lo.RenameColumn("todos", "title", "text"),)
    dropped = lens.remove_column("todos", "title", backwards_default="?").add_column(
        "todos", "text", default="(none)")
    assert not dropped.is_draft
    assert dropped.forward == (lo.RemoveColumn("todos", "title", t.Text(), "?"),
                               lo.AddColumn("todos", "text", t.Text(), "(none)"))
    # amending again replaces the earlier decision
    assert dropped.rename_column("todos", "title", "text") == renamed


def test_type_change_is_a_draft_resolved_by_drop_and_add() -> None:
    old = app(t=s.table(n=s.int()))
    new = app(t=s.table(n=s.string()))
    lens = migration(old, new)
    assert [a.kind for a in lens.ambiguities] == ["type_change"]
    assert "Integer became Text" in lens.ambiguities[0].message
    fixed = lens.add_column("t", "n", default="?")
    assert not fixed.is_draft
    assert fixed.forward == (lo.RemoveColumn("t", "n", t.Integer(), 0),
                             lo.AddColumn("t", "n", t.Text(), "?"))


def test_required_column_without_a_possible_default_is_a_draft() -> None:
    old = app(t=s.table(a=s.int()))
    new = app(t=s.table(a=s.int(), owner_id=s.uuid()))
    lens = migration(old, new)
    assert [(a.kind, a.column) for a in lens.ambiguities] == [("missing_default", "owner_id")]
    uid = "01900000-0000-7000-8000-000000000001"
    assert not lens.add_column("t", "owner_id", default=uid).is_draft
    back = migration(new, old)
    assert [a.kind for a in back.ambiguities] == ["missing_backwards_default"]
    assert not back.remove_column("t", "owner_id", backwards_default=uid).is_draft


def test_table_rename_and_table_add_remove() -> None:
    old = app(users=s.table(name=s.string()), legacy=s.table(x=s.int(), y=s.int()))
    new = app(people=s.table(name=s.string()), audit=s.table(at=s.timestamp()))
    lens = migration(old, new)
    assert [a.kind for a in lens.ambiguities] == ["possible_table_rename"]
    assert lens.forward == (lo.RemoveTable("legacy"), lo.RenameTable("users", "people"),
                            lo.AddTable("audit"))
    assert not lens.rename_table("users", "people").is_draft
    split = lens.remove_table("users").add_table("people")
    assert not split.is_draft and lo.RenameTable("users", "people") not in split.forward


def test_column_operations_on_a_renamed_table_use_its_new_name() -> None:
    old = app(users=s.table(name=s.string()))
    new = app(people=s.table(full_name=s.string()))
    lens = migration(old, new).rename_table("users", "people")
    assert lens.is_draft  # the renamed table's columns still look like a rename
    lens = lens.rename_column("people", "name", "full_name")
    assert lens.forward == (lo.RenameTable("users", "people"),
                            lo.RenameColumn("people", "name", "full_name"))
    with pytest.raises(MigrationError, match="new name 'people'"):
        Lens.between(old, new, [lo.RenameTable("users", "people"),
                                lo.RenameColumn("users", "name", "full_name")])


def test_json_round_trip_binds_back_to_the_same_lens(v1: s.App, v2: s.App, v3: s.App) -> None:
    lens = migration(v2, v3).rename_column("todos", "title", "text")
    data = lens.to_json()
    assert data["fromHash"] == v2.schema_hash and data["toHash"] == v3.schema_hash
    loose = Lens.from_json(data)
    assert loose.old is None and loose == lens
    assert Lens.from_json(data, old=v2, new=v3) == lens
    assert lens.object_id == Lens.from_json(data).object_id
    with pytest.raises(MigrationError, match="hash"):
        loose.bind(v1, v3)


def test_lens_object_id_is_uuid5_of_both_hashes() -> None:
    import hashlib
    import uuid

    lens = Lens("ab" * 32, "cd" * 32, ())
    digest = hashlib.sha1(uuid.NAMESPACE_DNS.bytes + bytes.fromhex("ab" * 32 + "cd" * 32))
    assert lens.object_id == str(uuid.UUID(bytes=digest.digest()[:16], version=5))


# -- bad input: MigrationError naming table, column and operation -----------------------------
@pytest.mark.parametrize(("amend", "table", "column", "operator"), [
    (lambda lens: lens.rename_column("nope", "title", "text"), "nope", "title", "rename_column"),
    (lambda lens: lens.rename_column("todos", "nope", "text"), "todos", "nope", "rename_column"),
    (lambda lens: lens.add_column("todos", "nope", default=1), "todos", "nope", "add_column"),
    (lambda lens: lens.remove_column("todos", "nope"), "todos", "nope", "remove_column"),
    (lambda lens: lens.rename_table("nope", "todos"), "nope", None, "rename_table"),
    (lambda lens: lens.add_column("todos", "text", default=3), "todos", "text", "add_column"),
    (lambda lens: lens.add_column("todos", "text", default=None), "todos", "text",
     "add_column"),
    (lambda lens: lens.remove_column("todos", "done", backwards_default="yes"), "todos", "done",
     "remove_column"),
])
def test_bad_amendments_name_table_column_and_operation(v2: s.App, v3: s.App, amend: object,
                                                         table: str, column: str | None,
                                                         operator: str) -> None:
    with pytest.raises(MigrationError) as info:
        amend(migration(v2, v3))  # type: ignore[operator]
    assert (info.value.table, info.value.column, info.value.operator) == (table, column,
                                                                          operator)
    assert table in str(info.value)


def test_json_lens_must_state_every_change(v1: s.App, v2: s.App) -> None:
    empty = {"fromHash": v1.schema_hash, "toHash": v2.schema_hash, "forward": []}
    with pytest.raises(MigrationError, match="does not say how to add_column") as info:
        Lens.from_json(empty, old=v1, new=v2)
    assert (info.value.table, info.value.column) == ("todos", "priority")


def test_wrong_default_type_in_json_is_refused(v1: s.App, v2: s.App) -> None:
    data = migration(v1, v2).to_json()
    data["forward"][0]["operations"][0]["value"] = {"type": "Text", "value": "high"}
    with pytest.raises(MigrationError, match="Text value does not fit a Integer"):
        Lens.from_json(data)


def test_json_lens_that_does_not_match_its_schemas_is_refused(v1: s.App, v2: s.App) -> None:
    bogus = {"fromHash": v1.schema_hash, "toHash": v2.schema_hash, "forward": [
        {"table": "todos", "operations": [
            {"type": "introduce", "column": "priority", "column_type": {"type": "Text"},
             "value": {"type": "Text", "value": ""}}]}]}
    with pytest.raises(MigrationError) as info:
        Lens.from_json(bogus, old=v1, new=v2)
    assert (info.value.table, info.value.column) == ("todos", "priority")


def test_contradictory_renames_in_one_lens_are_refused() -> None:
    old = app(t=s.table(a=s.int(), b=s.int()))
    new = app(t=s.table(b=s.int(), a=s.int()))
    with pytest.raises(MigrationError, match="form a cycle") as info:
        Lens.between(old, new, [lo.RenameColumn("t", "a", "b"), lo.RenameColumn("t", "b", "a")])
    assert info.value.operator == "rename_column" and info.value.table == "t"
    with pytest.raises(MigrationError, match="contradictory renames"):
        Lens.between(old, app(t=s.table(x=s.int(), y=s.int())),
                     [lo.RenameColumn("t", "a", "x"), lo.RenameColumn("t", "a", "y")])


def test_rename_must_keep_type_and_optionality() -> None:
    old = app(t=s.table(a=s.int()))
    with pytest.raises(MigrationError, match="keeps the type"):
        migration(old, app(t=s.table(b=s.string()))).rename_column("t", "a", "b")
    with pytest.raises(MigrationError, match="keeps the type"):
        migration(old, app(t=s.table(b=s.int().optional()))).rename_column("t", "a", "b")
