"""Query fixtures: the todo app and a real DuckDB holding its tables (no rows)."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from jazz_nb.schema.app import App
from tests.query.query_helpers import create_tables, todo_app


@pytest.fixture
def app() -> App:
    return todo_app()


@pytest.fixture
def conn(app: App) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    create_tables(connection, app)
    yield connection
    connection.close()
