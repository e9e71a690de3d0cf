"""Self-signed Jazz tokens: mint and verify, byte-compatible with ``core/identity.rs`` (§7.3).

A token is a compact JWT signed with the identity's Ed25519 key. Header
``{"alg":"EdDSA","typ":"JWT"}``; payload keys in the order
``iss, sub, aud, jazz_pub_key, iat, exp``; nothing else.

Example:
    >>> from jazz_nb.auth.identity import generate_secret, user_id
    >>> secret = generate_secret()
    >>> token = mint_token(secret, "my-app", now=1_000_000)
    >>> verify_token(token, "my-app", now=1_000_010).user_id == user_id(secret)
    True
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from jazz_nb.auth._b64 import b64url_decode, b64url_encode
from jazz_nb.auth.identity import (
    Secret,
    is_valid_public_key,
    normalize_audience,
    signing_key,
    user_id_from_public_key,
)
from jazz_nb.errors import AuthError

LOCAL_FIRST_ISSUER = "urn:jazz:local-first"
ANONYMOUS_ISSUER = "urn:jazz:anonymous"
SELF_SIGNED_ISSUERS = (LOCAL_FIRST_ISSUER, ANONYMOUS_ISSUER)
DEFAULT_MAX_TTL_SECONDS = 3600
DEFAULT_PROOF_TTL_SECONDS = 60
CLOCK_SKEW_SECONDS = 60
MAX_TOKEN_LENGTH = 8192
"""Longest token accepted (characters); a real self-signed token is about 420."""

_HEADER = '{"alg":"EdDSA","typ":"JWT"}'
_CLAIMS = ("iss", "sub", "aud", "jazz_pub_key", "iat", "exp")
_U64_MAX = 2**64 - 1


@dataclass(frozen=True)
class VerifiedToken:
    """What a valid self-signed token proves: who signed it, with which key, as which issuer.

    Example:
        >>> VerifiedToken("u", bytes(32), ANONYMOUS_ISSUER).auth_mode
        'anonymous'
    """

    user_id: str
    public_key: bytes
    issuer: str

    @property
    def auth_mode(self) -> Literal["local-first", "anonymous"]:
        """The session auth mode this issuer maps to.

        Example:
            >>> VerifiedToken("u", bytes(32), LOCAL_FIRST_ISSUER).auth_mode
            'local-first'
        """
        return "anonymous" if self.issuer == ANONYMOUS_ISSUER else "local-first"


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


def _check_u64(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U64_MAX:
        raise AuthError("malformed", f"'{name}' must be a non-negative integer")
    return value


def mint_token(
    secret: Secret,
    app_id: str,
    ttl: int = DEFAULT_MAX_TTL_SECONDS,
    *,
    now: int | None = None,
    issuer: str = LOCAL_FIRST_ISSUER,
) -> str:
    """Mint a self-signed token for ``app_id`` (the audience), valid ``ttl`` seconds from ``now``.

    ``issuer`` is ``urn:jazz:local-first`` (a ``secret`` client) or ``urn:jazz:anonymous``.

    Example:
        >>> token = mint_token(bytes([1]) * 32, "test-app", now=1_000_000)
        >>> token.split(".")[2][:12]
        'rcVFesz-qtYe'
    """
    iat = _check_u64("now", _now(now))
    exp = _check_u64("exp", iat + _check_u64("ttl", ttl))
    key = signing_key(secret)
    pub = key.verify_key.encode()
    payload = {
        "iss": issuer,
        "sub": user_id_from_public_key(pub),
        "aud": normalize_audience(app_id),
        "jazz_pub_key": b64url_encode(pub),
        "iat": iat,
        "exp": exp,
    }
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    signing_input = f"{b64url_encode(_HEADER.encode())}.{b64url_encode(body.encode())}"
    signature = key.sign(signing_input.encode("ascii")).signature
    return f"{signing_input}.{b64url_encode(signature)}"


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise AuthError("malformed", f"duplicate claim '{name}'")
        result[name] = value
    return result


def _decode_json_part(part: str, what: str) -> dict[str, Any]:
    try:
        raw = b64url_decode(part)
    except ValueError:
        raise AuthError("malformed", f"token {what} is not base64url") from None
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, ValueError):
        raise AuthError("malformed", f"token {what} is not JSON") from None
    if not isinstance(value, dict):
        raise AuthError("malformed", f"token {what} is not a JSON object")
    return value


def _optional_str(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise AuthError("malformed", f"claim '{name}' must be a string")
    return value


def _optional_u64(claims: dict[str, Any], name: str) -> int | None:
    value = claims.get(name)
    return None if value is None else _check_u64(name, value)


def verify_token(
    token: str,
    app_id: str,
    *,
    now: int | None = None,
    max_ttl: int = DEFAULT_MAX_TTL_SECONDS,
) -> VerifiedToken:
    """Verify a self-signed token for audience ``app_id``; raise ``AuthError`` with a reason code.

    Checks, in Jazz's order: three parts (``malformed``), ``alg == "EdDSA"``
    (``wrong-algorithm``), no claim outside the six (``unknown-claim``), issuer
    (``bad-issuer``), audience (``wrong-audience``), public key (``bad-public-key``),
    strict Ed25519 signature (``bad-signature``), ``sub`` is the key's user id
    (``sub-mismatch``), ``iat <= now + 60`` (``future-iat``), ``exp > now`` (``expired``),
    ``exp - iat <= max_ttl`` (``ttl-too-long``). Tokens longer than ``MAX_TOKEN_LENGTH``
    are ``oversized``.

    Example:
        >>> token = mint_token(bytes(32), "my-app", ttl=60, now=1000)
        >>> verify_token(token, "my-app", now=1030).user_id
        '412a3d72-132d-5e55-bad2-d3bad0eb5ea5'
        >>> verify_token(token, "my-app", now=2000)
        Traceback (most recent call last):
        ...
        jazz_nb.errors.AuthError: token expired: exp=1060, now=2000 [expired]
    """
    if not isinstance(token, str):
        raise AuthError("malformed", "a token must be a string")
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthError("oversized", f"token is longer than {MAX_TOKEN_LENGTH} characters")
    expected_aud = normalize_audience(app_id)
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("malformed", "a token must have exactly 3 dot-separated parts")
    header_b64, claims_b64, sig_b64 = parts

    header = _decode_json_part(header_b64, "header")
    if header.get("alg") != "EdDSA":
        raise AuthError("wrong-algorithm", "token header 'alg' must be 'EdDSA'")

    claims = _decode_json_part(claims_b64, "payload")
    unknown = sorted(set(claims) - set(_CLAIMS))
    if unknown:
        raise AuthError("unknown-claim", f"unknown claim(s) {', '.join(map(repr, unknown))}")
    iss, sub, aud = (_optional_str(claims, name) for name in ("iss", "sub", "aud"))
    pub_b64 = _optional_str(claims, "jazz_pub_key")
    iat, exp = _optional_u64(claims, "iat"), _optional_u64(claims, "exp")

    if iss not in SELF_SIGNED_ISSUERS:
        raise AuthError("bad-issuer", f"claim 'iss' must be one of {SELF_SIGNED_ISSUERS}")
    if aud != expected_aud:
        raise AuthError("wrong-audience", f"claim 'aud' is not {expected_aud!r}")

    if pub_b64 is None:
        raise AuthError("bad-public-key", "claim 'jazz_pub_key' is missing")
    try:
        pub = b64url_decode(pub_b64)
    except ValueError:
        raise AuthError("bad-public-key", "claim 'jazz_pub_key' is not base64url") from None
    if not is_valid_public_key(pub):
        raise AuthError("bad-public-key", "claim 'jazz_pub_key' is not a 32-byte Ed25519 key")

    try:
        signature = b64url_decode(sig_b64)
    except ValueError:
        raise AuthError("bad-signature", "token signature is not base64url") from None
    if len(signature) != 64:
        raise AuthError("bad-signature", "token signature must be 64 bytes")
    try:
        VerifyKey(pub).verify(f"{header_b64}.{claims_b64}".encode("ascii"), signature)
    except BadSignatureError:
        raise AuthError("bad-signature", "token signature verification failed") from None

    derived = user_id_from_public_key(pub)
    if sub is None:
        raise AuthError("sub-mismatch", "claim 'sub' is missing")
    if sub != derived:
        raise AuthError("sub-mismatch", f"claim 'sub' is not the key's user id {derived}")

    current = _now(now)
    if iat is None or exp is None:
        raise AuthError("malformed", "claims 'iat' and 'exp' are required")
    if iat > current + CLOCK_SKEW_SECONDS:
        raise AuthError("future-iat", f"token issued in the future: iat={iat}, now={current}")
    if exp <= current:
        raise AuthError("expired", f"token expired: exp={exp}, now={current}")
    if exp - iat > max_ttl:
        raise AuthError("ttl-too-long", f"token ttl {exp - iat}s exceeds max {max_ttl}s")
    return VerifiedToken(derived, pub, iss)


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` claim of a token without verifying anything (``None`` if unreadable).

    Used to route a bearer token to the self-signed or the external-JWT path.

    Example:
        >>> unverified_issuer(mint_token(bytes(32), "a", issuer=ANONYMOUS_ISSUER))
        'urn:jazz:anonymous'
        >>> unverified_issuer("garbage") is None
        True
    """
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        iss = _decode_json_part(parts[1], "payload").get("iss")
    except AuthError:
        return None
    return iss if isinstance(iss, str) else None


def identity_proof(secret: Secret, audience: str, ttl: int = DEFAULT_PROOF_TTL_SECONDS,
                   *, now: int | None = None) -> str:
    """A short-lived token proving to an app server (``audience``) that you hold ``secret``.

    Same format as a connection token (``getLocalFirstIdentityProof`` in Jazz), default TTL 60 s.

    Example:
        >>> proof = identity_proof(bytes(32), "betterauth-signup", now=5000)
        >>> verify_identity_proof(proof, "betterauth-signup", now=5001)
        '412a3d72-132d-5e55-bad2-d3bad0eb5ea5'
    """
    return mint_token(secret, audience, ttl, now=now, issuer=LOCAL_FIRST_ISSUER)


def verify_identity_proof(token: str, audience: str, *, now: int | None = None,
                          max_ttl: int = DEFAULT_MAX_TTL_SECONDS) -> str:
    """Verify a local-first identity proof and return the proven user id.

    Only ``urn:jazz:local-first`` proofs are accepted (an anonymous key proves nothing).

    Example:
        >>> proof = identity_proof(bytes(32), "signup", now=10)
        >>> verify_identity_proof(proof, "other", now=10)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.errors.AuthError: claim 'aud' is not ... [wrong-audience]
    """
    verified = verify_token(token, audience, now=now, max_ttl=max_ttl)
    if verified.issuer != LOCAL_FIRST_ISSUER:
        raise AuthError("bad-issuer", f"an identity proof must be issued by {LOCAL_FIRST_ISSUER}")
    return verified.user_id


__all__ = [
    "ANONYMOUS_ISSUER",
    "LOCAL_FIRST_ISSUER",
    "MAX_TOKEN_LENGTH",
    "VerifiedToken",
    "identity_proof",
    "mint_token",
    "unverified_issuer",
    "verify_identity_proof",
    "verify_token",
]
