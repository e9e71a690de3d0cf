"""Store fixtures: a fresh in-memory store over the test app (real DuckDB)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jazz_nb.store.store import Store
from tests.store.store_helpers import APP


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(APP) as opened:
        yield opened
