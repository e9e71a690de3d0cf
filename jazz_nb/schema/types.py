"""Column types: what a column holds, how its values are checked, stored and shown.

Storage values are what the DuckDB store keeps: ``str`` for text/enum/uuid, canonical JSON text
for json, ``int`` milliseconds for timestamps, ``bytes`` for bytes and Python lists for arrays.

Example:
    >>> Integer().coerce(3, "todos.priority")
    3
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from jazz_nb.errors import SchemaError

I32 = (-(2**31), 2**31 - 1)
I64 = (-(2**63), 2**63 - 1)


def _storable(text: str, where: str) -> str:
    """``text`` if it can be stored (UTF-8: no lone surrogates), else a ``SchemaError``.

    Example:
        >>> _storable("héllo", "t.x")
        'héllo'
    """
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise _fail(where, "text of Unicode characters (no lone surrogates)", text) from None
    return text


def _fail(where: str, expected: str, value: Any) -> SchemaError:
    table, _, column = where.partition(".")
    shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
    return SchemaError(
        f"{where}: expected {expected}, got {type(value).__name__} {shown}",
        table=table or None,
        column=column or None,
    )


@dataclass(frozen=True)
class ColumnType:
    """Base of all column types; ``kind`` is Jazz's engine type name."""

    kind: ClassVar[str] = ""
    operators: ClassVar[tuple[str, ...]] = ("eq", "ne", "in")

    def coerce(self, value: Any, where: str) -> Any:
        """Validate ``value`` (not None) and return its storage form."""
        raise NotImplementedError

    def sql_type(self) -> str:
        """The DuckDB type that stores this column."""
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        """Jazz's JSON form of the type (``{"type": "Text"}``)."""
        return {"type": self.kind}

    def to_python(self, stored: Any) -> Any:
        """Turn a stored value back into the value a Row shows."""
        return stored


@dataclass(frozen=True)
class Text(ColumnType):
    kind: ClassVar[str] = "Text"
    operators: ClassVar[tuple[str, ...]] = ("eq", "ne", "contains", "in")

    def coerce(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise _fail(where, "a string", value)
        return _storable(value, where)

    def sql_type(self) -> str:
        return "VARCHAR"


@dataclass(frozen=True)
class Boolean(ColumnType):
    kind: ClassVar[str] = "Boolean"

    def coerce(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool) and type(value).__name__ != "bool_":
            raise _fail(where, "a boolean", value)
        return bool(value)

    def sql_type(self) -> str:
        return "BOOLEAN"


@dataclass(frozen=True)
class _Number(ColumnType):
    operators: ClassVar[tuple[str, ...]] = ("eq", "ne", "gt", "gte", "lt", "lte", "in")


def _as_int(value: Any, where: str, bounds: tuple[int, int], expected: str) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise _fail(where, expected, value)
    number = int(value)
    if not bounds[0] <= number <= bounds[1]:
        raise _fail(where, f"{expected} in {bounds[0]}..{bounds[1]}", value)
    return number


@dataclass(frozen=True)
class Integer(_Number):
    kind: ClassVar[str] = "Integer"

    def coerce(self, value: Any, where: str) -> int:
        return _as_int(value, where, I32, "a 32-bit integer")

    def sql_type(self) -> str:
        return "INTEGER"


@dataclass(frozen=True)
class BigInt(_Number):
    kind: ClassVar[str] = "BigInt"

    def coerce(self, value: Any, where: str) -> int:
        return _as_int(value, where, I64, "a 64-bit integer")

    def sql_type(self) -> str:
        return "BIGINT"


@dataclass(frozen=True)
class Double(_Number):
    kind: ClassVar[str] = "Double"

    def coerce(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or (not isinstance(value, (int, float)) and not hasattr(
            value, "__float__"
        )):
            raise _fail(where, "a number", value)
        return float(value)

    def sql_type(self) -> str:
        return "DOUBLE"


def timestamp_ms(value: Any, where: str) -> int:
    """Milliseconds since the epoch from a datetime, date, number (ms) or ISO/numeric string.

    Example:
        >>> timestamp_ms("1970-01-01T00:00:01Z", "t.due")
        1000
    """
    if isinstance(value, bool):
        raise _fail(where, "a timestamp", value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return math.floor(value.timestamp() * 1000 + 1e-6)
    if isinstance(value, date):
        return timestamp_ms(datetime(value.year, value.month, value.day), where)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value)) if value.strip().lstrip("-").replace(".", "").isdigit() else (
                timestamp_ms(datetime.fromisoformat(value.replace("Z", "+00:00")), where)
            )
        except ValueError:
            pass
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp, numpy datetime via pandas
        return timestamp_ms(value.to_pydatetime(), where)
    raise _fail(where, "a timestamp (datetime, ms number or ISO string)", value)


@dataclass(frozen=True)
class Timestamp(_Number):
    kind: ClassVar[str] = "Timestamp"

    def coerce(self, value: Any, where: str) -> int:
        return _as_int(timestamp_ms(value, where), where, (0, I64[1]), "a timestamp after 1970")

    def sql_type(self) -> str:
        return "BIGINT"

    def to_python(self, stored: Any) -> Any:
        if stored is None or isinstance(stored, datetime):
            return stored
        return datetime.fromtimestamp(stored / 1000, tz=UTC)


@dataclass(frozen=True)
class Uuid(ColumnType):
    kind: ClassVar[str] = "Uuid"

    def coerce(self, value: Any, where: str) -> str:
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, str):
            try:
                return str(uuid.UUID(value))
            except ValueError:
                pass
        raise _fail(where, "a UUID", value)

    def sql_type(self) -> str:
        return "UUID"

    def to_python(self, stored: Any) -> Any:
        return str(stored) if stored is not None else None


@dataclass(frozen=True)
class Bytea(ColumnType):
    kind: ClassVar[str] = "Bytea"

    def coerce(self, value: Any, where: str) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise _fail(where, "bytes", value)

    def sql_type(self) -> str:
        return "BLOB"


@dataclass(frozen=True)
class Enum(ColumnType):
    variants: tuple[str, ...] = ()
    kind: ClassVar[str] = "Enum"

    def coerce(self, value: Any, where: str) -> str:
        if value not in self.variants:
            raise _fail(where, f"one of {list(self.variants)}", value)
        return value

    def sql_type(self) -> str:
        return "VARCHAR"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "variants": list(self.variants)}


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: the one text a JSON value is stored as.

    Example:
        >>> canonical_json({"b": 1, "a": [True, None]})
        '{"a":[true,null],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


@dataclass(frozen=True)
class Json(ColumnType):
    schema: str | None = None  # canonical JSON text of a JSON Schema, if any
    kind: ClassVar[str] = "Json"

    def coerce(self, value: Any, where: str) -> str:
        try:
            text = canonical_json(value)
        except (TypeError, ValueError) as err:
            raise _fail(where, f"a JSON value ({err})", value) from None
        return _storable(text, where)

    def sql_type(self) -> str:
        return "VARCHAR"

    def to_python(self, stored: Any) -> Any:
        return json.loads(stored) if isinstance(stored, str) else stored

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind}
        if self.schema is not None:
            out["schema"] = json.loads(self.schema)
        return out


@dataclass(frozen=True)
class Array(ColumnType):
    element: ColumnType = Text()
    kind: ClassVar[str] = "Array"
    operators: ClassVar[tuple[str, ...]] = ("eq", "contains", "in")

    def coerce(self, value: Any, where: str) -> list[Any]:
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
            raise _fail(where, f"a list of {self.element.kind}", value)
        items = []
        for item in value:
            if item is None:
                raise _fail(where, f"a list without nulls of {self.element.kind}", value)
            items.append(self.element.coerce(item, where))
        return items

    def sql_type(self) -> str:
        return f"{self.element.sql_type()}[]"

    def to_python(self, stored: Any) -> Any:
        if stored is None:
            return None
        return [self.element.to_python(item) for item in stored]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "element": self.element.to_json()}


def type_from_json(data: dict[str, Any]) -> ColumnType:
    """Inverse of ``ColumnType.to_json``.

    Example:
        >>> type_from_json({"type": "Array", "element": {"type": "Integer"}})
        Array(element=Integer())
    """
    kind = data.get("type")
    simple = {t.kind: t for t in (Text, Boolean, Integer, BigInt, Double, Timestamp, Uuid, Bytea)}
    if kind in simple:
        return simple[kind]()
    if kind == "Enum":
        return Enum(tuple(data["variants"]))
    if kind == "Json":
        return Json(canonical_json(data["schema"]) if data.get("schema") is not None else None)
    if kind == "Array":
        return Array(type_from_json(data["element"]))
    raise SchemaError(f"unknown column type {kind!r}")


def encode_bytes(value: bytes) -> str:
    """Bytes as base64 text (how bytes travel in JSON)."""
    return base64.b64encode(value).decode("ascii")
