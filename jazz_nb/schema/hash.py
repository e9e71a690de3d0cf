"""Jazz's schema hash (BLAKE3 over a canonical byte stream, §2.4) and branch names (§1.7).

Example:
    >>> from jazz_nb import s
    >>> app = s.define_app({"todos": s.table(title=s.string(), done=s.boolean())})
    >>> schema_hash(app.tables)[:12]
    'bfd77d25b069'
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import blake3

from jazz_nb.schema import types as t

if TYPE_CHECKING:
    from jazz_nb.schema.app import TableSchema

_TYPE_TAGS = {"Integer": 1, "BigInt": 2, "Boolean": 3, "Text": 4, "Timestamp": 5, "Uuid": 6,
              "Double": 0x0A, "Bytea": 0x0A}  # Jazz gives Bytea Double's tag; kept for parity


def _u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def _hash_type(column_type: t.ColumnType) -> bytes:
    if isinstance(column_type, t.Array):
        return b"\x07" + _hash_type(column_type.element)
    if isinstance(column_type, t.Enum):
        variants = sorted(set(column_type.variants), key=lambda v: v.encode())
        return b"\x09" + _u64(len(variants)) + b"".join(v.encode() + b"\x00" for v in variants)
    if isinstance(column_type, t.Json):
        if column_type.schema is None:
            return b"\x0b\x00"
        raw = column_type.schema.encode()
        return b"\x0b\x01" + _u64(len(raw)) + raw
    return bytes([_TYPE_TAGS[column_type.kind]])


def _hash_value(column_type: t.ColumnType, value: Any) -> bytes:
    """Encode a default as the engine ``Value`` Jazz's TS converter produces."""
    if value is None:
        return b"\x09"
    if isinstance(column_type, t.Integer):
        return b"\x01" + struct.pack("<i", value)
    if isinstance(column_type, t.BigInt):
        return b"\x02" + struct.pack("<q", value)
    if isinstance(column_type, t.Double):
        return b"\x0a" + struct.pack("<d", value)
    if isinstance(column_type, t.Boolean):
        return b"\x03" + bytes([1 if value else 0])
    if isinstance(column_type, t.Timestamp):
        return b"\x05" + _u64(value)
    if isinstance(column_type, t.Uuid):
        return b"\x06" + uuid.UUID(value).bytes
    if isinstance(column_type, t.Bytea):
        return b"\x0b" + _u64(len(value)) + value
    if isinstance(column_type, t.Array):
        items = b"".join(_hash_value(column_type.element, item) for item in value)
        return b"\x07" + _u64(len(value)) + items
    return b"\x04" + str(value).encode() + b"\x00"  # Text, Enum and Json travel as Text


def schema_hash(tables: Mapping[str, TableSchema]) -> str:
    """The 64-hex BLAKE3 schema hash, identical to Jazz's ``SchemaHash::compute``."""
    h = blake3.blake3()
    for name in sorted(tables, key=lambda n: n.encode()):
        table = tables[name]
        h.update(name.encode() + b"\x00")
        for col_name, col in table.columns.items():
            h.update(col_name.encode() + b"\x00")
            h.update(_hash_type(col.type))
            h.update(b"\x01" if col.nullable else b"\x00")
            h.update(b"\x01" + col.references.encode() if col.references else b"\x00")
            if col.has_default:
                h.update(b"\x01" + _hash_value(col.type, col.default))
            else:
                h.update(b"\x00")
            h.update({None: b"\x00", "counter": b"\x01\x01", "g-set": b"\x01\x02"}[col.merge])
            h.update(b"\x00")
        if table.indexed_columns is not None:
            h.update(b"\x01")
            for c in sorted(table.indexed_columns, key=lambda n: n.encode()):
                h.update(c.encode() + b"\x00")
    return h.hexdigest()


def branch_name(schema_hash_hex: str, env: str = "dev", user_branch: str = "main") -> str:
    """Jazz's composed branch name ``{env}-{hash[:12]}-{user_branch}``.

    Example:
        >>> branch_name("bfd77d25b0696da75df2ca82ab129c6289432decaaad8b86adcb31a366bdd217")
        'dev-bfd77d25b069-main'
    """
    if "-" in env or not env:
        raise ValueError(f"env must be non-empty and contain no '-': {env!r}")
    return f"{env}-{schema_hash_hex[:12]}-{user_branch}"
