"""The schema DSL, used as ``from jazz_nb import s``.

Example:
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False))})
    >>> app.branch
    'dev-...-main'  # doctest: +SKIP
"""

from jazz_nb.schema.app import App, TableSchema, define_app, table
from jazz_nb.schema.columns import (
    Column,
    array,
    bigint,
    boolean,
    bytes,
    enum,
    float,
    int,
    json,
    ref,
    string,
    timestamp,
    uuid,
)
from jazz_nb.schema.hash import branch_name, schema_hash

__all__ = [
    "App", "Column", "TableSchema", "array", "bigint", "boolean", "branch_name", "bytes",
    "define_app", "enum", "float", "int", "json", "ref", "schema_hash", "string", "table",
    "timestamp", "uuid",
]
