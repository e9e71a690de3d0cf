"""Server session resolution (§7.5): order, modes, and Jazz's unauthenticated codes."""

from __future__ import annotations

import base64
import json

import pytest

from jazz_nb.auth import (
    ANONYMOUS_ISSUER,
    UNAUTHENTICATED,
    AuthConfig,
    Principal,
    Session,
    UnauthenticatedError,
    auth_headers,
    encode_session_header,
    mint_token,
    resolve,
    user_id,
)
from jazz_nb.testing.jwt_issuer import start_test_jwt_issuer

APP = "my-app"
NOW = 1_700_000_000
SEED = bytes([0xAA]) + bytes(30) + bytes([0x01])
ADMIN, BACKEND = "admin-secret-67890", "backend-secret-12345"
CONFIG = AuthConfig(admin_secret=ADMIN, backend_secret=BACKEND, clock=lambda: NOW)
BOB = Session("bob", {"teams": ["eng"]}, "local-first")


def local_token(**kwargs: object) -> str:
    return mint_token(SEED, APP, now=NOW, **kwargs)  # type: ignore[arg-type]


def refused(headers: dict[str, str], config: AuthConfig = CONFIG, **kw: object
            ) -> UnauthenticatedError:
    with pytest.raises(UnauthenticatedError) as info:
        resolve(headers, APP, config, **kw)  # type: ignore[arg-type]
    return info.value


def test_backend_impersonation_wins_over_everything() -> None:
    headers = {
        **auth_headers(backend_secret=BACKEND, session=BOB, admin_secret=ADMIN),
        **auth_headers(token=local_token()),
    }
    principal = resolve(headers, APP, CONFIG)
    assert principal == Principal("backend", BOB)
    assert not principal.bypasses_policies


def test_session_header_json_forms() -> None:
    raw = {"user_id": "carol", "claims": {"r": 1}, "auth_mode": "anonymous"}
    value = base64.b64encode(json.dumps(raw).encode()).decode()
    headers = {"X-Jazz-Session": value, "X-Jazz-Backend-Secret": BACKEND}
    assert resolve(headers, APP, CONFIG).session == Session("carol", {"r": 1}, "anonymous")
    value = base64.b64encode(b'{"user_id":"dan"}').decode()  # authMode defaults to external
    headers["X-Jazz-Session"] = value
    assert resolve(headers, APP, CONFIG).session == Session("dan", {}, "external")


@pytest.mark.parametrize(
    ("headers", "config", "code"),
    [
        ({"X-Jazz-Session": encode_session_header(BOB), "X-Jazz-Backend-Secret": "wrong"},
         CONFIG, "invalid"),
        ({"X-Jazz-Session": encode_session_header(BOB)}, CONFIG, "invalid"),
        ({"X-Jazz-Session": encode_session_header(BOB), "X-Jazz-Backend-Secret": BACKEND},
         AuthConfig(), "disabled"),
        ({"X-Jazz-Session": "%%%", "X-Jazz-Backend-Secret": BACKEND}, CONFIG, "invalid"),
        ({"X-Jazz-Session": base64.b64encode(b'{"claims":{}}').decode(),
          "X-Jazz-Backend-Secret": BACKEND}, CONFIG, "invalid"),
        ({"X-Jazz-Session": base64.b64encode(b'{"user_id":"x","authMode":"root"}').decode(),
          "X-Jazz-Backend-Secret": BACKEND}, CONFIG, "invalid"),
        ({"X-Jazz-Admin-Secret": "wrong"}, CONFIG, "invalid"),
        ({"X-Jazz-Admin-Secret": ADMIN}, AuthConfig(), "disabled"),
        ({"X-Jazz-Backend-Secret": "wrong"}, CONFIG, "invalid"),
        ({"X-Jazz-Backend-Secret": BACKEND}, AuthConfig(), "disabled"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, CONFIG, "invalid"),
        ({"Authorization": "Bearer   "}, CONFIG, "invalid"),
        ({"Authorization": "Bearer not-a-token"}, CONFIG, "disabled"),  # no external verifier
    ],
    ids=["impersonation-wrong-secret", "impersonation-missing-secret",
         "impersonation-not-configured", "session-not-base64", "session-without-user",
         "session-bad-mode", "admin-wrong", "admin-not-configured", "backend-wrong",
         "backend-not-configured", "basic-auth", "empty-bearer", "external-not-configured"],
)
def test_refusals(headers: dict[str, str], config: AuthConfig, code: str) -> None:
    error = refused(headers, config)
    assert error.code == code
    assert error.to_json()["code"] == code and error.to_json()["error"] == "unauthenticated"
    for secret in (ADMIN, BACKEND, "wrong"):
        assert secret not in str(error)


def test_session_header_without_any_backend_config_is_ignored() -> None:
    headers = {"X-Jazz-Session": encode_session_header(BOB), **auth_headers(token=local_token())}
    principal = resolve(headers, APP, AuthConfig(clock=lambda: NOW))
    assert principal.role == "user" and principal.session is not None
    assert principal.session.user_id == user_id(SEED)  # not bob


def test_admin_beats_tokens_and_bypasses_policies() -> None:
    headers = {**auth_headers(admin_secret=ADMIN), **auth_headers(token=local_token())}
    principal = resolve(headers, APP, CONFIG)
    assert principal == Principal("admin") and principal.bypasses_policies


def test_backend_secret_alone_is_a_sessionless_backend() -> None:
    principal = resolve({"x-jazz-backend-secret": BACKEND}, APP, CONFIG)
    assert principal == Principal("backend") and principal.bypasses_policies
    # With a bearer token too, it is a user connection (the JWT decides).
    both = {"x-jazz-backend-secret": BACKEND, **auth_headers(token=local_token())}
    assert resolve(both, APP, CONFIG).role == "user"


def test_local_first_session() -> None:
    principal = resolve(auth_headers(token=local_token()), APP, CONFIG)
    assert principal.role == "user" and principal.is_authenticated
    assert principal.session == Session(user_id(SEED), {}, "local-first")
    assert principal.session.to_json() == {
        "user_id": user_id(SEED), "claims": {}, "authMode": "local-first",
    }


def test_local_first_disabled_but_anonymous_allowed() -> None:
    config = AuthConfig(allow_local_first_auth=False, clock=lambda: NOW)
    assert refused(auth_headers(token=local_token()), config).code == "disabled"
    principal = resolve(auth_headers(token=local_token(issuer=ANONYMOUS_ISSUER)), APP, config)
    assert principal.session == Session(user_id(SEED), {}, "anonymous")
    assert principal.role == "user"


def test_self_signed_failures_map_to_jazz_codes() -> None:
    expired = refused(auth_headers(token=local_token(ttl=10)), now=NOW + 10)
    assert (expired.code, expired.reason, expired.message) == ("expired", "expired",
                                                               "JWT has expired")
    wrong_app = mint_token(SEED, "other-app", now=NOW)
    error = refused(auth_headers(token=wrong_app))
    assert (error.code, error.reason) == ("invalid", "wrong-audience")


def test_external_and_self_signed_share_the_bearer_slot() -> None:
    with start_test_jwt_issuer("EdDSA") as issuer:
        config = AuthConfig(jwks_url=issuer.jwks_url, allow_local_first_auth=False)
        external = resolve(auth_headers(token=issuer.token_for("erin")), APP, config)
        assert external.session is not None and external.session.auth_mode == "external"
        # A self-signed token never falls through to the external verifier.
        assert refused(auth_headers(token=local_token()), config).code == "disabled"


def test_cookie_credential() -> None:
    config = AuthConfig(auth_cookie_name="jazz-auth", clock=lambda: NOW)
    headers = {"Cookie": f"other=1; jazz-auth={local_token()}; x=y"}
    assert resolve(headers, APP, config).session is not None
    assert resolve(headers, APP, AuthConfig(clock=lambda: NOW)) == UNAUTHENTICATED
    # An explicit Authorization header takes precedence over the cookie.
    headers["Authorization"] = "Bearer junk.junk.junk"
    assert refused(headers, config).code == "disabled"


def test_no_credentials() -> None:
    assert resolve({}, APP, CONFIG) == UNAUTHENTICATED
    assert not UNAUTHENTICATED.is_authenticated and UNAUTHENTICATED.session is None
    error = refused({}, required=True)
    assert error.code == "missing"
    assert error.to_json() == {
        "error": "unauthenticated", "code": "missing",
        "message": "Session required. Provide JWT or backend secret.",
    }


def test_header_names_are_case_insensitive() -> None:
    assert resolve({"AUTHORIZATION": f"bearer {local_token()}"}, APP, CONFIG).role == "user"
    assert resolve({"x-JAZZ-admin-SECRET": ADMIN}, APP, CONFIG).role == "admin"


def test_config_repr_hides_secrets() -> None:
    text = repr(CONFIG) + str(CONFIG)
    assert ADMIN not in text and BACKEND not in text
    assert "admin_secret=<set>" in text
    with pytest.raises(Exception) as info:
        AuthConfig(admin_secret="")
    assert getattr(info.value, "code", None) == "invalid-config"
