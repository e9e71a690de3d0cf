"""Test helpers: the todo app, the store's DuckDB layout and rows inserted with plain SQL."""

from __future__ import annotations

from typing import Any

import duckdb

from jazz_nb import schema as s
from jazz_nb.schema.app import App
from jazz_nb.store.layout import create_statements, quote, visible_table

BATCH = "00000000-0000-7000-8000-00000000bbbb"
CREATED_AT = 1_700_000_000_000_000  # µs


def uid(n: int) -> str:
    """A readable fixed row id: ``uid(5)`` is ``00000000-0000-7000-8000-000000000005``."""
    return f"00000000-0000-7000-8000-{n:012d}"


def todo_app() -> App:
    return s.define_app({
        "projects": s.table(name=s.string(), archived=s.boolean(default=False)),
        "parts": s.table(label=s.string()),
        "todos": s.table(
            title=s.string(), done=s.boolean(default=False), priority=s.int().optional(),
            due=s.timestamp().optional(), project_id=s.ref("projects").optional(),
            part_ids=s.array(s.ref("parts")).optional(), meta=s.json().optional(),
        ),
        "files": s.table(name=s.string(), part_ids=s.array(s.ref("parts"))),
    })


THINGS_APP = s.define_app({  # one nullable column of every type, plus a required one
    "owners": s.table(name=s.string()),
    "things": s.table(
        text=s.string().optional(), flag=s.boolean().optional(), n=s.int().optional(),
        big=s.bigint().optional(), x=s.float().optional(), at=s.timestamp().optional(),
        uid=s.uuid().optional(), blob=s.bytes().optional(), kind=s.enum("a", "b", "c").optional(),
        doc=s.json().optional(), tags=s.array(s.string()).optional(),
        nums=s.array(s.int()).optional(), owner_id=s.ref("owners").optional(),
        title=s.string(),
    ),
})


def create_tables(conn: duckdb.DuckDBPyConnection, app: App) -> None:
    for name, table in app.tables.items():
        for stmt in create_statements(name, table, app.schema_hash):
            conn.execute(stmt)


def insert(conn: duckdb.DuckDBPyConnection, app: App, table: str, rows: list[dict[str, Any]],
           *, deleted: str | None = None) -> None:
    """Insert rows (values coerced by the schema, defaults filled; ``$`` keys set magic columns)."""
    columns = app.tables[table].columns
    defaults = {name: col.default for name, col in columns.items() if col.has_default}
    for row in ({**defaults, **r} for r in rows):
        values: dict[str, Any] = {
            "id": row["id"], "$createdBy": "alice", "$createdAt": CREATED_AT,
            "$updatedBy": "alice", "$updatedAt": CREATED_AT, "_jz_batch": BATCH,
            "_jz_deleted": deleted,
        }
        for name, value in row.items():
            if name in columns:
                values[name] = columns[name].coerce(value, f"{table}.{name}")
            elif name != "id":
                values[name] = value
        names = ", ".join(quote(n) for n in values)
        marks = ", ".join("?" * len(values))
        conn.execute(f"INSERT INTO {quote(visible_table(table, app.schema_hash))} ({names}) "
                     f"VALUES ({marks})", list(values.values()))
