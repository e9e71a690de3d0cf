"""The engine-independent pieces: position index, chunk splicing, the in-place frame, the order
replay and the Jazz delta reducer, each against a plain Python model."""

from __future__ import annotations

import bisect
import itertools
import uuid

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jazz_nb.live import chunks as ch
from jazz_nb.live import keys as keys_module
from jazz_nb.live import order
from jazz_nb.live.delta import Delta, apply_jazz_delta
from jazz_nb.live.frame import FrameMirror, expected_dtype
from jazz_nb.live.keys import PositionIndex, id_keys


def uid(i: int) -> str:
    return str(uuid.UUID(int=(0x0190 << 112) | (7 << 76) | (2 << 62) | i))


def draw_removed(data: st.DataObject, n: int, most: int | None = None) -> list[int]:
    """Sorted distinct row positions below ``n`` (at most ``most`` of them) to remove."""
    return sorted(data.draw(st.sets(st.integers(0, max(n - 1, 0)),
                                    max_size=n if most is None else min(n, most))))


def draw_final(data: st.DataObject, kept: int, k: int) -> list[int]:
    """Sorted final positions of ``k`` new rows among ``kept`` old ones."""
    return sorted(data.draw(st.sets(st.integers(0, kept + k - 1), min_size=k,
                                    max_size=k))) if k else []


def interleave(kept: list, new: list, final: list[int]) -> list:
    """The rows after a splice: ``new[i]`` at ``final[i]``, the kept rows in order around."""
    at, it, new_it = set(final), iter(kept), iter(new)
    return [next(new_it) if p in at else next(it) for p in range(len(kept) + len(new))]


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 40), data=st.data())
def test_position_index_follows_splices(n: int, data: st.DataObject) -> None:
    model = [uid(i) for i in range(n)]
    index = PositionIndex(pa.chunked_array([pa.array(model, pa.string())]))
    fresh = n
    for _ in range(data.draw(st.integers(1, 4))):
        removed = draw_removed(data, len(model), 12)
        slots = index.slots([model[i] for i in removed])
        assert (index.positions(slots) == removed).all()
        kept = [x for i, x in enumerate(model) if i not in set(removed)]
        k = data.draw(st.integers(0, 12))
        new_ids = [uid(fresh + j) if j % 3 else f"custom-{fresh + j}" for j in range(k)]
        fresh += k
        final = draw_final(data, len(kept), k)
        result = interleave(kept, new_ids, final)
        index.splice(slots, np.array(removed, dtype=np.int64), np.array(final, dtype=np.int64),
                     pa.array(new_ids, pa.string()))
        model = result
        index.set_ids(ch.rechunk(pa.array(model, pa.string()), 5))
        assert index.lookup(model).tolist() == list(range(len(model)))
        assert index.lookup([uid(10_000), "custom-x"]).tolist() == [-1, -1]


def twin(i: int) -> str:
    """An id whose 64-bit key equals ``uid(i)``'s (only the first digits differ)."""
    return "f" + uid(i)[1:]


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 30), compact_min=st.sampled_from([0, 6, 10**9]), data=st.data())
def test_position_index_log_and_compaction_match_a_rebuilt_index(
        n: int, compact_min: int, data: st.DataObject) -> None:
    """Random splices with moves (a removed id inserted again) and colliding keys, whether
    the index compacts after every splice, now and then, or never."""
    model = [uid(i) if i % 4 else twin(i // 4) for i in range(n)]
    fresh = n
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(keys_module, "COMPACT_MIN", compact_min)
        index = PositionIndex(ch.rechunk(pa.array(model, pa.string()), 4))
        for _ in range(data.draw(st.integers(1, 6))):
            removed = draw_removed(data, len(model), 8)
            slots = index.slots([model[i] for i in removed])
            assert (slots >= 0).all()
            gone = [model[i] for i in removed]
            kept = [x for i, x in enumerate(model) if i not in set(removed)]
            moved = data.draw(st.lists(st.sampled_from(gone), unique=True)) if gone else []
            k_new = data.draw(st.integers(0, 6))
            new_ids = moved + [uid(fresh + j) if j % 2 else twin(fresh + j)
                               for j in range(k_new)]
            fresh += k_new
            k = len(new_ids)
            final = draw_final(data, len(kept), k)
            model = interleave(kept, new_ids, final)
            index.splice(slots, np.array(removed, dtype=np.int64),
                         np.array(final, dtype=np.int64), pa.array(new_ids, pa.string()))
            index.set_ids(ch.rechunk(pa.array(model, pa.string()), 4))
            assert len(index) == len(model)
            assert index.lookup(model).tolist() == list(range(len(model)))
            absent = [x for x in gone if x not in set(new_ids)] + [uid(10_000), twin(10_000)]
            assert index.lookup(absent).tolist() == [-1] * len(absent)
        index.compact()
        assert index.lookup(model).tolist() == list(range(len(model)))
        assert index.lookup(model[::-1][:20]).tolist() == \
            PositionIndex(pa.array(model, pa.string())).lookup(model[::-1][:20]).tolist()


def test_id_keys_agree_between_small_and_vectorised_paths() -> None:
    ids = [uid(i) for i in range(40)] + ["not-a-uuid", uid(3).upper()]
    small = np.concatenate([id_keys(ids[i:i + 3]) for i in range(0, len(ids), 3)])
    assert (small == id_keys(pa.array(ids))).all()


@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=3)), max_size=30),
       rows=st.integers(1, 6), data=st.data())
def test_splice_and_replace_cells_match_a_list(values: list, rows: int,
                                               data: st.DataObject) -> None:
    col = ch.rechunk(pa.array(values, pa.string()), rows)
    removed = np.array(draw_removed(data, len(values)), dtype=np.int64)
    kept = [v for i, v in enumerate(values) if i not in set(removed.tolist())]
    new = data.draw(st.lists(st.text(max_size=2), max_size=5))
    final = draw_final(data, len(kept), len(new))
    plan = ch.build_plan(len(values), removed, np.array(final, dtype=np.int64))
    rows_new = pa.chunked_array([pa.array(new, pa.string())])
    out = ch.splice(col, ch.layout(plan, ch.bounds(col), ch.bounds(rows_new), rows), rows_new)
    expected = interleave(kept, new, final)
    assert out.to_pylist() == expected
    assert out.num_chunks <= 2 * (len(expected) // rows + 1) + 1
    if expected:
        at = data.draw(st.lists(st.integers(0, len(expected) - 1), max_size=12, unique=True))
        fresh = [f"u{i}" for i in range(len(at))]
        replaced = ch.replace_cells(out, at, pa.array(fresh, pa.string()))
        for p, v in zip(at, fresh, strict=True):
            expected[p] = v
        assert replaced.to_pylist() == expected
        assert ch.gather(replaced, at[::-1]).to_pylist() == fresh[::-1]


@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(-5, 5)), max_size=30),
       rows=st.integers(1, 6), data=st.data())
def test_splice_with_cells_overlaid_matches_a_list(values: list, rows: int,
                                                   data: st.DataObject) -> None:
    """Structure and cell writes (unsorted, repeated: the last wins) in one splice."""
    col = ch.rechunk(pa.array(values, pa.int64()), rows)
    removed = np.array(draw_removed(data, len(values)), dtype=np.int64)
    kept = [v for i, v in enumerate(values) if i not in set(removed.tolist())]
    new = data.draw(st.lists(st.integers(100, 110), max_size=5))
    final = draw_final(data, len(kept), len(new))
    expected = interleave(kept, new, final)
    at = data.draw(st.lists(st.integers(0, len(expected) - 1), max_size=12)) \
        if expected else []
    fresh = [1000 + i for i in range(len(at))]
    for p, v in zip(at, fresh, strict=True):
        expected[p] = v
    plan = ch.build_plan(len(values), removed, np.array(final, dtype=np.int64))
    rows_new = pa.chunked_array([pa.array(new, pa.int64())])
    cells = ch.cell_order(np.array(at, dtype=np.int64), pa.array(fresh, pa.int64()))
    lay = ch.layout(plan, ch.bounds(col), ch.bounds(rows_new), rows)
    out = ch.splice(col, lay, rows_new, cells=cells)
    assert out.to_pylist() == expected
    plain = ch.splice(col, lay, rows_new)  # all columns keep one chunk layout
    assert ch.bounds(out).tolist() == ch.bounds(plain).tolist() == lay.starts.tolist()
    untouched = set(range(col.num_chunks))
    if len(removed) == 0 and not new:  # cells only: chunks without a write are shared
        untouched -= {p // rows for p in at}
        def where(chunk: pa.Array) -> tuple[int, int]:
            return chunk.buffers()[1].address, chunk.offset

        shared = {where(c) for c in out.chunks}
        assert all(where(col.chunk(c)) in shared for c in untouched)


def _reference_groups(plan: list[ch.Piece], sources: list[list[int]], rows: int,
                      ) -> list[tuple[int, int]]:
    """The output chunks as (rows, shared old chunk or -1), by the straightforward per-run
    loop: cut pieces at source chunk edges; a whole old chunk of >= rows // 4 rows stays
    alone, other runs fill chunks until they hold ``rows`` rows."""
    edges = [np.cumsum([0, *sizes]).tolist() for sizes in sources]
    runs = []
    for source, start, stop in plan:
        for c in range(len(sources[source])):
            lo, hi = max(start, edges[source][c]), min(stop, edges[source][c + 1])
            if hi > lo:
                whole = source == ch.OLD and hi - lo == sources[source][c]
                runs.append((hi - lo, c if whole and hi - lo >= max(rows // 4, 1) else -1))
    out: list[tuple[int, int]] = []
    size = None
    for n, alone in runs:
        if alone >= 0:
            out.append((n, alone))
            size = None
        elif size is None:
            out.append((n, -1))
            size = n
        else:
            size += n
            out[-1] = (size, -1)
        if size is not None and size >= rows:
            size = None
    return out


@settings(max_examples=200, deadline=None)
@given(old_sizes=st.lists(st.integers(0, 9), max_size=8),
       new_sizes=st.lists(st.integers(0, 4), max_size=3), rows=st.integers(1, 8),
       data=st.data())
def test_layout_matches_per_run_grouping_and_splices_every_type(
        old_sizes: list[int], new_sizes: list[int], rows: int, data: st.DataObject) -> None:
    """One layout per plan, any source chunking (empty chunks too): the chunks of the
    per-run grouping; a string and an int column spliced by it (with cells) match a list
    model, and the old chunks it keeps are the very same arrays."""
    n_old, n_new = sum(old_sizes), sum(new_sizes)
    removed = np.array(draw_removed(data, n_old), dtype=np.int64)
    kept = [i for i in range(n_old) if i not in set(removed.tolist())]
    final = draw_final(data, len(kept), n_new)
    plan = ch.build_plan(n_old, removed, np.array(final, dtype=np.int64))
    lay = ch.layout(plan, np.cumsum([0, *old_sizes]), np.cumsum([0, *new_sizes]), rows)
    groups = _reference_groups(plan, [old_sizes, new_sizes], rows)
    assert np.diff(lay.starts).tolist() == [n for n, _ in groups]
    assert lay.shared.tolist() == [c for _, c in groups]
    model = interleave(kept, list(range(n_old, n_old + n_new)), final)
    at = data.draw(st.sets(st.integers(0, len(model) - 1), max_size=6)) if model else set()
    cells = np.array(sorted(at), dtype=np.int64)
    for p in cells.tolist():
        model[p] = 1000 + p

    def chunked(values: list[int], sizes: list[int], typ: pa.DataType) -> pa.ChunkedArray:
        edges = np.cumsum([0, *sizes]).tolist()
        return pa.chunked_array([pa.array(values[a:b], typ)
                                 for a, b in itertools.pairwise(edges)], type=typ)

    for typ, cast in ((pa.int64(), int), (pa.large_string(), str)):
        old = chunked([cast(i) for i in range(n_old)], old_sizes, typ)
        new = chunked([cast(n_old + i) for i in range(n_new)], new_sizes, typ)
        out = ch.splice(old, lay, new, cells=(cells, pa.array([cast(1000 + p) for p in
                                                               cells.tolist()], typ)))
        assert out.to_pylist() == [cast(v) for v in model]
        assert ch.bounds(out).tolist() == lay.starts.tolist()
        plain = ch.splice(old, lay, new)
        touched = set((np.searchsorted(lay.starts, cells, side="right") - 1).tolist())
        for k, c in enumerate(lay.shared.tolist()):
            if c >= 0:
                assert plain.chunk(k).buffers()[1].address == old.chunk(c).buffers()[1].address
                assert (plain.chunk(k).offset, len(plain.chunk(k))) == \
                    (old.chunk(c).offset, len(old.chunk(c)))
                assert (out.chunk(k).buffers()[1].address ==
                        old.chunk(c).buffers()[1].address) == (k not in touched)


def test_replace_cells_shares_untouched_chunks() -> None:
    col = ch.rechunk(pa.array([f"row {i}" for i in range(100)]), 10)
    new = ch.replace_cells(col, [55], pa.array(["x"]))
    same = [a.buffers()[2].address == b.buffers()[2].address
            for a, b in zip(col.chunks, new.chunks, strict=True)]
    assert same.count(False) == 1 and not same[5]


def test_frame_mirror_keeps_the_object_and_snapshots_stay(monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    table = pa.table({"id": ["a", "b", "c"], "title": ["x", "y", "z"], "n": [1, 2, 3]})
    mirror = FrameMirror(table)
    df = mirror.df
    title, n = df["title"], df["n"]
    new_table = pa.table({"id": ["a", "b", "c"], "title": ["x", "Y", "z"], "n": [1, 2, None]})
    mirror.update_cells(new_table, [("title", np.array([1]), pa.array(["Y"]), [0]),
                                    ("n", np.array([2]), pa.array([None], pa.int64()), [0])])
    assert mirror.df is df
    pd.testing.assert_frame_equal(df, new_table.to_pandas().set_index("id"))
    assert df["n"].dtype == np.float64  # a null arrived: the column is converted as pandas does
    if int(pd.__version__.split(".")[0]) >= 3 or pd.options.mode.copy_on_write is True:
        assert title.tolist() == ["x", "y", "z"] and n.tolist() == [1, 2, 3]


def test_expected_dtype_follows_nulls() -> None:
    assert expected_dtype(pa.int64(), False) == np.int64
    assert expected_dtype(pa.int64(), True) == np.float64
    assert expected_dtype(pa.bool_(), True).kind == "O"


def test_order_replays_duckdb_nulls_nan_and_direction() -> None:
    keys = [order.SortKey("x", descending=True, nulls_first=False), order.SortKey("id")]
    table = pa.table({"x": [float("nan"), 3.0, 1.0, None], "id": ["a", "b", "c", "d"]})
    new = pa.table({"x": [2.0, None, float("nan"), 3.0], "id": ["e", "0", "z", "a0"]})
    assert order.insertion_points(table, keys, new).tolist() == [2, 3, 1, 1]


def test_jazz_delta_reducer_rebuilds_all() -> None:
    delta = Delta(added=("x",), added_index=(1,), updated={"u": ("t",)}, updated_index=(2,),
                  removed=("b",), removed_index=(1,), moved=("u",))
    before = ["u", "b", "k"]
    changes = delta.to_jazz(lambda rid: rid + "'")
    assert [c["kind"] for c in changes] == [1, 0, 2]
    assert apply_jazz_delta(before, changes, key=lambda x: x.rstrip("'")) == ["k", "x'", "u'"]


@settings(max_examples=150, deadline=None)
@given(old=st.lists(st.tuples(st.integers(0, 5), st.text("abc", max_size=3)), max_size=20,
                    unique_by=lambda r: r[1]),
       new=st.lists(st.tuples(st.integers(0, 7), st.text("abcd", min_size=4, max_size=4)),
                    max_size=6, unique_by=lambda r: r[1]))
def test_insertion_points_match_bisect_also_past_the_end(old: list, new: list) -> None:
    """New rows go where ``bisect`` puts them in the sorted rows (ids of 4 letters never
    collide with old ones), including the many that sort after the last row."""
    rows = sorted(old)
    keys = [order.SortKey("p"), order.SortKey("id")]
    table = pa.table({"p": [p for p, _ in rows], "id": [i for _, i in rows]},
                     schema=pa.schema([("p", pa.int64()), ("id", pa.string())]))
    probe = pa.table({"p": [p for p, _ in new], "id": [i for _, i in new]},
                     schema=table.schema)
    assert order.insertion_points(table, keys, probe).tolist() == \
        [bisect.bisect_left(rows, row) for row in new]


@settings(max_examples=200, deadline=None)
@given(n_old=st.integers(0, 14), data=st.data())
def test_build_plan_lays_out_rows_in_the_fewest_pieces(n_old: int, data: st.DataObject) -> None:
    """The plan's rows are the kept old rows with the new ones at their final positions, and
    no two neighbouring pieces could be one (appended rows are a single piece)."""
    removed = draw_removed(data, n_old)
    kept = [("old", i) for i in range(n_old) if i not in set(removed)]
    k = data.draw(st.integers(0, 6))
    final = draw_final(data, len(kept), k)
    plan = ch.build_plan(n_old, np.array(removed, dtype=np.int64),
                         np.array(final, dtype=np.int64))
    model = interleave(kept, [("new", j) for j in range(k)], final)
    assert [("old" if s == ch.OLD else "new", i) for s, a, b in plan
            for i in range(a, b)] == model
    assert all(b > a for _, a, b in plan)
    assert not any(p.source == q.source and p.stop == q.start
                   for p, q in itertools.pairwise(plan))
    assert len(ch.build_plan(1000, np.array([], np.int64), np.arange(1000, 2000))) == 2
