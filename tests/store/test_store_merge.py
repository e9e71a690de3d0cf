"""``visible_preview``: Jazz's per-column merge of concurrent versions (§1.5, §1.6)."""

from __future__ import annotations

import pytest

from jazz_nb.errors import WriteError
from jazz_nb.store.merge import canonical_bytes, visible_preview
from tests.store.store_helpers import APP, batch, version

TODOS = APP.tables["todos"].columns
COUNTERS = APP.tables["counters"].columns
ROW = "01900000-0000-7000-8000-000000000001"


def test_no_visible_version_gives_none() -> None:
    staged = version(ROW, batch(), state="StagingPending")
    rejected = version(ROW, batch(), state="Rejected")
    assert visible_preview([], TODOS) is None
    assert visible_preview([staged, rejected], TODOS) is None


def test_linear_history_shows_the_tip() -> None:
    a, b = batch(), batch()
    first = version(ROW, a, at=1, data={"title": "one"})
    second = version(ROW, b, (a,), at=2, data={"title": "two"}, author="bob", tier=1)
    row = visible_preview([second, first], TODOS)
    assert row is not None
    assert row.data["title"] == "two"
    assert (row.batch_id, row.frontier, row.updated_by, row.tier) == (b, (b,), "bob", 1)


def test_different_columns_edited_concurrently_both_survive() -> None:
    base, left, right = batch(), batch(), batch()
    row = visible_preview([
        version(ROW, base, at=1, data={"title": "a", "priority": 1}),
        version(ROW, left, (base,), at=2, data={"title": "b", "priority": 1}, author="bob"),
        version(ROW, right, (base,), at=3, data={"title": "a", "priority": 5}, author="carol"),
    ], TODOS)
    assert row is not None
    assert (row.data["title"], row.data["priority"]) == ("b", 5)
    assert row.frontier == tuple(sorted((left, right)))
    assert (row.batch_id, row.updated_by, row.updated_at) == (right, "carol", 3)
    assert (row.created_by, row.created_at) == ("carol", 1)  # copied from the meta row


def test_same_column_later_write_wins_and_ties_break_on_batch_id() -> None:
    base, low, high = batch(), batch(), batch()
    history = [
        version(ROW, base, at=1, data={"title": "a"}),
        version(ROW, high, (base,), at=5, data={"title": "high"}),
        version(ROW, low, (base,), at=5, data={"title": "low"}),
    ]
    assert visible_preview(history, TODOS).data["title"] == "high"  # type: ignore[union-attr]
    later = version(ROW, batch(), (base,), at=6, data={"title": "later"})
    assert visible_preview([*history, later], TODOS).data["title"] == "later"  # type: ignore[union-attr]


def test_delete_beats_a_concurrent_later_update() -> None:
    base, deleted, updated = batch(), batch(), batch()
    row = visible_preview([
        version(ROW, base, at=1, data={"title": "a"}),
        version(ROW, deleted, (base,), at=2, data={"title": "a"}, delete_kind="soft"),
        version(ROW, updated, (base,), at=9, data={"title": "edited"}),
    ], TODOS)
    assert row is not None
    assert row.delete_kind == "soft" and row.is_deleted
    assert row.batch_id == deleted and row.updated_at == 2
    assert row.data["title"] == "edited"  # the soft-deleted body keeps the merged values


def test_two_soft_deletes_keep_a_soft_deleted_body_and_hard_beats_soft() -> None:
    base, d1, d2, hard = batch(), batch(), batch(), batch()
    history = [
        version(ROW, base, at=1, data={"title": "a"}),
        version(ROW, d1, (base,), at=2, data={"title": "a"}, delete_kind="soft"),
        version(ROW, d2, (base,), at=3, data={"title": "a"}, delete_kind="soft"),
    ]
    row = visible_preview(history, TODOS)
    assert row is not None
    assert (row.delete_kind, row.batch_id, row.data["title"]) == ("soft", d2, "a")
    gone = version(ROW, hard, (base,), at=0, data={}, delete_kind="hard")
    row = visible_preview([*history, gone], TODOS)
    assert row is not None
    assert (row.delete_kind, row.batch_id, row.data) == ("hard", hard, {})


def test_counter_sums_deltas_against_the_common_ancestor() -> None:
    base, mid, a, b = batch(), batch(), batch(), batch()
    row = visible_preview([
        version(ROW, base, at=1, data={"hits": 10}, table="counters"),
        version(ROW, mid, (base,), at=2, data={"hits": 12}, table="counters"),
        version(ROW, a, (mid,), at=3, data={"hits": 15}, table="counters", author="bob"),
        version(ROW, b, (mid,), at=4, data={"hits": 11}, table="counters", author="carol"),
    ], COUNTERS)
    assert row is not None
    assert row.data["hits"] == 12 + 3 - 1
    assert row.updated_by == "carol"


def test_counter_overflow_is_an_error() -> None:
    base, a, b = batch(), batch(), batch()
    top = 2**31 - 1
    with pytest.raises(WriteError, match="counter merge overflow") as info:
        visible_preview([
            version(ROW, base, at=1, data={"hits": 0}, table="counters"),
            version(ROW, a, (base,), at=2, data={"hits": top}, table="counters"),
            version(ROW, b, (base,), at=3, data={"hits": 1}, table="counters"),
        ], COUNTERS)
    assert (info.value.table, info.value.column) == ("counters", "hits")


def test_g_set_unions_elements_in_canonical_order() -> None:
    base, a, b = batch(), batch(), batch()
    row = visible_preview([
        version(ROW, base, at=1, data={"labels": ["m"]}, table="counters"),
        version(ROW, a, (base,), at=2, data={"labels": ["m", "z", "b"]}, table="counters"),
        version(ROW, b, (base,), at=3, data={"labels": ["a"]}, table="counters"),
    ], COUNTERS)
    assert row is not None
    assert row.data["labels"] == ["a", "b", "m", "z"]
    assert sorted([3, -2, 10, 0], key=canonical_bytes) == [-2, 0, 3, 10]
    assert sorted([1.5, -0.5, -3.0], key=canonical_bytes) == [-3.0, -0.5, 1.5]
    assert sorted([["b"], ["a", "z"], ["a"]], key=canonical_bytes) == [["a"], ["a", "z"], ["b"]]


def test_without_common_ancestor_every_tip_counts_including_null() -> None:
    a, b = batch(), batch()
    row = visible_preview([
        version(ROW, a, at=1, data={"title": "a", "priority": 3}),
        version(ROW, b, at=2, data={"title": "b", "priority": None}),
    ], TODOS)
    assert row is not None
    assert (row.data["title"], row.data["priority"]) == ("b", None)
    counters = visible_preview([
        version(ROW, a, at=1, data={"hits": 4, "labels": ["x"]}, table="counters"),
        version(ROW, b, at=2, data={"hits": 5, "labels": ["y"]}, table="counters"),
    ], COUNTERS)
    assert counters is not None
    assert (counters.data["hits"], counters.data["labels"]) == (9, ["x", "y"])


def test_only_visible_versions_take_part_and_tier_is_the_minimum() -> None:
    base, a, b, staged = batch(), batch(), batch(), batch()
    history = [
        version(ROW, base, at=1, data={"title": "a", "priority": 1}, tier=2),
        version(ROW, a, (base,), at=2, data={"title": "b", "priority": 1}, tier=2),
        version(ROW, b, (base,), at=3, data={"title": "a", "priority": 2}, tier=1),
        version(ROW, staged, (a, b), at=4, data={"title": "s"}, state="StagingPending"),
    ]
    row = visible_preview(history, TODOS)
    assert row is not None
    assert row.data["title"] == "b" and row.tier == 1
    unconfirmed = version(ROW, batch(), (base,), at=5, data={"title": "a", "priority": 9})
    row = visible_preview([*history, unconfirmed], TODOS)
    assert row is not None and row.tier is None


def test_required_tier_previews_only_confirmed_versions() -> None:
    base, confirmed, local = batch(), batch(), batch()
    history = [
        version(ROW, base, at=1, data={"title": "a"}, tier=2),
        version(ROW, confirmed, (base,), at=2, data={"title": "edge"}, tier=1),
        version(ROW, local, (confirmed,), at=3, data={"title": "local"}),
    ]
    assert visible_preview(history, TODOS).data["title"] == "local"  # type: ignore[union-attr]
    assert visible_preview(history, TODOS, 1).data["title"] == "edge"  # type: ignore[union-attr]
    assert visible_preview(history, TODOS, 2).data["title"] == "a"  # type: ignore[union-attr]


def test_common_ancestor_is_the_most_recent_one() -> None:
    root, left, right, m1, m2 = batch(), batch(), batch(), batch(), batch()
    # m1 and m2 both merge left and right: their common ancestors are root, left and right.
    row = visible_preview([
        version(ROW, root, at=1, data={"title": "root", "priority": 0}),
        version(ROW, left, (root,), at=2, data={"title": "left", "priority": 0}),
        version(ROW, right, (root,), at=3, data={"title": "left", "priority": 7}),
        version(ROW, m1, (left, right), at=4, data={"title": "left", "priority": 7}),
        version(ROW, m2, (left, right), at=5, data={"title": "m2", "priority": 7}),
    ], TODOS)
    assert row is not None
    # against `right` (the latest common ancestor) only m2 changed the title
    assert (row.data["title"], row.data["priority"]) == ("m2", 7)
