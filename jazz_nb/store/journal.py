"""The append-only journal of a file store's memtable: local writes are durable before DuckDB.

A file store (``Store(app, path)``) appends every local write to ``{path}.journal`` and
``fsync``s it before the write returns, so the write is durable at tier ``local`` without a DuckDB
transaction. Once DuckDB has absorbed the memtable (and committed), the journal is emptied. On
open, the store replays the journal: versions DuckDB holds already are skipped, the rest are
inserted and their rows re-merged, so a crash at any point loses no write that returned.

A record is one write, whatever tables it touches (so a torn write never replays half a batch):
``magic``, payload length and CRC-32 (little-endian ``u32`` each), then the payload: a JSON
header (its length as ``u32``, then ``[[table, schema hash, bytes], ...]``) followed by one
Arrow IPC stream per table, the versions in the store's history-source form. Replay stops at the
first record that is cut short or fails its checksum (the tail a crash can leave) and drops it.
The first record names the database the journal belongs to (header ``{"store": id}``, no
streams): a journal found beside another database (its ``.duckdb`` file deleted or restored
from a copy) is set aside as ``{journal}.stale-{ns}`` instead of being replayed into it.

Example:
    >>> import tempfile, pyarrow as pa
    >>> path = tempfile.mkdtemp() + "/app.duckdb.journal"
    >>> with Journal(path, "db-1") as journal:
    ...     journal.append([("todos", "ab" * 32, pa.table({"x": [1, 2]}))])
    >>> with Journal(path, "db-1") as journal:
    ...     [(t, len(rows)) for record in journal.records() for t, _, rows in record]
    [('todos', 2)]
"""

from __future__ import annotations

import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

log = logging.getLogger(__name__)
MAGIC = b"JZJ1"
_HEAD = struct.Struct("<4sII")  # magic, payload length, CRC-32 of the payload
_U32 = struct.Struct("<I")
Part = tuple[str, str, pa.Table]  # table name, full schema hash, versions (history-source form)


def _open_append(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)


def _frame(payload: bytes) -> bytes:
    return _HEAD.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def _owner_record(owner: str) -> bytes:
    header = json.dumps({"store": owner}).encode()
    return _frame(_U32.pack(len(header)) + header)


def _encode(parts: Sequence[Part]) -> bytes:
    streams = []
    for _, _, table in parts:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        streams.append(sink.getvalue().to_pybytes())
    header = json.dumps([[name, schema_hash, len(stream)] for (name, schema_hash, _), stream
                         in zip(parts, streams, strict=True)]).encode()
    return _frame(b"".join([_U32.pack(len(header)), header, *streams]))


def _decode(payload: bytes) -> list[Part] | str:
    """A record's parts, or the id its owner record names."""
    (size,) = _U32.unpack_from(payload)
    header = json.loads(payload[4:4 + size])
    if isinstance(header, dict):
        return str(header["store"])
    parts: list[Part] = []
    at = 4 + size
    for name, schema_hash, length in header:
        parts.append((name, schema_hash, pa.ipc.open_stream(payload[at:at + length]).read_all()))
        at += length
    return parts


class Journal:
    """The journal file of one store (see the module doc); the store's lock guards it.

    Example:
        >>> import tempfile
        >>> with Journal(tempfile.mkdtemp() + "/j", "db-1") as journal:
        ...     journal.records()
        []
    """

    def __init__(self, path: str | Path, owner: str) -> None:
        self.path = Path(path)
        self._head = _owner_record(owner)
        self._fd = _open_append(self.path)
        self._broken: OSError | None = None
        found, self._records, good = self._read()
        size = os.fstat(self._fd).st_size
        if size and found != owner:
            aside = self.path.with_name(f"{self.path.name}.stale-{time.time_ns()}")
            log.warning("journal %s belongs to another database (%s, not %s): set aside as %s",
                        self.path, found, owner, aside.name)
            os.close(self._fd)
            os.replace(self.path, aside)
            self._fd = _open_append(self.path)
            self._records, good, size = [], 0, 0
        if good < size:
            log.warning("journal %s: dropped a torn record at byte %d (a crash mid-write)",
                        self.path, good)
            os.ftruncate(self._fd, good)
        if good == 0:
            os.write(self._fd, self._head)
        os.fsync(self._fd)

    def _read(self) -> tuple[str | None, list[list[Part]], int]:
        """The owner the journal names, its writes, and where its last whole record ends."""
        data = self.path.read_bytes()
        owner: str | None = None
        records: list[list[Part]] = []
        at = 0
        while at + _HEAD.size <= len(data):
            magic, length, crc = _HEAD.unpack_from(data, at)
            payload = data[at + _HEAD.size:at + _HEAD.size + length]
            if magic != MAGIC or len(payload) < length or zlib.crc32(payload) != crc:
                break
            try:
                record = _decode(payload)
            except (ValueError, KeyError, TypeError, struct.error, pa.ArrowException):
                break
            if isinstance(record, str) != (at == 0):
                break  # the owner record comes first and only there
            if isinstance(record, str):
                owner = record
            else:
                records.append(record)
            at += _HEAD.size + length
        return owner, records, at

    def records(self) -> list[list[Part]]:
        """The writes the journal held when it was opened, oldest first."""
        return self._records

    def append(self, parts: Sequence[Part]) -> None:
        """Append one write and ``fsync`` it: when this returns, the write survives a crash.
        If it fails part-way (a full disk), the journal is cut back to where it was, so no
        torn record hides the writes after it."""
        if self._broken is not None:
            raise OSError(f"journal {self.path} is unusable since an earlier failure: "
                          f"{self._broken}")
        size = os.fstat(self._fd).st_size
        data = memoryview(_encode(parts))
        try:
            while data:
                data = data[os.write(self._fd, data):]
            os.fsync(self._fd)
        except BaseException as err:
            try:
                os.ftruncate(self._fd, size)
                os.fsync(self._fd)
            except OSError as again:
                self._broken = again
            raise err

    def replace(self, records: Sequence[Sequence[Part]]) -> None:
        """Make ``records`` the journal's whole content, atomically (a new file renamed over
        the old one): a crash leaves either the old journal or the new one."""
        if not records:
            os.ftruncate(self._fd, len(self._head))
            os.fsync(self._fd)
        else:
            fresh = self.path.with_name(self.path.name + ".new")
            fresh.write_bytes(b"".join([self._head, *(_encode(parts) for parts in records)]))
            with open(fresh, "rb+") as file:
                os.fsync(file.fileno())
            os.replace(fresh, self.path)
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
            os.close(self._fd)
            self._fd = _open_append(self.path)
        self._records = []

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
