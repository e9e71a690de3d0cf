"""Bad tokens: every forged, stale or malformed token is refused with ``unauthenticated``.

Threat: a local-first token is self-signed, so anyone can mint one — the server must check
every part of it: the algorithm (``alg: none``, HMAC confusion), the signature, the issuer,
the audience (a token for another app), the subject (someone else's user id with my key),
the times (expired, issued in the future, too long-lived), and nothing extra (a claim such as
``"role": "admin"`` must not slip through). Garbage must be refused, not crash the hello.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from jazz_nb.auth._b64 import b64url_encode
from jazz_nb.auth.identity import normalize_audience, signing_key
from jazz_nb.auth.tokens import LOCAL_FIRST_ISSUER
from tests.security.peer import User, first_message, hello
from tests.security.team import Team

pytestmark = pytest.mark.slow  # real server processes


def signed(user: User, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWT of ``header`` and ``claims``, truly signed with ``user``'s key."""
    key = signing_key(user.secret)
    text = (f"{b64url_encode(json.dumps(header).encode())}."
            f"{b64url_encode(json.dumps(claims).encode())}")
    return f"{text}.{b64url_encode(key.sign(text.encode()).signature)}"


def claims_of(user: User, app_id: str, **changes: Any) -> dict[str, Any]:
    """The six claims of an honest token, with ``changes``."""
    now = int(time.time())
    claims = {"iss": LOCAL_FIRST_ISSUER, "sub": user.id, "aud": normalize_audience(app_id),
              "jazz_pub_key": b64url_encode(signing_key(user.secret).verify_key.encode()),
              "iat": now, "exp": now + 600}
    claims.update(changes)
    return claims


def bad_tokens(team: Team) -> dict[str, Any]:
    user, other, app_id = team.mallory, team.alice, team.app_id
    eddsa = {"alg": "EdDSA", "typ": "JWT"}
    good = user.token(app_id)
    head, body, sig = good.split(".")
    now = int(time.time())
    return {
        "expired": user.token(app_id, ttl=60, now=now - 3600),
        "wrong audience": user.token("another-app"),
        "bad signature": f"{head}.{body}.{sig[:10]}{'A' if sig[10] != 'A' else 'B'}{sig[11:]}",
        "signature of another key": f"{head}.{body}.{other.token(app_id).split('.')[2]}",
        "alg none": f"{b64url_encode(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}."
                    f"{body}.",
        "alg HS256": signed(user, {"alg": "HS256", "typ": "JWT"}, claims_of(user, app_id)),
        "unknown issuer": signed(user, eddsa, claims_of(user, app_id, iss="urn:evil")),
        "extra claim": signed(user, eddsa, {**claims_of(user, app_id), "role": "admin"}),
        "someone else's subject": signed(user, eddsa, claims_of(user, app_id, sub=other.id)),
        "issued in the future": signed(user, eddsa, claims_of(user, app_id, iat=now + 3600,
                                                              exp=now + 3700)),
        "lives too long": signed(user, eddsa, claims_of(user, app_id, exp=now + 10 * 86400)),
        "string times": signed(user, eddsa, claims_of(user, app_id, iat=str(now))),
        "no key": signed(user, eddsa, {k: v for k, v in claims_of(user, app_id).items()
                                       if k != "jazz_pub_key"}),
        "empty": "",
        "one part": "garbage",
        "three dots": "...",
        "non ascii": "é.é.é",
        "huge": "a" * 100_000,
        "header only": head,
    }


def test_bad_tokens_are_all_refused_with_unauthenticated(team):
    tokens = bad_tokens(team)
    accepted, answers = [], {}
    for name, token in tokens.items():
        answer = first_message(team.server, team.app_id,
                               json.dumps(hello(team.app.schema_hash, {"token": token})))
        answers[name] = answer
        if answer["type"] == "welcome":
            accepted.append(name)
    assert accepted == []
    wrong = {n: a for n, a in answers.items() if a.get("code") != "unauthenticated"}
    assert wrong == {}
    team.assert_serving()
