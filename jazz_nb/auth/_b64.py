"""Strict base64url (RFC 4648 §5, no padding) as Jazz's Rust side encodes and decodes it."""

from __future__ import annotations

import base64
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Encode bytes as base64url without padding.

    Example:
        >>> b64url_encode(b"\\xff\\xfe")
        '__4'
    """
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url strictly; raise ``ValueError`` on anything non-canonical.

    Rejects padding, characters outside the URL-safe alphabet, impossible lengths and
    non-zero trailing bits, like the Rust ``base64`` crate's ``URL_SAFE_NO_PAD`` engine.

    Example:
        >>> b64url_decode("__4")
        b'\\xff\\xfe'
        >>> b64url_decode("__5")
        Traceback (most recent call last):
        ...
        ValueError: non-canonical base64url
    """
    if not isinstance(text, str) or not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("invalid base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data
