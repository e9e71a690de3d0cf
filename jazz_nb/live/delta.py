"""What one flush changed in a live result, and Jazz's subscription delta shape (§3.5).

Example:
    >>> d = Delta(added=("c",), added_index=(2,), removed=("a",), removed_index=(0,),
    ...           updated={"b": ("title",)}, updated_index=(0,))
    >>> len(d), d.kinds()
    (3, {'added': 1, 'updated': 1, 'removed': 1})
    >>> apply_jazz_delta(["a", "b"], [{"kind": 1, "id": "a", "index": 0},
    ...                              {"kind": 2, "id": "b", "index": 0},
    ...                              {"kind": 0, "id": "c", "index": 1, "item": "c"}],
    ...                  key=lambda item: item)
    ['b', 'c']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ADDED, REMOVED, UPDATED = 0, 1, 2  # Jazz's RowChangeKind


@dataclass(frozen=True)
class Delta:
    """Rows added, updated and removed by one flush of a live query.

    * ``added``: ids in result order, ``added_index`` their positions in the new result;
    * ``updated``: ``{id: changed column names}`` in result order (an include name such as
      ``"project"`` when an included row changed; ``()`` when the row only moved),
      ``updated_index`` their positions in the new result;
    * ``moved``: the updated ids whose position changed because their sort key changed;
    * ``removed``: ids in the previous result's order, ``removed_index`` their old positions.
    """

    added: tuple[str, ...] = ()
    added_index: tuple[int, ...] = ()
    updated: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    updated_index: tuple[int, ...] = ()
    removed: tuple[str, ...] = ()
    removed_index: tuple[int, ...] = ()
    moved: tuple[str, ...] = ()
    version: int = 0
    at: float = field(default_factory=time.time)
    reset: bool = False

    def __len__(self) -> int:
        return len(self.added) + len(self.updated) + len(self.removed)

    def __bool__(self) -> bool:
        return len(self) > 0

    def kinds(self) -> dict[str, int]:
        """Counts per kind of change."""
        return {"added": len(self.added), "updated": len(self.updated),
                "removed": len(self.removed)}

    def changed_columns(self) -> set[str]:
        """Every column named by an update."""
        return {c for cols in self.updated.values() for c in cols}

    def to_jazz(self, item: Callable[[str], Any]) -> list[dict[str, Any]]:
        """Jazz's ``RowDelta`` list: removals (old index), then additions and updates in
        ascending new index, each ``{"kind", "id", "index"[, "item"]}``.

        ``item(id)`` gives the row to attach to added and updated entries. Dropping every id
        the list names, then inserting added/updated items at ``index`` in ascending order
        turns the old ``all`` into the new one (``apply_jazz_delta``).
        """
        out: list[dict[str, Any]] = [
            {"kind": REMOVED, "id": rid, "index": idx}
            for rid, idx in zip(self.removed, self.removed_index, strict=True)]
        placed = [(idx, ADDED, rid) for rid, idx in zip(self.added, self.added_index,
                                                         strict=True)]
        placed += [(idx, UPDATED, rid) for rid, idx in zip(self.updated, self.updated_index,
                                                           strict=True)]
        placed.sort()
        out += [{"kind": kind, "id": rid, "index": idx, "item": item(rid)}
                for idx, kind, rid in placed]
        return out

    def __repr__(self) -> str:
        parts = [f"{k}={v}" for k, v in self.kinds().items() if v]
        return f"Delta(v{self.version}{': ' if parts else ''}{', '.join(parts)})"


def apply_jazz_delta(current: list[Any], delta: list[Mapping[str, Any]],
                     key: Callable[[Any], str] = lambda row: row.id) -> list[Any]:
    """Apply a delta the way Jazz's bulk reducer does: drop every id the delta names, then
    insert added and updated items at their ``index``, in ascending order.

    Returns a new list; ``key(item)`` gives an item's id; an update without ``item`` keeps the
    previous item.
    """
    named = {change["id"] for change in delta}
    previous = {key(x): x for x in current if key(x) in named}
    out = [x for x in current if key(x) not in named]
    placed = sorted((c for c in delta if c["kind"] != REMOVED), key=lambda c: c["index"])
    for change in placed:
        item = change.get("item")
        out.insert(max(0, min(change["index"], len(out))),
                   previous.get(change["id"]) if item is None else item)
    return out
