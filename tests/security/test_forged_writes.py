"""Writes that were denied but stored: forged engine columns, resurrections, bad values,
and rows of another schema version checked under the wrong policy.

Threat: a client writes raw row versions, so every engine column (``_jz_created_by``,
timestamps, parents) and every value is attacker-chosen. The server must check what an honest
client could never send — a forged creator turns a creator-only delete into the forger's; a
timestamp in 2100 wins every last-writer-wins merge forever; a version parented on nothing the
row ever had, or written over a deleted row, resurrects someone else's data; a value no column
can hold breaks every other reader of the table. A version of another schema version must be
judged by the policy and schema of that version, not the one the connection said hello with.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from jazz_nb import s
from jazz_nb.lens import migration
from jazz_nb.store.versions import RowVersion, new_batch_id, new_row_id
from jazz_nb.sync import deploy
from jazz_nb.sync.frames import Segment, encode_frame, versions_to_arrow
from tests.security.peer import ADMIN, BACKEND, DEADLINE, batch_frame, now_us, version
from tests.security.team import Team, team_app

pytestmark = pytest.mark.slow  # real server processes

DENIED = ("invalid_batch_submission", "permission_denied")
MINUTE_US = 60 * 1_000_000
YEAR_2000_US = 946_684_800 * 1_000_000


def assert_rejected(fate: dict[str, Any], codes: tuple[str, ...] = DENIED) -> None:
    assert (fate["type"], fate.get("kind")) == ("fate", "rejected"), fate
    assert fate["code"] in codes, fate


def stored(team: Team, table: str = "todos") -> dict[str, RowVersion]:
    """The newest version of every visible row of ``table`` on the server, as a trusted
    backend reads it (no policies)."""
    reader = team.client(backend_secret=BACKEND)
    ids = [r.id for r in reader.all(getattr(team.app, table), tier="edge")]
    return {row_id: reader.store.history(table, row_id)[-1] for row_id in ids}


def public_todo(team: Team) -> Any:
    """A confirmed todo of alice's that everyone may read and update (no project)."""
    return team.client(team.alice).insert(team.app.todos, {"title": "alice's public"}).wait(
        "global", timeout=DEADLINE)


def test_an_update_forging_created_by_is_rejected_and_the_creator_only_delete_stays_denied(
        team):
    row = public_todo(team)
    before = stored(team)[row.id]
    with team.peer(team.mallory) as mallory:
        forged = version(team.app, "todos", team.mallory, {"title": "mallory's now"},
                         row_id=row.id, parents=[row.batch_id], created_by=team.mallory.id,
                         created_at=1)
        assert_rejected(mallory.batch([forged]))
        after = stored(team)[row.id]
        assert (after.created_by, after.created_at, after.data["title"]) == (
            team.alice.id, before.created_at, "alice's public")
        delete = version(team.app, "todos", team.mallory, before.data, row_id=row.id,
                         parents=[row.batch_id], created_by=team.alice.id,
                         created_at=before.created_at, delete_kind="soft")
        assert_rejected(mallory.batch([delete]))
    assert row.id in stored(team)
    team.assert_serving()


FORGERIES = {
    "updated_by another user": lambda t, at: {"updated_by": t.alice.id},
    "timestamps a day ahead": lambda t, at: {"updated_at": at + 24 * 60 * MINUTE_US,
                                             "created_at": at + 24 * 60 * MINUTE_US},
    "timestamps six minutes ahead": lambda t, at: {"updated_at": at + 6 * MINUTE_US,
                                                   "created_at": at + 6 * MINUTE_US},
    "timestamps before 2000": lambda t, at: {"updated_at": YEAR_2000_US - 1,
                                             "created_at": YEAR_2000_US - 1},
    "timestamps at zero": lambda t, at: {"updated_at": 0, "created_at": 0},
    "created_at far from updated_at": lambda t, at: {"created_at": 1},
    "parents on a brand-new row": lambda t, at: {"parents": [new_batch_id()]},
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_an_insert_with_forged_engine_columns_is_rejected_and_nothing_is_stored(team, forgery):
    at = now_us()
    with team.peer(team.mallory) as mallory:
        fields = {"updated_at": at, **FORGERIES[forgery](team, at)}
        forged = version(team.app, "todos", team.mallory, {"title": f"forged: {forgery}"},
                         **fields)
        assert_rejected(mallory.batch([forged]))
    assert forged.row_id not in stored(team)
    team.assert_serving()


@pytest.mark.parametrize("parents", ["unknown batch", "another row's batch", "future"])
def test_an_update_naming_parents_the_row_never_had_is_rejected(team, parents):
    row = public_todo(team)
    other = public_todo(team)
    at = now_us()
    named = {"unknown batch": [new_batch_id()], "another row's batch": [other.batch_id],
             "future": [row.batch_id]}[parents]
    extra = {"updated_at": at + 24 * 60 * MINUTE_US} if parents == "future" else {}
    with team.peer(team.mallory) as mallory:
        forged = version(team.app, "todos", team.mallory, {"title": "rewritten"},
                         row_id=row.id, parents=named, created_by=team.alice.id,
                         created_at=stored(team)[row.id].created_at, **extra)
        assert_rejected(mallory.batch([forged]))
    assert stored(team)[row.id].data["title"] == "alice's public"
    team.assert_serving()


@pytest.mark.parametrize("kind", ["hard", "soft"])
@pytest.mark.parametrize("table", ["notes", "todos"])
def test_a_deleted_private_row_cannot_be_resurrected_by_another_user(team, table, kind):
    _, project = team.private_project(team.alice)
    private = {"body": "alice's diary"} if table == "notes" else {
        "title": "alice's secret", "project_id": project}
    public = {"body": "mallory's"} if table == "notes" else {"title": "mallory's"}
    query = getattr(team.app, table).include_deleted().to_ir()
    with team.peer(team.alice) as alice, team.peer(team.mallory) as mallory:
        assert mallory.subscribe(1, query)["type"] == "settled"
        row = version(team.app, table, team.alice, private)
        assert alice.batch([row])["kind"] == "durableDirect"
        gone = version(team.app, table, team.alice, {} if kind == "hard" else private,
                       row_id=row.row_id, parents=[row.batch_id], created_at=row.created_at,
                       delete_kind=kind)
        assert alice.batch([gone])["kind"] == "durableDirect"
        for parents in ([], [gone.batch_id]):
            revived = version(team.app, table, team.mallory, public, row_id=row.row_id,
                              parents=parents)
            assert_rejected(mallory.batch([revived]))
        mallory.drain()
        assert [v for v in mallory.versions() if v.row_id == row.row_id] == []
    with team.peer(team.mallory) as again:  # a fresh subscription gets none of it either
        assert again.subscribe(1, query)["type"] == "settled"
        assert [v for v in again.versions() if v.row_id == row.row_id] == []
    assert row.row_id not in stored(team, table)
    team.assert_serving()


def int64_priority(team: Team, row_id: str, batch_id: str, value: int) -> bytes:
    """A batch whose ``priority`` (an int32 column) travels as int64 holding ``value``."""
    v = version(team.app, "todos", team.mallory, {"title": "wide int"}, row_id=row_id,
                batch_id=batch_id)
    table = versions_to_arrow(team.app.table("todos"), [v])
    at = table.schema.get_field_index("priority")
    table = table.set_column(at, pa.field("priority", pa.int64()),
                             pa.array([value], pa.int64()))
    return encode_frame({"type": "batch", "batch_id": batch_id, "mode": "direct"},
                        [Segment("todos", team.app.schema_hash, table)])


BAD_VALUES = {
    "title": {"title": None},
    "status": {"status": "archived"},
    "meta": {"meta": "{not json"},
    "due": {"due": 2**62},
    "due ": {"due": -(2**62)},
}


@pytest.mark.parametrize("column", [*BAD_VALUES, "priority"])
def test_values_no_column_can_hold_are_rejected_and_the_table_stays_readable(team, column):
    row_id, batch_id = new_row_id(), new_batch_id()
    with team.peer(team.mallory) as mallory:
        if column == "priority":
            mallory.send(int64_priority(team, row_id, batch_id, 2**40))
        else:
            data = {"title": f"bad {column}", **BAD_VALUES[column]}
            bad = version(team.app, "todos", team.mallory, data, row_id=row_id,
                          batch_id=batch_id)
            mallory.send(batch_frame(team.app, [bad], batch_id))
        answer = mallory.answer(batch_id)
    if answer["type"] == "fate":
        assert answer["kind"] == "rejected", answer
    else:
        text = f"{answer['message']} {answer.get('reason', '')}"
        assert column.strip() in text, answer
    reader = team.client(team.bob)
    frame = reader.df(team.app.todos, tier="edge")  # every reader can still read the table
    assert row_id not in frame.index
    assert row_id not in stored(team)
    team.assert_serving()


def lists_app() -> s.App:
    """``team_app`` after a rename: ``todos.project_id`` became ``todos.list_id``."""
    v1 = team_app()
    tables = {name: v1.table(name) for name in v1.tables}
    todos = dict(tables["todos"].columns)
    todos["list_id"] = todos.pop("project_id")
    tables["todos"] = s.table(**todos)
    return s.define_app(tables)


def test_a_row_of_another_schema_version_is_checked_under_its_own_policy(server):
    team = Team.deploy(server)
    try:
        v1, v2 = team.app, lists_app()
        lens = migration(v1, v2).rename_column("todos", "project_id", "list_id")
        deploy(server.url, team.app_id, admin_secret=ADMIN, app=v2, migration=lens)
        alice, project = team.private_project(team.alice)
        mine = alice.insert(v1.todos, {"title": "alice's", "project_id": project}).wait(
            "global", timeout=DEADLINE)
        with team.peer(team.mallory, apps=[v2]) as mallory:  # said hello with v1
            assert mallory.welcome["schema_known"]
            planted = version(v2, "todos", team.mallory, {"title": "planted",
                                                           "list_id": project},
                              schema_hash=v2.schema_hash)
            assert_rejected(mallory.batch([planted]))
        fresh = team.client(team.alice)
        titles = [r["title"] for r in fresh.all(v1.todos.where(project_id=project),
                                                tier="edge")]
        assert titles == ["alice's"]
        assert mine.id in stored(team)
        assert planted.row_id not in stored(team)
        team.assert_serving()
    finally:
        team.close()
