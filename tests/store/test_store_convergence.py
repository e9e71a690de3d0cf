"""Property: any arrival order of the same versions gives the same visible table (§1.5).

Random concurrent version DAGs for a few rows (random parents among earlier versions, random
columns changed, random deletes, non-visible states, ``updated_at`` ties broken by batch id) are
applied to three stores, each in its own order, in chunks, with duplicates. The three visible
tables must be identical and equal to ``visible_preview`` of each row's full history, and
stay so after one batch's fate changes (``set_batch_state``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from jazz_nb.store.layout import history_table, visible_table
from jazz_nb.store.merge import visible_preview
from jazz_nb.store.store import Store
from jazz_nb.store.versions import RowVersion
from tests.store.store_helpers import APP

ROWS = ["01900000-0000-7000-8000-00000000000" + str(i) for i in range(3)]
STATES = ["VisibleDirect"] * 6 + ["VisibleTransactional", "StagingPending", "Rejected"]


@st.composite
def row_history(draw: st.DrawFn, table: str, row_id: str, batch_ids: list[str],
                ) -> list[RowVersion]:
    versions: list[RowVersion] = []
    for batch_id in batch_ids:
        earlier = [v.batch_id for v in versions]
        parents = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)
                       if earlier else st.just([]))
        base = next((v.data for v in versions if v.batch_id in parents), None)
        data = dict(base) if base else _body(table, draw)
        for name, value in _body(table, draw).items():
            if draw(st.booleans()):
                data[name] = value
        kind = draw(st.sampled_from([None] * 6 + ["soft", "hard"]))
        versions.append(RowVersion(
            table, row_id, batch_id, tuple(parents), draw(st.integers(1, 4)), "alice",
            1, draw(st.sampled_from(["alice", "bob"])), {} if kind == "hard" else data,
            draw(st.sampled_from(STATES)), draw(st.sampled_from([None, 0, 1, 2])), kind))
    return versions


def _body(table: str, draw: st.DrawFn) -> dict[str, Any]:
    if table == "counters":
        return {"name": draw(st.sampled_from("xyz")), "hits": draw(st.integers(-5, 5)),
                "labels": draw(st.lists(st.sampled_from("abcd"), max_size=3))}
    return {"title": draw(st.sampled_from(["a", "b", "c"])), "done": draw(st.booleans()),
            "priority": draw(st.none() | st.integers(-3, 3)),
            "tags": draw(st.none() | st.lists(st.sampled_from("pq"), max_size=2)),
            "owner": None, "blob": draw(st.none() | st.binary(max_size=2))}


@st.composite
def histories(draw: st.DrawFn) -> list[RowVersion]:
    """Histories of up to three rows; a batch may hold versions of several rows."""
    pool = [f"{n:032x}" for n in draw(st.lists(st.integers(0, 2**20), min_size=8, max_size=8,
                                                unique=True))]
    out: list[RowVersion] = []
    for row_id in ROWS[:draw(st.integers(1, len(ROWS)))]:
        batch_ids = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=7, unique=True))
        out += draw(row_history(draw(st.sampled_from(["todos", "counters"])), row_id, batch_ids))
    return out


@st.composite
def arrival(draw: st.DrawFn, versions: list[RowVersion]) -> list[list[RowVersion]]:
    """A shuffled delivery with some versions repeated, cut into apply() calls."""
    repeats = draw(st.lists(st.sampled_from(versions), max_size=4))
    order = draw(st.permutations(versions + repeats))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=4)))
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _visible_tables(store: Store) -> list[Any]:
    out = []
    for name in APP.tables:
        sql = f'SELECT * FROM "{visible_table(name, APP.schema_hash)}" ORDER BY id'
        out.append(store.execute(sql).fetchall())
    return out


@pytest.fixture(scope="module")
def stores() -> Iterator[list[Store]]:
    """Three stores, emptied before each example (opening DuckDB is the slow part)."""
    opened = [Store(APP) for _ in range(3)]
    yield opened
    for store in opened:
        store.close()


def _empty(store: Store) -> None:
    for name in APP.tables:
        store.execute(f'DELETE FROM "{visible_table(name, APP.schema_hash)}"')
        store.execute(f'DELETE FROM "{history_table(name, APP.schema_hash)}"')


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_arrival_order_converges_to_visible_preview(
        stores: list[Store], data: st.DataObject) -> None:
    versions = data.draw(histories())
    for store in stores:
        _empty(store)
        for chunk in data.draw(arrival(versions)):
            store.apply(chunk)
    _assert_converged(stores, versions)
    # a later fate of one batch (accept, reject, confirm) converges the same way
    fate = data.draw(st.sampled_from(versions)).batch_id
    state = data.draw(st.sampled_from(["Rejected", "VisibleTransactional", "VisibleDirect"]))
    tier = data.draw(st.none() | st.integers(0, 2))
    for store in stores:
        store.set_batch_state(fate, state, tier)  # type: ignore[arg-type]
    _assert_converged(stores, [_with_fate(v, fate, state, tier) for v in versions])


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_deliveries_through_the_memtable_converge_like_apply(
        stores: list[Store], data: st.DataObject) -> None:
    """``deliver`` holds versions that extend their row's frontier in the memtable and merges
    the rest; mixed with ``apply`` and absorbs at any point, every order (also the causal one,
    where the memtable takes most) converges."""
    versions = data.draw(histories())
    for store in stores:
        _empty(store)
        causal = data.draw(st.booleans())  # the order they were written in
        for chunk in [versions] if causal else data.draw(arrival(versions)):
            if data.draw(st.booleans()):
                store.deliver(chunk)
                event(f"memtable held versions: {store.pending > 0}")
            else:
                store.apply(chunk)
            if data.draw(st.booleans()):
                store.absorb()
    _assert_converged(stores, versions)


def _with_fate(v: RowVersion, batch_id: str, state: str, tier: int | None) -> RowVersion:
    if v.batch_id != batch_id:
        return v
    raised = v.tier if tier is None else max(tier, v.tier if v.tier is not None else tier)
    return replace(v, state=state, tier=raised)


def _assert_converged(stores: list[Store], versions: list[RowVersion]) -> None:
    tables = [_visible_tables(store) for store in stores]
    assert tables[0] == tables[1] == tables[2]
    for row_id in {v.row_id for v in versions}:
        history = [v for v in versions if v.row_id == row_id]
        table = history[0].table
        expected = visible_preview(history, APP.tables[table].columns)
        assert stores[0].current(table, [row_id]).get(row_id) == expected
        by_batch = sorted(history, key=lambda v: v.batch_id)
        assert sorted(stores[0].history(table, row_id), key=lambda v: v.batch_id) == by_batch
