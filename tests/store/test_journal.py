"""A file store's journal: local writes are durable before DuckDB absorbs them, and a crash at
any point loses none of the writes that returned (real DuckDB, real files, real ``kill -9``)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from jazz_nb.store import shared
from jazz_nb.store.journal import Journal
from jazz_nb.store.store import Store
from jazz_nb.store.versions import new_row_id
from tests.store.store_helpers import APP, batch, version

ROOT = Path(__file__).resolve().parents[2]


def _crash(*stores: Store) -> None:
    """What ``kill -9`` leaves of a process's stores: files, no absorb, no clean close."""
    for store in stores:
        store._conn.close()
        assert store._file_lock is not None
        store._file_lock.release()
        if shared.detach(store._shared) and store._shared.journal is not None:
            store._shared.journal.close()


def _rows(store: Store) -> dict[str, str]:
    name = store.physical("todos").visible
    return dict(store.execute(f"SELECT CAST(id AS VARCHAR), title FROM {name}").fetchall())


def test_writes_wait_in_the_journal_and_the_next_open_finds_them(tmp_path: Path) -> None:
    path = str(tmp_path / "app.duckdb")
    first = Store(APP, path)
    journal = Path(f"{path}.journal")
    empty = journal.stat().st_size  # the record naming the database it belongs to
    v = version(new_row_id(), batch(), data={"title": "kept"})
    first.write_local([v])
    assert first.pending == 1 and journal.stat().st_size > empty
    first.close()  # a clean close absorbs and empties the journal
    assert journal.stat().st_size == empty
    with Store(APP, path) as second:
        assert _rows(second) == {v.row_id: "kept"}


def test_a_local_write_on_a_delivery_survives_a_crash_with_its_parent(tmp_path: Path) -> None:
    """Deliveries are not journaled; a journaled write that builds on one has it absorbed first,
    so a replay never shows the write as concurrent with the delivery's parent."""
    path = str(tmp_path / "app.duckdb")
    first = Store(APP, path)
    row = new_row_id()
    base = version(row, batch(), at=1, data={"title": "base"})
    first.apply([base])
    delivered = version(row, batch(), (base.batch_id,), at=2, data={"title": "theirs"})
    first.deliver([delivered])
    assert first.pending == 1  # held, not journaled
    mine = first.write_successor("todos", row, {"title": "mine"}, batch_id=batch(),
                                 author="me", updated_at=3)
    assert mine is not None and mine.parents == (delivered.batch_id,)
    assert first.pending == 1  # the delivery went to DuckDB before the write was journaled
    _crash(first)
    with Store(APP, path) as second:
        shown = second.current("todos", [row])[row]
        assert shown.frontier == (mine.batch_id,) and shown.data["title"] == "mine"


def test_a_journal_is_replayed_once_whatever_duckdb_already_holds(tmp_path: Path) -> None:
    path = str(tmp_path / "app.duckdb")
    journal = Path(f"{path}.journal")
    store = Store(APP, path)
    head = journal.read_bytes()  # the record naming the database
    row = new_row_id()
    first = version(row, batch(), data={"title": "a"})
    store.write_local([first])
    store.write_local([version(row, batch(), (first.batch_id,), at=2, data={"title": "b"})])
    written = journal.read_bytes()
    store.absorb()  # DuckDB holds both versions, the journal is empty
    other = version(new_row_id(), batch(), data={"title": "c"})
    store.write_local([other])
    journal_now = journal.read_bytes()
    _crash(store)
    journal.write_bytes(written + journal_now[len(head):])  # as if the absorb died first
    with Store(APP, path) as reopened:
        assert _rows(reopened) == {row: "b", other.row_id: "c"}
        assert len(reopened.history("todos", row)) == 2


def test_a_torn_last_record_is_dropped_and_the_rest_replayed(tmp_path: Path) -> None:
    path = str(tmp_path / "app.duckdb")
    store = Store(APP, path)
    head = Path(f"{path}.journal").read_bytes()  # the record naming the database
    kept = version(new_row_id(), batch(), data={"title": "kept"})
    store.write_local([kept])
    _crash(store)
    with open(f"{path}.journal", "ab") as journal:
        journal.write(b"JZJ1\xff\x00\x00\x00garbage")  # a record cut short by the crash
    with Store(APP, path) as reopened:
        assert _rows(reopened) == {kept.row_id: "kept"}
    assert Path(f"{path}.journal").read_bytes() == head


def test_journal_records_round_trip_and_stop_at_a_bad_checksum(tmp_path: Path) -> None:
    import pyarrow as pa

    path = tmp_path / "j"
    with Journal(path, "db-1") as journal:
        journal.append([("a", "h1", pa.table({"x": [1]})), ("b", "h2", pa.table({"y": ["z"]}))])
        journal.append([("a", "h1", pa.table({"x": [2]}))])
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the second record's last byte
    path.write_bytes(bytes(data))
    with Journal(path, "db-1") as journal:
        records = journal.records()
    assert [[(t, h, rows.to_pylist()) for t, h, rows in r] for r in records] == [
        [("a", "h1", [{"x": 1}]), ("b", "h2", [{"y": "z"}])]]


WRITER = """
import sys
import jazz_nb as jz
from tests.store.store_helpers import APP
db = jz.create_db(APP, app_id="journal-kill", path=sys.argv[1])
print("open", flush=True)
i = 0
while True:
    row = db.insert(db.app.todos, {"title": f"t{i}"})
    row.wait("local")
    print(row.id, flush=True)
    if i % 7 == 3:
        db.update(db.app.todos, row.id, {"title": f"u{i}"}).wait("local")
        print("u", row.id, i, flush=True)
    if i % 50 == 49:
        db.df(db.app.todos)  # an absorb, mid-run
    i += 1
"""


def _acknowledged(line: str, expected: dict[str, str]) -> None:
    """Record a write the child reported as returned: ``<id>`` (insert) or ``u <id> <i>``."""
    words = line.split()
    if words[0] == "u":
        expected[words[1]] = f"u{words[2]}"
    else:
        expected[words[0]] = "new"


@pytest.mark.slow
def test_kill_9_at_any_moment_loses_no_write_that_returned(tmp_path: Path) -> None:
    path = str(tmp_path / "app.duckdb")
    rng = random.Random(9)
    expected: dict[str, str] = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(6):
        child = subprocess.Popen([sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE,
                                 text=True, cwd=ROOT, env=env)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "open"
        for _ in range(rng.randrange(5, 200)):
            _acknowledged(child.stdout.readline(), expected)
        os.kill(child.pid, signal.SIGKILL)
        for line in child.stdout.read().split("\n")[:-1]:  # printed before the kill landed
            _acknowledged(line, expected)
        child.wait()
        with Store(APP, path) as store:
            found = _rows(store)
        missing = [row for row in expected if row not in found]
        assert not missing, f"{len(missing)} acknowledged rows lost"
        stale = [row for row, title in expected.items()
                 if title != "new" and found[row] != title]
        assert not stale, f"{len(stale)} acknowledged updates lost"


def test_stores_open_on_one_file_share_the_memtable_and_the_journal(tmp_path: Path) -> None:
    path = str(tmp_path / "app.duckdb")
    first, second = Store(APP, path), Store(APP, path)  # DuckDB gives both one database
    v = version(new_row_id(), batch(), data={"title": "through the first"})
    first.write_local([v])
    assert second.pending == 1
    assert _rows(second) == {v.row_id: "through the first"}  # the second absorbs it
    w = version(new_row_id(), batch(), data={"title": "through the second"})
    second.write_local([w])
    first.close()  # not the last: the journal stays open and keeps the second's write
    assert Path(f"{path}.journal").stat().st_size > 100
    _crash(second)
    with Store(APP, path) as reopened:
        assert _rows(reopened) == {v.row_id: "through the first", w.row_id: "through the second"}


def test_an_append_that_fails_part_way_is_cut_back(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from jazz_nb.store import journal as journal_module

    path = str(tmp_path / "app.duckdb")
    store = Store(APP, path)
    write = os.write

    def disk_full(fd: int, data: bytes) -> int:  # half the record reaches the file
        monkeypatch.setattr(journal_module.os, "write", write)
        write(fd, bytes(data[:len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_module.os, "write", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.write_local([version(new_row_id(), batch(), data={"title": "refused"})])
    assert store.pending == 0
    after = version(new_row_id(), batch(), data={"title": "after"})
    store.write_local([after])
    _crash(store)
    with Store(APP, path) as reopened:
        assert _rows(reopened) == {after.row_id: "after"}


def test_writes_of_a_later_schema_wait_in_the_journal_and_keep_what_came_since(
        tmp_path: Path) -> None:
    from jazz_nb import s

    path = str(tmp_path / "app.duckdb")
    old = s.define_app({"notes": s.table(text=s.string())})
    new = s.define_app({"notes": s.table(text=s.string(), done=s.boolean(default=False))})
    first = Store(new, path)
    first.register_schema(old)
    row = new_row_id()
    first.write_local([version(row, batch(), data={"text": "of v1"}, table="notes",
                               schema_hash=old.schema_hash)])
    _crash(first)
    second = Store(new, path)  # v1 is unknown here: its write waits in the journal
    mine = version(new_row_id(), batch(), data={"text": "of v2", "done": True}, table="notes")
    second.write_local([mine])
    second.register_schema(old)  # replays the v1 write; the v2 one must stay journalled
    _crash(second)
    with Store(new, path) as third:
        third.register_schema(old)
        shown = third.current("notes", [row], schema_hash=old.schema_hash)
        assert shown[row].data == {"text": "of v1"}
        assert third.current("notes", [mine.row_id])[mine.row_id].data["text"] == "of v2"


def test_a_journal_beside_another_database_is_set_aside_not_replayed(tmp_path: Path) -> None:
    path = tmp_path / "app.duckdb"
    store = Store(APP, str(path))
    store.write_local([version(new_row_id(), batch(), data={"title": "of the old file"})])
    _crash(store)
    for leftover in tmp_path.glob("app.duckdb*"):  # the database goes; its journal stays
        if not leftover.name.endswith(".journal"):
            leftover.unlink()
    with Store(APP, str(path)) as fresh:
        assert _rows(fresh) == {}
    aside = list(tmp_path.glob("app.duckdb.journal.stale-*"))
    assert len(aside) == 1 and b"of the old file" in aside[0].read_bytes()
