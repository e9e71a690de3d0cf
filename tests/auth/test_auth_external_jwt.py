"""External JWTs against a real JWKS issuer on loopback, and the public-key (PEM/JWK) path."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest

from jazz_nb.auth import (
    AuthConfig,
    ExternalJwtVerifier,
    JwksCache,
    UnauthenticatedError,
    auth_headers,
    resolve,
)
from jazz_nb.errors import AuthError
from jazz_nb.testing.jwt_issuer import TestJwtIssuer, start_test_jwt_issuer

APP = "my-app"


def bearer(token: str) -> dict[str, str]:
    return auth_headers(token=token)


def test_jwks_path_over_http(issuer: TestJwtIssuer) -> None:
    config = AuthConfig(jwks_url=issuer.jwks_url)
    token = issuer.token_for("alice", {"role": "editor", "teams": ["eng"]})
    principal = resolve(bearer(token), APP, config)
    assert principal.role == "user"
    session = principal.session
    assert session is not None
    assert session.user_id == "alice" and session.auth_mode == "external"
    assert session.claims == {
        "role": "editor", "teams": ["eng"], "subject": "alice", "issuer": "https://issuer.test",
    }
    assert jwt.get_unverified_header(token)["alg"] == issuer.alg


@pytest.mark.parametrize("form", ["pem", "jwk", "jwk-json", "pem-file"])
def test_public_key_path(issuer: TestJwtIssuer, form: str, tmp_path: Path) -> None:
    key: object = {
        "pem": issuer.public_key_pem,
        "jwk": issuer.public_jwk,
        "jwk-json": json.dumps(issuer.public_jwk),
    }.get(form)
    if form == "pem-file":
        (tmp_path / "key.pem").write_text(issuer.public_key_pem)
        key = str(tmp_path / "key.pem")
    config = AuthConfig(jwt_public_key=key)  # type: ignore[arg-type]
    session = resolve(bearer(issuer.token_for("bob", ttl=None)), APP, config).session
    assert session is not None and session.user_id == "bob"
    assert config.verifier is not None and config.verifier.source == form.split("-")[0]


def test_other_algorithms_with_public_key() -> None:
    for alg in ("ES384", "PS256"):
        with start_test_jwt_issuer(alg) as other:
            for key in (other.public_key_pem, other.public_jwk):
                config = AuthConfig(jwt_public_key=key)  # type: ignore[arg-type]
                principal = resolve(bearer(other.token_for("carol")), APP, config)
                assert principal.session is not None and principal.session.user_id == "carol"


def test_hs256_jwk_like_jazz_allows() -> None:
    jwk = {"kty": "oct", "k": "c2VjcmV0LWtleS1mb3ItdGVzdHMtMDEyMzQ1Njc4OWFi", "alg": "HS256"}
    token = jwt.encode({"sub": "dave"}, jwt.PyJWK(jwk).key, algorithm="HS256")
    session = ExternalJwtVerifier(public_key=jwk).verify(token)
    assert session.claims == {"subject": "dave", "issuer": None}


def test_jwks_is_cached_and_refreshed_on_rotation() -> None:
    with start_test_jwt_issuer("EdDSA") as issuer:
        config = AuthConfig(jwks_url=issuer.jwks_url)
        for name in ("a", "b", "c"):
            resolve(bearer(issuer.token_for(name)), APP, config)
        assert issuer.jwks_requests == 1
        old_token = issuer.token_for("old")
        issuer.rotate()  # the provider rotates: unknown kid forces one refresh
        assert resolve(bearer(issuer.token_for("new")), APP, config).session is not None
        assert issuer.jwks_requests == 2
        with pytest.raises(UnauthenticatedError) as info:  # old key is gone
            resolve(bearer(old_token), APP, config)
        assert info.value.code == "invalid" and info.value.reason == "unknown-key"
        assert issuer.jwks_requests == 2  # forced refreshes are rate-limited


def test_jwks_stale_if_error() -> None:
    clock = [1000.0]
    issuer = start_test_jwt_issuer("ES256")
    cache = JwksCache(issuer.jwks_url, clock=lambda: clock[0])
    config = AuthConfig(verifier=ExternalJwtVerifier(jwks_cache=cache))
    token = issuer.token_for("erin")
    assert resolve(bearer(token), APP, config).session is not None
    issuer.stop()
    clock[0] += 500  # past the 300 s TTL, within the 300 s stale window
    assert resolve(bearer(token), APP, config).session is not None
    clock[0] += 200  # too stale now
    with pytest.raises(UnauthenticatedError) as info:
        resolve(bearer(token), APP, config)
    assert info.value.reason == "jwks-unavailable"


def test_unreachable_jwks() -> None:
    issuer = start_test_jwt_issuer("EdDSA")
    token, url = issuer.token_for("x"), issuer.jwks_url
    issuer.stop()
    with pytest.raises(UnauthenticatedError) as info:
        resolve(bearer(token), APP, AuthConfig(jwks_url=url))
    assert (info.value.code, info.value.reason) == ("invalid", "jwks-unavailable")


def test_expiry_and_payload_rules(issuer: TestJwtIssuer) -> None:
    config = AuthConfig(jwks_url=issuer.jwks_url)
    now = int(time.time())
    cases = [
        (issuer.token_for("u", ttl=-1), "expired", "expired"),
        (issuer.token_for("u", now=now - 100, ttl=100), "expired", "expired"),
        (issuer.token_for("   "), "invalid", "invalid-subject"),
        (issuer.token_for("u", extra={"sub": 42}), "invalid", "malformed"),
        (issuer.token_for("u", extra={"exp": "tomorrow"}), "invalid", "malformed"),
        (issuer.token_for("u", kid="no-such-kid"), "invalid", "unknown-key"),
    ]
    for token, code, reason in cases:
        with pytest.raises(UnauthenticatedError) as info:
            resolve(bearer(token), APP, config)
        assert (info.value.code, info.value.reason) == (code, reason), token
    # No exp at all: accepted (signature-only validation); aud/nbf/iss are not checked.
    lenient = issuer.token_for("u", ttl=None, issuer="anyone", extra={"aud": "x", "nbf": now + 9})
    assert resolve(bearer(lenient), APP, config).session is not None


def test_top_level_claims_are_ignored_and_claims_must_be_nested(issuer: TestJwtIssuer) -> None:
    config = AuthConfig(jwks_url=issuer.jwks_url)
    token = issuer.token_for("frank", None, extra={"role": "admin", "claims": "not-an-object"})
    session = resolve(bearer(token), APP, config).session
    assert session is not None
    assert session.claims == {"subject": "frank", "issuer": "https://issuer.test"}


def test_forged_and_confused_tokens(issuer: TestJwtIssuer) -> None:
    config = AuthConfig(jwks_url=issuer.jwks_url)
    with start_test_jwt_issuer(issuer.alg) as impostor:
        forged = impostor.token_for("alice", {"role": "admin"}, kid=issuer.kid)
    head, body, _ = issuer.token_for("alice").split(".")
    none_header = jwt.utils.base64url_encode(b'{"alg":"none"}').decode()
    unsigned = f"{none_header}.{body}."
    hmac_confusion = jwt.api_jws.PyJWS().encode(
        json.dumps({"sub": "alice"}).encode(), issuer.public_key_pem.encode()[:32],
        algorithm="HS256", headers={"kid": issuer.kid},
    )
    cases = [
        (forged, "bad-signature"),
        (f"{head}.{body}.{'A' * 20}", "bad-signature"),
        (unsigned, "wrong-algorithm"),
        (hmac_confusion, "unknown-key"),
        ("not.a.jwt", "malformed"),
        ("x" * 20000, "oversized"),
    ]
    for token, reason in cases:
        with pytest.raises(UnauthenticatedError) as info:
            resolve(bearer(token), APP, config)
        assert (info.value.code, info.value.reason) == ("invalid", reason), token[:40]


def test_pem_key_refuses_other_algorithms() -> None:
    with start_test_jwt_issuer("EdDSA") as ed, start_test_jwt_issuer("ES256") as es:
        config = AuthConfig(jwt_public_key=ed.public_key_pem)
        with pytest.raises(UnauthenticatedError) as info:
            resolve(bearer(es.token_for("x")), APP, config)
        assert info.value.reason == "wrong-algorithm"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"jwks_url": "http://127.0.0.1:1/jwks", "jwt_public_key": "{}"},
        {"jwt_public_key": "not a key"},
        {"jwt_public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"},
        {"jwt_public_key": '{"no": "kty"}'},
        {"jwt_public_key": ""},
    ],
)
def test_invalid_configuration(kwargs: dict[str, str]) -> None:
    with pytest.raises(AuthError) as info:
        AuthConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.code == "invalid-config"


def test_issuer_is_a_context_manager_and_stops() -> None:
    with start_test_jwt_issuer() as issuer:
        assert issuer.alg == "ES256"
        assert "jwks_url" in repr(issuer)
    issuer.stop()  # idempotent
    with pytest.raises(ValueError):
        start_test_jwt_issuer("HS256")
