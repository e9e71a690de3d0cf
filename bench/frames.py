"""What the hardened frame decoding costs: a 100,000-row segment, decoded and applied.

    python -m bench.frames            # 100,000 rows
    python -m bench.frames --quick    # 10,000 rows

Per table (``plain``: text, bool, int, ref; ``rich``: every column type, with a distinct JSON
value and enum, uuid, timestamp and array columns per row), medians of ``--repeat`` runs:

* structure -- ``decode_frame(check_values=False)``: metadata checks, the decompressed-bytes
  budget, the aligned copy and ``validate(full=True)``. Naive: ``pa.ipc.open_stream().read_all()``
  (what decoding did before).
* values -- ``check_engine`` + ``check_user`` on the decoded rows (``check_values=True`` adds
  exactly these).
* apply -- what follows decoding: ``apply_segments`` into a fresh in-memory store (the client's
  bulk path) and ``segment_versions`` (the server turns a batch into ``RowVersion``s).

The target: the checks (structure beyond the naive read, plus values where they run) cost at
most 10% of decode + apply -- on the server (values checked, then ``segment_versions``) and on
the client (``check_values=False``, then ``apply_segments``); the client's share if it checked
values too is shown as well.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import pyarrow as pa

from bench.report import median_ms, print_table
from jazz_nb import s
from jazz_nb.store.store import Store
from jazz_nb.store.versions import RowVersion
from jazz_nb.sync.bulk import apply_segments
from jazz_nb.sync.frames import (
    Segment,
    decode_frame,
    encode_frame,
    read_header,
    segment_versions,
    versions_to_arrow,
)
from jazz_nb.sync.validate import check_engine, check_user

TARGET = 0.10


def bench_app() -> s.App:
    return s.define_app({
        "projects": s.table(name=s.string()),
        "plain": s.table(title=s.string(), done=s.boolean(default=False),
                         priority=s.int().optional(), project_id=s.ref("projects").optional()),
        "rich": s.table(title=s.string(), at=s.timestamp(), owner=s.uuid(), meta=s.json(),
                        kind=s.enum("low", "mid", "high"), tags=s.array(s.string()),
                        refs=s.array(s.uuid()), score=s.float(), blob=s.bytes().optional()),
    })


def _uuid(i: int) -> str:
    return f"01900000-0000-7000-8000-{i:012x}"


def _data(table: str, i: int) -> dict[str, Any]:
    if table == "plain":
        return {"title": f"todo {i}", "done": i % 2 == 0, "priority": i % 5 or None,
                "project_id": _uuid(10**9 + i % 100)}
    return {"title": f"item {i}", "at": 1_700_000_000_000 + i, "owner": _uuid(2 * 10**9 + i),
            "meta": json.dumps({"i": i, "tags": ["a", "b"]}, separators=(",", ":"),
                               sort_keys=True),
            "kind": ("low", "mid", "high")[i % 3], "tags": ["x", "y"][: i % 3],
            "refs": [_uuid(i)], "score": i / 7, "blob": b"\x01\x02" if i % 2 else None}


def segment(app: s.App, table: str, n: int) -> Segment:
    versions = [RowVersion(table, _uuid(i), f"{i:032x}", (), 1_700_000_000_000_000 + i, "me",
                           1_700_000_000_000_000, "me", _data(table, i)) for i in range(n)]
    return Segment(table, app.schema_hash, versions_to_arrow(app.table(table), versions))


def measure(app: s.App, table: str, n: int, repeat: int) -> list[list[object]]:
    apps = {app.schema_hash: app}
    data = encode_frame({"type": "rows"}, [segment(app, table, n)])
    start = read_header(data)[1]
    naive = median_ms(lambda: pa.ipc.open_stream(pa.py_buffer(data[start:])).read_all(),
                      repeat)
    structure = median_ms(lambda: decode_frame(data, apps, check_values=False), repeat)
    rows = decode_frame(data, apps)[1][0].rows
    values = median_ms(lambda: (check_engine(table, rows),
                                check_user(table, app.table(table), rows)), repeat)
    segments = decode_frame(data, apps)[1]

    def apply() -> None:
        store = Store(app)
        try:
            apply_segments(store, app, segments)
        finally:
            store.close()

    applied = median_ms(apply, max(3, repeat // 3))
    versions = median_ms(lambda: segment_versions(segments[0], app.table(table),
                                                  app.schema_hash), max(3, repeat // 3))
    extra = structure - naive  # what the structural checks add to a plain read
    server = (extra + values) / (structure + values + versions)
    client = extra / (structure + applied)
    client_checked = (extra + values) / (structure + values + applied)
    kb = len(data) // 1024

    def share(label: str, value: float, target: float | None) -> list[object]:
        ok = "" if target is None else ("yes" if value <= target else "NO")
        return [f"{table}: {label}", f"{value:.1%}", "", "",
                "" if target is None else f"<= {target:.0%}", ok]

    return [
        [f"{table}: structure ({n:,} rows, {kb:,} KiB)", f"{structure:.1f} ms",
         f"{naive:.1f} ms", f"{structure / naive:.1f}x", "", ""],
        [f"{table}: value checks", f"{values:.1f} ms", "", "", "", ""],
        [f"{table}: apply to a store (client)", f"{applied:.1f} ms", "", "", "", ""],
        [f"{table}: to RowVersions (server)", f"{versions:.1f} ms", "", "", "", ""],
        share("server: checks / (decode + RowVersions)", server, TARGET),
        share("client: structure checks / (decode + apply)", client, TARGET),
        share("client, if it checked values too", client_checked, None),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args(argv)
    n = args.rows or (10_000 if args.quick else 100_000)
    app = bench_app()
    rows = measure(app, "plain", n, args.repeat) + measure(app, "rich", n, args.repeat)
    print_table("bench.frames: hardened decoding of one segment (medians)", rows)


if __name__ == "__main__":
    main()
