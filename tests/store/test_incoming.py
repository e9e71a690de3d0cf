"""``store.incoming``: classifying versions that arrive in bulk against the history."""

from __future__ import annotations

import numpy as np

from jazz_nb.errors import WriteError
from jazz_nb.store.incoming import MERGE, NEW, STORED, all_unseen, classify
from jazz_nb.store.store import Store
from jazz_nb.store.versions import RowVersion, new_row_id
from jazz_nb.sync.frames import versions_segments
from tests.store.store_helpers import APP, batch, version


def arriving(versions: list[RowVersion]):
    (segment,) = versions_segments(versions, APP.schema_hash, {APP.schema_hash: APP})
    return segment.rows


def test_each_version_is_stored_new_or_to_merge(store: Store) -> None:
    known, b_known = new_row_id(), batch()
    store.apply([version(known, b_known)])
    fresh, twice = new_row_id(), new_row_id()
    b1, b2 = batch(), batch()
    incoming = [
        version(known, b_known),  # this very version is here
        version(fresh, batch()),  # a row never seen, one parentless version
        version(known, batch(), parents=(b_known,)),  # extends a row this store has
        version(twice, b1), version(twice, b2, parents=(b1,)),  # two versions of a new row
        version(new_row_id(), batch(), state="Rejected"),  # not visible: merged, not inserted
    ]
    kinds = classify(store, store.physical("todos", "", WriteError), arriving(incoming))
    assert kinds.tolist() == [STORED, NEW, MERGE, MERGE, MERGE, MERGE]
    assert kinds.dtype.kind in "iu" and isinstance(kinds, np.ndarray)


def test_all_unseen_only_for_first_versions_of_unknown_rows(store: Store) -> None:
    table = store.physical("todos", "", WriteError)
    first = [version(new_row_id(), batch()) for _ in range(3)]
    assert all_unseen(store, table, arriving(first))  # an empty store: nothing to look up
    store.apply(first[:1])
    assert not all_unseen(store, table, arriving(first))  # one row is known now
    assert all_unseen(store, table, arriving([version(new_row_id(), batch())]))
    child = version(new_row_id(), batch(), parents=(batch(),))
    assert not all_unseen(store, table, arriving([child]))  # has parents
