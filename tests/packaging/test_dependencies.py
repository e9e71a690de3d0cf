"""The package declares what it imports, and works with only what it declares.

A dependency that is merely present (jinja2 through some test tool, IPython through ipywidgets)
passes every other test on a developer's machine and fails on a fresh install; these tests fail
first instead.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from tests.packaging.declared import (
    ROOT,
    canonical,
    core_requirements,
    pyproject,
    third_party_imports,
)

LOWEST = ROOT / "constraints" / "lowest.txt"
TESTED = ROOT / "constraints" / "tested.txt"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{path.name}: {line!r} is not an exact pin"
            pins[canonical(requirement.name)] = spec.version
    return pins


def test_every_third_party_import_is_a_declared_dependency() -> None:
    declared = {canonical(r.name) for r in core_requirements()}
    owners = metadata.packages_distributions()
    undeclared = []
    for module, where in third_party_imports():
        dists = {canonical(d) for d in owners.get(module, [])}
        if not dists & declared:
            undeclared.append(f"{where}: import {module} (from {sorted(dists) or 'nothing'})")
    assert not undeclared, "imports of undeclared distributions:\n" + "\n".join(undeclared)


def test_every_module_and_doctest_runs_with_only_the_declared_dependencies() -> None:
    script = Path(__file__).with_name("declared.py")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["modules"] > 50 and report["examples"] > 500, report
    assert not report["failures"], "\n".join(
        f"--- {name}\n{text[-2000:]}" for name, text in report["failures"].items())


def test_the_blocker_refuses_what_is_not_declared() -> None:
    """The subprocess check is only as good as its blocker: an installed, undeclared module
    (pytest is one here) must fail to import under it."""
    code = ("import sys; sys.path.insert(0, 'tests/packaging'); import declared as d\n"
            "import importlib.util; d.install_blocker()\n"
            "print('find_spec', importlib.util.find_spec('pytest'))\n"
            "try:\n    import pytest\nexcept ModuleNotFoundError as e:\n    print(e)\n"
            "import pandas; print('pandas ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert "find_spec None" in done.stdout and "No module named 'pytest'" in done.stdout, (
        done.stdout, done.stderr)
    assert "pandas ok" in done.stdout


def test_lowest_constraints_pin_exactly_the_declared_lower_bounds() -> None:
    lowest = _pins(LOWEST)
    for requirement in core_requirements():
        bounds = [s.version for s in requirement.specifier if s.operator == ">="]
        assert len(bounds) == 1, f"{requirement} needs one lower bound (>=)"
        name = canonical(requirement.name)
        assert name in lowest and Version(lowest[name]) == Version(bounds[0]), (
            f"constraints/lowest.txt pins {name}=={lowest.get(name)}; pyproject says "
            f"{requirement}")


def test_tested_constraints_pin_every_dependency_of_the_test_environment() -> None:
    tested = _pins(TESTED)
    extras = pyproject()["project"]["optional-dependencies"]["test"]
    wanted = [*core_requirements(), *(Requirement(t) for t in extras)]
    for requirement in wanted:
        name = canonical(requirement.name)
        assert name in tested, f"constraints/tested.txt has no pin for {name}"
        assert requirement.specifier.contains(tested[name], prereleases=True), (
            f"constraints/tested.txt pins {name}=={tested[name]}, outside {requirement}")
