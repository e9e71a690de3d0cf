"""Server side: turn a request's headers into a principal, in Jazz's order (§7.5).

1. Backend impersonation: ``X-Jazz-Session`` (standard-base64 session JSON) with
   ``X-Jazz-Backend-Secret``.
2. Admin: ``X-Jazz-Admin-Secret``.
3. ``Authorization: Bearer <jwt>`` (or the configured auth cookie): a Jazz self-signed token
   (local-first only if allowed; anonymous always) or an external JWT.
4. Backend without a session: ``X-Jazz-Backend-Secret`` alone.
5. Nothing: the unauthenticated principal (or ``missing`` when a session is required).

Failures raise ``UnauthenticatedError`` (an ``AuthError``) with Jazz's codes ``invalid``,
``expired``, ``disabled`` or ``missing``; ``reason`` keeps the detailed token reason code.

Example:
    >>> from jazz_nb.auth.tokens import mint_token
    >>> token = mint_token(bytes(32), "my-app")
    >>> p = resolve({"Authorization": f"Bearer {token}"}, "my-app", AuthConfig())
    >>> p.role, p.session.user_id, p.session.auth_mode, p.session.claims
    ('user', '412a3d72-132d-5e55-bad2-d3bad0eb5ea5', 'local-first', {})
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jazz_nb.auth.external_jwt import ExternalJwtVerifier
from jazz_nb.auth.session import Session
from jazz_nb.auth.tokens import (
    LOCAL_FIRST_ISSUER,
    SELF_SIGNED_ISSUERS,
    unverified_issuer,
    verify_token,
)
from jazz_nb.errors import AuthError

Role = Literal["admin", "backend", "user", "anonymous"]
UnauthenticatedCode = Literal["missing", "invalid", "expired", "disabled"]

SESSION_HEADER = "X-Jazz-Session"
BACKEND_SECRET_HEADER = "X-Jazz-Backend-Secret"
ADMIN_SECRET_HEADER = "X-Jazz-Admin-Secret"


class UnauthenticatedError(AuthError):
    """A request's credentials were refused; ``code`` is missing/invalid/expired/disabled.

    Example:
        >>> err = UnauthenticatedError("disabled", "Admin auth not configured")
        >>> err.to_json()
        {'error': 'unauthenticated', 'code': 'disabled', 'message': 'Admin auth not configured'}
    """

    def __init__(
        self, code: UnauthenticatedCode, message: str, *, reason: str | None = None
    ) -> None:
        super().__init__(code, message)
        self.message = message
        self.reason = reason

    def to_json(self) -> dict[str, str]:
        """Jazz's unauthenticated response body.

        Example:
            >>> UnauthenticatedError("missing", "Session required").to_json()["code"]
            'missing'
        """
        return {"error": "unauthenticated", "code": str(self.code), "message": self.message}


@dataclass(frozen=True)
class Principal:
    """Who a request is: ``role`` says how it authenticated, ``session`` whom policies see.

    ``admin`` and a sessionless ``backend`` bypass policies; ``backend`` with a session is
    impersonation; ``user`` always has a session (its ``auth_mode`` may be ``anonymous`` for a
    Jazz anonymous token); ``anonymous`` means no credentials at all.

    Example:
        >>> Principal("anonymous").is_authenticated
        False
    """

    role: Role
    session: Session | None = None

    @property
    def is_authenticated(self) -> bool:
        """False only for the no-credentials principal.

        Example:
            >>> Principal("admin").is_authenticated
            True
        """
        return self.role != "anonymous"

    @property
    def owner(self) -> str:
        """The owner key of the batches it sends: ``user:<id>`` for a session, else its role.

        Example:
            >>> from jazz_nb.auth.session import Session
            >>> Principal("user", Session("alice")).owner, Principal("backend").owner
            ('user:alice', 'backend')
        """
        return f"user:{self.session.user_id}" if self.session is not None else self.role

    @property
    def bypasses_policies(self) -> bool:
        """True for admin and sessionless backend callers.

        Example:
            >>> Principal("backend", Session("bob")).bypasses_policies
            False
        """
        return self.role in ("admin", "backend") and self.session is None


UNAUTHENTICATED = Principal("anonymous")


@dataclass(frozen=True, repr=False)
class AuthConfig:
    """Server auth settings (Jazz's ``--admin-secret``, ``--backend-secret``, ...).

    Give at most one of ``jwks_url`` and ``jwt_public_key`` (JWK JSON, PEM, or a path to
    either). ``clock`` returns Unix seconds. The repr never shows a secret.

    Example:
        >>> AuthConfig(admin_secret="s3cr3t")
        AuthConfig(admin_secret=<set>, backend_secret=None, allow_local_first_auth=True, jwt=None)
    """

    admin_secret: str | None = None
    backend_secret: str | None = None
    allow_local_first_auth: bool = True
    jwks_url: str | None = None
    jwt_public_key: str | Mapping[str, Any] | None = None
    auth_cookie_name: str | None = None
    clock: Callable[[], float] = field(default=time.time, compare=False)
    verifier: ExternalJwtVerifier | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.admin_secret == "" or self.backend_secret == "":
            raise AuthError("invalid-config", "an admin or backend secret must not be empty")
        if self.jwks_url is not None and self.jwt_public_key is not None:
            raise AuthError("invalid-config", "give jwks_url or jwt_public_key, not both")
        if self.verifier is None and (self.jwks_url or self.jwt_public_key) is not None:
            verifier = ExternalJwtVerifier(jwks_url=self.jwks_url, public_key=self.jwt_public_key)
            object.__setattr__(self, "verifier", verifier)

    def __repr__(self) -> str:
        def shown(value: str | None) -> str:
            return "None" if value is None else "<set>"

        jwt_source = self.verifier.source if self.verifier is not None else None
        return (
            f"AuthConfig(admin_secret={shown(self.admin_secret)}, "
            f"backend_secret={shown(self.backend_secret)}, "
            f"allow_local_first_auth={self.allow_local_first_auth}, jwt={jwt_source})"
        )


def _same_secret(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def encode_session_header(session: Session) -> str:
    """The ``X-Jazz-Session`` value for a session: standard base64 of its JSON.

    Example:
        >>> decode_session_header(encode_session_header(Session("bob"))).user_id
        'bob'
    """
    text = json.dumps(session.to_json(), separators=(",", ":"))
    return base64.b64encode(text.encode()).decode("ascii")


def decode_session_header(value: str) -> Session:
    """Parse an ``X-Jazz-Session`` value; raise ``UnauthenticatedError("invalid")`` if bad.

    Example:
        >>> decode_session_header("bm90LWpzb24=")
        Traceback (most recent call last):
        ...
        jazz_nb.auth.server_auth.UnauthenticatedError: Invalid session format [invalid]
    """
    try:
        return Session.from_json(json.loads(base64.b64decode(value.strip(), validate=True)))
    except (binascii.Error, ValueError):
        raise UnauthenticatedError("invalid", "Invalid session format") from None


def auth_headers(
    *, token: str | None = None, backend_secret: str | None = None,
    session: Session | None = None, admin_secret: str | None = None,
) -> dict[str, str]:
    """Request headers a client sends for the given credentials (the inverse of ``resolve``).

    Example:
        >>> sorted(auth_headers(backend_secret="b", session=Session("bob")))
        ['X-Jazz-Backend-Secret', 'X-Jazz-Session']
    """
    headers: dict[str, str] = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if backend_secret is not None:
        headers[BACKEND_SECRET_HEADER] = backend_secret
    if session is not None:
        headers[SESSION_HEADER] = encode_session_header(session)
    if admin_secret is not None:
        headers[ADMIN_SECRET_HEADER] = admin_secret
    return headers


def _cookie(header: str | None, name: str | None) -> str | None:
    if not header or not name:
        return None
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name and value.strip():
            return value.strip()
    return None


def _bearer_token(headers: Mapping[str, str], config: AuthConfig) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return _cookie(headers.get("cookie"), config.auth_cookie_name)
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        raise UnauthenticatedError("invalid", "Invalid Authorization header format")
    if not token.strip():
        raise UnauthenticatedError("invalid", "Empty bearer token")
    return token.strip()


def session_from_token(token: str, app_id: str, config: AuthConfig, *, now: int) -> Session:
    """The session of a bearer token: Jazz self-signed or external, per ``config``.

    Example:
        >>> from jazz_nb.auth.tokens import mint_token
        >>> config = AuthConfig(allow_local_first_auth=False)
        >>> session_from_token(mint_token(bytes(32), "a"), "a", config, now=int(time.time()))
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.auth.server_auth.UnauthenticatedError: Local-first auth is not ... [disabled]
    """
    issuer = unverified_issuer(token)
    if issuer in SELF_SIGNED_ISSUERS:
        if issuer == LOCAL_FIRST_ISSUER and not config.allow_local_first_auth:
            raise UnauthenticatedError("disabled", "Local-first auth is not enabled for this app")
        try:
            verified = verify_token(token, app_id, now=now)
        except AuthError as err:
            raise _unauthenticated(err) from None
        return Session(verified.user_id, {}, verified.auth_mode)
    if config.verifier is None:
        raise UnauthenticatedError("disabled", "JWT auth is not enabled for this app")
    try:
        return config.verifier.verify(token, now=now)
    except AuthError as err:
        raise _unauthenticated(err) from None


def _unauthenticated(err: AuthError) -> UnauthenticatedError:
    code: UnauthenticatedCode = "expired" if err.code == "expired" else "invalid"
    message = "JWT has expired" if code == "expired" else f"Invalid JWT: {err}"
    return UnauthenticatedError(code, message, reason=err.code)


def _backend_principal(given: str, config: AuthConfig) -> Principal:
    if config.backend_secret is None:
        raise UnauthenticatedError("disabled", "Backend auth not configured")
    if not _same_secret(config.backend_secret, given):
        raise UnauthenticatedError("invalid", "Invalid backend secret")
    return Principal("backend")


def resolve(
    headers: Mapping[str, str], app_id: str, config: AuthConfig,
    *, now: int | None = None, required: bool = False,
) -> Principal:
    """Resolve request headers (any key case) into a ``Principal`` for ``app_id``.

    With ``required=True`` a request without credentials raises ``missing`` instead of
    returning the unauthenticated principal.

    Example:
        >>> config = AuthConfig(admin_secret="adm", backend_secret="be")
        >>> resolve({"x-jazz-admin-secret": "adm"}, "my-app", config).role
        'admin'
        >>> resolve(auth_headers(backend_secret="be", session=Session("bob")), "a", config)
        Principal(role='backend', session=Session(user_id='bob', claims={}, auth_mode='external'))
        >>> resolve({}, "my-app", config)
        Principal(role='anonymous', session=None)
        >>> resolve({"X-Jazz-Admin-Secret": "nope"}, "my-app", config)
        Traceback (most recent call last):
        ...
        jazz_nb.auth.server_auth.UnauthenticatedError: Invalid admin secret [invalid]
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    current = int(config.clock()) if now is None else now

    session_value = lowered.get(SESSION_HEADER.lower())
    backend_given = lowered.get(BACKEND_SECRET_HEADER.lower())
    backend_configured = config.backend_secret is not None
    if session_value is not None and (backend_given is not None or backend_configured):
        if backend_given is None:
            raise UnauthenticatedError(
                "invalid", "Backend secret required for session impersonation"
            )
        _backend_principal(backend_given, config)
        return Principal("backend", decode_session_header(session_value))

    admin_given = lowered.get(ADMIN_SECRET_HEADER.lower())
    if admin_given is not None:
        if config.admin_secret is None:
            raise UnauthenticatedError("disabled", "Admin auth not configured")
        if not _same_secret(config.admin_secret, admin_given):
            raise UnauthenticatedError("invalid", "Invalid admin secret")
        return Principal("admin")

    token = _bearer_token(lowered, config)
    if token is not None:
        return Principal("user", session_from_token(token, app_id, config, now=current))

    if backend_given is not None:
        return _backend_principal(backend_given, config)
    if required:
        raise UnauthenticatedError("missing", "Session required. Provide JWT or backend secret.")
    return UNAUTHENTICATED
