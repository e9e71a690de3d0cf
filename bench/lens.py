"""Lens benchmark: reading rows written under an older schema through a two-step lens path.

Run ``python -m bench.lens [--rows 1000000]``. Three stores of the same rows: written under the
current schema v3 without migrations (the plain table), written under v3 with the v1→v2→v3
lenses active (the union over every version, two of them empty), and written under v1 and read
by v3 through both lenses (column rename + added column, translated in SQL). Each is read whole
into Arrow and through a filtered, ordered window. Target: the v1 rows cost at most 2× the v3
rows of the same database (the "naive" column of that line); the line above compares the
lensed database with the plain one. The naive alternative of the last line translates the v1
rows in Python (``translate_row`` per row) after reading them.

Rows go straight into the visible tables with one ``INSERT ... SELECT`` (the benchmark is about
reading; the write path has its own benchmark).

Example:
    >>> # python -m bench.lens --rows 200000
"""

from __future__ import annotations

import argparse

import pyarrow as pa

import jazz_nb as jz
from bench.report import median_ms, print_table
from jazz_nb import s
from jazz_nb.lens import migration
from jazz_nb.lens.translate import initial, translate_row, walk
from jazz_nb.store.layout import quote, visible_table


def versions() -> tuple[s.App, s.App, s.App]:
    """v1; v2 adds ``priority`` (default 1); v3 renames ``title`` to ``text``."""
    v1 = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False),
                                        owner=s.string())})
    v2 = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False),
                                        owner=s.string(), priority=s.int(default=1))})
    v3 = s.define_app({"todos": s.table(text=s.string(), done=s.boolean(default=False),
                                        owner=s.string(), priority=s.int(default=1))})
    return v1, v2, v3


def fill(db: jz.Db, app: s.App, rows: int) -> None:
    """``rows`` visible rows of ``todos`` under ``app``'s schema, generated in DuckDB."""
    columns = app.tables["todos"].columns
    values = {"title": "'todo ' || i", "text": "'todo ' || i", "done": "i % 3 = 0",
              "owner": "'user' || (i % 50)", "priority": "CAST(i % 1000 AS INTEGER)"}
    user = ", ".join(values[c] for c in columns)
    sql = (f"INSERT INTO {quote(visible_table('todos', app.schema_hash))} "
           f"SELECT CAST(printf('%08x-0000-7000-8000-%012x', i, i) AS UUID), {user}, 'bench', i, "
           "'bench', i, CAST(printf('%08x-0000-7000-8000-%012x', i, i) AS UUID), NULL, NULL, "
           f"NULL FROM range({rows}) AS r(i)")
    with db.store.lock:
        db.store.conn.execute(sql)


def main() -> None:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    v1, v2, v3 = versions()
    lenses = [migration(v1, v2), migration(v2, v3).rename_column("todos", "title", "text")]
    everything = v3.todos
    window = v3.todos.where(done=False, owner="user7").order_by("text", "desc").limit(20)
    plain = jz.create_db(v3, app_id="bench-lens")
    current = jz.create_db(v3, app_id="bench-lens", migrations=lenses)
    old = jz.create_db(v3, app_id="bench-lens", migrations=lenses)
    fill(plain, v3, args.rows)
    fill(current, v3, args.rows)
    fill(old, v1, args.rows)
    assert old.arrow(everything).num_rows == args.rows
    assert old.df(window).index.equals(current.df(window).index)

    results = []
    for name, query, repeat in (("read all rows to Arrow (ms)", everything, 5),
                                ("filtered, ordered window (ms)", window, 15)):
        base = median_ms(lambda q=query: plain.arrow(q), repeat=repeat)
        same = median_ms(lambda q=query: current.arrow(q), repeat=repeat)
        lensed = median_ms(lambda q=query: old.arrow(q), repeat=repeat)
        ratio = lensed / same
        results.append((f"{name}: v3 rows, no migrations", f"{base:,.1f}", "", "", "", ""))
        results.append((f"{name}: v3 rows, lenses active", f"{same:,.1f}", f"{base:,.1f}",
                        f"{same / base:.2f}x", "", ""))
        results.append((f"{name}: v1 rows via v1→v2→v3", f"{lensed:,.1f}", f"{same:,.1f}",
                        f"{ratio:.2f}x", "<= 2x", ratio <= 2))

    state = walk(initial(v1.tables), [op for lens in lenses for op in lens.forward])["todos"]
    names = list(v3.tables["todos"].columns)

    stored = quote(visible_table("todos", v1.schema_hash))

    def naive() -> pa.Table:
        with old.store.lock:
            cursor = old.store.conn.execute(f"SELECT * FROM {stored}")
            raw = cursor.fetchall()
        fields = [d[0] for d in cursor.description]
        return pa.Table.from_pylist([translate_row(state, dict(zip(fields, row, strict=True)),
                                                   names) for row in raw])

    sql_ms = median_ms(lambda: old.arrow(everything), repeat=3)
    slow = median_ms(naive, repeat=1)
    results.append(("v1 rows translated: SQL vs per-row Python (ms)", f"{sql_ms:,.1f}",
                    f"{slow:,.1f}", f"{slow / sql_ms:.0f}x faster", "", True))
    print_table(f"Lenses: {args.rows:,} rows, reader on v3", results)
    for db in (plain, current, old):
        db.close()


if __name__ == "__main__":
    main()
