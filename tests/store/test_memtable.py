"""The memtable: local writes wait there, every read sees them, DuckDB absorbs them in bulk
(real DuckDB; the file store's journal is tested in ``test_journal.py``)."""

from __future__ import annotations

import random

import pytest

import jazz_nb as jz
from jazz_nb.errors import SchemaError, WriteError
from jazz_nb.store import store as store_module
from jazz_nb.store.store import Store
from jazz_nb.store.versions import RowVersion, new_row_id
from tests.store.store_helpers import APP, batch, version


def _tables(store: Store) -> tuple[list[tuple], list[tuple]]:
    """Every visible row and every history row, in a stable order."""
    name = store.physical("todos").visible.strip('"')
    visible = store.execute(f'SELECT * FROM "{name}" ORDER BY id').fetchall()
    history = store.execute(
        f'SELECT * FROM "{name}__history" ORDER BY _jz_row_id, _jz_batch_id').fetchall()
    return visible, history


def test_local_writes_wait_in_the_memtable_and_every_read_sees_them(store: Store) -> None:
    row, first = new_row_id(), version(new_row_id(), batch(), data={"title": "a"})
    second = version(row, batch(), data={"title": "b"})
    store.write_local([first, second])
    edited = store.write_successor("todos", row, {"title": "b2"}, batch_id=batch(),
                                   author="bob", updated_at=5)
    assert edited is not None and edited.parents == (second.batch_id,)
    assert store.pending == 3  # nothing in DuckDB yet
    shown = store.current("todos", [row, first.row_id])
    assert shown[row].data["title"] == "b2" and shown[row].updated_by == "bob"
    assert shown[first.row_id].frontier == (first.batch_id,)
    assert store.history("todos", row) == [second, edited]  # a whole-table read absorbs
    assert store.pending == 0
    assert {r[1] for r in _tables(store)[0]} == {"a", "b2"}


def test_the_memtable_and_write_through_store_the_same_tables() -> None:
    rng = random.Random(13)
    held, through = Store(APP), Store(APP)
    rows: list[str] = []
    for step in range(300):
        if rows and rng.random() < 0.6:
            row = rng.choice(rows)
            now = held.current("todos", [row])[row]
            if now.is_deleted:
                continue
            delete = rng.random() < 0.1
            v = RowVersion("todos", row, batch(), now.frontier, 10 + step, now.created_by,
                           now.created_at, "bob", {**now.data, "priority": step},
                           delete_kind="soft" if delete else None)
        else:
            row = new_row_id()
            rows.append(row)
            v = version(row, batch(), at=10 + step, data={"title": f"t{step}"})
        held.write_local([v])
        through.apply([v], fresh=True)
        if rng.random() < 0.05:
            held.absorb()
    assert held.pending > 0
    assert _tables(held) == _tables(through)


def test_deliveries_that_extend_a_row_wait_in_the_memtable_and_the_rest_merge(
        store: Store) -> None:
    row = new_row_id()
    mine = version(row, batch(), at=2, data={"title": "mine"})
    store.write_local([mine])
    theirs = version(row, batch(), (mine.batch_id,), at=3, data={"title": "theirs"})
    store.deliver([theirs])  # extends the local write still in the memtable: held too
    assert store.pending == 2
    assert store.current("todos", [row])[row].data["title"] == "theirs"
    store.absorb()
    assert store.deliver([theirs]).batch_ids == ()  # stored already: nothing changes
    assert store.pending == 0
    rival = version(row, batch(), (mine.batch_id,), at=4, data={"title": "mine", "done": True})
    store.deliver([rival])  # concurrent with "theirs": merged in DuckDB, not held
    assert store.pending == 0
    merged = store.current("todos", [row])[row]
    assert merged.data["title"] == "theirs" and merged.data["done"] is True
    assert set(merged.frontier) == {theirs.batch_id, rival.batch_id}
    staged = version(new_row_id(), batch(), state="StagingPending")
    store.deliver([staged])  # not visible: apply stores it, the memtable never holds it
    assert store.pending == 0 and store.current("todos", [staged.row_id]) == {}


def test_a_write_that_would_overfill_the_memtable_absorbs_it_first(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "LIMIT", 5)
    store.write_local([version(new_row_id(), batch()) for _ in range(5)])
    assert store.pending == 5
    store.write_local([version(new_row_id(), batch())])
    assert store.pending == 1  # the five went to DuckDB first, then the sixth was held
    assert len(_tables(store)[1]) == 6 and store.pending == 0


def test_a_write_that_finds_the_memtable_stale_absorbs_it_first(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MAX_AGE", 0.0)
    store.write_local([version(new_row_id(), batch())])
    assert store.pending == 1
    store.write_local([version(new_row_id(), batch())])  # the first one is older than 0 s
    assert store.pending == 1


def test_an_absorb_interrupted_after_its_commit_is_finished_on_the_next_read(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    v = version(new_row_id(), batch(), data={"title": "once"})
    store.write_local([v])
    clear = store._memtable.clear

    def interrupted() -> None:  # Ctrl-C right after DuckDB committed the absorb
        monkeypatch.setattr(store._memtable, "clear", clear)
        raise KeyboardInterrupt

    monkeypatch.setattr(store._memtable, "clear", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.absorb()
    assert store.pending == 1  # DuckDB has it, and so does the memtable
    assert store.history("todos", v.row_id) == [v]  # stored once; the store goes on
    assert store.pending == 0


def test_errors_are_raised_by_the_write_that_causes_them() -> None:
    db = jz.create_db(APP, app_id="memtable-errors")
    todos = db.app.todos
    row = db.insert(todos, {"title": "a"})
    assert db.store.pending == 1
    with pytest.raises(WriteError, match="object already exists"):
        db.insert(todos, {"title": "again"}, id=row.id)
    db.delete(todos, row.id)
    with pytest.raises(WriteError, match="row already deleted"):
        db.update(todos, row.id, {"title": "b"})
    with pytest.raises(WriteError, match="row not found"):
        db.update(todos, new_row_id(), {"title": "b"})
    with pytest.raises(SchemaError, match="priority"):
        db.insert(todos, {"title": "big", "priority": 2**31})
    assert db.store.pending == 2  # the failed writes held nothing
    assert db.df(todos).empty and db.store.pending == 0
    db.close()
