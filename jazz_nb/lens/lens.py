"""``Lens``: a reviewed, reversible translation between two schema versions (§6.1–6.3).

``s.migration(old_app, new_app)`` diffs two apps into a lens. Ambiguous changes (a removed and an
added column of the same type could be a rename; a type change; a required column without a
default) make it a **draft** that names each ambiguity and refuses activation until resolved with
the amendment methods, each returning the amended lens. Published lenses travel as Jazz's JSON
``{fromHash, toHash, forward: [TableLens...]}``; ``backward`` is always the automatic inverse.

Example:
    >>> from jazz_nb import s
    >>> v1 = s.define_app({"todos": s.table(name=s.string())})
    >>> v2 = s.define_app({"todos": s.table(title=s.string(), done=s.boolean(default=False))})
    >>> lens = migration(v1, v2)
    >>> lens.is_draft, [a.kind for a in lens.ambiguities]
    (True, ['possible_rename'])
    >>> lens = lens.rename_column("todos", "name", "title")
    >>> lens.is_draft, lens.to_json()["forward"][0]["operations"][0]
    (False, {'type': 'rename', 'column': 'name', 'value': 'title'})
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jazz_nb.errors import MigrationError
from jazz_nb.lens import ops as lo
from jazz_nb.lens.diff import Ambiguity, complete
from jazz_nb.lens.values import check_default, heuristic_default
from jazz_nb.schema.app import App
from jazz_nb.schema.columns import MISSING, Column

HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, eq=False)
class Lens:
    """Operations turning rows of schema ``from_hash`` into rows of ``to_hash`` (``forward``)
    and back (``backward``, the inverse). Bound lenses know both apps (``old``, ``new``) and
    can be amended; a lens read from JSON alone is bound when a ``LensGraph`` adds it.

    Example:
        >>> from jazz_nb import s
        >>> v1 = s.define_app({"t": s.table(a=s.int())})
        >>> v2 = s.define_app({"t": s.table(a=s.int(), b=s.string().optional())})
        >>> migration(v1, v2).backward
        (RemoveColumn(table='t', column='b', type=Text(), default=None),)
    """

    from_hash: str
    to_hash: str
    forward: tuple[lo.LensOp, ...]
    ambiguities: tuple[Ambiguity, ...] = ()
    old: App | None = field(default=None, repr=False)
    new: App | None = field(default=None, repr=False)
    decisions: tuple[lo.LensOp, ...] = field(default=(), repr=False)

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def between(cls, old: App, new: App, decisions: Sequence[lo.LensOp] = ()) -> Lens:
        """The lens from ``old`` to ``new`` keeping ``decisions`` and generating the rest.

        Example:
            >>> from jazz_nb import s
            >>> app = s.define_app({"t": s.table(a=s.int())})
            >>> Lens.between(app, app).forward
            ()
        """
        for app in (old, new):
            if not isinstance(app, App):
                raise TypeError("a migration is between two apps from s.define_app(...)")
        forward, ambiguities = complete(old, new, decisions)
        return cls(old.schema_hash, new.schema_hash, forward, ambiguities, old, new,
                   tuple(decisions))

    def bind(self, old: App, new: App) -> Lens:
        """This lens checked against its two schemas (whose hashes must match); it must state
        every difference between them (a published lens is complete, never a draft).

        Example:
            >>> from jazz_nb import s
            >>> v1 = s.define_app({"t": s.table(a=s.int())})
            >>> v2 = s.define_app({"t": s.table(b=s.int())})
            >>> lens = Lens.from_json(migration(v1, v2).rename_column("t", "a", "b").to_json())
            >>> lens.old is None, lens.bind(v1, v2).is_draft
            (True, False)
        """
        for app, expected, side in ((old, self.from_hash, "from"), (new, self.to_hash, "to")):
            if app.schema_hash != expected:
                raise MigrationError(f"lens {self.label}: the {side} schema has hash "
                                     f"{app.schema_hash[:12]}, the lens says {expected[:12]}")
        bound = Lens.between(old, new, self.decisions or self.forward)
        missing = [op for op in bound.forward if op not in bound.decisions]
        if missing:  # a published lens states every change itself
            op = missing[0]
            column = getattr(op, "column", getattr(op, "new", None))
            raise MigrationError(f"lens {self.label} does not say how to {op.name} "
                                 f"{op.table}{'.' + column if column else ''}", table=op.table,
                                 column=column, operator=op.name)
        return bound

    # -- state ------------------------------------------------------------------------------------
    @property
    def backward(self) -> tuple[lo.LensOp, ...]:
        """The inverse transform (rows of ``to_hash`` into rows of ``from_hash``)."""
        return lo.inverse(self.forward)

    @property
    def is_draft(self) -> bool:
        """Whether ambiguities are left (a draft cannot be activated or published)."""
        return bool(self.ambiguities)

    @property
    def label(self) -> str:
        """``from12 → to12``."""
        return f"{self.from_hash[:12]} → {self.to_hash[:12]}"

    @property
    def object_id(self) -> str:
        """Jazz's lens object id: UUIDv5(DNS namespace, from hash bytes ‖ to hash bytes) (§2.4).

        Example:
            >>> Lens("00" * 32, "11" * 32, ()).object_id[14]
            '5'
        """
        name = bytes.fromhex(self.from_hash) + bytes.fromhex(self.to_hash)
        digest = hashlib.sha1(uuid.NAMESPACE_DNS.bytes + name).digest()
        return str(uuid.UUID(bytes=digest[:16], version=5))

    def check_active(self) -> Lens:
        """This lens, or a ``MigrationError`` naming every ambiguity if it is a draft.

        Example:
            >>> from jazz_nb import s
            >>> v1 = s.define_app({"t": s.table(a=s.int())})
            >>> migration(v1, s.define_app({"t": s.table(b=s.int())})).check_active()
            Traceback (most recent call last):
            ...
            jazz_nb.errors.MigrationError: lens ... is a draft: t.b: 'a' was removed and 'b' \
added with the same type: a rename? — resolve with .rename_column('t', 'a', 'b') or \
.remove_column('t', 'a').add_column('t', 'b')
        """
        if self.is_draft:
            first = self.ambiguities[0]
            raise MigrationError(f"lens {self.label} is a draft: "
                                 + "; ".join(map(str, self.ambiguities)), table=first.table,
                                 column=first.column, operator=first.kind)
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lens) and (self.from_hash, self.to_hash, self.forward) == (
            other.from_hash, other.to_hash, other.forward)

    def __hash__(self) -> int:
        return hash((self.from_hash, self.to_hash, self.forward))

    def __repr__(self) -> str:
        state = f"draft, {len(self.ambiguities)} ambiguities" if self.is_draft else "ready"
        return f"<Lens {self.label}: {len(self.forward)} ops, {state}>"

    def describe(self) -> list[str]:
        """One line per forward operation, readable.

        Example:
            >>> Lens("0" * 64, "1" * 64, (lo.RenameColumn("t", "a", "b"),)).describe()
            ['rename_column t.a → b']
        """
        out = []
        for op in self.forward:
            if isinstance(op, lo.RenameColumn):
                out.append(f"rename_column {op.table}.{op.old} → {op.new}")
            elif isinstance(op, lo.RenameTable):
                out.append(f"rename_table {op.old} → {op.new}")
            elif isinstance(op, (lo.AddColumn, lo.RemoveColumn)):
                word = "default" if isinstance(op, lo.AddColumn) else "backwards_default"
                out.append(f"{op.name} {op.table}.{op.column} ({op.type.kind}, "
                           f"{word}={op.default!r})")
            else:
                out.append(f"{op.name} {op.table}")
        return out

    def _repr_html_(self) -> str:
        from jazz_nb.notebook.migrations import lens_html

        return lens_html(self)

    # -- amendments -------------------------------------------------------------------------------
    def _apps(self, op: str) -> tuple[App, App]:
        if self.old is None or self.new is None:
            raise MigrationError(f"{op}: lens {self.label} is not bound to its schemas; use "
                                 "lens.bind(old_app, new_app) or s.migration(old_app, new_app)",
                                 operator=op)
        return self.old, self.new

    def _amend(self, drop: Any, op: lo.LensOp) -> Lens:
        old, new = self._apps(op.name)
        kept = tuple(d for d in self.decisions if not drop(d))
        return Lens.between(old, new, (*kept, op))

    def _old_table(self, table: str) -> str:
        renamed = {o.new: o.old for o in self.forward if isinstance(o, lo.RenameTable)}
        return renamed.get(table, table)

    def rename_column(self, table: str, old: str, new: str) -> Lens:
        """Resolve: column ``old`` of ``table`` is now called ``new`` (values carry over).

        Example:
            >>> from jazz_nb import s
            >>> v1 = s.define_app({"t": s.table(a=s.int())})
            >>> v2 = s.define_app({"t": s.table(b=s.int())})
            >>> migration(v1, v2).rename_column("t", "a", "b").is_draft
            False
        """
        before, after = self._apps("rename_column")
        _column(before, self._old_table(table), old, "rename_column", "source")
        _column(after, table, new, "rename_column", "target")

        def drop(d: lo.LensOp) -> bool:
            return getattr(d, "table", None) == table and (
                (isinstance(d, lo.RemoveColumn) and d.column == old)
                or (isinstance(d, lo.AddColumn) and d.column == new)
                or (isinstance(d, lo.RenameColumn) and (d.old == old or d.new == new)))

        return self._amend(drop, lo.RenameColumn(table, old, new))

    def add_column(self, table: str, column: str, *, default: Any = MISSING) -> Lens:
        """Resolve: ``column`` is new in ``table``; rows of the older schema get ``default``
        (omitted: the schema default or Jazz's zero value).

        Example:
            >>> from jazz_nb import s
            >>> v1 = s.define_app({"t": s.table(a=s.int())})
            >>> v2 = s.define_app({"t": s.table(a=s.int(), n=s.int())})
            >>> migration(v1, v2).add_column("t", "n", default=7).forward[0].default
            7
        """
        _, new = self._apps("add_column")
        spec = _column(new, table, column, "add_column", "target")
        value = _default(spec, default, op="add_column", table=table, name=column)

        def drop(d: lo.LensOp) -> bool:
            return getattr(d, "table", None) == table and (
                (isinstance(d, lo.AddColumn) and d.column == column)
                or (isinstance(d, lo.RenameColumn) and d.new == column))

        return self._amend(drop, lo.AddColumn(table, column, spec.type, value))

    def remove_column(self, table: str, column: str, *,
                      backwards_default: Any = MISSING) -> Lens:
        """Resolve: ``column`` is gone from ``table``; readers on the older schema get
        ``backwards_default`` (omitted: the schema default or Jazz's zero value).

        Example:
            >>> from jazz_nb import s
            >>> v1 = s.define_app({"t": s.table(a=s.int(), n=s.int())})
            >>> v2 = s.define_app({"t": s.table(a=s.int())})
            >>> migration(v1, v2).remove_column("t", "n", backwards_default=3).backward[0]
            AddColumn(table='t', column='n', type=Integer(), default=3)
        """
        old, _ = self._apps("remove_column")
        spec = _column(old, self._old_table(table), column, "remove_column", "source")
        value = _default(spec, backwards_default, op="remove_column", table=table, name=column)

        def drop(d: lo.LensOp) -> bool:
            return getattr(d, "table", None) == table and (
                (isinstance(d, lo.RemoveColumn) and d.column == column)
                or (isinstance(d, lo.RenameColumn) and d.old == column))

        return self._amend(drop, lo.RemoveColumn(table, column, spec.type, value))

    def rename_table(self, old: str, new: str) -> Lens:
        """Resolve: table ``old`` is now called ``new``.

        Example:
            >>> from jazz_nb import s
            >>> v1 = s.define_app({"users": s.table(a=s.int())})
            >>> v2 = s.define_app({"people": s.table(a=s.int())})
            >>> migration(v1, v2).rename_table("users", "people").forward
            (RenameTable(old='users', new='people'),)
        """
        def drop(d: lo.LensOp) -> bool:
            return (isinstance(d, lo.RenameTable) and (d.old == old or d.new == new)) or (
                isinstance(d, lo.AddTable) and d.table == new) or (
                isinstance(d, lo.RemoveTable) and d.table == old)

        return self._amend(drop, lo.RenameTable(old, new))

    def add_table(self, table: str) -> Lens:
        """Resolve: ``table`` is new (it has no rows under the older schema).

        Example:
            >>> from jazz_nb import s
            >>> v1 = s.define_app({"users": s.table(a=s.int())})
            >>> v2 = s.define_app({"people": s.table(a=s.int())})
            >>> [o.name for o in migration(v1, v2).add_table("people").forward]
            ['remove_table', 'add_table']
        """
        def drop(d: lo.LensOp) -> bool:
            return isinstance(d, (lo.AddTable, lo.RenameTable)) and d.table == table

        return self._amend(drop, lo.AddTable(table))

    def remove_table(self, table: str) -> Lens:
        """Resolve: ``table`` is gone (readers on the newer schema do not see its rows).

        Example:
            >>> from jazz_nb import s
            >>> v1 = s.define_app({"users": s.table(a=s.int()), "t": s.table(a=s.int())})
            >>> v2 = s.define_app({"t": s.table(a=s.int())})
            >>> migration(v1, v2).remove_table("users").forward
            (RemoveTable(table='users'),)
        """
        def drop(d: lo.LensOp) -> bool:
            return (isinstance(d, lo.RemoveTable) and d.table == table) or (
                isinstance(d, lo.RenameTable) and d.old == table)

        return self._amend(drop, lo.RemoveTable(table))

    # -- JSON -------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Jazz's published form: ``{"fromHash", "toHash", "forward": [TableLens...]}``.

        Example:
            >>> Lens("0" * 64, "1" * 64, (lo.AddTable("audit"),)).to_json()["forward"]
            [{'table': 'audit', 'operations': [], 'added': True}]
        """
        return {"fromHash": self.from_hash, "toHash": self.to_hash,
                "forward": lo.to_json(self.forward)}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, old: App | None = None,
                  new: App | None = None) -> Lens:
        """Inverse of ``to_json``; with both apps the lens is bound (checked) at once.

        Example:
            >>> lens = Lens.from_json({"fromHash": "0" * 64, "toHash": "1" * 64, "forward": []})
            >>> lens.forward, lens.is_draft
            ((), False)
        """
        if not isinstance(data, dict):
            raise MigrationError(f"lens JSON must be an object, got {type(data).__name__}")
        hashes = [data.get("fromHash"), data.get("toHash")]
        for value in hashes:
            if not isinstance(value, str) or not HASH.match(value):
                raise MigrationError(f"lens JSON needs 64-hex fromHash and toHash, got {value!r}")
        forward = lo.from_json(data.get("forward") or [])
        lens = cls(hashes[0], hashes[1], forward, decisions=forward)
        if old is not None and new is not None:
            return lens.bind(old, new)
        return lens


def _column(app: App, table: str, column: str, op: str, side: str) -> Column:
    if table not in app.tables:
        raise MigrationError(f"{op} {table}.{column}: unknown table {table!r} in the {side} "
                             f"schema (tables: {', '.join(app.tables)})", table=table,
                             column=column, operator=op)
    columns = app.tables[table].columns
    if column not in columns:
        raise MigrationError(f"{op} {table}.{column}: unknown column {column!r} in the {side} "
                             f"schema (columns: {', '.join(columns)})", table=table,
                             column=column, operator=op)
    return columns[column]


def _default(spec: Column, value: Any, *, op: str, table: str, name: str) -> Any:
    if value is MISSING:
        return heuristic_default(spec)
    if value is None and not spec.nullable:
        raise MigrationError(f"{op} {table}.{name}: default None for a required "
                             f"{spec.type.kind} column", table=table, column=name, operator=op)
    return check_default(spec, value, op=op, table=table, name=name)


def migration(old: App, new: App) -> Lens:
    """Diff two apps into a lens from ``old`` to ``new`` (a draft if anything is ambiguous).

    Example:
        >>> from jazz_nb import s
        >>> v1 = s.define_app({"todos": s.table(title=s.string())})
        >>> v2 = s.define_app({"todos": s.table(title=s.string(), n=s.int(default=1))})
        >>> migration(v1, v2).describe()
        ['add_column todos.n (Integer, default=1)']
    """
    return Lens.between(old, new)

