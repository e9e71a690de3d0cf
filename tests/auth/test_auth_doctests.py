"""Every example in the auth docstrings runs and is right."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "jazz_nb.auth",
    "jazz_nb.auth._b64",
    "jazz_nb.auth.cli",
    "jazz_nb.auth.external_jwt",
    "jazz_nb.auth.identity",
    "jazz_nb.auth.recovery",
    "jazz_nb.auth.secret_store",
    "jazz_nb.auth.server_auth",
    "jazz_nb.auth.session",
    "jazz_nb.auth.tokens",
    "jazz_nb.testing.jwt_issuer",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


@pytest.mark.parametrize("name", MODULES)
def test_every_public_function_has_an_example(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    missing = [
        test.name for test in finder.find(module)
        if not test.examples and test.name != name  # module docstrings may be prose
        and not test.name.rsplit(".", 1)[-1].startswith("_")
    ]
    assert not missing
