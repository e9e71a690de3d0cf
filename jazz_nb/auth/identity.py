"""Local-first identity: a 32-byte secret -> Ed25519 key -> UUIDv5 user id (§7.2).

The derivation is Jazz's own (``core/identity.rs``): the Ed25519 seed is the first 32 bytes of
``SHA-512(b"jazz-auth-sign-v1" + secret)`` and the user id is
``UUIDv5(namespace=b"jazz-auth-key-v1", name=public_key)``.

Example:
    >>> secret = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
    >>> user_id(secret)
    '047599db-77b8-5c5f-a75b-eff9fb852217'
"""

from __future__ import annotations

import hashlib
import re
import secrets as _secrets
import uuid

from nacl.signing import SigningKey

from jazz_nb.auth._b64 import b64url_decode, b64url_encode
from jazz_nb.errors import AuthError

SIGN_DOMAIN = b"jazz-auth-sign-v1"
KEY_NAMESPACE = uuid.UUID(bytes=b"jazz-auth-key-v1")
SECRET_BYTES = 32

Secret = str | bytes
"""A secret as base64url text (Jazz's form) or as the 32 raw bytes."""

_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P
_UUID_FORMS = re.compile(
    r"(?:urn:uuid:)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}"
    r"|[0-9a-fA-F]{32}"
)


def generate_secret() -> str:
    """Return a fresh secret: 32 random bytes as base64url without padding (43 characters).

    Example:
        >>> len(generate_secret()), len(decode_secret(generate_secret()))
        (43, 32)
    """
    return encode_secret(_secrets.token_bytes(SECRET_BYTES))


def encode_secret(seed: bytes) -> str:
    """Encode 32 raw secret bytes in Jazz's text form (base64url, no padding).

    Example:
        >>> encode_secret(bytes([0xAA]) + bytes(30) + bytes([0x01]))
        'qgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE'
    """
    if not isinstance(seed, bytes | bytearray) or len(seed) != SECRET_BYTES:
        raise AuthError("invalid-secret", f"a secret seed must be exactly {SECRET_BYTES} bytes")
    return b64url_encode(bytes(seed))


def decode_secret(secret: Secret) -> bytes:
    """Return the 32 secret bytes of a base64url secret (or of 32 raw bytes).

    Surrounding whitespace is ignored. The error never echoes the value.

    Example:
        >>> decode_secret("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE") == bytes([1]) * 32
        True
        >>> decode_secret("not a secret")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.errors.AuthError: a secret must be 32 bytes ... [invalid-secret]
    """
    if isinstance(secret, bytes | bytearray):
        if len(secret) == SECRET_BYTES:
            return bytes(secret)
    elif isinstance(secret, str):
        try:
            seed = b64url_decode(secret.strip())
        except ValueError:
            seed = b""
        if len(seed) == SECRET_BYTES:
            return seed
    raise AuthError("invalid-secret", "a secret must be 32 bytes as base64url without padding")


def signing_key(secret: Secret) -> SigningKey:
    """The Ed25519 signing key of a secret: seed = SHA-512(domain + secret)[:32].

    Example:
        >>> signing_key(bytes(32)).verify_key.encode().hex()[:16]
        'f9f532c83b83c214'
    """
    digest = hashlib.sha512(SIGN_DOMAIN + decode_secret(secret)).digest()
    return SigningKey(digest[:32])


def public_key(secret: Secret) -> bytes:
    """The 32-byte Ed25519 public key of a secret.

    Example:
        >>> public_key(bytes([1]) * 32).hex()
        '73908483f407d0fd531009ab13061e28d7c289beed43899c09181eb587f8ef23'
    """
    return signing_key(secret).verify_key.encode()


def user_id_from_public_key(key: bytes) -> str:
    """The Jazz user id of an Ed25519 public key: UUIDv5(KEY_NAMESPACE, raw key bytes).

    Example:
        >>> user_id_from_public_key(public_key(bytes(32)))
        '412a3d72-132d-5e55-bad2-d3bad0eb5ea5'
    """
    # uuid.uuid5 only takes str names; build it from the raw bytes as RFC 4122 says.
    digest = hashlib.sha1(KEY_NAMESPACE.bytes + bytes(key)).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


def user_id(secret: Secret) -> str:
    """The Jazz user id (UUIDv5 string) a secret signs in as.

    Example:
        >>> user_id("qgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE")
        '426bda13-c6f0-58a6-9a29-c25e7079b917'
    """
    return user_id_from_public_key(public_key(secret))


def is_valid_public_key(key: bytes) -> bool:
    """True if ``key`` is 32 bytes that decode to a point on Ed25519 (RFC 8032 §5.1.3).

    Example:
        >>> is_valid_public_key(public_key(bytes(32)))
        True
        >>> is_valid_public_key(bytes([2]) + bytes(31))
        False
    """
    if not isinstance(key, bytes | bytearray) or len(key) != 32:
        return False
    encoded = int.from_bytes(key, "little")
    y, sign = encoded & ((1 << 255) - 1), encoded >> 255
    if y >= _P:
        return False
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    if x2 == 0:
        return sign == 0
    return pow(x2, (_P - 1) // 2, _P) == 1


def normalize_audience(audience: str) -> str:
    """Jazz's app-id mapping: a UUID stays (canonical lowercase), any other name -> UUIDv5(DNS).

    Accepts the UUID spellings Rust's ``Uuid::parse_str`` does (hyphenated, simple, braced,
    ``urn:uuid:``).

    Example:
        >>> normalize_audience("test-app")
        '9d8eec59-b2e1-5975-9d1f-7c9564520324'
        >>> normalize_audience("6A617A7A-2D61-7574-682D-6B65792D7631")
        '6a617a7a-2d61-7574-682d-6b65792d7631'
    """
    if not isinstance(audience, str):
        raise AuthError("wrong-audience", "an audience / app id must be a string")
    if _UUID_FORMS.fullmatch(audience):
        return str(uuid.UUID(audience))
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, audience))
