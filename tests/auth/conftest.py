"""Shared fixtures for the auth tests: an isolated environment and running JWT issuers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jazz_nb.testing.jwt_issuer import TestJwtIssuer, start_test_jwt_issuer


@pytest.fixture(autouse=True)
def _isolated(isolated_env: None) -> None:
    """No test reads or writes the developer's real secrets (``isolated_env``)."""


@pytest.fixture(scope="module", params=["ES256", "RS256", "EdDSA"])
def issuer(request) -> Iterator[TestJwtIssuer]:
    """A real JWKS issuer on loopback, once per signature algorithm."""
    with start_test_jwt_issuer(request.param) as running:
        yield running
