"""Every example in the query docstrings runs and is right."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["jazz_nb.query", "jazz_nb.query.builder", "jazz_nb.query.columns",
           "jazz_nb.query.ir", "jazz_nb.query.results", "jazz_nb.query.sql"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
