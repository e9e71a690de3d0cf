"""Self-signed tokens (§7.3): the exact reference token, PyJWT interop, and rejections."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jazz_nb.auth import (
    ANONYMOUS_ISSUER,
    LOCAL_FIRST_ISSUER,
    identity_proof,
    mint_token,
    normalize_audience,
    public_key,
    signing_key,
    user_id,
    user_id_from_public_key,
    verify_identity_proof,
    verify_token,
)
from jazz_nb.auth.tokens import MAX_TOKEN_LENGTH
from jazz_nb.errors import AuthError

EXAMPLE_TOKEN = (
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ1cm46amF6ejpsb2NhbC1maXJzdCIsInN1YiI6IjA0NzU5"
    "OWRiLTc3YjgtNWM1Zi1hNzViLWVmZjlmYjg1MjIxNyIsImF1ZCI6IjlkOGVlYzU5LWIyZTEtNTk3NS05ZDFmLTdjOTU2"
    "NDUyMDMyNCIsImphenpfcHViX2tleSI6ImM1Q0VnX1FIMFAxVEVBbXJFd1llS05mQ2liN3RRNG1jQ1JnZXRZZjQ3eU0i"
    "LCJpYXQiOjEwMDAwMDAsImV4cCI6MTAwMzYwMH0.rcVFesz-qtYeEFOHE_LlXY6PeHE5tblFjnLNgHxEAZ-Z1e62MBdE"
    "nTAVw2XEqVKv9NxIeDfNfx8lKl-X6zgYAw"
)
ONES = bytes([1]) * 32
ALICE = bytes([0xAA]) + bytes(30) + bytes([0x01])
BOB = bytes([0xBB]) + bytes(30) + bytes([0x02])
NOW = 1_700_000_000
APP = "test-app"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_for(seed: bytes, **overrides: Any) -> dict[str, Any]:
    pub = public_key(seed)
    claims: dict[str, Any] = {
        "iss": LOCAL_FIRST_ISSUER, "sub": user_id(seed), "aud": normalize_audience(APP),
        "jazz_pub_key": b64(pub), "iat": NOW, "exp": NOW + 3600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not ...}


def forge(
    claims: dict[str, Any] | str, *, header: dict[str, Any] | str | None = None,
    signer: bytes = ALICE,
) -> str:
    """Sign arbitrary header/payload text with a seed's key (the forger's view)."""
    head = header if isinstance(header, str) else json.dumps(header or {"alg": "EdDSA"})
    body = claims if isinstance(claims, str) else json.dumps(claims)
    signing_input = f"{b64(head.encode())}.{b64(body.encode())}"
    signature = signing_key(signer).sign(signing_input.encode()).signature
    return f"{signing_input}.{b64(signature)}"


def test_reproduces_reference_token_byte_for_byte() -> None:
    assert mint_token(ONES, "test-app", 3600, now=1_000_000) == EXAMPLE_TOKEN
    head, body, _ = EXAMPLE_TOKEN.split(".")
    assert base64.urlsafe_b64decode(head + "==") == b'{"alg":"EdDSA","typ":"JWT"}'
    payload = base64.urlsafe_b64decode(body + "==").decode()
    assert list(json.loads(payload)) == ["iss", "sub", "aud", "jazz_pub_key", "iat", "exp"]
    assert " " not in payload


def test_reference_token_verifies() -> None:
    verified = verify_token(EXAMPLE_TOKEN, "test-app", now=1_000_100)
    assert verified.user_id == "047599db-77b8-5c5f-a75b-eff9fb852217"
    assert verified.public_key == public_key(ONES)
    assert verified.issuer == LOCAL_FIRST_ISSUER and verified.auth_mode == "local-first"
    # The audience may be given as the app's UUID too.
    assert verify_token(EXAMPLE_TOKEN, normalize_audience("test-app"), now=1_000_100)


@pytest.mark.parametrize("seed", [ALICE, BOB, ONES, bytes(32)])
def test_pyjwt_verifies_our_tokens(seed: bytes) -> None:
    token = mint_token(seed, "my-app", 600)
    key = Ed25519PublicKey.from_public_bytes(public_key(seed))
    payload = jwt.decode(
        token, key=key, algorithms=["EdDSA"], audience=normalize_audience("my-app"),
        issuer=LOCAL_FIRST_ISSUER,
    )
    assert payload["sub"] == user_id(seed)
    assert payload["exp"] - payload["iat"] == 600
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "typ": "JWT"}


def test_uuid_app_id_is_kept_lowercase() -> None:
    app_uuid = "6A617A7A-2D61-7574-682D-6B65792D7631"
    token = mint_token(ALICE, app_uuid, now=NOW)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["aud"] == app_uuid.lower()
    assert verify_token(token, app_uuid.lower(), now=NOW).user_id == user_id(ALICE)


def test_anonymous_issuer_round_trip() -> None:
    token = mint_token(BOB, APP, now=NOW, issuer=ANONYMOUS_ISSUER)
    verified = verify_token(token, APP, now=NOW + 5)
    assert verified.issuer == ANONYMOUS_ISSUER and verified.auth_mode == "anonymous"


def test_time_boundaries() -> None:
    token = mint_token(ALICE, APP, 100, now=NOW)
    assert verify_token(token, APP, now=NOW - 60)  # iat == now + 60 is allowed
    assert verify_token(token, APP, now=NOW + 99)  # exp == now + 1
    assert verify_token(token, APP, now=NOW, max_ttl=100)  # ttl == max_ttl
    for now, code in [(NOW - 61, "future-iat"), (NOW + 100, "expired")]:
        with pytest.raises(AuthError) as info:
            verify_token(token, APP, now=now)
        assert info.value.code == code
    with pytest.raises(AuthError) as info:
        verify_token(token, APP, now=NOW, max_ttl=99)
    assert info.value.code == "ttl-too-long"


def test_default_now_is_the_clock() -> None:
    assert verify_token(mint_token(ALICE, APP), APP).user_id == user_id(ALICE)


def _identity_point_token() -> str:
    """A weak key (the identity point) with signature R=identity, S=0.

    Cofactored/non-strict verification accepts this for *any* message; Jazz's
    ``verify_strict`` (and libsodium) must not.
    """
    identity = bytes([1]) + bytes(31)
    claims = claims_for(ALICE, jazz_pub_key=b64(identity), sub=user_id_from_public_key(identity))
    head = b64(b'{"alg":"EdDSA"}')
    return f"{head}.{b64(json.dumps(claims).encode())}.{b64(identity + bytes(32))}"


def _tampered_exp() -> str:
    head, _, sig = forge(claims_for(ALICE)).split(".")
    body = b64(json.dumps(claims_for(ALICE, exp=NOW + 3599)).encode())
    return f"{head}.{body}.{sig}"


VALID = forge(claims_for(ALICE))

REJECTED: list[tuple[str, object, str]] = [
    ("oversized", "a" * (MAX_TOKEN_LENGTH + 1), "oversized"),
    ("oversized-valid-prefix", VALID + "A" * MAX_TOKEN_LENGTH, "oversized"),
    ("empty", "", "malformed"),
    ("not-a-string", VALID.encode(), "malformed"),
    ("two-parts", VALID.rsplit(".", 1)[0], "malformed"),
    ("four-parts", VALID + ".AAAA", "malformed"),
    ("truncated-signature", VALID[:-10], "bad-signature"),
    ("truncated-payload", ".".join([VALID.split(".")[0], VALID.split(".")[1][:-7],
                                    VALID.split(".")[2]]), "malformed"),
    ("header-not-base64", "!!!." + VALID.split(".", 1)[1], "malformed"),
    ("header-not-json", forge(claims_for(ALICE), header="alg=EdDSA"), "malformed"),
    ("header-array", forge(claims_for(ALICE), header='["EdDSA"]'), "malformed"),
    ("payload-not-json", forge("{'iss': 1}"), "malformed"),
    ("alg-hs256", forge(claims_for(ALICE), header={"alg": "HS256", "typ": "JWT"}),
     "wrong-algorithm"),
    ("alg-none", ".".join(forge(claims_for(ALICE), header={"alg": "none"}).split(".")[:2]) + ".",
     "wrong-algorithm"),
    ("alg-missing", forge(claims_for(ALICE), header={"typ": "JWT"}), "wrong-algorithm"),
    ("alg-lowercase", forge(claims_for(ALICE), header={"alg": "eddsa"}), "wrong-algorithm"),
    ("extra-claim", forge(claims_for(ALICE, role="admin")), "unknown-claim"),
    ("extra-claim-claims", forge(claims_for(ALICE, claims={"role": "admin"})), "unknown-claim"),
    ("duplicate-claim", forge(json.dumps(claims_for(ALICE))[:-1] + ', "iat": 1}'), "malformed"),
    ("issuer-unknown", forge(claims_for(ALICE, iss="urn:jazz:admin")), "bad-issuer"),
    ("issuer-external", forge(claims_for(ALICE, iss="https://accounts.example")), "bad-issuer"),
    ("issuer-missing", forge(claims_for(ALICE, iss=...)), "bad-issuer"),
    ("wrong-audience", forge(claims_for(ALICE, aud=normalize_audience("other-app"))),
     "wrong-audience"),
    ("audience-raw-name", forge(claims_for(ALICE, aud=APP)), "wrong-audience"),
    ("audience-missing", forge(claims_for(ALICE, aud=...)), "wrong-audience"),
    ("pubkey-31-bytes", forge(claims_for(ALICE, jazz_pub_key=b64(public_key(ALICE)[:31]))),
     "bad-public-key"),
    ("pubkey-padded", forge(claims_for(ALICE, jazz_pub_key=b64(public_key(ALICE)) + "=")),
     "bad-public-key"),
    ("pubkey-not-on-curve", forge(claims_for(ALICE, jazz_pub_key=b64(bytes([2]) + bytes(31)))),
     "bad-public-key"),
    ("pubkey-missing", forge(claims_for(ALICE, jazz_pub_key=...)), "bad-public-key"),
    ("forged-by-bob", forge(claims_for(ALICE), signer=BOB), "bad-signature"),
    ("tampered-exp", _tampered_exp(), "bad-signature"),
    ("signature-zero", VALID.rsplit(".", 1)[0] + "." + b64(bytes(64)), "bad-signature"),
    ("signature-padded", VALID + "==", "bad-signature"),
    ("weak-key-identity-point", _identity_point_token(), "bad-signature"),
    ("sub-of-bob", forge(claims_for(ALICE, sub=user_id(BOB))), "sub-mismatch"),
    ("sub-uppercase", forge(claims_for(ALICE, sub=user_id(ALICE).upper())), "sub-mismatch"),
    ("sub-missing", forge(claims_for(ALICE, sub=...)), "sub-mismatch"),
    ("iat-string", forge(claims_for(ALICE, iat=str(NOW))), "malformed"),
    ("iat-float", forge(claims_for(ALICE, iat=NOW + 0.5)), "malformed"),
    ("exp-negative", forge(claims_for(ALICE, exp=-1)), "malformed"),
    ("exp-bool", forge(claims_for(ALICE, exp=True)), "malformed"),
    ("exp-missing", forge(claims_for(ALICE, exp=...)), "malformed"),
    ("expired", forge(claims_for(ALICE, iat=NOW - 3600, exp=NOW)), "expired"),
    ("long-expired", mint_token(ALICE, APP, 60, now=1000), "expired"),
    ("future-iat", forge(claims_for(ALICE, iat=NOW + 61, exp=NOW + 120)), "future-iat"),
    ("ttl-too-long", forge(claims_for(ALICE, exp=NOW + 3601)), "ttl-too-long"),
    ("ttl-a-year", mint_token(ALICE, APP, 365 * 86400, now=NOW), "ttl-too-long"),
]


@pytest.mark.parametrize(("token", "code"), [case[1:] for case in REJECTED],
                         ids=[case[0] for case in REJECTED])
def test_rejections(token: str, code: str) -> None:
    with pytest.raises(AuthError) as info:
        verify_token(token, APP, now=NOW)
    assert info.value.code == code, str(info.value)


def test_valid_baseline_of_the_table_verifies() -> None:
    assert verify_token(VALID, APP, now=NOW).user_id == user_id(ALICE)
    assert len(REJECTED) >= 20


def test_identity_proof() -> None:
    proof = identity_proof(ALICE, "betterauth-signup", now=NOW)
    payload = jwt.decode(proof, options={"verify_signature": False})
    assert payload["exp"] - payload["iat"] == 60
    assert verify_identity_proof(proof, "betterauth-signup", now=NOW + 30) == user_id(ALICE)
    for token, audience, now, code in [
        (proof, "another-audience", NOW, "wrong-audience"),
        (proof, "betterauth-signup", NOW + 60, "expired"),
        (mint_token(ALICE, "signup", now=NOW, issuer=ANONYMOUS_ISSUER), "signup", NOW,
         "bad-issuer"),
    ]:
        with pytest.raises(AuthError) as info:
            verify_identity_proof(token, audience, now=now)
        assert info.value.code == code


def test_mint_rejects_bad_inputs_without_echoing_the_secret() -> None:
    secret = "A" * 42 + "B"  # 32 bytes but non-zero trailing bits: not canonical
    with pytest.raises(AuthError) as info:
        mint_token(secret, APP)
    assert info.value.code == "invalid-secret" and secret not in str(info.value)
    with pytest.raises(AuthError) as info:
        mint_token(ALICE, APP, -5)
    assert info.value.code == "malformed"
