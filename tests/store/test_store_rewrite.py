"""``Store.rewrite``: versions built on rows taken out of the visible table (real DuckDB)."""

from __future__ import annotations

import pytest

from jazz_nb.errors import WriteError
from jazz_nb.store.changes import ChangeSet
from jazz_nb.store.store import MAX_ID_PARAMS, Store
from jazz_nb.store.versions import RowVersion, VisibleRow, new_row_id
from tests.store.store_helpers import batch, version


def _successors(taken: dict[str, VisibleRow], batch_id: str, title: str,
                delete: frozenset[str] | set[str] = frozenset()) -> list[RowVersion]:
    """The next version of every taken row: ``title`` set, or a soft delete for ``delete``."""
    return [RowVersion("todos", row.row_id, batch_id, row.frontier, row.updated_at + 1,
                       row.created_by, row.created_at, "bob", {**row.data, "title": title},
                       delete_kind="soft" if row.row_id in delete else None)
            for row in taken.values()]


def _rows(store: Store, count: int) -> list[RowVersion]:
    first = [version(new_row_id(), batch(), data={"title": f"t{i}"}) for i in range(count)]
    store.apply(first)
    return first


@pytest.mark.parametrize("count", [3, MAX_ID_PARAMS + 36])  # ids bound one by one / as a list
def test_successors_of_single_tip_rows(store: Store, count: int) -> None:
    first = _rows(store, count)
    rows = [v.row_id for v in first]
    b = batch()
    seen: list[ChangeSet] = []
    store.add_listener(seen.append)
    gone = set(rows[:2])
    built: list[RowVersion] = []

    def build(taken: dict[str, dict[str, VisibleRow]]) -> list[RowVersion]:
        assert set(taken) == {"todos"} and set(taken["todos"]) == set(rows)
        assert store.current("todos", rows) == {}  # taken out inside the transaction
        built.extend(_successors(taken["todos"], b, "new", gone))
        return built

    changes = store.rewrite({"todos": rows}, build)
    assert changes.tables == {"todos": tuple(rows)} and changes.batch_ids == (b,)
    assert changes.rows["todos"] == {v.row_id: v for v in built}  # records for live queries
    assert seen == [changes]
    current = store.current("todos", rows)
    for old in first:
        now = current[old.row_id]
        assert (now.data["title"], now.frontier, now.created_at) == ("new", (b,), old.created_at)
        assert now.delete_kind == ("soft" if old.row_id in gone else None)
        new = store.history("todos", old.row_id)[-1]
        assert (new.batch_id, new.parents, new.updated_by) == (b, (old.batch_id,), "bob")


def test_a_failing_build_writes_nothing(store: Store) -> None:
    first = _rows(store, MAX_ID_PARAMS + 1)
    rows = [v.row_id for v in first]
    before = store.current("todos", rows)

    def build(taken: dict[str, dict[str, VisibleRow]]) -> list[RowVersion]:
        raise WriteError("row not found: x in table 'todos'", table="todos")

    with pytest.raises(WriteError, match="row not found"):
        store.rewrite({"todos": [*rows, new_row_id()]}, build)
    assert store.current("todos", rows) == before
    assert all(len(store.history("todos", r)) == 1 for r in rows)


def test_a_version_the_store_cannot_hold_writes_nothing(store: Store) -> None:
    first = _rows(store, 6)
    rows = [v.row_id for v in first]
    before = store.current("todos", rows)

    def build(taken: dict[str, dict[str, VisibleRow]]) -> list[RowVersion]:
        good = _successors(taken["todos"], batch(), "x")
        v = good[0]
        bad = RowVersion(v.table, v.row_id, v.batch_id, v.parents, v.updated_at, v.created_by,
                         v.created_at, v.updated_by, {**v.data, "priority": "high"})
        return [bad, *good[1:]]

    with pytest.raises(WriteError, match=r"todos\.priority"):
        store.rewrite({"todos": rows}, build)
    assert store.current("todos", rows) == before


def test_multi_tip_rows_fast_forward_to_the_new_version(store: Store) -> None:
    root = version(new_row_id(), batch(), data={"title": "a"})
    tips = [version(root.row_id, batch(), (root.batch_id,), at=t, data={"title": title})
            for t, title in ((2, "x"), (3, "y"))]
    store.apply([root, *tips])  # concurrent edits: two tips, merged
    assert set(store.current("todos", [root.row_id])[root.row_id].frontier) == \
        {v.batch_id for v in tips}
    b = batch()
    changes = store.rewrite({"todos": [root.row_id]},
                            lambda taken: _successors(taken["todos"], b, "z"))
    assert changes.tables == {"todos": (root.row_id,)}
    now = store.current("todos", [root.row_id])[root.row_id]
    assert (now.data["title"], now.frontier) == ("z", (b,))
    assert set(store.history("todos", root.row_id)[-1].parents) == {v.batch_id for v in tips}


def test_taken_rows_without_a_new_version_are_put_back(store: Store) -> None:
    first = _rows(store, 3)
    rows = [v.row_id for v in first]
    before = store.current("todos", rows)
    b = batch()
    changes = store.rewrite({"todos": rows}, lambda taken: _successors(
        {rows[0]: taken["todos"][rows[0]]}, b, "only the first"))
    assert changes.tables == {"todos": (rows[0],)}
    after = store.current("todos", rows)
    assert after[rows[0]].data["title"] == "only the first"
    assert {r: after[r] for r in rows[1:]} == {r: before[r] for r in rows[1:]}
