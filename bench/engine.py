"""Engine benchmark: import weight, write paths, pushed-down queries and Arrow export.

Run ``python -m bench.engine [--rows 1000000]``. Beside each figure it measures the naive way in
the same run: per-row ``executemany`` inserts, ``insert_many`` of the same rows as a DataFrame
(for a batch of ``b.insert`` calls and a loop of ``db.insert``), autocommit inserts into a DuckDB
file (for durable ``db.insert`` on a file store), and loading the whole table into pandas to
filter there.

Example:
    >>> # python -m bench.engine --rows 200000
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile

import duckdb
import pandas as pd

import jazz_nb as jz
from bench.report import median_ms, print_table, timed
from jazz_nb import s
from jazz_nb.query.results import arrow_of

TITLES = ["milk", "bike", "report", "review", "sprint", "mum", "taxes", "garden"]


def bench_app() -> s.App:
    """A todo table with text, boolean, int, float and timestamp columns."""
    return s.define_app({"todos": s.table(
        title=s.string(), done=s.boolean(default=False), priority=s.int(),
        estimate=s.float().optional(), owner=s.string(), due=s.timestamp().optional(),
    )})


def sample_rows(n: int, seed: int = 7) -> list[dict]:
    """``n`` random todo rows (priority 0..999 so a filter on it is selective)."""
    rnd = random.Random(seed)
    return [{"title": f"{rnd.choice(TITLES)} {i}", "done": rnd.random() < 0.3,
             "priority": rnd.randrange(1000), "estimate": rnd.random() * 8,
             "owner": f"user{rnd.randrange(50)}", "due": 1_700_000_000_000 + i * 1000}
            for i in range(n)]


def naive_executemany_rate(rows: list[dict]) -> float:
    """Rows/s of per-row ``executemany`` into a plain DuckDB table."""
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (title VARCHAR, done BOOLEAN, priority INTEGER, "
                 "estimate DOUBLE, owner VARCHAR, due BIGINT)")
    values = [tuple(r.values()) for r in rows]
    seconds = timed(lambda: conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", values))
    return len(rows) / seconds


HEAVY = ("websockets", "jwt", "cryptography", "nacl", "ipywidgets", "anywidget", "IPython")


def import_ms(statement: str, repeat: int = 7) -> float:
    """Median time ``statement`` takes in a fresh interpreter, in ms."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return statistics.median(
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout) * 1000 for _ in range(repeat))


def heavy_modules() -> list[str]:
    """Top-level packages of ``HEAVY`` that ``import jazz_nb`` loads (should be none)."""
    code = (f"import sys, jazz_nb; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}}"
            f" & set({HEAVY!r}))))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split()


def durable_rows(app: s.App, rows: list[dict]) -> list[tuple[object, ...]]:
    """A loop of ``db.insert`` on a file store (each durable at tier ``local``: its journal
    record fsync'd) against autocommit single-row ``INSERT``s into a DuckDB file (each commit
    durable in DuckDB's WAL), in rows/s."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = duckdb.connect(f"{tmp}/naive.duckdb")
        conn.execute("CREATE TABLE t (title VARCHAR, done BOOLEAN, priority INTEGER, "
                     "estimate DOUBLE, owner VARCHAR, due BIGINT)")
        values = [tuple(r.values()) for r in rows]
        naive = len(rows) / timed(lambda: [conn.execute(
            "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", v) for v in values])
        conn.close()
        with jz.create_db(app, app_id="bench-durable", path=f"{tmp}/ours.duckdb") as db:
            ours = len(rows) / timed(lambda: [db.insert(app.todos, r) for r in rows])
    return [("loop of db.insert, file store vs DuckDB file autocommit (rows/s)", f"{ours:,.0f}",
             f"{naive:,.0f}", f"{ours / naive:.1f}x", "", "")]


def write_path_rows(app: s.App, executemany_rate: float) -> list[tuple[object, ...]]:
    """A batch of 10,000 ``b.insert`` calls and a loop of 2,000 ``db.insert`` calls, against
    ``insert_many`` of the same rows as a DataFrame and per-row ``executemany``, in rows/s."""
    rows = sample_rows(10_000, seed=4)
    frame = pd.DataFrame(rows)
    with jz.create_db(app, app_id="bench-writes") as db:
        many = len(rows) / timed(lambda: db.insert_many(app.todos, frame))

        def batch_loop() -> None:
            with db.batch() as batch:
                for row in rows:
                    batch.insert(app.todos, row)

        batched = len(rows) / timed(batch_loop)
        singles = rows[:2000]
        single = len(singles) / timed(lambda: [db.insert(app.todos, r) for r in singles])
    return [
        ("batch of b.insert vs insert_many(DataFrame) (rows/s)", f"{batched:,.0f}",
         f"{many:,.0f}", f"{many / batched:.1f}x slower", "<= 5x slower", many <= 5 * batched),
        ("batch of b.insert vs executemany (rows/s)", f"{batched:,.0f}",
         f"{executemany_rate:,.0f}", f"{batched / executemany_rate:.0f}x", ">= 30x",
         batched >= 30 * executemany_rate),
        ("loop of db.insert vs insert_many(DataFrame) (rows/s)", f"{single:,.0f}",
         f"{many:,.0f}", f"{many / single:.0f}x slower", "<= 20x slower", many <= 20 * single),
    ]


def main() -> None:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    app = bench_app()
    results = []
    base = import_ms("import pandas, pyarrow, duckdb")
    ours = import_ms("import pandas, pyarrow, duckdb, jazz_nb")
    heavy = heavy_modules()
    results.append(("import jazz_nb after pandas+pyarrow+duckdb (ms added)",
                    f"{ours - base:.0f} (+{(ours - base) / base:.0%}; loads: "
                    f"{', '.join(heavy) or 'no sync/JWT/widget code'})", f"{base:.0f} (the three)",
                    f"{ours / base:.2f}x", "<= +20 %", ours <= 1.2 * base and not heavy))

    with jz.create_db(app, app_id="bench") as db:
        batch = sample_rows(100_000, seed=1)
        rate = len(batch) / timed(lambda: db.insert_many(app.todos, batch))
        naive = naive_executemany_rate(sample_rows(5_000, seed=2))
        results.append(("batched inserts (rows/s)", f"{rate:,.0f}", f"{naive:,.0f}",
                         f"{rate / naive:.0f}x", ">= 100,000", rate >= 100_000))

        results += write_path_rows(app, naive)
        results += durable_rows(app, sample_rows(1_000, seed=5))

        rest = args.rows - len(batch)
        for start in range(0, rest, 200_000):
            db.insert_many(app.todos, sample_rows(min(200_000, rest - start), seed=start + 3))

        query = (app.todos.where(done=False, priority={"gte": 990})
                 .order_by("priority", "desc").order_by("title").limit(20))
        fast = median_ms(lambda: db.df(query))

        def naive_filter() -> object:
            frame = db.df(app.todos)
            hits = frame[(~frame.done) & (frame.priority >= 990)]
            return hits.sort_values(["priority", "title"], ascending=[False, True]).head(20)

        slow = median_ms(naive_filter, repeat=3)
        results.append((f"filter+order+limit on {args.rows:,} rows -> DataFrame (ms)",
                        f"{fast:.1f}", f"{slow:.0f}", f"{slow / fast:.0f}x",
                        "<= 20 ms and >= 10x", fast <= 20 and slow / fast >= 10))

        everything = app.todos.order_by("priority")
        arrow_ms = median_ms(lambda: db.arrow(everything), repeat=5)
        pandas_ms = median_ms(lambda: db.df(everything), repeat=3)
        results.append((f"{args.rows:,}-row result -> Arrow (ms)", f"{arrow_ms:.0f}",
                        f"{pandas_ms:.0f} (to pandas)", f"{pandas_ms / arrow_ms:.1f}x",
                        "<= 500 ms", arrow_ms <= 500))
        assert db.arrow(app.todos.select("title")).num_rows == args.rows
        compiled = db.compile(everything)
        with db.store.lock:  # DuckDB's own export of the same statement, without our casts
            bare_ms = median_ms(lambda: arrow_of(db.store.conn.sql(
                compiled.sql, params=compiled.bind())), repeat=5)
        results.append((f"{args.rows:,}-row result -> Arrow vs DuckDB's export (ms)",
                        f"{arrow_ms:.0f}", f"{bare_ms:.0f} (bare)", f"{arrow_ms / bare_ms:.2f}x",
                        "<= 1.5x", arrow_ms <= 1.5 * bare_ms))

    print_table(f"bench.engine — medians, {args.rows:,} rows", results)


if __name__ == "__main__":
    main()
