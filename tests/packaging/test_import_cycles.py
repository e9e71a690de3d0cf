"""jazz_nb's module-level imports form no cycle (deferred imports inside functions may point
back: they are how ``import jazz_nb`` stays light)."""

from __future__ import annotations

import ast
from pathlib import Path

import jazz_nb

ROOT = Path(jazz_nb.__file__).parent


def module_names() -> dict[str, Path]:
    names = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def top_level_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """jazz_nb modules ``path`` imports when it is imported (not under TYPE_CHECKING, not in a
    function); ``from pkg import sub`` counts as importing ``pkg.sub``."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.ImportFrom) and sub.level == 0 and sub.module in modules:
                named = {f"{sub.module}.{a.name}" for a in sub.names} & modules.keys()
                found |= named
                if len(named) < len(sub.names):
                    found.add(sub.module)
            elif isinstance(sub, ast.Import):
                found |= {a.name for a in sub.names if a.name in modules}
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                return [*path[path.index(dep):], dep]
            if dep not in state and (cycle := visit(dep, [*path, dep])):
                return cycle
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name, [name])):
            return cycle
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_module_level_imports_form_no_cycle() -> None:
    modules = module_names()
    graph = {name: top_level_imports(path, modules) - {name} for name, path in modules.items()}
    assert len(graph) > 100 and sum(map(len, graph.values())) > 300
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])
