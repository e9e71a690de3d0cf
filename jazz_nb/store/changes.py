"""What one store transaction changed: the change feed's unit (DESIGN §3).

Example:
    >>> changes = ChangeCollector()
    >>> changes.add_rows("todos", ["r1", "r2", "r1"])
    >>> changes.add_batches(["b1"])
    >>> changes.build()
    ChangeSet(tables={'todos': ('r1', 'r2')}, batch_ids=('b1',))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChangeSet:
    """Row ids whose visible entry changed, per table, and the batches that were stored/changed.

    Falsy when the transaction changed nothing (a duplicate re-apply).

    Example:
        >>> bool(ChangeSet()), bool(ChangeSet({"todos": ("r1",)}, ("b1",)))
        (False, True)
    """

    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    batch_ids: tuple[str, ...] = ()

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

    def add_rows(self, table: str, row_ids: Iterable[str]) -> None:
        """Record changed visible rows of ``table`` (first mention keeps its place).

        Example:
            >>> changes = ChangeCollector()
            >>> changes.add_rows("todos", ["b", "a", "b"])
            >>> changes.build().tables
            {'todos': ('b', 'a')}
        """
        rows = self._tables.get(table)
        if rows is None:
            self._tables[table] = dict.fromkeys(row_ids)
        else:
            rows.update(dict.fromkeys(row_ids))

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
        return ChangeSet({t: tuple(rows) for t, rows in self._tables.items() if rows},
                         tuple(self._batches))
