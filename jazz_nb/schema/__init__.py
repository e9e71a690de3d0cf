"""The schema DSL, used as ``from jazz_nb import s``.

Example:
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False))})
    >>> app.branch
    'dev-c21c8f4b401b-main'
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


def define_permissions(app: App, rules: object) -> object:
    """Row-level permissions for ``app`` (see ``jazz_nb.policy.define_permissions``).

    Example:
        >>> app = define_app({"todos": table(title=string())})
        >>> perms = define_permissions(app, lambda policy: policy.todos.managed_by_creator())
        >>> sorted(perms.to_json()["todos"])
        ['delete', 'insert', 'select', 'update']
    """
    from jazz_nb.policy import define_permissions as define

    return define(app, rules)  # type: ignore[arg-type]


__all__ = [
    "App", "Column", "TableSchema", "array", "bigint", "boolean", "branch_name", "bytes",
    "define_app", "define_permissions", "enum", "float", "int", "json", "migration", "ref",
    "schema_hash", "string", "table", "timestamp", "uuid",
]

from jazz_nb.lens.lens import migration  # noqa: E402 - lens builds on the schema above
