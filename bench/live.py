"""Live queries on a large result: incremental reconciliation vs re-running the query.

    python -m bench.live              # 1,000,000 rows
    python -m bench.live --rows 100000

Measures, on a live query whose result has ``--rows`` rows (``todos.where(done=False)``):

* one-row update, ``db.update`` call until ``live.df`` shows it (the write call returns with the
  frame updated) — beside it, the naive way: the same write, then re-running ``db.df(q)``; and
  the refresh alone (everything after the write's DuckDB commit) vs re-running ``db.df(q)``;
* the in-memory apply step alone (writing the changed cells into the Arrow version and the
  frame; DuckDB excluded);
* a 1,000-row mixed batch (500 updates, 250 inserts, 250 deletes), end to end and the live part
  alone (re-evaluating the 1,000 ids + applying), median of 7 after 3 warm-up batches (the
  first batch after the frame was built is shown on its own row);
* one-row insert and one-row delete, end to end and the live part alone;
* memory of the live query (Arrow buffers counted once, frame, position index) vs the plain
  ``db.df(q)`` frame.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

import pandas as pd

import jazz_nb as jz
from bench.report import median_ms, print_table
from jazz_nb import s
from jazz_nb.live import LiveQuery


def _app() -> s.App:
    return s.define_app({
        "projects": s.table(name=s.string()),
        "todos": s.table(title=s.string(), done=s.boolean(default=False),
                         priority=s.int().optional(), due=s.timestamp().optional(),
                         project_id=s.ref("projects").optional()),
    })


BATCH_WARMUP = 3  # the first batches after a build also pay the allocator's first touch of
# fresh chunk memory (pyarrow's mimalloc pool); reported on their own row


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


def _ids(live: LiveQuery) -> pd.Index:
    """The live frame's row ids (not ``live.ids``: a list of a million Python strings would
    make every garbage-collector pass, and so every measurement, slower)."""
    return live.df.index


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=31)
    args = parser.parse_args(argv)
    n = args.rows
    app = _app()
    db = jz.create_db(app, app_id="bench-live")
    rng = random.Random(7)
    start = time.perf_counter()
    db.insert_many(app.todos, [{"title": f"todo {i}", "priority": i % 10 or None,
                                "done": False} for i in range(n)])
    load = time.perf_counter() - start
    q = app.todos.where(done=False)
    start = time.perf_counter()
    live = db.live(q)
    frame = live.df
    made = time.perf_counter() - start
    ids = _ids(live)
    print(f"{n:,} rows loaded in {load:.1f} s; live query + frame built in {made:.2f} s; "
          f"pandas {pd.__version__}")

    # -- one-row update -----------------------------------------------------------------------
    end_to_end, apply, live_part = [], [], []
    for i in range(args.repeat):
        rid = ids[rng.randrange(n)]
        title = f"updated {i}"
        t0 = time.perf_counter()
        db.update(app.todos, rid, {"title": title})
        end_to_end.append(time.perf_counter() - t0)
        assert frame.at[rid, "title"] == title and live.df is frame
        apply.append(live.timings["apply"])
        live_part.append(live.timings["compute"] + live.timings["apply"])
    naive_df = median_ms(lambda: db.df(q), repeat=5) / 1000
    upd = statistics.median(end_to_end)
    upd_live = statistics.median(live_part)
    upd_apply = statistics.median(apply)

    # -- 1,000-row mixed batch ----------------------------------------------------------------
    batch_total, batch_live = [], []
    for _ in range(BATCH_WARMUP + 7):
        victims = [ids[i] for i in rng.sample(range(len(ids)), 750)]
        t0 = time.perf_counter()
        with db.batch() as b:
            for rid in victims[:500]:
                b.update(app.todos, rid, {"priority": rng.randrange(10), "title": "batch"})
            for rid in victims[500:]:
                b.delete(app.todos, rid)
            for i in range(250):
                b.insert(app.todos, {"title": f"new {i}", "done": False})
        batch_total.append(time.perf_counter() - t0)
        batch_live.append(live.timings["compute"] + live.timings["apply"])
        kinds = live.last_delta.kinds()  # an update may rewrite equal values: not a change
        assert kinds["added"] == kinds["removed"] == 250 and kinds["updated"] > 450, kinds
        ids = _ids(live)
    first_batch = batch_total[0]
    del batch_total[:BATCH_WARMUP], batch_live[:BATCH_WARMUP]
    batch = statistics.median(batch_total)
    batch_l = statistics.median(batch_live)

    # -- one-row insert / delete --------------------------------------------------------------
    ins_total, ins_live, del_total, del_live = [], [], [], []
    for i in range(9):
        t0 = time.perf_counter()
        row = db.insert(app.todos, {"title": f"single {i}", "done": False})
        ins_total.append(time.perf_counter() - t0)
        ins_live.append(live.timings["compute"] + live.timings["apply"])
        assert frame.at[row.id, "title"] == f"single {i}"
        victim = ids[rng.randrange(len(ids) // 2)]
        t0 = time.perf_counter()
        db.delete(app.todos, victim)
        del_total.append(time.perf_counter() - t0)
        del_live.append(live.timings["compute"] + live.timings["apply"])
        assert live.last_delta.removed == (victim,)
        ids = _ids(live)
    ins, ins_l = statistics.median(ins_total), statistics.median(ins_live)
    dele, del_l = statistics.median(del_total), statistics.median(del_live)
    pd.testing.assert_frame_equal(frame, db.df(q))

    # -- memory --------------------------------------------------------------------------------
    gc.collect()
    plain = int(db.df(q).memory_usage(deep=True, index=True).sum())
    mine = live.memory_bytes()

    rows = [
        ["1-row update: db.update -> live.df", _ms(upd), _ms(upd - upd_live + naive_df),
         f"{(upd - upd_live + naive_df) / upd:.0f}x", "<= 5 ms", _ok(upd <= 0.005)],
        ["  refresh of live.df vs re-running db.df(q)", _ms(upd_live), _ms(naive_df),
         f"{naive_df / upd_live:.0f}x", ">= 100x", _ok(naive_df / upd_live >= 100)],
        ["  in-memory apply step", _ms(upd_apply), "", "", "<= 0.2 ms", _ok(upd_apply <= 2e-4)],
        ["1,000-row mixed batch, end to end", _ms(batch), _ms(naive_df + batch - batch_l),
         f"{(naive_df + batch - batch_l) / batch:.1f}x", "<= 50 ms", _ok(batch <= 0.05)],
        ["  live part", _ms(batch_l), _ms(naive_df), f"{naive_df / batch_l:.0f}x", "", ""],
        ["  first batch after the frame was built", _ms(first_batch), "", "", "", ""],
        ["1-row insert, end to end", _ms(ins), _ms(naive_df + ins - ins_l),
         f"{(naive_df + ins - ins_l) / ins:.1f}x", "<= 50 ms", _ok(ins <= 0.05)],
        ["  live part", _ms(ins_l), _ms(naive_df), f"{naive_df / ins_l:.0f}x", "", ""],
        ["1-row delete, end to end", _ms(dele), _ms(naive_df + dele - del_l),
         f"{(naive_df + dele - del_l) / dele:.1f}x", "<= 50 ms", _ok(dele <= 0.05)],
        ["  live part", _ms(del_l), _ms(naive_df), f"{naive_df / del_l:.0f}x", "", ""],
        ["memory: live query vs plain db.df", f"{mine / 1e6:.1f} MB", f"{plain / 1e6:.1f} MB",
         f"{mine / plain:.2f}x", "<= 1.5x", _ok(mine <= 1.5 * plain)],
    ]
    print_table(f"Live query over {len(frame):,} rows (medians; naive = re-run db.df(q))", rows)
    db.close()


if __name__ == "__main__":
    main()
