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
* one-row insert and one-row delete, each with a label look-up in the frame right after
  (``frame.loc[id]``: pandas rebuilds its id hash table after a structural change), end to end
  and the live part alone;
* the floor of a one-row update: one numpy position look-up of the id and one pandas ``.iat``
  write into a plain frame of the same result — what any in-place update must at least do;
* memory of the live query (Arrow buffers counted once, frame, position index) vs the plain
  ``db.df(q)`` frame.

Targets are ratios measured side by side in this run: a 1-row update ≥ 200× re-running the
query and within 10× of its floor; a 1-row insert and a 1-row delete (with the look-up) ≥ 50×
each; the 1,000-row batch ≥ 20×.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

import numpy as np
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


def _x(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


def _ids(live: LiveQuery) -> pd.Index:
    """The live frame's row ids (not ``live.ids``: a list of a million Python strings would
    make every garbage-collector pass, and so every measurement, slower)."""
    return live.df.index


def _update_floor(frame: pd.DataFrame, rng: random.Random, repeat: int) -> float:
    """Seconds (median) of the least an in-place 1-row update does: find the row's position
    (a binary search over the sorted ids, in numpy) and write one cell (``.iat``)."""
    keys = frame.index.to_numpy()
    by_key = np.argsort(keys)
    sorted_keys = keys[by_key]
    column = frame.columns.get_loc("title")

    def once() -> None:
        rid = keys[rng.randrange(len(keys))]
        frame.iat[int(by_key[np.searchsorted(sorted_keys, rid)]), column] = "floor"

    return median_ms(once, repeat=repeat) / 1000


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
        found = frame.loc[row.id, "title"]
        ins_total.append(time.perf_counter() - t0)
        ins_live.append(live.timings["compute"] + live.timings["apply"])
        assert found == f"single {i}"
        victim, other = ids[rng.randrange(len(ids) // 2)], row.id
        t0 = time.perf_counter()
        db.delete(app.todos, victim)
        found = frame.loc[other, "title"]
        del_total.append(time.perf_counter() - t0)
        assert found == f"single {i}"
        del_live.append(live.timings["compute"] + live.timings["apply"])
        assert live.last_delta.removed == (victim,)
        ids = _ids(live)
    ins, ins_l = statistics.median(ins_total), statistics.median(ins_live)
    dele, del_l = statistics.median(del_total), statistics.median(del_live)
    pd.testing.assert_frame_equal(frame, db.df(q))

    # -- the floor of an update: a numpy position look-up and a pandas .iat write ------------
    floor = _update_floor(db.df(q), rng, args.repeat)

    # -- memory --------------------------------------------------------------------------------
    gc.collect()
    plain = int(db.df(q).memory_usage(deep=True, index=True).sum())
    mine = live.memory_bytes()

    def versus(total: float, live_part: float, target: float) -> list[str]:
        """Naive (the same write, then re-running the query), ratio, target, ok."""
        naive = total - live_part + naive_df
        return [_ms(naive), _x(naive / total), f">= {target:g}x re-query",
                _ok(naive / total >= target)]

    rows = [
        ["1-row update: db.update -> live.df", _ms(upd), *versus(upd, upd_live, 200)],
        ["  vs its floor (numpy look-up + .iat write)", _ms(upd), _ms(floor),
         f"{_x(upd / floor)} the floor", "<= 10x the floor", _ok(upd <= 10 * floor)],
        ["  refresh of live.df vs re-running db.df(q)", _ms(upd_live), _ms(naive_df),
         _x(naive_df / upd_live), "", ""],
        ["  in-memory apply step", _ms(upd_apply), "", "", "", ""],
        ["1,000-row mixed batch, end to end", _ms(batch), *versus(batch, batch_l, 20)],
        ["  live part", _ms(batch_l), _ms(naive_df), _x(naive_df / batch_l), "", ""],
        ["  first batch after the frame was built", _ms(first_batch), "", "", "", ""],
        ["1-row insert + frame.loc[id], end to end", _ms(ins), *versus(ins, ins_l, 50)],
        ["  live part", _ms(ins_l), _ms(naive_df), _x(naive_df / ins_l), "", ""],
        ["1-row delete + frame.loc[id], end to end", _ms(dele), *versus(dele, del_l, 50)],
        ["  live part", _ms(del_l), _ms(naive_df), _x(naive_df / del_l), "", ""],
        ["memory: live query vs plain db.df", f"{mine / 1e6:.1f} MB", f"{plain / 1e6:.1f} MB",
         f"{mine / plain:.2f}x", "<= 1.5x", _ok(mine <= 1.5 * plain)],
    ]
    print_table(f"Live query over {len(frame):,} rows (medians; naive = re-run db.df(q))", rows)
    db.close()


if __name__ == "__main__":
    main()
