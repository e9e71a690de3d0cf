"""``LensGraph``: shortest paths both ways, composition, JSON, contradictory cycles."""

from __future__ import annotations

import pytest

from jazz_nb import s
from jazz_nb.errors import MigrationError
from jazz_nb.lens import Lens, migration
from jazz_nb.lens.graph import LensGraph
from jazz_nb.lens.translate import Const, Source, initial, walk


def test_paths_walk_lenses_forward_and_backward(v1: s.App, v2: s.App, v3: s.App,
                                                lens12: Lens, lens23: Lens) -> None:
    graph = LensGraph([lens12, lens23])
    forward = graph.path(v1.schema_hash, v3.schema_hash)
    backward = graph.path(v3.schema_hash, v1.schema_hash)
    assert [(st.lens, st.forward) for st in forward] == [(lens12, True), (lens23, True)]
    assert [(st.lens, st.forward) for st in backward] == [(lens23, False), (lens12, False)]
    assert graph.reachable(v2.schema_hash) == [v2.schema_hash, v1.schema_hash, v3.schema_hash]


def test_composed_path_renames_and_defaults(v1: s.App, v3: s.App, lens12: Lens,
                                            lens23: Lens) -> None:
    graph = LensGraph([lens12, lens23])
    ops = [op for step in graph.path(v1.schema_hash, v3.schema_hash) for op in step.ops]
    todos = walk(initial(v1.tables), ops)["todos"]
    assert todos.origin == "todos"
    assert todos.columns["text"] == Source("title", s.string().type, False)
    assert todos.columns["priority"] == Const(1, s.int().type)
    back = [op for step in graph.path(v3.schema_hash, v1.schema_hash) for op in step.ops]
    assert set(walk(initial(v3.tables), back)["todos"].columns) == set(
        v1.tables["todos"].columns)


def test_shortest_path_wins(v1: s.App, v2: s.App, v3: s.App, lens12: Lens,
                            lens23: Lens) -> None:
    direct = migration(v1, v3).rename_column("todos", "title", "text")
    graph = LensGraph([lens12, lens23, direct])
    assert [st.lens for st in graph.path(v1.schema_hash, v3.schema_hash)] == [direct]


def test_contradictory_cycle_of_renames_is_refused() -> None:
    a = s.define_app({"t": s.table(x=s.string(), y=s.string())})
    b = s.define_app({"t": s.table(p=s.string(), q=s.string())})
    c = s.define_app({"t": s.table(p=s.string(), q=s.string(), n=s.int().optional())})
    ab = migration(a, b).rename_column("t", "x", "p").rename_column("t", "y", "q")
    bc = migration(b, c)
    swapped = migration(a, c).rename_column("t", "x", "q").rename_column("t", "y", "p")
    graph = LensGraph([ab, bc])
    with pytest.raises(MigrationError, match="contradictory renames") as info:
        graph.add_lens(swapped)
    assert info.value.operator == "rename_column" and info.value.table == "t"
    agreeing = migration(a, c).rename_column("t", "x", "p").rename_column("t", "y", "q")
    graph.add_lens(agreeing)  # a consistent shortcut is fine
    assert len(graph) == 3


def test_drafts_and_unknown_schemas_are_refused(v1: s.App, v2: s.App, v3: s.App) -> None:
    with pytest.raises(MigrationError, match="is a draft"):
        LensGraph([migration(v2, v3)])
    loose = Lens.from_json(migration(v1, v2).to_json())
    with pytest.raises(MigrationError, match="unknown"):
        LensGraph([loose])
    assert LensGraph([loose], schemas=[v1, v2]).lenses[0].old is v1


def test_graph_json_round_trip(v1: s.App, v3: s.App, lens12: Lens, lens23: Lens) -> None:
    graph = LensGraph([lens12, lens23])
    again = LensGraph.from_json(graph.to_json())
    assert again.lenses == graph.lenses
    assert set(again.schemas) == set(graph.schemas)
    assert [st.lens for st in again.path(v3.schema_hash, v1.schema_hash)] == [lens23, lens12]
