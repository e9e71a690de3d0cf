"""Migration files: schema snapshots and reviewable Python migration modules (§6.4).

Layout (``migrations/`` by default, like Jazz's):

* ``snapshots/<YYYYMMDDTHHMMSS>-<hash12>.json`` — a schema version's compiled JSON;
* ``<YYYYMMDDTHHMMSS>-<name>-<from12>-<to12>.py`` — a module defining ``lens``: it loads both
  apps from their snapshots and states every operation as an explicit call, so a reviewer sees
  and edits each default. Ambiguities stay commented out: the module loads as a draft (and
  ``push`` refuses it) until one alternative per ambiguity is uncommented.

Apps are named by a snapshot hash prefix, a ``package.module:attr`` spec or a ``.json`` path.

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.lens import migration
    >>> v1 = s.define_app({"t": s.table(a=s.string())})
    >>> v2 = s.define_app({"t": s.table(b=s.string(), n=s.int(default=0))})
    >>> print(render_module(migration(v1, v2), "demo"))  # doctest: +ELLIPSIS
    \"\"\"Migration demo: ... → ... (review, then `jazz-nb migrations push <this file>`).
    ...
    lens = (
        migration(old, new)
        # DRAFT possible_rename t.b: 'a' was removed and 'b' added with the same type: a rename?
        #   uncomment one:
        # .rename_column('t', 'a', 'b')
        # .remove_column('t', 'a', backwards_default="").add_column('t', 'b', default="")
        .add_column('t', 'n', default=0)
    )
    <BLANKLINE>
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import time
from pathlib import Path
from typing import Any

from jazz_nb.errors import MigrationError
from jazz_nb.lens import ops as lo
from jazz_nb.lens.diff import Ambiguity
from jazz_nb.lens.lens import Lens
from jazz_nb.lens.values import heuristic_default
from jazz_nb.schema import types as t
from jazz_nb.schema.app import App
from jazz_nb.schema.columns import Column

SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def stamp() -> str:
    """A UTC timestamp as Jazz names migration files (``YYYYMMDDTHHMMSS``).

    Example:
        >>> len(stamp()), stamp()[8]
        (15, 'T')
    """
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())


def write_snapshot(app: App, directory: Path) -> Path:
    """Save ``app``'s schema under ``directory/snapshots`` (once per hash); returns the file.

    Example:
        >>> # write_snapshot(app, Path("migrations"))
    """
    folder = directory / "snapshots"
    existing = sorted(folder.glob(f"*-{app.schema_hash[:12]}.json"))
    if existing:
        return existing[0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stamp()}-{app.schema_hash[:12]}.json"
    path.write_text(json.dumps(app.to_json(), indent=2) + "\n")
    return path


def load_snapshot(anchor: str | Path, prefix: str) -> App:
    """The app of the snapshot whose hash starts with ``prefix``, in ``snapshots/`` next to
    ``anchor`` (a migration module's ``__file__``, or the migrations directory itself).

    Example:
        >>> # old = load_snapshot(__file__, "be1bbcf49de7")
    """
    anchor = Path(anchor)
    folder = (anchor if anchor.is_dir() else anchor.parent) / "snapshots"
    found = sorted(folder.glob(f"*-{prefix[:12]}*.json"))
    if not found:
        raise MigrationError(f"no snapshot of schema {prefix[:12]} in {folder}")
    app = App.from_json(json.loads(found[0].read_text()))
    if not app.schema_hash.startswith(prefix):
        raise MigrationError(f"snapshot {found[0].name} hashes to {app.schema_hash[:12]}, "
                             f"not {prefix}")
    return app


def load_app(spec: str, directory: Path) -> App:
    """An app from a ``module:attr`` spec, a ``.json`` schema file, or a snapshot hash prefix.

    Example:
        >>> load_app("jazz_nb.demo:APP", Path("."))
        Traceback (most recent call last):
        ...
        jazz_nb.errors.MigrationError: jazz_nb.demo:APP: module jazz_nb.demo has no APP
    """
    if SPEC.match(spec):
        module, _, attr = spec.partition(":")
        value = getattr(importlib.import_module(module), attr, None)
        if value is None:
            raise MigrationError(f"{spec}: module {module} has no {attr}")
        app = value() if callable(value) and not isinstance(value, App) else value
        if not isinstance(app, App):
            raise MigrationError(f"{spec} is not an app from s.define_app(...)")
        return app
    if spec.endswith(".json"):
        return App.from_json(json.loads(Path(spec).read_text()))
    if re.fullmatch(r"[0-9a-f]{4,64}", spec):
        return load_snapshot(directory, spec)
    raise MigrationError(f"cannot load an app from {spec!r}: give module:attr, a .json file or "
                         "a snapshot hash")


def load_migration(path: str | Path) -> Lens:
    """The ``lens`` a migration module defines.

    Example:
        >>> # lens = load_migration("migrations/20260101T000000-add-n-be1bbcf49de7-c21c8f4b401b.py")
    """
    path = Path(path)
    spec = importlib.util.spec_from_file_location(f"_jazz_migration_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise MigrationError(f"cannot import migration module {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lens = getattr(module, "lens", None)
    if not isinstance(lens, Lens):
        raise MigrationError(f"{path} must define `lens` (a Lens from migration(old, new))")
    return lens


def _python(column_type: t.ColumnType, value: Any) -> str:
    """Source text of a default as the user writes it (JSON parsed, not its stored text)."""
    if isinstance(column_type, t.Json) and value is not None:
        value = json.loads(value)
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _fill(column: Column) -> str:
    """A column's zero default as source text, or ``...`` where the reviewer must choose."""
    value = heuristic_default(column)
    return "..." if value is None and not column.nullable else _python(column.type, value)


def _call(op: lo.LensOp) -> str:
    if isinstance(op, lo.RenameColumn):
        return f".rename_column({op.table!r}, {op.old!r}, {op.new!r})"
    if isinstance(op, lo.AddColumn):
        return f".add_column({op.table!r}, {op.column!r}, default={_python(op.type, op.default)})"
    if isinstance(op, lo.RemoveColumn):
        return (f".remove_column({op.table!r}, {op.column!r}, "
                f"backwards_default={_python(op.type, op.default)})")
    if isinstance(op, lo.RenameTable):
        return f".rename_table({op.old!r}, {op.new!r})"
    return f".{op.name}({op.table!r})"


def _alternatives(lens: Lens, ambiguity: Ambiguity) -> list[str]:
    table, column = ambiguity.table, ambiguity.column
    if ambiguity.kind == "possible_rename":
        old = next(op.old for op in lens.forward if isinstance(op, lo.RenameColumn)
                   and op.table == table and op.new == column)
        assert lens.old is not None and lens.new is not None and column is not None
        before = lens.old.tables[lens._old_table(table)].columns[old]
        after = lens.new.tables[table].columns[column]
        return [_call(lo.RenameColumn(table, old, column)),
                f".remove_column({table!r}, {old!r}, backwards_default={_fill(before)})"
                f".add_column({table!r}, {column!r}, default={_fill(after)})"]
    if ambiguity.kind == "possible_table_rename":
        old = next(op.old for op in lens.forward if isinstance(op, lo.RenameTable)
                   and op.new == table)
        return [_call(lo.RenameTable(old, table)),
                _call(lo.RemoveTable(old)) + _call(lo.AddTable(table))]
    if ambiguity.kind == "missing_backwards_default":
        return [f".remove_column({table!r}, {column!r}, backwards_default=...)"]
    if ambiguity.kind == "missing_default":
        return [f".add_column({table!r}, {column!r}, default=...)"]
    return [f".remove_column({table!r}, {column!r}, backwards_default=...)"
            f".add_column({table!r}, {column!r}, default=...)"]


def _covered(op: lo.LensOp, ambiguities: tuple[Ambiguity, ...]) -> bool:
    """Whether ``op`` belongs to an ambiguity (left to the reviewer, not written out)."""
    for a in ambiguities:
        if a.kind == "possible_table_rename" and isinstance(op, lo.RenameTable) \
                and op.new == a.table:
            return True
        if getattr(op, "table", None) != a.table:
            continue
        if a.kind == "possible_rename" and isinstance(op, lo.RenameColumn) and op.new == a.column:
            return True
        if a.kind in ("type_change", "missing_default", "missing_backwards_default") and \
                isinstance(op, lo.AddColumn | lo.RemoveColumn) and op.column == a.column:
            return True
    return False


def render_module(lens: Lens, name: str) -> str:
    """The source of a migration module for ``lens`` (see the module docstring).

    Example:
        >>> from jazz_nb import s
        >>> from jazz_nb.lens import migration
        >>> app = s.define_app({"t": s.table(a=s.int())})
        >>> "migration(old, new)\\n)" in render_module(migration(app, app), "noop")
        True
    """
    lines = [f'"""Migration {name}: {lens.from_hash[:12]} → {lens.to_hash[:12]} (review, then '
             "`jazz-nb migrations push <this file>`).",
             "",
             "Generated by `jazz-nb migrations create`. Every operation is written out: edit the",
             "defaults as needed. Each DRAFT block needs one alternative uncommented; until then",
             "the lens is a draft and cannot be pushed.", '"""', "",
             "from jazz_nb.lens import migration", "from jazz_nb.lens.files import load_snapshot",
             "", f'old = load_snapshot(__file__, "{lens.from_hash[:12]}")',
             f'new = load_snapshot(__file__, "{lens.to_hash[:12]}")', "", "lens = (",
             "    migration(old, new)"]
    for ambiguity in lens.ambiguities:
        where = f"{ambiguity.table}.{ambiguity.column}" if ambiguity.column else ambiguity.table
        lines.append(f"    # DRAFT {ambiguity.kind} {where}: {ambiguity.message}")
        choices = _alternatives(lens, ambiguity)
        if len(choices) > 1:
            lines.append("    #   uncomment one:")
        lines += [f"    # {choice}" for choice in choices]
    lines += [f"    {_call(op)}" for op in lens.forward if not _covered(op, lens.ambiguities)]
    return "\n".join([*lines, ")", ""])


def create_migration(old: App, new: App, directory: Path, name: str = "unnamed") -> Path:
    """Snapshot both apps and write the migration module; returns its path.

    Example:
        >>> # create_migration(app_v1, app_v2, Path("migrations"), "add-priority")
    """
    write_snapshot(old, directory)
    write_snapshot(new, directory)
    lens = Lens.between(old, new)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") or "unnamed"
    path = directory / f"{stamp()}-{slug}-{old.schema_hash[:12]}-{new.schema_hash[:12]}.py"
    path.write_text(render_module(lens, slug))
    return path
