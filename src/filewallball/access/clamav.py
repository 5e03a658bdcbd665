"""Malware scanning with clamd's INSTREAM command, fed while the upload is being stored."""

from __future__ import annotations

import asyncio
import struct

from filewallball.errors import MalwareFound, ServiceUnavailable

MAX_CHUNK = 1024 * 1024


class ScannerUnavailable(ServiceUnavailable):
    """clamd could not be reached or failed to give a verdict."""


class Scanner:
    """A clamd at `host:port` or at a unix socket path."""

    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
        self.timeout = timeout

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            async with asyncio.timeout(self.timeout):
                if self.address.startswith(("/", "unix:")):
                    return await asyncio.open_unix_connection(self.address.removeprefix("unix:"))
                host, _, port = self.address.rpartition(":")
                return await asyncio.open_connection(host.strip("[]"), int(port))
        except (OSError, ValueError, TimeoutError):
            raise ScannerUnavailable("The malware scanner is unavailable. Try again.") from None

    async def ping(self) -> None:
        reader, writer = await self._connect()
        try:
            writer.write(b"zPING\0")
            await writer.drain()
            async with asyncio.timeout(self.timeout):
                reply = await reader.readuntil(b"\0")
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            raise ScannerUnavailable("The malware scanner does not answer.") from None
        finally:
            writer.close()
        if reply != b"PONG\0":
            raise ScannerUnavailable("The malware scanner answered strangely.")

    async def open(self) -> ScanStream:
        reader, writer = await self._connect()
        stream = ScanStream(reader, writer, self.timeout)
        try:
            await stream.send(b"zINSTREAM\0")
        except ScannerUnavailable:
            stream.close()
            raise
        return stream


class ScanStream:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout = timeout

    async def send(self, *pieces: bytes | memoryview) -> None:
        try:
            self._writer.writelines(pieces)
            async with asyncio.timeout(self._timeout):
                await self._writer.drain()
        except (OSError, TimeoutError):
            raise ScannerUnavailable("The malware scanner stopped reading the file.") from None

    async def feed(self, *chunks: bytes) -> None:
        """Send the bytes of `chunks`, in order, each prefixed with its length as clamd wants,
        in one write and one wait: no copy of the bytes, however many chunks a batch has."""
        pieces: list[bytes | memoryview] = []
        for chunk in chunks:
            view = memoryview(chunk)
            for start in range(0, len(view), MAX_CHUNK):
                piece = view[start : start + MAX_CHUNK]
                pieces += (struct.pack(">I", len(piece)), piece)
        if pieces:
            await self.send(*pieces)

    async def verdict(self) -> None:
        """Raise MalwareFound with the signature's name, or return when the file is clean."""
        await self.send(struct.pack(">I", 0))
        try:
            async with asyncio.timeout(self._timeout):
                reply = (await self._reader.readuntil(b"\0")).rstrip(b"\0").decode()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            raise ScannerUnavailable("The malware scanner gave no verdict.") from None
        finally:
            self.close()
        result = reply.removeprefix("stream:").strip()
        if result == "OK":
            return
        if result.endswith("FOUND"):
            raise MalwareFound(
                f"The file was refused: it contains {result.removesuffix(' FOUND')}."
            )
        raise ScannerUnavailable("The malware scanner could not scan the file.")

    def close(self) -> None:
        self._writer.close()
