"""Server-side WebSocket on asyncio streams, using websockets' Sans-I/O ``ServerProtocol``.

The HTTP front has already read the upgrade request; ``WebSocket.accept`` feeds those bytes to
the protocol, sends the 101 response, and then ``recv``/``send`` exchange whole messages.
Frames above ``max_size`` fail the connection with close code 1009 after a JSON ``error``
message with code ``frame_too_large``.

Example:
    >>> # ws = await WebSocket.accept(reader, writer, request.head, max_size=1 << 20)
    >>> # while (message := await ws.recv()) is not None: ...
"""

from __future__ import annotations

import asyncio
import contextlib

from websockets.exceptions import InvalidState, PayloadTooBig
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request as WsRequest
from websockets.server import ServerProtocol

from jazz_nb.sync.protocol import encode, error_message

READ_CHUNK = 256 * 1024


class WebSocket:
    """One accepted WebSocket connection (messages are ``str`` or ``bytes``).

    Example:
        >>> # await ws.send('{"type": "heartbeat"}'); message = await ws.recv()
    """

    def __init__(self, protocol: ServerProtocol, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.protocol = protocol
        self.reader = reader
        self.writer = writer
        self._messages: list[str | bytes] = []
        self._parts: list[bytes] = []
        self._text = False
        self._send_lock = asyncio.Lock()
        self.close_code: int | None = None

    @classmethod
    async def accept(cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     head: bytes, max_size: int) -> WebSocket | None:
        """Complete the opening handshake; ``None`` (after an HTTP error reply) if invalid."""
        protocol = ServerProtocol(max_size=max_size)
        protocol.receive_data(head)
        request = next((e for e in protocol.events_received() if isinstance(e, WsRequest)),
                       None)
        if request is None:
            writer.write(b"".join(protocol.data_to_send()))
            writer.close()
            return None
        response = protocol.accept(request)
        protocol.send_response(response)
        writer.write(b"".join(protocol.data_to_send()))
        await writer.drain()
        if response.status_code != 101:
            writer.close()
            return None
        return cls(protocol, reader, writer)

    @property
    def peer(self) -> str:
        """``host:port`` of the other end."""
        address = self.writer.get_extra_info("peername") or ("?", 0)
        return f"{address[0]}:{address[1]}"

    async def recv(self) -> str | bytes | None:
        """The next whole message, or ``None`` once the connection is closed."""
        while not self._messages:
            if self.close_code is not None:
                return None
            try:
                data = await self.reader.read(READ_CHUNK)
            except (ConnectionError, OSError):
                data = b""
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
            self._collect()
            await self._flush(too_big=isinstance(self.protocol.parser_exc, PayloadTooBig))
            if data and (self.protocol.close_expected() or self.protocol.parser_exc):
                await self._drain()
            if not data or self.protocol.close_expected() or self.protocol.parser_exc:
                self._finish()
        return self._messages.pop(0)

    async def _drain(self, seconds: float = 2.0) -> None:
        """Read (and discard) until the peer closes, so closing does not reset the connection
        and lose what was just sent to it."""
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError, OSError):
            async with asyncio.timeout(seconds):
                while data := await self.reader.read(READ_CHUNK):
                    self.protocol.receive_data(data)
                    self._collect()
                    self._messages.clear()
                    await self._flush()
        self.writer.close()

    def _collect(self) -> None:
        for frame in self.protocol.events_received():
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                self._text = frame.opcode is Opcode.TEXT
                self._parts = [frame.data]
            elif frame.opcode is Opcode.CONT:
                self._parts.append(frame.data)
            elif frame.opcode is Opcode.CLOSE:
                self._finish()
                continue
            else:
                continue  # ping/pong: the protocol answers pings itself
            if frame.fin:
                data = b"".join(self._parts)
                self._parts = []
                self._messages.append(data.decode() if self._text else data)

    def _finish(self) -> None:
        if self.close_code is None:
            received = self.protocol.close_rcvd
            self.close_code = received.code if received else CloseCode.ABNORMAL_CLOSURE

    async def _flush(self, too_big: bool = False) -> None:
        chunks = self.protocol.data_to_send()
        if too_big:  # say why in a message the client can read, before the close frame
            notice = Frame(Opcode.TEXT, encode(error_message(
                "frame_too_large", f"frame too large: {self.protocol.parser_exc}")).encode())
            chunks.insert(0, notice.serialize(mask=False, extensions=[]))
        data = b"".join(chunks)
        if data:
            self.writer.write(data)
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.drain()
        if b"" in chunks and self.writer.can_write_eof():  # the protocol asks to half-close
            with contextlib.suppress(ConnectionError, OSError):
                self.writer.write_eof()

    async def send(self, message: str | bytes) -> None:
        """Send one message; raises ``ConnectionError`` if the connection is closed."""
        async with self._send_lock:
            try:
                if isinstance(message, str):
                    self.protocol.send_text(message.encode())
                else:
                    self.protocol.send_binary(message)
            except InvalidState:
                raise ConnectionError("websocket is closed") from None
            data = b"".join(self.protocol.data_to_send())
            self.writer.write(data)
            await self.writer.drain()

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake, read what the peer still sends until it closes too
        (closing a socket with unread data resets it, and the peer would lose the last
        messages sent to it, such as the error saying why), then close the TCP connection."""
        with contextlib.suppress(InvalidState):
            self.protocol.send_close(code, reason)
        self._finish()
        await self._flush()
        if not self.writer.is_closing():
            await self._drain()
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError, asyncio.TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2)

