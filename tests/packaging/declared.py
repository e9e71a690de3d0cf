"""What jazz_nb declares and what it imports: pyproject's requirements, their installed closure,
and the third-party imports of the package's source.

Used by ``test_dependencies.py`` and, as a script, run in a subprocess to import every module and
run every doctest with only the declared dependencies importable::

    python tests/packaging/declared.py
"""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata as metadata
import json
import pkgutil
import re
import sys
import sysconfig
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

from packaging.requirements import Requirement

EXTENSIONS = importlib.machinery.EXTENSION_SUFFIXES
ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "jazz_nb"


def canonical(name: str) -> str:
    """A distribution name in PEP 503 form (``PyJWT`` -> ``pyjwt``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject() -> dict:
    """The parsed ``pyproject.toml``."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def core_requirements() -> list[Requirement]:
    """``[project] dependencies``: what ``pip install jazz_nb`` brings."""
    return [Requirement(text) for text in pyproject()["project"]["dependencies"]]


def closure(requirements: Iterable[Requirement]) -> set[str]:
    """Every installed distribution the requirements bring, transitively (markers evaluated,
    a requirement's extras followed)."""
    seen: set[str] = set()
    todo = [(r, "") for r in requirements]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonical(requirement.name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = f"{name}[{','.join(sorted(requirement.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for text in dist.requires or []:
            nested = Requirement(text)
            for wanted in ["", *requirement.extras]:
                todo.append((nested, wanted))
    return {key.split("[")[0] for key in seen}


def modules_of(distributions: set[str]) -> set[str]:
    """Top-level import names the distributions install: their packages, modules and
    extension modules (``_duckdb``), read from each one's list of files."""
    names: set[str] = set()
    for name in distributions:
        for file in metadata.distribution(name).files or []:
            first = file.parts[0]
            if len(file.parts) > 1:
                if not first.endswith((".dist-info", ".data")) and first != "__pycache__":
                    names.add(first)
            elif first.endswith(".py") or first.endswith(tuple(EXTENSIONS)):
                names.add(first.split(".")[0])
    return names


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """Ids of import nodes under ``if TYPE_CHECKING:`` (never run, need no dependency)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING",
                                                                  "typing.TYPE_CHECKING"):
            skipped |= {id(n) for body in node.body for n in ast.walk(body)}
    return skipped


def third_party_imports() -> Iterator[tuple[str, str]]:
    """``(top-level module, file:line)`` of every absolute import of a non-stdlib module in
    the package, at module level or inside functions."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_blocks(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "jazz_nb":
                    yield top, f"{path.relative_to(ROOT)}:{node.lineno}"


def _in_stdlib(top: str) -> bool:
    """Whether ``top`` is found in the interpreter's own library (``_sysconfigdata_*`` and
    other modules ``sys.stdlib_module_names`` does not list)."""
    spec = importlib.machinery.PathFinder.find_spec(top, STDLIB_PATHS)
    return spec is not None


STDLIB_PATHS = sorted({sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")}
                      | {str(Path(sysconfig.get_paths()["stdlib"]) / "lib-dynload")})


class OnlyDeclared(importlib.abc.MetaPathFinder):
    """Stands in for every import finder and finds only top-level modules in ``allowed``,
    already imported, or in the interpreter's own library: an environment with just jazz_nb's
    declared dependencies installed (``importlib.util.find_spec`` of anything else is None)."""

    def __init__(self, allowed: set[str], distributions: set[str],
                 finders: list[importlib.abc.MetaPathFinder]) -> None:
        self.allowed = allowed
        self.distributions = distributions
        self.finders = finders
        self.refused: set[str] = set()

    def find_distributions(self, context: object = None) -> Iterator[metadata.Distribution]:
        """The installed metadata of the allowed distributions only."""
        context = context or metadata.DistributionFinder.Context()
        for finder in self.finders:
            for dist in getattr(finder, "find_distributions", lambda _: ())(context):
                if canonical(dist.metadata["Name"] or "") in self.distributions:
                    yield dist

    def find_spec(self, name: str, path: object = None, target: object = None) -> object:
        top = name.split(".")[0]
        if not (top in self.allowed or top in sys.modules or _in_stdlib(top)):
            self.refused.add(top)
            return None
        self.allowed.add(top)
        for finder in self.finders:
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                return spec
        return None


def install_blocker() -> OnlyDeclared:
    """Put ``OnlyDeclared`` in place of ``sys.meta_path``, allowing the declared closure."""
    distributions = closure(core_requirements())
    allowed = set(sys.stdlib_module_names) | {"jazz_nb"} | modules_of(distributions)
    blocker = OnlyDeclared(allowed, distributions | {"jazz-nb"}, list(sys.meta_path))
    sys.meta_path[:] = [blocker]
    return blocker


def run_with_only_declared() -> dict:
    """Import every module of the package and run its doctests with only the declared
    dependencies importable; returns what failed and which imports were refused."""
    blocker = install_blocker()
    import jazz_nb

    failures: dict[str, str] = {}
    attempted = 0
    names = [m.name for m in pkgutil.walk_packages(jazz_nb.__path__, "jazz_nb.")]
    for name in ["jazz_nb", *names]:
        try:
            module = importlib.import_module(name)
        except Exception as err:  # reported, not raised
            failures[name] = f"import failed: {type(err).__name__}: {err}"
            continue
        finder = doctest.DocTestFinder(exclude_empty=True)
        runner = doctest.DocTestRunner(verbose=False, optionflags=doctest.ELLIPSIS)  # as pytest
        for test in finder.find(module, name):
            result = runner.run(test, out=lambda text, n=name: failures.update(
                {n: failures.get(n, "") + text}))
            attempted += result.attempted
    return {"modules": len(names) + 1, "examples": attempted, "failures": failures,
            "refused": sorted(blocker.refused)}


if __name__ == "__main__":
    print(json.dumps(run_with_only_declared()))
