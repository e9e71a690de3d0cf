"""Diffing two schema versions into lens operations, honouring explicit decisions (§6.3).

``complete(old, new, decisions)`` returns the operations of a lens from ``old`` to ``new`` and
the ambiguities left: the decisions (operations the user chose) are checked and kept, every
difference they do not cover is generated the way Jazz's auto-lens does:

* tables only in ``new`` are added, only in ``old`` removed; a removed and an added table with
  identical columns (a unique pair) are a possible table rename (a draft rename);
* per shared table a removed and an added column of the same type, optionality and reference
  are a possible rename (a draft rename, first match wins); other removed columns are removed
  (backwards default: the schema default or Jazz's zero value), other added columns added;
* a column whose type or optionality changed is a type change: a draft drop + add;
* a default of NULL for a required column is left as an ambiguity to resolve.

Operations come out in canonical order, one group per table: removed tables, then renamed and
shared tables (``RenameTable``, then removed, renamed and added columns), then added tables.

Example:
    >>> from jazz_nb import s
    >>> old = s.define_app({"todos": s.table(name=s.string())})
    >>> new = s.define_app({"todos": s.table(title=s.string(), done=s.boolean())})
    >>> ops, ambiguities = complete(old, new, ())
    >>> ops
    (RenameColumn(table='todos', old='name', new='title'), \
AddColumn(table='todos', column='done', type=Boolean(), default=False))
    >>> ambiguities[0].kind, ambiguities[0].column
    ('possible_rename', 'title')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from jazz_nb.errors import MigrationError
from jazz_nb.lens.ops import (
    AddColumn,
    AddTable,
    LensOp,
    RemoveColumn,
    RemoveTable,
    RenameColumn,
    RenameTable,
    inverse,
)
from jazz_nb.lens.translate import Const, Source, initial, walk
from jazz_nb.lens.values import heuristic_default
from jazz_nb.schema.app import App, TableSchema
from jazz_nb.schema.columns import Column

AmbiguityKind = Literal["possible_rename", "possible_table_rename", "type_change",
                        "missing_default", "missing_backwards_default"]


@dataclass(frozen=True)
class Ambiguity:
    """Why a lens is a draft: what is ambiguous, where, and how to resolve it.

    Example:
        >>> a = Ambiguity("missing_default", "todos", "owner_id", "needs a default",
        ...               ".add_column('todos', 'owner_id', default=...)")
        >>> str(a)
        "todos.owner_id: needs a default — resolve with .add_column('todos', 'owner_id', \
default=...)"
    """

    kind: AmbiguityKind
    table: str
    column: str | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{where}: {self.message} — resolve with {self.fix}"


def same_shape(a: Column, b: Column) -> bool:
    """Same type and optionality: values carry over unchanged (renames need this).

    Example:
        >>> from jazz_nb import s
        >>> same_shape(s.string(), s.string(default="x")), same_shape(s.int(), s.bigint())
        (True, False)
    """
    return a.type == b.type and a.nullable == b.nullable


def _err(op: str, table: str, column: str | None, message: str) -> MigrationError:
    where = f"{table}.{column}" if column else table
    return MigrationError(f"{op} {where}: {message}", table=table, column=column, operator=op)


@dataclass
class _Decisions:
    """Explicit operations, grouped and checked against both schemas."""

    old: App
    new: App
    table_renames: dict[str, str] = field(default_factory=dict)  # new -> old
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    columns: dict[str, list[LensOp]] = field(default_factory=dict)  # new table -> column ops

    def read(self, decisions: Sequence[LensOp]) -> _Decisions:
        for op in decisions:
            if isinstance(op, RenameTable):
                self._check_table(op.name, op.old, old=True)
                self._check_table(op.name, op.new, old=False)
                if op.old in self.table_renames.values() or op.new in self.table_renames:
                    raise _err(op.name, op.new, None, f"table {op.old!r} or {op.new!r} is "
                               "already renamed by this lens (contradictory renames)")
                self.table_renames[op.new] = op.old
            elif isinstance(op, AddTable):
                self._check_table(op.name, op.table, old=False)
                self.added.append(op.table)
            elif isinstance(op, RemoveTable):
                self._check_table(op.name, op.table, old=True)
                self.removed.append(op.table)
            else:
                self.columns.setdefault(op.table, []).append(op)
        claimed_old = [*self.table_renames.values(), *self.removed]
        claimed_new = [*self.table_renames, *self.added]
        for names, side in ((claimed_old, "old"), (claimed_new, "new")):
            dupes = {n for n in names if names.count(n) > 1}
            if dupes:
                name = sorted(dupes)[0]
                raise _err("rename_table", name, None, f"table {name!r} of the {side} schema "
                           "is claimed by more than one table operation")
        return self

    def _check_table(self, op: str, name: str, *, old: bool) -> None:
        app = self.old if old else self.new
        if name not in app.tables:
            side = "source" if old else "target"
            raise _err(op, name, None, f"unknown table {name!r} in the {side} schema "
                       f"(tables: {', '.join(app.tables)})")


def _table_pairs(d: _Decisions, ambiguities: list[Ambiguity],
                 ) -> tuple[dict[str, str], list[str], list[str]]:
    """``{new table: old table}``, the added and the removed tables."""
    pairs = dict(d.table_renames)
    used_old = {*pairs.values(), *d.removed}
    for name in d.new.tables:
        if name in d.old.tables and name not in pairs and name not in d.added \
                and name not in used_old:
            pairs[name] = name
            used_old.add(name)
    left_old = [n for n in d.old.tables if n not in used_old]
    left_new = [n for n in d.new.tables if n not in pairs and n not in d.added]

    def key(schema: TableSchema) -> object:
        return schema.to_json()

    for o in left_old:
        matches = [n for n in left_new if key(d.new.tables[n]) == key(d.old.tables[o])]
        back = [x for x in left_old if matches and key(d.old.tables[x]) == key(
            d.new.tables[matches[0]])]
        if len(matches) == 1 and back == [o]:
            pairs[matches[0]] = o
            ambiguities.append(Ambiguity(
                "possible_table_rename", matches[0], None,
                f"table {o!r} was removed and {matches[0]!r} added with the same columns: "
                "a rename?", f".rename_table({o!r}, {matches[0]!r}) or "
                f".remove_table({o!r}).add_table({matches[0]!r})"))
    added = [*d.added, *(n for n in left_new if n not in pairs)]
    removed = [*d.removed, *(o for o in left_old if o not in pairs.values())]
    return pairs, added, removed


@dataclass
class _TableDiff:
    """Column operations of one shared (or renamed) table."""

    table: str
    old: TableSchema
    new: TableSchema
    removes: dict[str, RemoveColumn] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)  # new -> old
    adds: dict[str, AddColumn] = field(default_factory=dict)

    def decide(self, ops: list[LensOp]) -> None:
        """Take the explicit column operations, checking each."""
        for op in ops:
            if isinstance(op, RenameColumn):
                self._rename(op)
            elif isinstance(op, AddColumn):
                self._check(op.name, op.column, self.new, "target")
                if op.column in self.adds or op.column in self.renames:
                    raise _err(op.name, self.table, op.column, "the column is already added "
                               "or renamed by this lens")
                self.adds[op.column] = op
            else:
                assert isinstance(op, RemoveColumn)
                self._check(op.name, op.column, self.old, "source")
                if op.column in self.removes or op.column in self.renames.values():
                    raise _err(op.name, self.table, op.column, "the column is already removed "
                               "or renamed by this lens")
                self.removes[op.column] = op

    def _check(self, op: str, column: str, schema: TableSchema, side: str) -> None:
        if column not in schema.columns:
            raise _err(op, self.table, column, f"unknown column {column!r} in the {side} "
                       f"schema (columns: {', '.join(schema.columns)})")

    def _rename(self, op: RenameColumn) -> None:
        self._check(op.name, op.old, self.old, "source")
        self._check(op.name, op.new, self.new, "target")
        if op.new in self.renames or op.old in self.renames.values():
            raise _err(op.name, self.table, op.new, f"{op.old!r} or {op.new!r} is already "
                       "renamed by this lens (contradictory renames)")
        a, b = self.old.columns[op.old], self.new.columns[op.new]
        if not same_shape(a, b):
            raise _err(op.name, self.table, op.new, f"cannot rename {op.old!r} "
                       f"({a.type.kind}{'?' if a.nullable else ''}) to {op.new!r} "
                       f"({b.type.kind}{'?' if b.nullable else ''}): a rename keeps the type "
                       "and optionality")
        self.renames[op.new] = op.old

    def generate(self, ambiguities: list[Ambiguity]) -> None:
        """Fill in every difference the decisions leave open."""
        old, new = self.old.columns, self.new.columns
        renamed_old = set(self.renames.values())
        for name in new:
            if name not in old or name in self.renames or name in renamed_old:
                continue
            explicit = name in self.adds or name in self.removes
            if not explicit and same_shape(old[name], new[name]):
                continue
            if not explicit:
                ambiguities.append(Ambiguity(
                    "type_change", self.table, name,
                    f"{_shape(old[name])} became {_shape(new[name])}; lenses cannot convert "
                    "values, so the column is dropped and added again",
                    f".add_column({self.table!r}, {name!r}, default=...) and/or "
                    f".remove_column({self.table!r}, {name!r}, backwards_default=...)"))
            self.removes.setdefault(name, self._auto_remove(name))
            self.adds.setdefault(name, self._auto_add(name))
        gone = [c for c in old if c not in new and c not in renamed_old and c not in self.removes]
        fresh = [c for c in new if c not in old and c not in self.renames and c not in self.adds]
        for removed in gone:
            match = next((c for c in fresh if same_shape(old[removed], new[c])
                          and old[removed].references == new[c].references), None)
            if match is None:
                self.removes[removed] = self._auto_remove(removed)
                continue
            fresh.remove(match)
            self.renames[match] = removed
            ambiguities.append(Ambiguity(
                "possible_rename", self.table, match,
                f"{removed!r} was removed and {match!r} added with the same type: a rename?",
                f".rename_column({self.table!r}, {removed!r}, {match!r}) or "
                f".remove_column({self.table!r}, {removed!r}).add_column({self.table!r}, "
                f"{match!r})"))
        for added in fresh:
            self.adds[added] = self._auto_add(added)
        self._null_defaults(ambiguities)

    def _auto_add(self, name: str) -> AddColumn:
        column = self.new.columns[name]
        return AddColumn(self.table, name, column.type, heuristic_default(column))

    def _auto_remove(self, name: str) -> RemoveColumn:
        column = self.old.columns[name]
        return RemoveColumn(self.table, name, column.type, heuristic_default(column))

    def _null_defaults(self, ambiguities: list[Ambiguity]) -> None:
        for name, add in self.adds.items():
            if add.default is None and not self.new.columns[name].nullable:
                ambiguities.append(Ambiguity(
                    "missing_default", self.table, name,
                    f"required {add.type.kind} column added without a default: rows of the "
                    "older schema need a value", f".add_column({self.table!r}, {name!r}, "
                    "default=...)"))
        for name, drop in self.removes.items():
            if drop.default is None and not self.old.columns[name].nullable:
                ambiguities.append(Ambiguity(
                    "missing_backwards_default", self.table, name,
                    f"required {drop.type.kind} column removed without a backwards default: "
                    "readers on the older schema need a value",
                    f".remove_column({self.table!r}, {name!r}, backwards_default=...)"))

    def ops(self) -> list[LensOp]:
        """Removes, renames (ordered so no name is taken twice), then adds."""
        out: list[LensOp] = list(self.removes.values())
        present = {c for c in self.old.columns if c not in self.removes}
        pending = dict(self.renames)
        while pending:
            ready = [n for n, o in pending.items() if n not in present or n == o]
            if not ready:
                chain = " → ".join(f"{o}→{n}" for n, o in pending.items())
                raise _err("rename_column", self.table, next(iter(pending)),
                           f"renames {chain} form a cycle (contradictory renames; rename "
                           "through a column name neither schema uses)")
            for new in ready:
                old = pending.pop(new)
                if old != new:
                    out.append(RenameColumn(self.table, old, new))
                present.discard(old)
                present.add(new)
        return out + list(self.adds.values())


def _shape(column: Column) -> str:
    return column.type.kind + ("?" if column.nullable else "")


def _ordered_renames(pairs: dict[str, str], removed: list[str], old: App) -> list[str]:
    """Renamed tables in an order where no rename takes a name still in use."""
    present = {n for n in old.tables if n not in removed}
    pending = {n: o for n, o in pairs.items() if n != o}
    order: list[str] = []
    while pending:
        ready = [n for n in pending if n not in present]
        if not ready:
            chain = ", ".join(f"{o}→{n}" for n, o in pending.items())
            raise _err("rename_table", next(iter(pending)), None,
                       f"table renames {chain} form a cycle (contradictory renames)")
        for new in ready:
            present.discard(pending.pop(new))
            present.add(new)
            order.append(new)
    return order


def complete(old: App, new: App, decisions: Sequence[LensOp],
             ) -> tuple[tuple[LensOp, ...], tuple[Ambiguity, ...]]:
    """The operations of a lens from ``old`` to ``new`` given explicit ``decisions``, and the
    ambiguities left (a non-empty list makes the lens a draft).

    Example:
        >>> from jazz_nb import s
        >>> old = s.define_app({"todos": s.table(name=s.string())})
        >>> new = s.define_app({"todos": s.table(title=s.string())})
        >>> complete(old, new, [RenameColumn("todos", "name", "title")])[1]
        ()
    """
    d = _Decisions(old, new).read(decisions)
    ambiguities: list[Ambiguity] = []
    pairs, added, removed = _table_pairs(d, ambiguities)
    renamed = {o: n for n, o in pairs.items()}
    for table, ops in d.columns.items():
        if table not in pairs:
            hint = f"; column operations use its new name {renamed[table]!r}" \
                if table in renamed else ""
            raise _err(ops[0].name, table, getattr(ops[0], "column", None),
                       f"table {table!r} is not a table both schemas share{hint}")
    diffs: dict[str, _TableDiff] = {}
    for new_name, old_name in pairs.items():
        diff = _TableDiff(new_name, old.tables[old_name], new.tables[new_name])
        diff.decide(d.columns.get(new_name, []))
        diff.generate(ambiguities)
        diffs[new_name] = diff
    ops: list[LensOp] = [RemoveTable(t) for t in removed]
    for name in _ordered_renames(pairs, removed, old):
        ops += [RenameTable(pairs[name], name), *diffs[name].ops()]
    for name in new.tables:
        if pairs.get(name) == name:
            ops += diffs[name].ops()
    ops += [AddTable(t) for t in added]
    check(old, new, ops, strict=not ambiguities)
    check(new, old, inverse(ops), strict=not ambiguities)
    return tuple(ops), tuple(ambiguities)


def check(old: App, new: App, ops: Sequence[LensOp], *, strict: bool = True) -> None:
    """Check that ``ops`` turn ``old`` into ``new``: same tables, columns and types, and
    (``strict``) no NULL reaching a required column in either direction.

    Example:
        >>> from jazz_nb import s
        >>> old = s.define_app({"t": s.table(a=s.int())})
        >>> check(old, s.define_app({"t": s.table(a=s.int(), b=s.int())}), [])
        Traceback (most recent call last):
        ...
        jazz_nb.errors.MigrationError: lens t.b: the target schema has column 'b' but the \
lens does not produce it
    """
    state = walk(initial(old.tables), ops)
    for name in state:
        if name not in new.tables:
            raise _err("lens", name, None, f"the lens leaves table {name!r}, which the target "
                       "schema does not have")
    for name, schema in new.tables.items():
        if name not in state:
            raise _err("lens", name, None, f"the target schema has table {name!r} but the "
                       "lens does not produce it")
        cells = state[name].columns
        for col, column in schema.columns.items():
            cell = cells.get(col)
            if cell is None and state[name].origin is not None:
                raise _err("lens", name, col, f"the target schema has column {col!r} but the "
                           "lens does not produce it")
            if cell is not None and cell.type != column.type:
                raise _err("lens", name, col, f"the lens produces {cell.type.kind}, the "
                           f"target schema declares {column.type.kind}")
            if strict and not column.nullable and (
                    (isinstance(cell, Const) and cell.value is None)
                    or (isinstance(cell, Source) and cell.nullable)):
                raise _err("lens", name, col, "the lens can put NULL into this required column")
        extra = [c for c in cells if c not in schema.columns]
        if extra:
            raise _err("lens", name, extra[0], f"the lens produces column {extra[0]!r}, which "
                       "the target schema does not have")
