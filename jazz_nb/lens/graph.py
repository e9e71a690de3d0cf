"""``LensGraph``: the schema versions of an app and the published lenses between them.

Lenses are walked in both directions (forward, or backward through the inverse); the path
between two versions is the shortest one found breadth-first, in the order lenses were added
(§6.1). Adding a lens checks it: it must be bound to known schemas, not a draft, and agree with
any path that already connects its two versions (a cycle of contradictory renames is refused).

Example:
    >>> from jazz_nb import s
    >>> from jazz_nb.lens import migration
    >>> v1 = s.define_app({"todos": s.table(title=s.string())})
    >>> v2 = s.define_app({"todos": s.table(title=s.string(), n=s.int(default=0))})
    >>> v3 = s.define_app({"todos": s.table(name=s.string(), n=s.int(default=0))})
    >>> graph = LensGraph([migration(v1, v2), migration(v2, v3).rename_column("todos", "title",
    ...                                                                      "name")])
    >>> path = graph.path(v3.schema_hash, v1.schema_hash)
    >>> ends = (v2.schema_hash, v1.schema_hash)
    >>> [(step.target == end, step.forward) for step, end in zip(path, ends)]
    [(True, False), (True, False)]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from jazz_nb.errors import MigrationError
from jazz_nb.lens.lens import Lens
from jazz_nb.lens.ops import LensOp
from jazz_nb.lens.translate import Source, TableState, initial, translate_row, walk
from jazz_nb.schema.app import App


@dataclass(frozen=True)
class Step:
    """One lens of a path, walked ``forward`` (from → to) or backward.

    Example:
        >>> Step(Lens("0" * 64, "1" * 64, ()), False).target[:4]
        '0000'
    """

    lens: Lens
    forward: bool

    @property
    def ops(self) -> tuple[LensOp, ...]:
        """The transform this step applies."""
        return self.lens.forward if self.forward else self.lens.backward

    @property
    def source(self) -> str:
        """Schema hash the step starts from."""
        return self.lens.from_hash if self.forward else self.lens.to_hash

    @property
    def target(self) -> str:
        """Schema hash the step ends at."""
        return self.lens.to_hash if self.forward else self.lens.from_hash


class LensGraph:
    """Schema versions (apps by hash) and non-draft lenses between them.

    Example:
        >>> from jazz_nb import s
        >>> app = s.define_app({"t": s.table(a=s.int())})
        >>> graph = LensGraph(schemas=[app])
        >>> graph.path(app.schema_hash, app.schema_hash)
        []
    """

    def __init__(self, lenses: Iterable[Lens] = (), schemas: Iterable[App] = ()) -> None:
        self.schemas: dict[str, App] = {}
        self._lenses: dict[tuple[str, str], Lens] = {}
        self.generation = 0  # bumped by every change (compiled sources depend on it)
        for app in schemas:
            self.add_schema(app)
        for lens in lenses:
            self.add_lens(lens)

    @property
    def lenses(self) -> list[Lens]:
        """Every lens, in the order added.

        Example:
            >>> LensGraph().lenses
            []
        """
        return list(self._lenses.values())

    def add_schema(self, app: App) -> None:
        """Make a schema version known (by its hash).

        Example:
            >>> from jazz_nb import s
            >>> graph = LensGraph()
            >>> graph.add_schema(s.define_app({"t": s.table(a=s.int())}))
            >>> len(graph.schemas)
            1
        """
        if app.schema_hash not in self.schemas:
            self.schemas[app.schema_hash] = app
            self.generation += 1

    def add_lens(self, lens: Lens) -> Lens:
        """Add a lens (bound with the graph's schemas if needed); returns the bound lens.

        Raises ``MigrationError`` for a draft, an unknown schema, or a lens whose renames
        contradict a path that already connects its two versions.

        Example:
            >>> from jazz_nb import s
            >>> from jazz_nb.lens import migration
            >>> v1 = s.define_app({"t": s.table(a=s.int())})
            >>> LensGraph([migration(v1, s.define_app({"t": s.table(b=s.int())}))])
            Traceback (most recent call last):
            ...
            jazz_nb.errors.MigrationError: lens ... is a draft: t.b: ...
        """
        if not isinstance(lens, Lens):
            raise TypeError(f"expected a Lens (s.migration(old, new)), got {type(lens).__name__}")
        if lens.old is None or lens.new is None:
            for value in (lens.from_hash, lens.to_hash):
                if value not in self.schemas:
                    raise MigrationError(f"lens {lens.label}: schema {value[:12]} is unknown; "
                                         "publish both schemas before the lens")
            lens = lens.bind(self.schemas[lens.from_hash], self.schemas[lens.to_hash])
        lens.check_active()
        key = (lens.from_hash, lens.to_hash)
        if self._lenses.get(key) == lens:
            return self._lenses[key]
        self._check_agrees(lens)
        self.add_schema(lens.old)  # type: ignore[arg-type]
        self.add_schema(lens.new)  # type: ignore[arg-type]
        self._lenses[key] = lens
        self.generation += 1
        return lens

    def _check_agrees(self, lens: Lens) -> None:
        """Refuse a lens that maps columns differently from an existing path (a cycle of
        contradictory renames)."""
        key = (lens.from_hash, lens.to_hash)
        others = [x for k, x in self._lenses.items() if k != key]
        path = _bfs(others, lens.from_hash, lens.to_hash)
        if path is None:
            return
        start = initial(lens.old.tables)  # type: ignore[union-attr]
        via_path = walk(start, [op for step in path for op in step.ops])
        via_lens = walk(start, lens.forward)
        for table, state in via_lens.items():
            other = via_path.get(table)
            if other is None or other.origin != state.origin:
                raise MigrationError(
                    f"rename_table {table}: lens {lens.label} maps table {table!r} from "
                    f"{state.origin!r}, the existing path from "
                    f"{other.origin if other else None!r} (contradictory renames)",
                    table=table, operator="rename_table")
            _check_columns(lens, table, state, other)

    def path(self, source: str, target: str) -> list[Step] | None:
        """The shortest lens path from schema ``source`` to ``target`` (``None``: no path).

        Example:
            >>> LensGraph().path("0" * 64, "1" * 64) is None
            True
        """
        return _bfs(self.lenses, source, target)

    def translate_row(self, source: str, target: str, table: str, data: dict[str, Any],
                      ) -> tuple[str, dict[str, Any]] | None:
        """A row of ``table`` in schema ``source`` as schema ``target`` has it: ``(target's
        table, storage values)``, or ``None`` if no lens path connects them or the path drops
        the table.

        Example:
            >>> from jazz_nb import s
            >>> from jazz_nb.lens.lens import migration
            >>> v1 = s.define_app({"t": s.table(a=s.int())})
            >>> v2 = s.define_app({"t": s.table(b=s.int())})
            >>> graph = LensGraph([migration(v1, v2).rename_column("t", "a", "b")])
            >>> graph.translate_row(v1.schema_hash, v2.schema_hash, "t", {"a": 7})
            ('t', {'b': 7})
        """
        if source == target:
            return table, dict(data)
        path = self.path(source, target)
        if path is None or source not in self.schemas or target not in self.schemas:
            return None
        state = walk(initial(self.schemas[source].tables), [op for step in path
                                                           for op in step.ops])
        for name, translated in state.items():
            if translated.origin == table and name in self.schemas[target].tables:
                columns = self.schemas[target].table(name).columns
                return name, translate_row(translated, data, columns)
        return None

    def reachable(self, source: str) -> list[str]:
        """Schema hashes connected to ``source`` (itself first), nearest first.

        Example:
            >>> LensGraph().reachable("0" * 64)
            ['0000000000000000000000000000000000000000000000000000000000000000']
        """
        seen = [source]
        queue = deque([source])
        while queue:
            for step in _neighbours(self.lenses, queue.popleft()):
                if step.target not in seen:
                    seen.append(step.target)
                    queue.append(step.target)
        return seen

    def __iter__(self) -> Iterator[Lens]:
        return iter(self.lenses)

    def __len__(self) -> int:
        return len(self._lenses)

    def __repr__(self) -> str:
        return f"<LensGraph {len(self.schemas)} schemas, {len(self._lenses)} lenses>"

    def to_json(self) -> dict[str, Any]:
        """``{"schemas": {hash: schema JSON}, "lenses": [lens JSON...]}``.

        Example:
            >>> LensGraph().to_json()
            {'schemas': {}, 'lenses': []}
        """
        return {"schemas": {h: app.to_json() for h, app in self.schemas.items()},
                "lenses": [lens.to_json() for lens in self.lenses]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LensGraph:
        """Inverse of ``to_json`` (every lens is checked again).

        Example:
            >>> from jazz_nb import s
            >>> app = s.define_app({"t": s.table(a=s.int())})
            >>> LensGraph.from_json(LensGraph(schemas=[app]).to_json()).schemas.keys() == {
            ...     app.schema_hash}
            True
        """
        graph = cls()
        for expected, schema in (data.get("schemas") or {}).items():
            app = App.from_json(schema)
            if app.schema_hash != expected:
                raise MigrationError(f"schema listed as {expected[:12]} hashes to "
                                     f"{app.schema_hash[:12]}")
            graph.add_schema(app)
        for lens in data.get("lenses") or ():
            graph.add_lens(Lens.from_json(lens))
        return graph


def _check_columns(lens: Lens, table: str, mine: TableState, theirs: TableState) -> None:
    for column, cell in mine.columns.items():
        other = theirs.columns.get(column)
        if isinstance(cell, Source) and isinstance(other, Source) and cell.column != other.column:
            raise MigrationError(
                f"rename_column {table}.{column}: lens {lens.label} takes it from "
                f"{cell.column!r}, the existing path from {other.column!r} "
                "(contradictory renames)", table=table, column=column,
                operator="rename_column")


def _neighbours(lenses: Iterable[Lens], node: str) -> Iterator[Step]:
    for lens in lenses:
        if lens.from_hash == node:
            yield Step(lens, True)
        elif lens.to_hash == node:
            yield Step(lens, False)


def _bfs(lenses: list[Lens], source: str, target: str) -> list[Step] | None:
    previous: dict[str, Step | None] = {source: None}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        if node == target:
            path: list[Step] = []
            while (step := previous[node]) is not None:
                path.append(step)
                node = step.source
            return path[::-1]
        for step in _neighbours(lenses, node):
            if step.target not in previous:
                previous[step.target] = step
                queue.append(step.target)
    return None
