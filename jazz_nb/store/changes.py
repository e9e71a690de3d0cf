"""What one store transaction changed: the change feed's unit (DESIGN §3).

Besides the changed row ids, a change set can carry each changed row's new visible record
(``rows``): a live query over plain columns then re-evaluates those rows in memory instead of
asking DuckDB. A table is in ``rows`` only when every changed row of it has its record.

Example:
    >>> changes = ChangeCollector()
    >>> changes.add_rows("todos", ["r1", "r2", "r1"])
    >>> changes.add_batches(["b1"])
    >>> changes.build()
    ChangeSet(tables={'todos': ('r1', 'r2')}, batch_ids=('b1',))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ChangeSet:
    """Row ids whose visible entry changed, per table, and the batches that were stored/changed.

    ``rows[table][row_id]`` is the row's new visible record (a ``RowVersion`` or ``VisibleRow``
    of the store's own schema), ``None`` when it left the visible table. Falsy when the
    transaction changed nothing (a duplicate re-apply).

    Example:
        >>> bool(ChangeSet()), bool(ChangeSet({"todos": ("r1",)}, ("b1",)))
        (False, True)
    """

    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    batch_ids: tuple[str, ...] = ()
    rows: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False,
                                                  compare=False)

    def __bool__(self) -> bool:
        return bool(self.tables) or bool(self.batch_ids)


class ChangeCollector:
    """Accumulates a ``ChangeSet`` in order, without duplicates.

    Example:
        >>> ChangeCollector().build()
        ChangeSet(tables={}, batch_ids=())
    """

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, None]] = {}
        self._batches: dict[str, None] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self._unknown: set[str] = set()  # tables with a changed row whose record is not known

    def add_rows(self, table: str, row_ids: Iterable[str],
                 records: Mapping[str, Any] | None = None) -> None:
        """Record changed visible rows of ``table`` (first mention keeps its place), with their
        new records when known (``{row_id: record or None}`` covering every id).

        Example:
            >>> changes = ChangeCollector()
            >>> changes.add_rows("todos", ["b", "a", "b"])
            >>> changes.build().tables
            {'todos': ('b', 'a')}
            >>> changes.add_rows("notes", ["n"], {"n": None})
            >>> changes.build().rows
            {'notes': {'n': None}}
        """
        ids = dict.fromkeys(row_ids)
        rows = self._tables.get(table)
        if rows is None:
            self._tables[table] = ids
        else:
            rows.update(ids)
        if records is None:
            self._unknown.add(table)
        elif ids and table not in self._unknown:
            self._records.setdefault(table, {}).update(records)

    def add_batches(self, batch_ids: Iterable[str]) -> None:
        """Record batches with stored or changed versions.

        Example:
            >>> changes = ChangeCollector()
            >>> changes.add_batches(["b1", "b1"])
            >>> changes.build().batch_ids
            ('b1',)
        """
        self._batches.update(dict.fromkeys(batch_ids))

    def build(self) -> ChangeSet:
        """The collected changes (tables without changed rows are left out).

        Example:
            >>> changes = ChangeCollector()
            >>> changes.add_rows("todos", [])
            >>> bool(changes.build())
            False
        """
        tables = {t: tuple(rows) for t, rows in self._tables.items() if rows}
        known = {t: rows for t, rows in self._records.items()
                 if t in tables and t not in self._unknown}
        return ChangeSet(tables, tuple(self._batches), known)
