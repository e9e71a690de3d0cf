"""Column builders of the schema DSL (``s.string()``, ``s.int().optional()``, ...).

Example:
    >>> from jazz_nb import s
    >>> s.int(default=0).nullable
    False
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from jazz_nb.errors import SchemaError
from jazz_nb.schema import types as t


class _Missing:
    """Marks "no default" (``None`` is a valid default of an optional column)."""

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"  # unpickles as this module's one instance, so ``is MISSING`` holds


MISSING: Any = _Missing()
MergeStrategy = Literal["lww", "counter", "g-set"]


@dataclass(frozen=True)
class Column:
    """A declared column: type, nullability, default, reference target and merge strategy.

    Example:
        >>> Column(t.Text()).optional().nullable
        True
    """

    type: t.ColumnType
    nullable: bool = False
    default: Any = MISSING  # storage value, or MISSING
    references: str | None = None
    merge: MergeStrategy | None = None

    def optional(self) -> Column:
        """The same column, nullable (``s.int().optional()``)."""
        return dataclasses.replace(self, nullable=True)

    def with_default(self, value: Any) -> Column:
        """The same column with a schema default applied on insert."""
        return _with_default(self, value)

    def merge_with(self, strategy: MergeStrategy) -> Column:
        """The same column with a merge strategy: ``"lww"`` (default), ``"counter"``, ``"g-set"``.

        Example: ``s.int(default=0).merge_with("counter")``."""
        if strategy not in ("lww", "counter", "g-set"):
            raise SchemaError(f"unknown merge strategy {strategy!r}")
        return dataclasses.replace(self, merge=None if strategy == "lww" else strategy)

    @property
    def has_default(self) -> bool:
        """Whether a schema default is set (``None`` can be a default of a nullable column)."""
        return self.default is not MISSING

    def coerce(self, value: Any, where: str) -> Any:
        """Check a written value; ``None`` only for nullable columns."""
        if value is None:
            if not self.nullable:
                table, _, column = where.partition(".")
                raise SchemaError(f"cannot set required field {where} to null",
                                  table=table, column=column)
            return None
        return self.type.coerce(value, where)

    def to_json(self, name: str) -> dict[str, Any]:
        """Jazz's ``ColumnDescriptor`` JSON."""
        out: dict[str, Any] = {"name": name, "column_type": self.type.to_json(),
                               "nullable": self.nullable}
        if self.has_default:
            out["default"] = self.default
        if self.references:
            out["references"] = self.references
        if self.merge:
            out["merge_strategy"] = {"counter": "Counter", "g-set": "GSet"}[self.merge]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Column:
        """Inverse of ``to_json``."""
        merge = {"Counter": "counter", "GSet": "g-set"}.get(data.get("merge_strategy") or "")
        return cls(t.type_from_json(data["column_type"]), bool(data.get("nullable")),
                   data.get("default", MISSING), data.get("references"), merge)  # type: ignore[arg-type]


def _with_default(column: Column, value: Any) -> Column:
    if value is MISSING:
        return column
    stored = None if value is None else column.type.coerce(value, "default")
    if stored is None and not column.nullable:
        raise SchemaError("a default of None needs an optional column")
    return dataclasses.replace(column, default=stored)


def _build(kind: t.ColumnType, default: Any, references: str | None = None) -> Column:
    column = Column(kind, references=references)
    if default is not MISSING and default is None:
        column = column.optional()
    return _with_default(column, default)


def string(*, default: Any = MISSING) -> Column:
    """A text column. Example: ``s.string(default="")``."""
    return _build(t.Text(), default)


def int(*, default: Any = MISSING) -> Column:
    """A signed 32-bit integer column. Example: ``s.int().optional()``."""
    return _build(t.Integer(), default)


def bigint(*, default: Any = MISSING) -> Column:
    """A signed 64-bit integer column. Example: ``s.bigint(default=0)``."""
    return _build(t.BigInt(), default)


def float(*, default: Any = MISSING) -> Column:
    """A 64-bit float column. Example: ``s.float()``."""
    return _build(t.Double(), default)


def boolean(*, default: Any = MISSING) -> Column:
    """A boolean column. Example: ``s.boolean(default=False)``."""
    return _build(t.Boolean(), default)


def timestamp(*, default: Any = MISSING) -> Column:
    """A timestamp column stored as epoch milliseconds. Example: ``s.timestamp().optional()``."""
    return _build(t.Timestamp(), default)


def uuid(*, default: Any = MISSING) -> Column:
    """A UUID column. Example: ``s.uuid()``."""
    return _build(t.Uuid(), default)


def bytes(*, default: Any = MISSING) -> Column:
    """A binary column. Example: ``s.bytes()``."""
    return _build(t.Bytea(), default)


def json(schema: dict[str, Any] | None = None, *, default: Any = MISSING) -> Column:
    """A JSON column, optionally described by a JSON Schema. Example: ``s.json()``."""
    return _build(t.Json(t.canonical_json(schema) if schema is not None else None), default)


def enum(*variants: str, default: Any = MISSING) -> Column:
    """A column holding one of ``variants``. Example: ``s.enum("low", "high")``."""
    if not variants:
        raise SchemaError("enum needs at least one variant")
    if any(not isinstance(v, str) or not v for v in variants):
        raise SchemaError(f"enum variants must be non-empty strings, got {list(variants)}")
    if len(set(variants)) != len(variants):
        raise SchemaError(f"enum variants must be unique, got {list(variants)}")
    return _build(t.Enum(tuple(sorted(variants))), default)


def array(element: Column, *, default: Any = MISSING) -> Column:
    """A homogeneous list column; ``s.array(s.ref("t"))`` keeps the reference.

    Example: ``s.array(s.string(), default=[])``."""
    if not isinstance(element, Column):
        raise SchemaError("array() takes a column builder, e.g. s.array(s.string())")
    return _build(t.Array(element.type), default, element.references)


def ref(table: str, *, default: Any = MISSING) -> Column:
    """A UUID column referencing a row of ``table``. Example: ``s.ref("projects").optional()``."""
    if not isinstance(table, str) or not table:
        raise SchemaError("ref() takes the referenced table's name")
    return _build(t.Uuid(), default, table)
