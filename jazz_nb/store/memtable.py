"""The layer of recent row versions a store holds before DuckDB absorbs them.

A local write of new, linear versions (``Store.write_local``: ``db.insert``, the single-row
successor of ``db.update``/``db.delete``, batches) is kept here instead of being written to DuckDB
statement by statement: its versions (for history) and, per row, the entry the row shows now.
Reads look here first for a row (``Store.current``); anything that reads DuckDB as a whole
(queries, merges, history) has the store absorb the layer first, in one transaction of bulk
statements per table. The layer holds at most ``LIMIT`` versions, none older than ``MAX_AGE``
seconds: a write that would overfill it, or that finds its oldest version older than that,
absorbs it first. A file store also journals what the layer holds (``store/journal.py``).

Example:
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string())})
    >>> todos = PhysicalTable("todos", app.tables["todos"], app.schema_hash, True)
    >>> layer = Memtable()
    >>> v = RowVersion("todos", "r1", "ab" * 16, (), 1, "me", 1, "me", {"title": "x"})
    >>> layer.add(todos, [v], {"r1": v}, existed=set())
    >>> len(layer), layer.shown(("todos", app.schema_hash), "r1").frontier
    (1, ('abababababababababababababababab',))
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from jazz_nb.store.tables import PhysicalTable
from jazz_nb.store.versions import RowVersion, VisibleRow

LIMIT = 4096  # versions held before a write absorbs them (bounds the layer's memory)
MAX_AGE = 1.0  # seconds a version waits before the next write absorbs it (a steady trickle of
# writes, such as a client's deliveries, keeps the layer small instead of filling it)
Key = tuple[str, str]  # (table name, full schema hash)


def as_visible(version: RowVersion) -> VisibleRow:
    """The visible entry a row shows when ``version`` is its only tip.

    Example:
        >>> v = RowVersion("t", "r", "ab" * 16, (), 1, "me", 1, "me", {"n": 1}, delete_kind="hard")
        >>> as_visible(v).data, as_visible(v).is_deleted
        ({}, True)
    """
    data = {} if version.delete_kind == "hard" else version.data
    return VisibleRow(version.table, version.row_id, data, version.created_by,
                      version.created_at, version.updated_by, version.updated_at,
                      version.batch_id, (version.batch_id,), version.delete_kind, version.tier)


@dataclass
class TableLayer:
    """One table version's pending writes: history rows in write order, the entry each touched
    row shows now, and which of those rows have an entry in DuckDB already."""

    table: PhysicalTable
    versions: list[RowVersion] = field(default_factory=list)
    shown: dict[str, RowVersion] = field(default_factory=dict)
    existed: set[str] = field(default_factory=set)


class Memtable:
    """Pending local writes by table version (see the module doc); guarded by the store's lock.

    Example:
        >>> Memtable().layers
        {}
    """

    def __init__(self) -> None:
        self._layers: dict[Key, TableLayer] = {}
        self._size = 0
        self._since = 0.0  # time.monotonic() of the oldest version held
        self.unjournaled = False  # holds versions a file store's journal does not have

    def __len__(self) -> int:
        return self._size

    def age(self) -> float:
        """Seconds since the oldest version held was added (0 when empty)."""
        return time.monotonic() - self._since if self._size else 0.0

    def add(self, table: PhysicalTable, versions: Sequence[RowVersion],
            shown: Mapping[str, RowVersion], existed: Collection[str]) -> None:
        """Hold ``versions`` of one table version; ``shown``: the version each row now shows;
        ``existed``: rows among them whose entry the versions update (rather than create)."""
        key = (table.name, table.schema_hash)
        layer = self._layers.get(key)
        if layer is None:
            layer = self._layers[key] = TableLayer(table)
        if not self._size:
            self._since = time.monotonic()
        layer.versions.extend(versions)
        for row_id, version in shown.items():
            if row_id not in layer.shown and row_id in existed:
                layer.existed.add(row_id)
            layer.shown[row_id] = version
        self._size += len(versions)

    def shown(self, key: Key, row_id: str) -> VisibleRow | None:
        """The entry ``row_id`` shows from this layer, or ``None`` if the layer has none."""
        layer = self._layers.get(key)
        version = layer.shown.get(row_id) if layer is not None else None
        return None if version is None else as_visible(version)

    @property
    def layers(self) -> Mapping[Key, TableLayer]:
        """Every table version's pending writes."""
        return self._layers

    def clear(self) -> None:
        """Forget every pending write (DuckDB holds them now)."""
        self._layers, self._size, self.unjournaled = {}, 0, False
