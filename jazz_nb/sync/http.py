"""A small HTTP/1.1 front for the sync server: parse one request, write one response.

The server reads each request itself so that it can serve JSON routes (GET and POST with a
body) and hand WebSocket upgrades to ``websocket.WebSocket`` on the same port.

Example:
    >>> parse_head(b"GET /health HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n").path
    '/health'
    >>> response(200, {"status": "healthy"}).splitlines()[0]
    b'HTTP/1.1 200 OK'
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024


class HttpError(Exception):
    """A request that gets an error response: ``status`` and a JSON ``body``.

    Example:
        >>> HttpError(404, "no route").body
        {'error': 'no route'}
    """

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}


@dataclass
class Request:
    """One parsed request; header names are lowercase.

    Example:
        >>> Request("GET", "/x", {}, {"upgrade": "websocket"}).is_websocket
        True
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    head: bytes = b""
    body: bytes = field(default=b"", repr=False)

    @property
    def is_websocket(self) -> bool:
        """Whether this is a WebSocket upgrade request."""
        return self.headers.get("upgrade", "").lower() == "websocket"

    def json(self) -> Any:
        """The body as JSON (``HttpError`` 400 if it is not).

        Example:
            >>> Request("POST", "/", {}, {}, body=b'{"a": 1}').json()
            {'a': 1}
        """
        try:
            return json.loads(self.body or b"null")
        except ValueError as err:
            raise HttpError(400, f"request body is not JSON: {err}") from None


def parse_head(head: bytes) -> Request:
    """Parse a request line and headers (up to the blank line).

    Example:
        >>> parse_head(b"POST /a?x=1 HTTP/1.1\\r\\nContent-Length: 2\\r\\n\\r\\n").query
        {'x': ['1']}
    """
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
    except ValueError:
        raise HttpError(400, "malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise HttpError(400, f"unsupported protocol {version!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, f"malformed header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    url = urlsplit(target)
    return Request(method.upper(), url.path, parse_qs(url.query), headers, head)


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """Read one request (head and body); ``None`` when the peer closed before sending one."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        if err.partial:
            raise HttpError(400, "connection closed inside the request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    request = parse_head(head)
    if "transfer-encoding" in request.headers:
        raise HttpError(411, "chunked bodies are not supported; send Content-Length")
    try:
        length = int(request.headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if length < 0 or length > MAX_BODY_BYTES:
        raise HttpError(413, f"request body over {MAX_BODY_BYTES} bytes")
    if length:
        request.body = await reader.readexactly(length)
    return request


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> bytes:
    """A complete ``Connection: close`` response with a JSON body.

    Example:
        >>> b"Content-Type: application/json" in response(404, {"error": "x"})
        True
    """
    payload = json.dumps(body, separators=(",", ":")).encode()
    phrase = HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {phrase}", "Content-Type: application/json",
             f"Content-Length: {len(payload)}", "Connection: close",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
