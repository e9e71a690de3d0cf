"""LiveQuery behaviour: in-place frames, Arrow versions, deltas, callbacks, threads, lifecycle.
Real DuckDB; threads are joined and waited on with events, never slept on."""

from __future__ import annotations

import threading
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars
import pyarrow as pa
import pytest

import jazz_nb as jz
from jazz_nb import s
from jazz_nb.errors import JazzError
from jazz_nb.live import ADDED, REMOVED, UPDATED, LiveQuery
from jazz_nb.live import query as live_query


def todo(db: jz.Db, app: s.App, title: str, **values: Any) -> str:
    return db.insert(app.todos, {"title": title, **values}).id


def test_local_writes_show_in_the_same_frame_object(db: jz.Db, app: s.App) -> None:
    live = db.live(app.todos.where(done=False).order_by("priority", "desc"))
    frame = live.df
    a = todo(db, app, "a", priority=1)
    b = todo(db, app, "b", priority=3)
    assert frame is live.df and list(frame.index) == [b, a]
    db.update(app.todos, a, {"priority": 5})  # moves to the top
    assert list(frame.index) == [a, b] and live.last_delta.moved == (a,)
    assert live.last_delta.updated == {a: ("priority",)}
    db.update(app.todos, b, {"done": True})  # leaves the filter
    assert list(frame.index) == [a] and live.last_delta.removed == (b,)
    db.delete(app.todos, a)
    assert frame.empty and frame is live.df
    pd.testing.assert_frame_equal(frame, db.df(app.todos.where(done=False)))


def test_delta_lists_changed_columns_in_result_order(db: jz.Db, app: s.App) -> None:
    ids = [todo(db, app, t, priority=i) for i, t in enumerate("abc")]
    live = db.live(app.todos.order_by("priority"))
    with db.batch() as batch:
        batch.update(app.todos, ids[2], {"title": "C"})
        batch.update(app.todos, ids[0], {"title": "A", "done": True})
        batch.insert(app.todos, {"title": "z", "priority": 1})
        batch.delete(app.todos, ids[1])
    delta = live.last_delta
    assert list(delta.updated) == [ids[0], ids[2]]
    assert delta.updated[ids[0]] == ("title", "done") and delta.updated[ids[2]] == ("title",)
    assert delta.removed == (ids[1],) and delta.removed_index == (1,)
    assert delta.added_index == (1,) and delta.kinds() == {"added": 1, "updated": 2,
                                                             "removed": 1}


def test_updates_write_only_changed_cells_and_snapshots_stay(db: jz.Db, app: s.App) -> None:
    ids = [todo(db, app, t, priority=i) for i, t in enumerate("abc")]
    live = db.live(app.todos)
    frame = live.df
    titles = frame["title"]          # a snapshot under Copy-on-Write
    priorities = frame["priority"].copy()
    db.update(app.todos, ids[1], {"title": "B"})
    assert frame.loc[ids[1], "title"] == "B"
    assert frame["priority"].equals(priorities)
    cow = int(pd.__version__.split(".")[0]) >= 3 or pd.options.mode.copy_on_write is True
    if cow:
        assert titles.tolist() == ["a", "b", "c"]


def test_arrow_versions_are_immutable_and_share_chunks(db: jz.Db, app: s.App,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_query.ch, "CHUNK_ROWS", 4)
    db.insert_many(app.todos, [{"title": f"t{i}", "priority": i} for i in range(20)])
    live = db.live(app.todos.order_by("priority"))
    before = live.arrow
    assert before is live.arrow  # same version, same object
    rid = before.column("id")[10].as_py()
    db.update(app.todos, rid, {"title": "changed"})
    after = live.arrow
    assert before.column("title")[10].as_py() == "t10"  # the old version did not change
    assert after.column("title")[10].as_py() == "changed"
    old, new = before.column("title").chunks, after.column("title").chunks
    shared = [a.buffers()[2].address == b.buffers()[2].address
              for a, b in zip(old, new, strict=True)]
    assert shared.count(False) == 1  # only the chunk holding row 10 was rebuilt
    assert after.equals(db.arrow(app.todos.order_by("priority")))


def test_arrow_c_stream_feeds_pyarrow_duckdb_and_polars(db: jz.Db, app: s.App) -> None:
    todo(db, app, "a", priority=1)
    todo(db, app, "b", priority=2)
    live = db.live(app.todos.order_by("priority"))
    assert pa.table(live).equals(live.arrow)
    reader = pa.RecordBatchReader.from_stream(live)
    assert reader.read_all().num_rows == 2
    assert duckdb.sql("SELECT sum(priority) FROM live").fetchall() == [(3,)]
    assert polars.DataFrame(live).height == 2


def test_on_change_runs_once_per_flush_and_a_raising_callback_is_contained(
        db: jz.Db, app: s.App) -> None:
    live = db.live(app.todos)
    seen: list[dict[str, int]] = []

    def broken(lq: LiveQuery, delta: Any) -> None:
        raise RuntimeError("boom")

    live.on_change(broken)
    remove = live.on_change(lambda lq, delta: seen.append(delta.kinds()))
    other = db.live(app.todos.where(done=True))
    with db.batch() as batch:
        batch.insert(app.todos, {"title": "a"})
        batch.insert(app.todos, {"title": "b", "done": True})
    assert seen == [{"added": 2, "updated": 0, "removed": 0}]
    assert isinstance(live.errors[-1], RuntimeError) and live.status == "live"
    assert len(other.df) == 1  # the other live query and the store are unaffected
    assert len(db.df(app.todos)) == 2
    remove()
    todo(db, app, "c")
    assert len(seen) == 1 and len(live.df) == 3


def test_changes_from_other_threads_wait_for_a_flush(db: jz.Db, app: s.App) -> None:
    live = db.live(app.todos)
    frame = live.df
    done = threading.Event()

    def write() -> None:
        todo(db, app, "from a thread")
        done.set()

    worker = threading.Thread(target=write)
    worker.start()
    worker.join(timeout=10)
    assert done.is_set()
    assert frame.empty and live.status == "pending"  # queued, not applied off-thread
    assert live.wait_for(lambda lq: len(lq.df) == 1, timeout=5)
    assert frame is live.df and live.status == "live"
    assert list(frame["title"]) == ["from a thread"]
    # db.flush() does the same for every live query of this thread
    other = threading.Thread(target=lambda: todo(db, app, "second"))
    other.start()
    other.join(timeout=10)
    assert db.flush() is None and len(frame) == 2


def test_wait_for_times_out(db: jz.Db, app: s.App) -> None:
    live = db.live(app.todos)
    with pytest.raises(TimeoutError, match="todos"):
        live.wait_for(lambda lq: len(lq.df) == 1, timeout=0.05)


def test_wait_for_sees_a_write_arriving_while_waiting(db: jz.Db, app: s.App) -> None:
    live = db.live(app.todos)
    started = threading.Event()

    def write() -> None:
        started.wait(5)
        todo(db, app, "late")

    worker = threading.Thread(target=write)
    worker.start()
    started.set()
    assert live.wait_for(lambda lq: len(lq.df) == 1, timeout=10)
    worker.join(timeout=10)


def test_queue_overflow_falls_back_to_a_full_requery(db: jz.Db, app: s.App,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_query, "MAX_PENDING", 5)
    live = db.live(app.todos.order_by("title"))
    frame = live.df
    worker = threading.Thread(target=lambda: db.insert_many(
        app.todos, [{"title": f"t{i:02}"} for i in range(12)]))
    worker.start()
    worker.join(timeout=10)
    assert live._pending_full and not live._pending
    live.wait_for(lambda lq: len(lq.df) == 12)
    assert live.last_delta.added_index == tuple(range(12))
    pd.testing.assert_frame_equal(frame, db.df(app.todos.order_by("title")))


def test_includes_follow_changes_of_included_rows(db: jz.Db, app: s.App) -> None:
    home = db.insert(app.projects, {"name": "Home"}).id
    work = db.insert(app.projects, {"name": "Work"}).id
    a = todo(db, app, "a", project_id=home)
    b = todo(db, app, "b", project_id=work)
    todos = db.live(app.todos.include(project=True))
    projects = db.live(app.projects.include(todos_via_project=True).order_by("name"))
    db.update(app.projects, home, {"name": "House"})
    assert todos.df.loc[a, "project"]["name"] == "House"
    assert todos.last_delta.updated == {a: ("project",)}
    db.update(app.todos, b, {"project_id": home})  # moves between the reverse lists
    lists = {pid: [t["id"] for t in todos_] for pid, todos_
             in projects.df["todos_via_project"].items()}
    assert sorted(lists[home]) == sorted([a, b]) and lists[work] == []
    db.delete(app.projects, work)
    for live, q in ((todos, app.todos.include(project=True)),
                    (projects, app.projects.include(todos_via_project=True).order_by("name"))):
        pd.testing.assert_frame_equal(live.df, db.df(q))


def test_windows_skip_changes_outside_and_follow_changes_inside(db: jz.Db, app: s.App) -> None:
    ids = [todo(db, app, f"t{i}", priority=i) for i in range(6)]
    live = db.live(app.todos.order_by("priority", "desc").limit(2))
    assert list(live.df["priority"]) == [5, 4]
    version = live.version
    db.update(app.todos, ids[0], {"title": "still outside"})
    assert live.version == version  # nothing re-ran for a row outside the full window
    db.update(app.todos, ids[1], {"priority": 9})
    assert list(live.df["priority"]) == [9, 5] and live.last_delta.removed == (ids[4],)
    db.delete(app.todos, ids[5])
    assert list(live.df["priority"]) == [9, 4]


def test_close_and_context_manager(db: jz.Db, app: s.App) -> None:
    with db.live(app.todos) as live:
        frame = live.df
        todo(db, app, "a")
        assert len(frame) == 1
    assert live.status == "closed"
    todo(db, app, "b")
    assert len(frame) == 1  # kept, no longer followed
    with pytest.raises(JazzError, match="closed"):
        _ = live.df
    other = db.live(app.todos)
    db.close()
    assert other.status == "closed"


def test_closing_a_db_closes_the_live_queries_of_every_session_view(
        db: jz.Db, app: s.App) -> None:
    bob = db.for_session(jz.Session("bob", {}))
    live = bob.live(app.todos)
    sub = bob.subscribe_all(app.todos, lambda rows, delta: None)
    mine = db.live(app.todos)
    db.close()
    assert (live.status, mine.status, sub.active) == ("closed", "closed", False)
    assert "closed" in repr(bob)


def test_every_session_view_shares_one_store_listener(db: jz.Db, app: s.App) -> None:
    before = len(db.store._listeners)
    views = [db.for_session(jz.Session(f"u{i}", {})) for i in range(5)]
    lives = [view.live(app.todos) for view in [db, *views]]
    assert len(db.store._listeners) == before + 1
    row_id = todo(db, app, "seen by all")
    assert all(row_id in live.ids for live in lives)


def test_replan_rebuilds_the_plan_and_reruns_into_the_same_frame(db: jz.Db, app: s.App) -> None:
    todo(db, app, "a")
    live = db.live(app.todos)
    frame, plan, version = live.df, live.plan, live.version
    live.replan()  # on the owner thread: at once
    assert live.plan is not plan and live.df is frame and len(frame) == 1
    plan = live.plan
    worker = threading.Thread(target=live.replan)
    worker.start()
    worker.join()
    assert live.plan is not plan  # from another thread too; the re-run waits for a flush
    todo(db, app, "b")
    db.flush()
    assert live.df is frame and sorted(frame["title"]) == ["a", "b"]
    assert live.version > version


def test_subscribe_all_delivers_jazz_deltas(db: jz.Db, app: s.App) -> None:
    first = todo(db, app, "a", priority=2)
    calls: list[tuple[list, list]] = []
    handle = db.subscribe_all(app.todos.order_by("priority"),
                              lambda rows, delta: calls.append((rows, delta)))
    rows, delta = calls[0]
    assert [r.id for r in rows] == [first]
    assert delta == [{"kind": ADDED, "id": first, "index": 0, "item": rows[0]}]
    second = todo(db, app, "b", priority=1)
    rows, delta = calls[-1]
    assert [r["title"] for r in rows] == ["b", "a"]
    assert delta == [{"kind": ADDED, "id": second, "index": 0, "item": rows[0]}]
    db.update(app.todos, first, {"title": "A"})
    assert calls[-1][1] == [{"kind": UPDATED, "id": first, "index": 1, "item": calls[-1][0][1]}]
    db.delete(app.todos, second)
    assert calls[-1][1] == [{"kind": REMOVED, "id": second, "index": 0}]
    assert calls[-1][0] == db.all(app.todos.order_by("priority"))
    handle.unsubscribe()
    todo(db, app, "c")
    assert len(calls) == 4 and not handle.active


def test_a_failed_flush_recovers_with_a_full_rebuild(db: jz.Db, app: s.App,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    live = db.live(app.todos)
    frame = live.df
    todo(db, app, "a")
    calls = []
    original = LiveQuery._apply

    def failing_once(self: LiveQuery, change: Any) -> None:
        calls.append(change)
        if len(calls) == 1:
            raise RuntimeError("disk on fire")
        original(self, change)

    monkeypatch.setattr(LiveQuery, "_apply", failing_once)
    b = todo(db, app, "b")  # the write succeeds; the live query rebuilds itself at once
    assert isinstance(live.errors[-1], RuntimeError) and live.status == "live"
    assert frame is live.df and live.last_delta.added == (b,)
    pd.testing.assert_frame_equal(frame, db.df(app.todos))
    todo(db, app, "c")
    pd.testing.assert_frame_equal(frame, db.df(app.todos))


def test_status_repr_and_memory(db: jz.Db, app: s.App) -> None:
    db.insert_many(app.todos, [{"title": f"t{i}"} for i in range(50)])
    live = db.live(app.todos)
    _ = live.df
    assert "50 rows" in repr(live) and live.status == "live"
    assert 0 < live.memory_bytes() < 10 * int(db.df(app.todos).memory_usage(deep=True).sum())
    assert "<table>" in live._repr_html_()
    assert np.array_equal(live.ids, live.df.index.to_numpy())


class FakeLoop:
    """Stands in for the kernel's tornado IOLoop: records callbacks to run them by hand."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []
        self.later: list[tuple[float, Any]] = []

    def add_callback(self, callback: Any) -> None:
        self.callbacks.append(callback)

    def call_later(self, delay: float, callback: Any) -> None:
        self.later.append((delay, callback))


def test_changes_from_threads_are_scheduled_on_the_kernel_loop(
        db: jz.Db, app: s.App, monkeypatch: pytest.MonkeyPatch) -> None:
    from jazz_nb.live import registry

    loop = FakeLoop()
    me = threading.get_ident()
    monkeypatch.setattr(registry, "kernel_loop", lambda owner: loop if owner == me else None)
    live = db.live(app.todos)
    frame = live.df
    for title in ("a", "b"):  # two commits, one scheduled flush
        worker = threading.Thread(target=lambda t=title: todo(db, app, t))
        worker.start()
        worker.join(timeout=10)
    assert len(loop.callbacks) == 1 and frame.empty
    live._last_flush = float("-inf")
    loop.callbacks.pop()()  # the IO loop runs it on the kernel thread
    assert sorted(frame["title"]) == ["a", "b"] and live.status == "live"
    worker = threading.Thread(target=lambda: todo(db, app, "c"))
    worker.start()
    worker.join(timeout=10)
    loop.callbacks.pop()()  # too soon after the last flush: deferred by the interval
    assert len(frame) == 2 and len(loop.later) == 1 and 0 < loop.later[0][0] <= 0.1
    live._last_flush = float("-inf")
    loop.later.pop()[1]()
    assert len(frame) == 3


def test_nested_includes_follow_every_level(db: jz.Db, app: s.App) -> None:
    p1 = db.insert(app.projects, {"name": "P1"}).id
    p2 = db.insert(app.projects, {"name": "P2"}).id
    a = todo(db, app, "a", project_id=p1)
    b = todo(db, app, "b", project_id=p2)
    q = app.todos.include(project={"include": {"todos_via_project": True}}).order_by("title")
    live = db.live(q)
    frame = live.df

    def same() -> None:
        assert live.df is frame
        pd.testing.assert_frame_equal(frame, db.df(q))
        assert live.arrow.equals(db.arrow(q))

    db.update(app.todos, b, {"project_id": p1})  # a's project now lists b too
    same()
    assert set(live.last_delta.updated) == {a, b}
    c = todo(db, app, "c", project_id=p2)
    db.update(app.todos, c, {"title": "cc"})
    same()
    db.update(app.projects, p1, {"name": "X"})
    same()
    db.delete(app.todos, a)
    same()


def test_a_callback_may_write_to_the_db(db: jz.Db, app: s.App) -> None:
    live = db.live(app.todos.order_by("title"))
    flushes: list[tuple[str, ...]] = []

    def follow_up(lq: LiveQuery, delta: Any) -> None:
        flushes.append(delta.added)
        titles = set(lq.df["title"])
        if "a" in titles and "a-follow-up" not in titles:
            db.insert(app.todos, {"title": "a-follow-up"})

    live.on_change(follow_up)
    todo(db, app, "a")
    assert list(live.df["title"]) == ["a", "a-follow-up"]
    assert len(flushes) == 2  # the nested write got its own round of the same flush loop
    pd.testing.assert_frame_equal(live.df, db.df(app.todos.order_by("title")))
