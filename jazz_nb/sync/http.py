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
LINGER_SECONDS = 1.0  # how long a refused request's rest is read and dropped
MAX_LINGER_BYTES = 1024 * 1024


class HttpError(Exception):
    """A request that gets an error response: ``status`` and a JSON ``body``.

    Example:
        >>> HttpError(404, "no route").body
        {'error': 'no route'}
    """

    def __init__(self, status: int, message: str, /, **extra: Any) -> None:
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


async def read_request(reader: asyncio.StreamReader, *, head_seconds: float = 10.0,
                       body_seconds: float = 30.0, max_body: int = MAX_BODY_BYTES,
                       ) -> Request | None:
    """Read one request (head and body); ``None`` when the peer closed before sending one.

    A head not complete within ``head_seconds``, or a body within ``body_seconds``, is ``408``
    (slow senders cannot hold a socket); a head over the reader's limit (64 KiB) ``431``, a
    body over ``max_body`` bytes ``413``.

    Example:
        >>> async def read(data: bytes) -> Request | None:
        ...     reader = asyncio.StreamReader()
        ...     reader.feed_data(data)
        ...     reader.feed_eof()
        ...     return await read_request(reader)
        >>> asyncio.run(read(b"POST /a HTTP/1.1\\r\\nContent-Length: 2\\r\\n\\r\\nhi")).body
        b'hi'
    """
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), head_seconds)
    except asyncio.IncompleteReadError as err:
        if err.partial:
            raise HttpError(400, "connection closed inside the request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    except TimeoutError:
        raise HttpError(408, f"request head not complete within {head_seconds:g} s") from None
    request = parse_head(head)
    if "transfer-encoding" in request.headers:
        raise HttpError(411, "chunked bodies are not supported; send Content-Length")
    try:
        length = int(request.headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if length < 0 or length > max_body:
        raise HttpError(413, f"request body over {max_body} bytes")
    if length:
        try:
            request.body = await asyncio.wait_for(reader.readexactly(length), body_seconds)
        except TimeoutError:
            raise HttpError(408, f"request body not complete within {body_seconds:g} s") \
                from None
    return request


async def finish(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes, *,
                 seconds: float, linger: bool = False) -> None:
    """Send ``data`` and close; a peer that does not read it within ``seconds`` is cut off.

    ``linger`` (the request was not read to its end: an error, a refused connection): shut our
    side, then discard what the peer still sends for up to ``LINGER_SECONDS``, so closing with
    unread input does not reset the connection before the peer has read the answer.

    Example:
        >>> # await finish(reader, writer, response(408, {"error": "slow"}), seconds=30,
        >>> #              linger=True)
    """
    writer.write(data)
    try:
        await asyncio.wait_for(writer.drain(), seconds)
        if linger and writer.can_write_eof():
            writer.write_eof()
            await asyncio.wait_for(_discard(reader), LINGER_SECONDS)
    except (TimeoutError, ConnectionError, OSError):
        writer.transport.abort()  # the peer does not read: drop what it was not sent
        return
    writer.close()


async def _discard(reader: asyncio.StreamReader) -> None:
    left = MAX_LINGER_BYTES
    while left > 0 and (chunk := await reader.read(min(left, 65536))):
        left -= len(chunk)


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
