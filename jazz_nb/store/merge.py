"""The visible row of a row history: Jazz's per-column merge of concurrent versions (§1.5).

Pure functions over ``RowVersion`` lists; nothing here touches storage. Only visible versions
take part. The tips of their DAG form the frontier; one tip is returned as is, several are merged
column by column against their most recent common ancestor: last-writer-wins by
``(updated_at, batch_id)``, or the column's ``counter`` / ``g-set`` strategy. Deletes win.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.store.versions import RowVersion
    >>> cols = s.table(title=s.string(), done=s.boolean()).columns
    >>> base = RowVersion("todos", "r", "0" * 32, (), 1, "a", 1, "a", {"title": "x", "done": False})
    >>> left = RowVersion("todos", "r", "1" * 32, ("0" * 32,), 2, "a", 1, "a",
    ...                   {"title": "y", "done": False})
    >>> right = RowVersion("todos", "r", "2" * 32, ("0" * 32,), 3, "b", 1, "b",
    ...                    {"title": "x", "done": True})
    >>> visible_preview([base, left, right], cols).data
    {'title': 'y', 'done': True}
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from jazz_nb.errors import WriteError
from jazz_nb.schema.columns import Column
from jazz_nb.store.versions import RowVersion, VisibleRow

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
_DELETE_RANK = {"hard": 2, "soft": 1}


def visible_preview(history: Sequence[RowVersion], columns: Mapping[str, Column],
                    required_tier: int | None = None) -> VisibleRow | None:
    """The merged row a reader sees, or ``None`` when no visible version qualifies.

    ``required_tier`` keeps only versions confirmed at that tier or higher (a per-tier preview).

    Example:
        >>> from jazz_nb import s
        >>> from jazz_nb.store.versions import RowVersion
        >>> v = RowVersion("t", "r", "a" * 32, (), 5, "u", 5, "u", {"n": 1})
        >>> visible_preview([v], s.table(n=s.int()).columns).data
        {'n': 1}
        >>> visible_preview([v], s.table(n=s.int()).columns, required_tier=1) is None
        True
    """
    rows = [v for v in history if v.is_visible
            and (required_tier is None or (v.tier is not None and v.tier >= required_tier))]
    if not rows:
        return None
    by_id = {v.batch_id: v for v in rows}
    non_tips = {parent for v in rows for parent in v.parents}
    tips = sorted((v for v in by_id.values() if v.batch_id not in non_tips),
                  key=lambda v: v.order_key)
    if not tips:  # only a cyclic history has no tip
        return None
    frontier = tuple(sorted(v.batch_id for v in tips))
    latest = tips[-1]
    if len(tips) == 1:
        return _row(latest, latest, _snapshot(latest, columns), frontier, latest.delete_kind,
                    latest.tier)
    ancestor = _common_ancestor(tips, by_id)
    merged: dict[str, Any] = {}
    contributing: list[RowVersion] = []
    for name, column in columns.items():
        value, winner = _merge_column(name, column, ancestor, tips)
        merged[name] = value
        contributing.append(winner or ancestor or latest)
    deleter = max((v for v in tips if v.delete_kind),
                  key=lambda v: (_DELETE_RANK[v.delete_kind or ""], v.order_key), default=None)
    meta = deleter or max(contributing, key=lambda v: v.order_key)
    tiers = [v.tier for v in contributing] + ([deleter.tier] if deleter else [])
    tier = None if any(t is None for t in tiers) else min(tiers)  # type: ignore[type-var]
    kind = deleter.delete_kind if deleter else None
    return _row(meta, latest, {} if kind == "hard" else merged, frontier, kind, tier)


def _snapshot(version: RowVersion, columns: Mapping[str, Column]) -> dict[str, Any]:
    if version.delete_kind == "hard":
        return {}
    return {name: version.data.get(name) for name in columns}


def _row(meta: RowVersion, latest: RowVersion, data: dict[str, Any], frontier: tuple[str, ...],
         kind: Any, tier: int | None) -> VisibleRow:
    return VisibleRow(latest.table, latest.row_id, data, meta.created_by, meta.created_at,
                      meta.updated_by, meta.updated_at, meta.batch_id, frontier, kind, tier)


def _ancestors(tip: RowVersion, by_id: Mapping[str, RowVersion]) -> set[str]:
    seen: set[str] = set()
    stack = [tip.batch_id]
    while stack:
        batch_id = stack.pop()
        if batch_id in seen:
            continue
        seen.add(batch_id)
        version = by_id.get(batch_id)
        if version is not None:
            stack.extend(version.parents)
    return seen


def _common_ancestor(tips: Sequence[RowVersion],
                     by_id: Mapping[str, RowVersion]) -> RowVersion | None:
    common = _ancestors(tips[0], by_id)
    for tip in tips[1:]:
        common &= _ancestors(tip, by_id)
    known = [by_id[b] for b in common if b in by_id]
    return max(known, key=lambda v: v.order_key, default=None)


def _merge_column(name: str, column: Column, ancestor: RowVersion | None,
                  tips: Sequence[RowVersion]) -> tuple[Any, RowVersion | None]:
    """The merged value of one column and the latest tip that changed it (provenance)."""
    base = ancestor.data.get(name) if ancestor is not None else None
    values = [(tip, tip.data.get(name)) for tip in tips]
    if column.merge is not None:  # a missing value (hard delete) never counts for a CRDT
        values = [(tip, value) for tip, value in values if value is not None]
    if ancestor is not None:
        values = [(tip, value) for tip, value in values if value != base]
    if column.merge == "counter":
        return _merge_counter(name, base, values, tips[0].table)
    if column.merge == "g-set":
        items = {}
        for value in ([base] if base else []) + [value for _, value in values]:
            for item in value:
                items.setdefault(canonical_bytes(item), item)
        winner = values[-1][0] if values else None
        return [items[key] for key in sorted(items)], winner
    if not values:
        return base, None
    winner, value = values[-1]  # tips are in (updated_at, batch_id) order
    return value, winner


def _merge_counter(name: str, base: Any, values: Sequence[tuple[RowVersion, Any]],
                   table: str) -> tuple[int, RowVersion | None]:
    start = base if base is not None else 0
    total, winner = 0, None
    for tip, value in values:
        delta = value - start
        total += delta
        if not (I32_MIN <= delta <= I32_MAX and I32_MIN <= total <= I32_MAX):
            break
        if delta != 0:
            winner = tip
    else:
        if I32_MIN <= start + total <= I32_MAX:
            return start + total, winner
    raise WriteError(f"counter merge overflow for column {table}.{name}: the merged value does "
                     "not fit a 32-bit integer", table=table, column=name)


def canonical_bytes(value: Any) -> bytes:
    """An order-preserving byte encoding of a storage value; g-set elements sort by it.

    Integers and floats sort numerically, text and bytes bytewise, lists element by element.

    Example:
        >>> sorted([10, -1, 2], key=canonical_bytes)
        [-1, 2, 10]
    """
    if value is None:
        return b"\x00"
    if isinstance(value, bool):
        return b"\x03" + bytes([value])
    if isinstance(value, int):
        return b"\x01" + (value + 2**63).to_bytes(8, "big")
    if isinstance(value, float):
        bits = struct.unpack(">Q", struct.pack(">d", value))[0]
        return b"\x0a" + (bits ^ (2**64 - 1) if bits >> 63 else bits | 2**63).to_bytes(8, "big")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"\x0b" + bytes(value)
    if isinstance(value, (list, tuple)):
        return b"\x07" + b"".join(_escaped(canonical_bytes(item)) + b"\x00\x00" for item in value)
    return b"\x04" + str(value).encode()


def _escaped(encoded: bytes) -> bytes:
    return encoded.replace(b"\x00", b"\x00\xff")  # keeps "\x00\x00" a unique separator
