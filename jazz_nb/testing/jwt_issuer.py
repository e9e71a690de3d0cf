"""A throwaway OIDC-style JWT issuer for tests: real keys, a real JWKS endpoint on loopback.

Mirrors Jazz's ``startTestJwtIssuer()`` (§9.2). Keys are generated with ``cryptography``;
the JWKS is served by a stdlib HTTP server on ``127.0.0.1`` (port 0) in a daemon thread.

Example:
    >>> with start_test_jwt_issuer("EdDSA") as issuer:
    ...     token = issuer.token_for("alice", {"role": "editor"})
    ...     issuer.jwks_url.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

JWKS_PATH = "/.well-known/jwks.json"
SUPPORTED_ALGORITHMS = ("ES256", "ES384", "RS256", "PS256", "EdDSA")


def _generate_key(alg: str) -> Any:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg in ("RS256", "PS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported algorithm {alg!r}; use one of {SUPPORTED_ALGORITHMS}")


class TestJwtIssuer:
    """A running issuer: ``jwks_url``, ``token_for(...)``, ``rotate()``, ``stop()``.

    Example:
        >>> issuer = TestJwtIssuer("ES256")
        >>> issuer.public_jwk["alg"], issuer.public_jwk["kty"]
        ('ES256', 'EC')
        >>> issuer.stop()
    """

    __test__ = False  # not a pytest test class

    def __init__(self, alg: str = "ES256", *, issuer: str = "https://issuer.test") -> None:
        self.alg = alg
        self.issuer = issuer
        self.jwks_requests = 0
        self._lock = threading.Lock()
        self.rotate()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="test-jwt-issuer", daemon=True,
        )
        self._thread.start()
        self._stopped = False

    @property
    def url(self) -> str:
        """Base URL of the issuer's HTTP server.

        Example:
            >>> with TestJwtIssuer("EdDSA") as issuer:
            ...     issuer.jwks_url == issuer.url + JWKS_PATH
            True
        """
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def jwks_url(self) -> str:
        """The JWKS endpoint to configure a server with.

        Example:
            >>> with TestJwtIssuer("EdDSA") as issuer:
            ...     issuer.jwks_url.endswith("/.well-known/jwks.json")
            True
        """
        return self.url + JWKS_PATH

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The current public key as a JWK (with ``kid``, ``alg``, ``use``).

        Example:
            >>> with TestJwtIssuer("EdDSA") as issuer:
            ...     issuer.public_jwk["crv"]
            'Ed25519'
        """
        algorithm = jwt.get_algorithm_by_name(self.alg)
        jwk = algorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    @property
    def public_key_pem(self) -> str:
        """The current public key as PEM (SubjectPublicKeyInfo).

        Example:
            >>> with TestJwtIssuer("RS256") as issuer:
            ...     issuer.public_key_pem.splitlines()[0]
            '-----BEGIN PUBLIC KEY-----'
        """
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def jwks(self) -> dict[str, Any]:
        """The JWKS document the endpoint serves.

        Example:
            >>> with TestJwtIssuer("EdDSA") as issuer:
            ...     len(issuer.jwks()["keys"])
            1
        """
        return {"keys": [self.public_jwk]}

    def rotate(self) -> str:
        """Replace the signing key (and its ``kid``); return the new ``kid``.

        Example:
            >>> with TestJwtIssuer("EdDSA") as issuer:
            ...     old = issuer.kid
            ...     issuer.rotate() != old
            True
        """
        with self._lock:
            self._key = _generate_key(self.alg)
            self.kid = secrets.token_hex(8)
        return self.kid

    def token_for(
        self, user_id: str, claims: Mapping[str, Any] | None = None, ttl: int | None = 3600,
        *, now: int | None = None, issuer: str | None = None,
        extra: Mapping[str, Any] | None = None, kid: str | None = None,
    ) -> str:
        """A signed JWT with ``sub=user_id``, ``claims`` nested under ``claims``.

        ``ttl=None`` omits ``exp``; ``extra`` adds top-level claims; ``kid`` overrides the
        header's key id.

        Example:
            >>> with TestJwtIssuer("EdDSA") as issuer:
            ...     token = issuer.token_for("u", {"r": 1})
            >>> jwt.decode(token, options={"verify_signature": False})["claims"]
            {'r': 1}
        """
        issued = int(time.time()) if now is None else now
        payload: dict[str, Any] = {
            "sub": user_id, "iss": self.issuer if issuer is None else issuer,
            "iat": issued, "claims": dict(claims or {}),
        }
        if ttl is not None:
            payload["exp"] = issued + ttl
        payload.update(extra or {})
        headers = {"kid": self.kid if kid is None else kid}
        return jwt.encode(payload, self._key, algorithm=self.alg, headers=headers)

    def stop(self) -> None:
        """Shut the HTTP server down (idempotent).

        Example:
            >>> issuer = TestJwtIssuer("EdDSA"); issuer.stop(); issuer.stop()
        """
        if not self._stopped:
            self._stopped = True
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def __enter__(self) -> TestJwtIssuer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"TestJwtIssuer(alg={self.alg!r}, jwks_url={self.jwks_url!r})"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != JWKS_PATH:
                    self.send_error(404)
                    return
                with issuer._lock:
                    issuer.jwks_requests += 1
                body = json.dumps(issuer.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output quiet."""

        return Handler


def start_test_jwt_issuer(alg: str = "ES256", *, issuer: str = "https://issuer.test"
                          ) -> TestJwtIssuer:
    """Start a test issuer (``ES256`` by default; ``RS256``, ``PS256``, ``ES384``, ``EdDSA``).

    Example:
        >>> with start_test_jwt_issuer("RS256") as issuer:
        ...     issuer.alg
        'RS256'
    """
    return TestJwtIssuer(alg, issuer=issuer)
