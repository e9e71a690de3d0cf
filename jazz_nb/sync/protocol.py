"""The sync protocol's JSON control messages: names, fields, error codes (docs/protocol.md).

Every text frame is one JSON object with a ``type``. ``decode`` checks the type is known for the
receiving side and that required fields have the right JSON type; anything else raises
``ProtocolError`` with a wire error code (``malformed_message``, ``unknown_message_type``).

Example:
    >>> text = encode({"type": "subscribe", "id": 1, "query": {"table": "todos"}, "tier": "edge"})
    >>> decode(text, CLIENT)["query"]
    {'table': 'todos'}
    >>> decode('{"type": "launch"}', CLIENT)
    Traceback (most recent call last):
    ...
    jazz_nb.errors.ProtocolError: unknown message type 'launch' [unknown_message_type]
"""

from __future__ import annotations

import json
from typing import Any, Literal

from jazz_nb.errors import ProtocolError

PROTOCOL_VERSION = 1
Side = Literal["client", "server"]
CLIENT: Side = "client"  # messages a client sends (the server decodes these)
SERVER: Side = "server"  # messages a server sends (the client decodes these)
TIERS = ("local", "edge", "global")
DEFAULT_MAX_FRAME_BYTES = 32 * 1024 * 1024
HEARTBEAT_SECONDS = 30.0

# wire error codes (``error`` messages) -- see docs/protocol.md
ERROR_CODES = {
    "malformed_message": "a text frame is not a JSON object with valid fields",
    "malformed_frame": "a binary frame is truncated or not a valid row-version frame",
    "unknown_message_type": "the message type is not part of the protocol for this side",
    "frame_too_large": "a frame is larger than the server's --max-frame-bytes",
    "handshake_required": "the first frame was not a hello",
    "incompatible_protocol": "the peer speaks another protocol version",
    "unauthenticated": "the credentials were refused (reason: missing/invalid/expired/disabled)",
    "unknown_app": "this server does not serve that app id",
    "unknown_schema": "the schema hash was never published to this app",
    "unknown_table": "a frame or query names a table the schema lacks",
    "invalid_query": "a subscription's query IR is invalid for the schema",
    "permissions_head_missing": "no permissions are published; session-scoped sync is closed",
    "slow_consumer": "the connection fell too far behind and was dropped",
    "limit_exceeded": "a per-connection limit was hit; ``limit`` names it, ``max`` is its value",
    "internal": "an unexpected server error (the connection is closed)",
}
# batch fate rejection codes (``fate`` messages with kind "rejected")
REJECTION_CODES = ("permission_denied", "permissions_head_missing", "anonymous_write_denied",
                   "transaction_conflict", "invalid_batch_submission", "unknown_schema",
                   "unknown_table", "batch_id_taken", "internal")
# rejections that are the write's final answer (the client drops the rows); after any other
# the rows stay, pending, and the client says why in ``db.status``
FINAL_REJECTIONS = ("permission_denied", "anonymous_write_denied", "transaction_conflict")

_JSON = {"str": str, "int": int, "dict": dict, "list": list, "bool": bool}
_CLIENT_MESSAGES: dict[str, dict[str, str]] = {
    "hello": {"protocol": "int", "client_id": "str", "schema_hash": "str", "auth": "dict"},
    "subscribe": {"id": "int", "query": "dict", "tier": "str"},
    "unsubscribe": {"id": "int"},
    "heartbeat": {},
}
_SERVER_MESSAGES: dict[str, dict[str, str]] = {
    "welcome": {"protocol": "int", "connection_id": "str", "tier": "str", "role": "str",
                "max_frame_bytes": "int"},
    "settled": {"id": "int", "tier": "str"},
    "fate": {"batch_id": "str", "kind": "str"},
    "error": {"code": "str", "message": "str"},
    "heartbeat": {},
}


def encode(message: dict[str, Any]) -> str:
    """Compact JSON text of a control message.

    Example:
        >>> encode({"type": "heartbeat"})
        '{"type":"heartbeat"}'
    """
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def decode(text: str | bytes, side: Side) -> dict[str, Any]:
    """Parse and check a control message sent by ``side`` (``CLIENT`` or ``SERVER``).

    Example:
        >>> decode('{"type": "settled", "id": 3, "tier": "global"}', SERVER)["tier"]
        'global'
        >>> decode('{"type": "settled", "id": "3", "tier": "global"}', SERVER)
        Traceback (most recent call last):
        ...
        jazz_nb.errors.ProtocolError: settled.id must be a JSON int [malformed_message]
    """
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise error("malformed_message", f"text frame is not JSON: {err}") from None
    except RecursionError:
        raise error("malformed_message", "text frame nests too deep") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise error("malformed_message", "a message is a JSON object with a string 'type'")
    kind = message["type"]
    fields = (_CLIENT_MESSAGES if side == CLIENT else _SERVER_MESSAGES).get(kind)
    if fields is None:
        raise error("unknown_message_type", f"unknown message type {kind!r}")
    for name, type_name in fields.items():
        value = message.get(name)
        if not isinstance(value, _JSON[type_name]) or isinstance(value, bool) != (
                type_name == "bool"):
            raise error("malformed_message", f"{kind}.{name} must be a JSON {type_name}")
    if "tier" in fields and message["tier"] not in TIERS:
        raise error("malformed_message", f"{kind}.tier must be one of {', '.join(TIERS)}")
    return message


def error(code: str, message: str, **extra: object) -> ProtocolError:
    """A ``ProtocolError`` carrying a wire error ``code``.

    Example:
        >>> error("unknown_table", "no table 'x'").code
        'unknown_table'
        >>> error("limit_exceeded", "too big", limit="decompressed_bytes", max=8).limit
        'decompressed_bytes'
    """
    return ProtocolError(f"{message} [{code}]", code=code, extra=extra)


def error_of(err: ProtocolError) -> dict[str, Any]:
    """The ``error`` control message reporting ``err``, with its ``extra`` fields (a limit's
    ``limit`` and ``max``, a subscription's ``id``...).

    Example:
        >>> message = error_of(error("limit_exceeded", "big", limit="decompressed_bytes", max=8))
        >>> message["code"], message["limit"], message["max"]
        ('limit_exceeded', 'decompressed_bytes', 8)
    """
    return error_message(err.code or "malformed_message", str(err), **err.extra)


def error_message(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The ``error`` control message for ``code``.

    Example:
        >>> error_message("unknown_schema", "schema abc is not published", id=4)["id"]
        4
    """
    return {"type": "error", "code": code, "message": message, **extra}


def check_version(version: int) -> None:
    """Refuse a peer that speaks another protocol version.

    Example:
        >>> check_version(99)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jazz_nb.errors.ProtocolError: protocol version 99 is not supported ...
    """
    if version != PROTOCOL_VERSION:
        raise error("incompatible_protocol", f"protocol version {version} is not supported "
                                             f"(this side speaks {PROTOCOL_VERSION})")
