"""Helpers for tests and notebooks: a local JWT issuer and a policy test app.

Example:
    >>> # with jz.testing.start_test_jwt_issuer() as issuer: issuer.token_for("alice")
"""

from jazz_nb.testing.jwt_issuer import TestJwtIssuer, start_test_jwt_issuer
from jazz_nb.testing.policy_app import PolicyTestApp

__all__ = ["PolicyTestApp", "TestJwtIssuer", "start_test_jwt_issuer"]
