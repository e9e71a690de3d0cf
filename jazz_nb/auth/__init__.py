"""Identity and auth, byte-compatible with Jazz 2 (§7): secrets, tokens, phrases, sessions.

Example:
    >>> from jazz_nb import auth
    >>> secret = auth.generate_secret()
    >>> token = auth.mint_token(secret, "my-app")
    >>> auth.verify_token(token, "my-app").user_id == auth.user_id(secret)
    True
"""

from jazz_nb.lazy import lazy_exports

_EXPORTS = {
    "ANONYMOUS_ISSUER": "jazz_nb.auth.tokens",
    "AuthConfig": "jazz_nb.auth.server_auth",
    "AuthMode": "jazz_nb.auth.session",
    "ExternalJwtVerifier": "jazz_nb.auth.external_jwt",
    "JwksCache": "jazz_nb.auth.external_jwt",
    "LOCAL_FIRST_ISSUER": "jazz_nb.auth.tokens",
    "Principal": "jazz_nb.auth.server_auth",
    "SYSTEM_PRINCIPAL": "jazz_nb.auth.session",
    "SecretStore": "jazz_nb.auth.secret_store",
    "Session": "jazz_nb.auth.session",
    "UNAUTHENTICATED": "jazz_nb.auth.server_auth",
    "UnauthenticatedError": "jazz_nb.auth.server_auth",
    "VerifiedToken": "jazz_nb.auth.tokens",
    "auth_headers": "jazz_nb.auth.server_auth",
    "decode_secret": "jazz_nb.auth.identity",
    "decode_session_header": "jazz_nb.auth.server_auth",
    "default_secret_dir": "jazz_nb.auth.secret_store",
    "encode_secret": "jazz_nb.auth.identity",
    "encode_session_header": "jazz_nb.auth.server_auth",
    "generate_secret": "jazz_nb.auth.identity",
    "get_or_create_secret": "jazz_nb.auth.secret_store",
    "identity_proof": "jazz_nb.auth.tokens",
    "mint_token": "jazz_nb.auth.tokens",
    "normalize_audience": "jazz_nb.auth.identity",
    "public_key": "jazz_nb.auth.identity",
    "recovery_phrase": "jazz_nb.auth.recovery",
    "resolve": "jazz_nb.auth.server_auth",
    "secret_from_recovery_phrase": "jazz_nb.auth.recovery",
    "session_from_payload": "jazz_nb.auth.external_jwt",
    "session_from_token": "jazz_nb.auth.server_auth",
    "signing_key": "jazz_nb.auth.identity",
    "user_id": "jazz_nb.auth.identity",
    "user_id_from_public_key": "jazz_nb.auth.identity",
    "verify_identity_proof": "jazz_nb.auth.tokens",
    "verify_token": "jazz_nb.auth.tokens",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)  # JWT and crypto load on first use
__all__ = sorted(_EXPORTS)
