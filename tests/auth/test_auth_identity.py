"""Identity derivation (§7.2): the reference vectors, plus an independent Ed25519 check."""

from __future__ import annotations

import hashlib
import string
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from jazz_nb.auth import (
    decode_secret,
    encode_secret,
    generate_secret,
    normalize_audience,
    public_key,
    signing_key,
    user_id,
    user_id_from_public_key,
)
from jazz_nb.auth.identity import KEY_NAMESPACE, is_valid_public_key
from jazz_nb.errors import AuthError, JazzError

VECTORS = [  # seed, secret, public key hex, user id — §7.2
    (
        bytes([0xAA]) + bytes(30) + bytes([0x01]),
        "qgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE",
        "b8a4710ff6308ccb4217641717713c932b0e7ffd0601d681bfbce163d08a918e",
        "426bda13-c6f0-58a6-9a29-c25e7079b917",
    ),
    (
        bytes([0xBB]) + bytes(30) + bytes([0x02]),
        "uwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAI",
        "eb26de058daf67099f2f597fa455f382cb2eb85d27b4d3fd83369dac3c0dc50d",
        "925247e6-ebf2-579f-a03d-1912b531b752",
    ),
    (
        bytes([0x01]) * 32,
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
        "73908483f407d0fd531009ab13061e28d7c289beed43899c09181eb587f8ef23",
        "047599db-77b8-5c5f-a75b-eff9fb852217",
    ),
    (
        bytes(32),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "f9f532c83b83c214b9e88f66ff159067f63d23bb405b8c82be54dd2a06b806d4",
        "412a3d72-132d-5e55-bad2-d3bad0eb5ea5",
    ),
]


def reference_public_key(seed: bytes) -> bytes:
    """The public key computed with `cryptography` (OpenSSL), not PyNaCl."""
    sk_seed = hashlib.sha512(b"jazz-auth-sign-v1" + seed).digest()[:32]
    key = Ed25519PrivateKey.from_private_bytes(sk_seed).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.mark.parametrize(("seed", "secret", "pub_hex", "uid"), VECTORS)
def test_reference_vectors(seed: bytes, secret: str, pub_hex: str, uid: str) -> None:
    assert encode_secret(seed) == secret
    assert decode_secret(secret) == seed
    assert public_key(secret).hex() == pub_hex
    assert reference_public_key(seed).hex() == pub_hex
    assert user_id(secret) == uid
    assert user_id(seed) == uid  # raw bytes are accepted too
    assert uuid.UUID(uid).version == 5


def test_key_namespace_is_the_ascii_bytes() -> None:
    assert str(KEY_NAMESPACE) == "6a617a7a-2d61-7574-682d-6b65792d7631"
    assert KEY_NAMESPACE.bytes == b"jazz-auth-key-v1"


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_matches_independent_ed25519(seed: bytes) -> None:
    secret = encode_secret(seed)
    assert public_key(secret) == reference_public_key(seed)
    # A PyNaCl signature verifies under the OpenSSL-derived key.
    message = b"jazz" + seed
    signature = signing_key(secret).sign(message).signature
    sk_seed = hashlib.sha512(b"jazz-auth-sign-v1" + seed).digest()[:32]
    Ed25519PrivateKey.from_private_bytes(sk_seed).public_key().verify(signature, message)
    uid = uuid.UUID(user_id(secret))
    assert uid.version == 5 and uid.variant == uuid.RFC_4122
    assert str(uid) == user_id_from_public_key(reference_public_key(seed))


def test_generate_secret_is_random_base64url() -> None:
    secrets = {generate_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(secret) == 43 and "=" not in secret
        assert set(secret) <= set(string.ascii_letters + string.digits + "-_")
        assert len(decode_secret(secret)) == 32


def test_decode_tolerates_surrounding_whitespace() -> None:
    assert decode_secret("  AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n") == bytes(32)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "AAAA",  # too short
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # 34 bytes
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",  # standard-base64 character
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",  # non-zero trailing bits
        "AAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAA",  # inner space
        bytes(31),
        12345,
    ],
)
def test_invalid_secrets_rejected_without_echo(bad: object) -> None:
    with pytest.raises(AuthError) as info:
        user_id(bad)  # type: ignore[arg-type]
    assert info.value.code == "invalid-secret"
    assert isinstance(info.value, JazzError)
    if isinstance(bad, str) and bad:
        assert bad not in str(info.value)


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ("my-app", "4af0209b-7fe4-57ba-b068-3b47d0855d11"),
        ("test-app", "9d8eec59-b2e1-5975-9d1f-7c9564520324"),
        ("6A617A7A-2D61-7574-682D-6B65792D7631", "6a617a7a-2d61-7574-682d-6b65792d7631"),
        ("6a617a7a2d617574682d6b65792d7631", "6a617a7a-2d61-7574-682d-6b65792d7631"),
        ("{6a617a7a-2d61-7574-682d-6b65792d7631}", "6a617a7a-2d61-7574-682d-6b65792d7631"),
        ("urn:uuid:6a617a7a-2d61-7574-682d-6b65792d7631", "6a617a7a-2d61-7574-682d-6b65792d7631"),
        # Python's uuid.UUID would accept these; Rust's parser does not, so they are names.
        ("6a617a7a-2d617574-682d-6b65792d7631", str(uuid.uuid5(
            uuid.NAMESPACE_DNS, "6a617a7a-2d617574-682d-6b65792d7631"))),
        ("", str(uuid.uuid5(uuid.NAMESPACE_DNS, ""))),
    ],
)
def test_normalize_audience(audience: str, expected: str) -> None:
    assert normalize_audience(audience) == expected


def test_public_key_validity() -> None:
    assert is_valid_public_key(public_key(bytes(32)))
    assert not is_valid_public_key(public_key(bytes(32))[:31])
    assert not is_valid_public_key(b"\xff" * 32)  # y >= p
    assert not is_valid_public_key(bytes([2]) + bytes(31))  # not on the curve
