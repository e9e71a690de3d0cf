"""Identity and auth, byte-compatible with Jazz 2 (§7): secrets, tokens, phrases, sessions.

Example:
    >>> from jazz_nb import auth
    >>> secret = auth.generate_secret()
    >>> token = auth.mint_token(secret, "my-app")
    >>> auth.verify_token(token, "my-app").user_id == auth.user_id(secret)
    True
"""

from jazz_nb.auth.external_jwt import ExternalJwtVerifier, JwksCache, session_from_payload
from jazz_nb.auth.identity import (
    decode_secret,
    encode_secret,
    generate_secret,
    normalize_audience,
    public_key,
    signing_key,
    user_id,
    user_id_from_public_key,
)
from jazz_nb.auth.recovery import recovery_phrase, secret_from_recovery_phrase
from jazz_nb.auth.secret_store import SecretStore, default_secret_dir, get_or_create_secret
from jazz_nb.auth.server_auth import (
    UNAUTHENTICATED,
    AuthConfig,
    Principal,
    UnauthenticatedError,
    auth_headers,
    decode_session_header,
    encode_session_header,
    resolve,
    session_from_token,
)
from jazz_nb.auth.session import SYSTEM_PRINCIPAL, AuthMode, Session
from jazz_nb.auth.tokens import (
    ANONYMOUS_ISSUER,
    LOCAL_FIRST_ISSUER,
    VerifiedToken,
    identity_proof,
    mint_token,
    verify_identity_proof,
    verify_token,
)

__all__ = [
    "ANONYMOUS_ISSUER",
    "LOCAL_FIRST_ISSUER",
    "SYSTEM_PRINCIPAL",
    "UNAUTHENTICATED",
    "AuthConfig",
    "AuthMode",
    "ExternalJwtVerifier",
    "JwksCache",
    "Principal",
    "SecretStore",
    "Session",
    "UnauthenticatedError",
    "VerifiedToken",
    "auth_headers",
    "decode_secret",
    "decode_session_header",
    "default_secret_dir",
    "encode_secret",
    "encode_session_header",
    "generate_secret",
    "get_or_create_secret",
    "identity_proof",
    "mint_token",
    "normalize_audience",
    "public_key",
    "recovery_phrase",
    "resolve",
    "secret_from_recovery_phrase",
    "session_from_payload",
    "session_from_token",
    "signing_key",
    "user_id",
    "user_id_from_public_key",
    "verify_identity_proof",
    "verify_token",
]
