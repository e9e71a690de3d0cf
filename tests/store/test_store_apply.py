"""``Store``: applying versions, batch states, listeners, persistence (real DuckDB)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from jazz_nb import s
from jazz_nb.errors import WriteError
from jazz_nb.store.changes import ChangeSet
from jazz_nb.store.merge import visible_preview
from jazz_nb.store.store import Store
from jazz_nb.store.versions import new_row_id
from tests.store.store_helpers import APP, batch, version

OWNER = "01900000-0000-7000-8000-0000000000aa"
FULL = {"title": "full", "done": True, "priority": -7, "tags": ["a", "b"], "owner": OWNER,
        "blob": b"\x00\xff"}


def test_every_column_type_round_trips(store: Store) -> None:
    row, b = new_row_id(), batch()
    v = version(row, b, at=5, data=FULL, tier=1)
    changes = store.apply([v])
    assert changes == ChangeSet({"todos": (row,)}, (b,))
    shown = store.current("todos", [row, new_row_id()])
    assert list(shown) == [row]
    assert shown[row].data == FULL
    assert (shown[row].batch_id, shown[row].frontier, shown[row].tier) == (b, (b,), 1)
    assert store.history("todos", row) == [v]
    assert store.versions_of_batch(b) == [v]


@pytest.mark.parametrize("count", [1, 3, 40])
@pytest.mark.parametrize("fresh", [False, True])
def test_linear_updates_fast_forward(store: Store, count: int, fresh: bool) -> None:
    rows = [new_row_id() for _ in range(count)]
    first = [version(r, batch(), at=1, data={"title": "a"}) for r in rows]
    store.apply(first, fresh=fresh)
    second = [version(v.row_id, batch(), (v.batch_id,), at=2, data={"title": "b"})
              for v in first]
    third = [version(v.row_id, batch(), (v.batch_id,), at=3, data={"title": "c"})
             for v in second]
    changes = store.apply([*second, *third], fresh=fresh)  # a chain inside one apply
    assert changes.tables == {"todos": tuple(rows)}
    current = store.current("todos", rows)
    assert {r: current[r].data["title"] for r in rows} == dict.fromkeys(rows, "c")
    assert all(current[v.row_id].frontier == (v.batch_id,) for v in third)


@pytest.mark.parametrize("count", [1, 30])
def test_reapply_changes_nothing(store: Store, count: int) -> None:
    versions = [version(new_row_id(), batch(), data={"title": str(i)}) for i in range(count)]
    assert store.apply(versions)
    before = store.execute("SELECT * FROM todos__" + APP.schema_hash[:12] + " ORDER BY id")
    snapshot = before.fetchall()
    again = store.apply(versions + versions)
    assert again == ChangeSet() and not again
    assert store.execute("SELECT count(*) FROM todos__" + APP.schema_hash[:12]
                         + "__history").fetchall() == [(count,)]
    after = store.execute("SELECT * FROM todos__" + APP.schema_hash[:12] + " ORDER BY id")
    assert after.fetchall() == snapshot


def test_concurrent_versions_merge_and_out_of_order_arrival(store: Store) -> None:
    row, base, left, right = new_row_id(), batch(), batch(), batch()
    v0 = version(row, base, at=1, data={"title": "a", "priority": 1})
    v1 = version(row, left, (base,), at=2, data={"title": "b", "priority": 1})
    v2 = version(row, right, (base,), at=3, data={"title": "a", "priority": 9})
    assert store.apply([v2]).tables == {"todos": (row,)}  # child before its parent
    assert store.current("todos", [row])[row].data["priority"] == 9
    store.apply([v1])
    store.apply([v0])
    shown = store.current("todos", [row])[row]
    assert (shown.data["title"], shown.data["priority"]) == ("b", 9)
    assert shown.frontier == tuple(sorted((left, right)))
    merge = version(row, batch(), shown.frontier, at=4, data={**shown.data, "done": True})
    store.apply([merge])
    assert store.current("todos", [row])[row].frontier == (merge.batch_id,)


def test_deletes_are_visible_rows_with_a_delete_kind(store: Store) -> None:
    row, b0, b1 = new_row_id(), batch(), batch()
    store.apply([version(row, b0, data={"title": "a"})])
    store.apply([version(row, b1, (b0,), at=2, data={"title": "a"}, delete_kind="soft")])
    soft = store.current("todos", [row])[row]
    assert soft.is_deleted and soft.delete_kind == "soft" and soft.data["title"] == "a"
    b2 = batch()
    store.apply([version(row, b2, (b1,), at=3, data={}, delete_kind="hard")])
    hard = store.current("todos", [row])[row]
    assert (hard.delete_kind, hard.data) == ("hard", {})
    assert store.history("todos", row)[-1].data == {}


def test_staged_versions_wait_for_accept_and_vanish_on_reject(store: Store) -> None:
    row, b0 = new_row_id(), batch()
    store.apply([version(row, b0, data={"title": "a"})])
    tx, other = batch(), new_row_id()
    staged = [version(row, tx, (b0,), at=2, data={"title": "tx"}, state="StagingPending"),
              version(other, tx, at=2, data={"title": "new"}, state="StagingPending")]
    changes = store.apply(staged)
    assert changes.tables == {} and changes.batch_ids == (tx,) and changes
    assert store.current("todos", [row])[row].data["title"] == "a"
    assert store.current("todos", [other]) == {}

    accepted = store.set_batch_state(tx, "VisibleTransactional", tier=2)
    assert set(accepted.tables["todos"]) == {row, other} and accepted.batch_ids == (tx,)
    shown = store.current("todos", [row, other])
    assert shown[row].data["title"] == "tx" and shown[other].data["title"] == "new"
    assert shown[row].tier == shown[other].tier == 2  # a linear tip shows its own tier
    assert not store.set_batch_state(tx, "VisibleTransactional", tier=1)  # never lowers

    rejected = store.set_batch_state(tx, "Rejected")
    assert set(rejected.tables["todos"]) == {row, other}
    shown = store.current("todos", [row, other])
    assert shown[row].data["title"] == "a" and other not in shown
    assert {v.state for v in store.versions_of_batch(tx)} == {"Rejected"}


def test_tier_confirmation_raises_the_visible_tier(store: Store) -> None:
    row, b0 = new_row_id(), batch()
    store.apply([version(row, b0)])
    assert store.set_batch_state(b0, "VisibleDirect", tier=1).tables == {"todos": (row,)}
    assert store.current("todos", [row])[row].tier == 1
    assert store.history("todos", row)[0].tier == 1
    assert not store.set_batch_state(batch(), "Rejected")  # unknown batch: nothing changes
    with pytest.raises(WriteError, match="unknown row state"):
        store.set_batch_state(b0, "Gone")  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [1, 20])
def test_failed_apply_leaves_nothing_behind(store: Store, count: int) -> None:
    good = [version(new_row_id(), batch()) for _ in range(count)]
    bad = version(new_row_id(), batch(), data={"priority": "not a number"})
    with pytest.raises(WriteError) as info:
        store.apply([*good, bad])
    assert info.value.table == "todos"
    assert info.value.column == ("priority" if count > 1 else None)  # Arrow names the column
    assert store.current("todos", [v.row_id for v in good]) == {}
    assert store.versions_of_batch(good[0].batch_id) == []
    assert store.apply(good).tables == {"todos": tuple(v.row_id for v in good)}  # still usable


def test_failed_merge_rolls_back_every_table(store: Store) -> None:
    todo = version(new_row_id(), batch())
    row, base = new_row_id(), batch()
    store.apply([version(row, base, data={"hits": 0}, table="counters")])
    overflow = [version(row, batch(), (base,), at=2, data={"hits": 2**31 - 1}, table="counters"),
                version(row, batch(), (base,), at=3, data={"hits": 5}, table="counters")]
    with pytest.raises(WriteError, match="overflow"):
        store.apply([todo, *overflow])
    assert store.current("todos", [todo.row_id]) == {}
    assert len(store.history("counters", row)) == 1


def test_fresh_duplicate_is_an_error_not_a_silent_overwrite(store: Store) -> None:
    v = version(new_row_id(), batch())
    store.apply([v], fresh=True)
    with pytest.raises(WriteError, match="todos"):
        store.apply([v], fresh=True)
    assert store.history("todos", v.row_id) == [v]


def test_file_store_keeps_its_data(tmp_path: Path) -> None:
    path = str(tmp_path / "app.duckdb")
    v = version(new_row_id(), batch(), data=FULL)
    with Store(APP, path) as first:
        first.apply([v])
    with Store(APP, path) as second:
        assert second.current("todos", [v.row_id])[v.row_id].data == FULL
        assert not second.apply([v])
        assert second.history("todos", v.row_id) == [v]


def test_listeners_get_each_changeset_and_one_failing_does_not_stop_others(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[ChangeSet] = []
    held: list[bool] = []

    def broken(changes: ChangeSet) -> None:
        raise RuntimeError("listener bug")

    def record(changes: ChangeSet) -> None:
        held.append(store.lock._is_owned())  # type: ignore[attr-defined]
        seen.append(changes)

    store.add_listener(broken)
    remove = store.add_listener(record)
    v = version(new_row_id(), batch())
    changes = store.apply([v])
    assert seen == [changes] and held == [True]
    assert "listener bug" in caplog.text
    store.apply([v])  # nothing changed: nobody is called
    assert len(seen) == 1
    remove()
    remove()
    store.apply([version(new_row_id(), batch())])
    assert len(seen) == 1


def test_older_schema_versions_live_in_their_own_tables(store: Store) -> None:
    old = s.define_app({"todos": s.table(title=s.string())})
    v = version(new_row_id(), batch(), data={"title": "old"}, schema_hash=old.schema_hash)
    with pytest.raises(WriteError, match="unknown schema version"):
        store.apply([v])
    store.register_schema(old)
    v = version(v.row_id, v.batch_id, data={"title": "old"}, schema_hash=old.schema_hash)
    store.apply([v])
    assert store.current("todos", [v.row_id]) == {}
    old_row = store.current("todos", [v.row_id], schema_hash=old.schema_hash)[v.row_id]
    assert old_row.data == {"title": "old"}
    assert store.versions_of_batch(v.batch_id)[0].schema_hash == old.schema_hash
    with pytest.raises(WriteError, match="unknown table"):
        store.apply([version(new_row_id(), batch(), table="nope")])


def test_cursor_reads_from_another_thread(store: Store) -> None:
    v = version(new_row_id(), batch())
    store.apply([v])
    cursor = store.cursor()
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.extend(cursor.execute(
        f"SELECT count(*) FROM todos__{APP.schema_hash[:12]}").fetchall()))
    thread.start()
    thread.join()
    assert out == [(1,)]


def test_user_columns_may_share_names_with_engine_fields() -> None:
    app = s.define_app({"jobs": s.table(state=s.string(), tier=s.int(), created_at=s.bigint(),
                                        row_id=s.string(), parents=s.array(s.string()))})
    data = {"state": "open", "tier": 3, "created_at": 7, "row_id": "x", "parents": ["p"]}
    with Store(app) as store:
        rows = [new_row_id() for _ in range(6)]
        store.apply([version(r, batch(), data=data, table="jobs") for r in rows])
        shown = store.current("jobs", rows)
        assert all(shown[r].data == data for r in rows)
        assert store.history("jobs", rows[0])[0].data == data


def test_bulk_merges_rejections_and_long_id_lists(store: Store) -> None:
    rows = [new_row_id() for _ in range(70)]  # more ids than one statement binds
    base = {r: batch() for r in rows}
    store.apply([version(r, base[r], at=1, data={"title": "a", "priority": 1}) for r in rows])
    left, right, fresh_rows = batch(), batch(), [new_row_id() for _ in range(6)]
    store.apply([version(r, left, (base[r],), at=2, data={"title": "b", "priority": 1})
                 for r in rows])
    concurrent = [version(r, right, (base[r],), at=3, data={"title": "a", "priority": 2})
                  for r in rows]
    created = [version(r, right, at=3, data={"title": "new"}) for r in fresh_rows]
    changes = store.apply([*concurrent, *created])
    assert changes.tables == {"todos": (*rows, *fresh_rows)}
    shown = store.current("todos", rows + fresh_rows)
    for r in rows:
        expected = visible_preview(store.history("todos", r), APP.tables["todos"].columns)
        assert shown[r] == expected
        assert (shown[r].data["title"], shown[r].data["priority"]) == ("b", 2)
        assert shown[r].frontier == tuple(sorted((left, right)))
    rejected = store.set_batch_state(right, "Rejected")
    assert set(rejected.tables["todos"]) == {*rows, *fresh_rows}
    shown = store.current("todos", rows + fresh_rows)
    assert set(shown) == set(rows)
    assert all(shown[r].data["priority"] == 1 and shown[r].batch_id == left for r in rows)
