"""Every example in the store's docstrings runs, and every public function has one."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "jazz_nb.store",
    "jazz_nb.store.changes",
    "jazz_nb.store.layout",
    "jazz_nb.store.merge",
    "jazz_nb.store.store",
    "jazz_nb.store.tables",
    "jazz_nb.store.versions",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


@pytest.mark.parametrize("name", MODULES)
def test_public_functions_have_examples(name: str) -> None:
    module = importlib.import_module(name)
    missing = [test.name for test in doctest.DocTestFinder().find(module)
               if not test.examples and test.name != name
               and not test.name.rsplit(".", 1)[-1].startswith("_")]
    assert not missing
