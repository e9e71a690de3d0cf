"""Which stored versions of a row a session may read: its read policy, version by version.

A session is sent a version only if the read policy (``select.using``) holds for the row *as
that version has it*, evaluated now (other rows as they are at this moment). So a row that moves
into the session's reach arrives without the versions written while it was out of reach, and an
edit made in the same turn as a revocation never arrives. Versions of every schema version are
judged in the reader's shape: each history is translated through the lens path in SQL, the same
way queries read it (``jazz_nb.lens.sql``).

Trusted connections (admin, sessionless backend) and sessions without a row filter may read
every version: ``ReadableVersions.of(db)`` is then ``None``.

Example:
    >>> import jazz_nb as jz
    >>> from jazz_nb import s
    >>> from jazz_nb.policy import define_permissions
    >>> app = s.define_app({"notes": s.table(body=s.string())})
    >>> perms = define_permissions(app, lambda policy: policy.notes.managed_by_creator())
    >>> db = jz.create_db(app, app_id="readable-doc", permissions=perms)
    >>> ann = db.for_session(jz.Session("ann"))
    >>> row = ann.insert(app.notes, {"body": "mine"})
    >>> readable = ReadableVersions.of(db.for_session(jz.Session("bob")))
    >>> readable.pairs("notes", [row.id])
    set()
    >>> ReadableVersions.of(ann).pairs("notes", [row.id]) == {(row.id, row.batch_id)}
    True
    >>> ReadableVersions.of(db) is None  # unscoped: everything
    True
    >>> db.close()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa

from jazz_nb.lens.sql import branches, select_translated
from jazz_nb.lens.translate import initial
from jazz_nb.store.layout import history_table, quote

if TYPE_CHECKING:
    from jazz_nb.db import Db

ALIAS = "t"
IDS = "_jz_readable_ids"
Pair = tuple[str, str]  # (row id, 32-hex batch id)


def history_as_visible(table: str, schema_hash: str, columns: Iterable[str]) -> str:
    """A table version's history shaped like its visible table (``id``, user columns, magic
    columns, ``_jz_batch`` = the version's batch), so read policies and lens translations
    written for visible rows apply to each version.

    Example:
        >>> history_as_visible("t", "ab" * 32, ["n"])[:59]
        '(SELECT h._jz_row_id AS id, h."n", h._jz_created_by AS "$cr'
    """
    user = "".join(f", h.{quote(c)}" for c in columns)
    return (f"(SELECT h._jz_row_id AS id{user}, h._jz_created_by AS \"$createdBy\", "
            'h._jz_created_at AS "$createdAt", h._jz_updated_by AS "$updatedBy", '
            'h._jz_updated_at AS "$updatedAt", h._jz_batch_id AS _jz_batch, '
            "CAST(NULL AS UUID[]) AS _jz_frontier, h._jz_delete_kind AS _jz_deleted, h._jz_tier "
            f"FROM {quote(history_table(table, schema_hash))} AS h "
            f"WHERE h._jz_row_id IN (SELECT CAST(id AS UUID) FROM {IDS}))")


class ReadableVersions:
    """The versions one session may read, per table of its schema (see the module)."""

    def __init__(self, db: Db) -> None:
        self.db = db

    @classmethod
    def of(cls, db: Db) -> ReadableVersions | None:
        """The readable-versions filter of ``db``'s session, or ``None`` if it reads all.

        Example:
            >>> # ReadableVersions.of(group.db)  # None for trusted peers
        """
        context = db.compile_context()
        if context is None or not any(context.row_filter(t, ALIAS) for t in db.app.tables):
            return None
        return cls(db)

    def _sources(self, table: str) -> list[tuple[str, str]]:
        """``(schema hash, SQL of reader-shaped versions)`` for every version of ``table``."""
        app = self.db.app
        schema = app.table(table)
        migrations = self.db.migrations
        found = branches(migrations.graph, app)[table] if migrations is not None else None
        if not found:
            state = initial(app.tables)[table]
            return [(app.schema_hash, select_translated(state, schema, history_as_visible(
                table, app.schema_hash, schema.columns)))]
        out = []
        for branch in found:
            source = migrations.graph.schemas[branch.schema_hash].table(branch.table)
            relation = history_as_visible(branch.table, branch.schema_hash, source.columns)
            out.append((branch.schema_hash, select_translated(branch.state, schema, relation)))
        return out

    def pairs(self, table: str, row_ids: Iterable[str]) -> set[Pair]:
        """``(row id, batch id)`` of every stored version of ``row_ids`` the session may read,
        on every schema version of ``table``.

        Example:
            >>> # readable.pairs("todos", changed_ids) -> {(row_id, batch_id), ...}
        """
        ids = sorted(set(row_ids))
        if not ids:
            return set()
        context = self.db.compile_context()
        assert context is not None
        found = context.row_filter(table, ALIAS)
        predicate, params = found if found is not None else ("TRUE", {})
        parts = [f"SELECT CAST({ALIAS}.id AS VARCHAR), replace(CAST({ALIAS}._jz_batch AS VARCHAR), "
                 f"'-', '') FROM ({sql}) AS {ALIAS} WHERE {predicate}"
                 for _, sql in self._sources(table)]
        store = self.db.store
        with store.lock:
            conn = store.conn
            conn.register(IDS, pa.table({"id": pa.array(ids, pa.string())}))
            try:
                rows = conn.execute(" UNION ALL ".join(parts), params or None).fetchall()
            finally:
                conn.unregister(IDS)
        return {(row, batch) for row, batch in rows}

