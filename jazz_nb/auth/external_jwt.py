"""External (provider) JWTs: signature-only verification as Jazz does it (§7.4).

Keys come from a JWKS URL (cached 300 s, served up to 300 s stale if the endpoint fails,
re-fetched on an unknown ``kid`` or a bad signature at most every 10 s) or from one public key
(a JWK JSON object or a PEM). ``aud``, ``iss`` and ``nbf`` are not checked; ``exp`` only when
present. The session is ``user_id = sub`` with ``claims = payload["claims"]`` plus ``subject``
and ``issuer``; top-level custom claims are ignored.

Example:
    >>> import jwt
    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> from cryptography.hazmat.primitives import serialization as ser
    >>> key = Ed25519PrivateKey.generate()
    >>> pem = key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    >>> token = jwt.encode({"sub": "alice", "claims": {"role": "editor"}}, key, algorithm="EdDSA")
    >>> ExternalJwtVerifier(public_key=pem.decode()).verify(token).claims
    {'role': 'editor', 'subject': 'alice'}
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from jazz_nb.auth.session import Session
from jazz_nb.errors import AuthError

ALGORITHMS = frozenset({
    "HS256", "HS384", "HS512", "ES256", "ES384", "RS256", "RS384", "RS512",
    "PS256", "PS384", "PS512", "EdDSA",
})
"""Signature algorithms accepted for external JWTs (Jazz's list; never ``none``)."""
JWKS_CACHE_TTL = 300.0
JWKS_MAX_STALE = 300.0
JWKS_REFRESH_COOLDOWN = 10.0
MAX_EXTERNAL_TOKEN_LENGTH = 16384

_PEM_ALGORITHMS: tuple[tuple[type, frozenset[str]], ...] = (
    (rsa.RSAPublicKey, frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})),
    (ec.EllipticCurvePublicKey, frozenset({"ES256", "ES384"})),
    (ed25519.Ed25519PublicKey, frozenset({"EdDSA"})),
)
_DECODE_OPTIONS: dict[str, Any] = {
    "verify_signature": True, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
    "verify_aud": False, "verify_iss": False, "verify_sub": False, "verify_jti": False,
    "require": [],
}
_U64_MAX = 2**64 - 1


class _Retryable(AuthError):
    """No key matched or the signature failed: a fresh JWKS might help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.detail = message


class JwksCache:
    """A JWKS document fetched over HTTP(S) with Jazz's cache rules; thread-safe.

    Example:
        >>> cache = JwksCache("http://127.0.0.1:9/jwks.json")
        >>> cache.url
        'http://127.0.0.1:9/jwks.json'
    """

    def __init__(
        self, url: str, *, ttl: float = JWKS_CACHE_TTL, max_stale: float = JWKS_MAX_STALE,
        refresh_cooldown: float = JWKS_REFRESH_COOLDOWN, timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout)
        self._ttl, self._max_stale, self._cooldown = ttl, max_stale, refresh_cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: list[dict[str, Any]] | None = None
        self._fetched_at = float("-inf")
        self._last_forced = float("-inf")

    def keys(self, *, force_refresh: bool = False) -> list[dict[str, Any]]:
        """The JWK dicts of the set; cached unless stale or a (rate-limited) refresh is forced.

        Raises ``AuthError("jwks-unavailable")`` when nothing usable can be had.

        Example:
            >>> JwksCache("http://127.0.0.1:9/none", timeout=1).keys()  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            jazz_nb.errors.AuthError: unable to load JWKS from ... [jwks-unavailable]
        """
        with self._lock:
            now = self._clock()
            if force_refresh:
                if now - self._last_forced <= self._cooldown:
                    force_refresh = False
                else:  # counted even if the fetch fails: callers cannot force a fetch storm
                    self._last_forced = now
            if not force_refresh and self._keys is not None and now - self._fetched_at <= self._ttl:
                return self._keys
            try:
                keys = _jwks_keys(self._client.fetch_data())
            except Exception:
                if self._keys is not None and now - self._fetched_at <= self._ttl + self._max_stale:
                    return self._keys
                message = f"unable to load JWKS from {self.url}"
                raise AuthError("jwks-unavailable", message) from None
            self._keys, self._fetched_at = keys, now
            return keys


def _jwks_keys(document: Any) -> list[dict[str, Any]]:
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ValueError("a JWKS document needs a non-empty 'keys' list")
    return [key for key in keys if isinstance(key, dict)]


def _load_public_key(text: str | Mapping[str, Any]) -> Any:
    """A JWK dict or a `cryptography` public key from JWK JSON, PEM, or a path to either."""
    if isinstance(text, Mapping):
        return dict(text)
    stripped = text.strip()
    if not stripped:
        raise AuthError("invalid-config", "the JWT public key is empty")
    if stripped.startswith("{"):
        try:
            jwk_data = json.loads(stripped)
        except ValueError:
            raise AuthError("invalid-config", "the JWT public key is not valid JSON") from None
        if isinstance(jwk_data, dict) and isinstance(jwk_data.get("kty"), str):
            return jwk_data
    elif "-----BEGIN" in stripped:
        try:
            key = load_pem_public_key(stripped.encode())
        except ValueError:
            raise AuthError("invalid-config", "the JWT public key PEM is unreadable") from None
        if any(isinstance(key, kind) for kind, _ in _PEM_ALGORITHMS):
            return key
    elif "\n" not in stripped and Path(stripped).is_file():
        return _load_public_key(Path(stripped).read_text())
    raise AuthError(
        "invalid-config",
        "unsupported JWT public key; expected one JWK JSON object or a PEM public key",
    )


def _u64_or_none(payload: Mapping[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U64_MAX:
        raise AuthError("malformed", f"JWT claim '{name}' must be a non-negative integer")
    return value


def session_from_payload(payload: Mapping[str, Any], *, now: int | None = None) -> Session:
    """The Jazz session of a signature-checked external JWT payload (``exp`` checked here).

    Example:
        >>> payload = {"sub": " u1 ", "iss": "https://idp", "claims": {"r": 1}}
        >>> session = session_from_payload(payload)
        >>> session.user_id, session.claims
        ('u1', {'r': 1, 'subject': 'u1', 'issuer': 'https://idp'})
    """
    sub, iss = payload.get("sub"), payload.get("iss")
    if not isinstance(sub, str):
        raise AuthError("malformed", "JWT claim 'sub' must be a string")
    if iss is not None and not isinstance(iss, str):
        raise AuthError("malformed", "JWT claim 'iss' must be a string")
    exp = _u64_or_none(payload, "exp")
    _u64_or_none(payload, "iat")
    current = int(time.time()) if now is None else now
    if exp is not None and exp <= current:
        raise AuthError("expired", f"JWT has expired: exp={exp}, now={current}")
    subject = sub.strip()
    if not subject:
        raise AuthError("invalid-subject", "JWT claim 'sub' is empty")
    issuer = (iss or "").strip() or None
    nested = payload.get("claims")
    if isinstance(nested, dict):
        claims = {**nested, "subject": subject}
        if issuer is not None:
            claims["issuer"] = issuer
    else:
        claims = {"subject": subject, "issuer": issuer}
    return Session(subject, claims, "external")


class ExternalJwtVerifier:
    """Verifies provider JWTs against a JWKS URL or one public key (exactly one of them).

    Example:
        >>> ExternalJwtVerifier(jwks_url="https://idp.example/.well-known/jwks.json").source
        'jwks'
    """

    def __init__(
        self, *, jwks_url: str | None = None, public_key: str | Mapping[str, Any] | None = None,
        jwks_cache: JwksCache | None = None,
    ) -> None:
        if jwks_cache is None and jwks_url is not None:
            jwks_cache = JwksCache(jwks_url)
        if (jwks_cache is None) == (public_key is None):
            raise AuthError("invalid-config", "give exactly one of jwks_url and jwt_public_key")
        self._jwks = jwks_cache
        self._static = None if public_key is None else _load_public_key(public_key)

    @property
    def source(self) -> str:
        """``"jwks"``, ``"jwk"`` or ``"pem"``: where keys come from.

        Example:
            >>> ExternalJwtVerifier(public_key={"kty": "oct", "k": "c2VjcmV0"}).source
            'jwk'
        """
        if self._jwks is not None:
            return "jwks"
        return "jwk" if isinstance(self._static, dict) else "pem"

    def verify(self, token: str, *, now: int | None = None) -> Session:
        """Check the signature (and ``exp`` if present) and return the external session.

        Reason codes: ``oversized``, ``malformed``, ``wrong-algorithm``, ``unknown-key``,
        ``bad-signature``, ``jwks-unavailable``, ``expired``, ``invalid-subject``.

        Example:
            >>> ExternalJwtVerifier(public_key={"kty": "oct", "k": "c2VjcmV0"}).verify("x.y")
            Traceback (most recent call last):
            ...
            jazz_nb.errors.AuthError: invalid JWT header [malformed]
        """
        if not isinstance(token, str):
            raise AuthError("malformed", "a JWT must be a string")
        if len(token) > MAX_EXTERNAL_TOKEN_LENGTH:
            raise AuthError("oversized", f"JWT is longer than {MAX_EXTERNAL_TOKEN_LENGTH} chars")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed", "invalid JWT header") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError("wrong-algorithm", f"JWT algorithm {alg!r} is not accepted")
        try:
            payload = self._signed_payload(token, alg, header.get("kid"))
        except _Retryable as err:
            raise AuthError(err.code or "bad-signature", err.detail) from None
        return session_from_payload(payload, now=now)

    def _signed_payload(self, token: str, alg: str, kid: Any) -> dict[str, Any]:
        if self._jwks is None:
            if isinstance(self._static, dict):
                return _decode_with_jwks(token, [self._static], alg, kid)
            return _decode_with_pem(token, self._static, alg)
        try:
            return _decode_with_jwks(token, self._jwks.keys(), alg, kid)
        except _Retryable:  # the provider may have rotated its keys
            return _decode_with_jwks(token, self._jwks.keys(force_refresh=True), alg, kid)


def _decode(token: str, key: Any, alg: str) -> dict[str, Any]:
    try:
        return jwt.decode(token, key=key, algorithms=[alg], options=_DECODE_OPTIONS)
    except jwt.InvalidSignatureError:
        raise _Retryable("bad-signature", "JWT signature verification failed") from None
    except (jwt.InvalidKeyError, jwt.InvalidAlgorithmError):
        raise _Retryable("unknown-key", f"the key cannot verify {alg} signatures") from None
    except jwt.PyJWTError:
        raise AuthError("malformed", "the JWT cannot be decoded") from None


def _decode_with_jwks(
    token: str, keys: list[dict[str, Any]], alg: str, kid: Any
) -> dict[str, Any]:
    last: AuthError = _Retryable("unknown-key", f"no JWKS key matches kid {kid!r} / alg {alg}")
    for data in keys:
        if kid is not None and data.get("kid") != kid:
            continue
        if "alg" in data and data["alg"] != alg:
            continue
        try:
            key = jwt.PyJWK(data, algorithm=alg).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        try:
            return _decode(token, key, alg)
        except _Retryable as err:
            last = err
    raise last


def _decode_with_pem(token: str, key: Any, alg: str) -> dict[str, Any]:
    allowed = next(algs for kind, algs in _PEM_ALGORITHMS if isinstance(key, kind))
    if alg not in allowed:
        raise AuthError("wrong-algorithm", f"JWT algorithm {alg} does not fit the configured key")
    return _decode(token, key, alg)
