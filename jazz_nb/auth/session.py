"""Sessions: who is reading or writing, as Jazz models it (§7, `Session`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

AuthMode = Literal["external", "local-first", "anonymous"]

SYSTEM_PRINCIPAL = "jazz:system"


@dataclass(frozen=True)
class Session:
    """A principal with claims; policies are evaluated against it.

    Example:
        >>> Session("bob", {"role": "member"}).claims["role"]
        'member'
    """

    user_id: str
    claims: dict[str, Any] = field(default_factory=dict)
    auth_mode: AuthMode = "external"

    def to_json(self) -> dict[str, Any]:
        """The JSON form Jazz uses (`{"user_id", "claims", "authMode"}`).

        Example:
            >>> Session("bob").to_json()["authMode"]
            'external'
        """
        return {"user_id": self.user_id, "claims": dict(self.claims), "authMode": self.auth_mode}

    @classmethod
    def from_json(cls, data: Any) -> Session:
        """Parse the JSON form (``authMode`` or ``auth_mode``, default ``external``).

        Raises ``ValueError`` on a wrong shape.

        Example:
            >>> Session.from_json({"user_id": "bob", "auth_mode": "local-first"}).auth_mode
            'local-first'
        """
        if not isinstance(data, dict) or not isinstance(data.get("user_id"), str):
            raise ValueError("a session is an object with a string 'user_id'")
        claims = data.get("claims", {})
        mode = data.get("authMode", data.get("auth_mode", "external"))
        if not isinstance(claims, dict) or mode not in ("external", "local-first", "anonymous"):
            raise ValueError("session 'claims' must be an object and 'authMode' a known mode")
        return cls(data["user_id"], dict(claims), mode)
