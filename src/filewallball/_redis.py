"""Redis connections that give up fast. A Redis that hangs rather than refusing (a frozen
process, a black-holed network) must cost a request well under a second, once, and then
nothing until it may answer again: every client here has connect and socket timeouts, never
retries a timeout, and sits behind a breaker."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import ssl
import time
from collections import deque
from typing import Any

import hiredis
from redis import exceptions
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.connection import SSLConnection, parse_url

CONNECT_TIMEOUT = 0.5
COMMAND_TIMEOUT = 0.5
# How long a failed Redis is left alone before the next request tries it again.
PAUSE_SECONDS = 2.0


def options(socket_timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
    """Connection options for every client. redis-py's default of three retries with backoff
    would turn one timeout into four: a timeout is never retried. A connection error is, once,
    on a new connection: after a Redis restart each pooled connection is dead, and only the
    retry finds out whether Redis is."""
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": socket_timeout,
        "retry": Retry(NoBackoff(), 1, supported_errors=(exceptions.ConnectionError,)),
    }


def connect(url: str, socket_timeout: float = COMMAND_TIMEOUT, **extra: Any) -> Redis:
    return Redis.from_url(url, **options(socket_timeout), **extra)


def pool(url: str) -> ConnectionPool:
    return ConnectionPool.from_url(url, **options())


class Breaker:
    """After a failure, calls are refused at once for `pause` seconds instead of each waiting
    out a timeout; the first call after the pause tries Redis again."""

    def __init__(self, pause: float = PAUSE_SECONDS) -> None:
        self.pause = pause
        self._open_until = 0.0

    @property
    def open(self) -> bool:
        return time.monotonic() < self._open_until

    def failed(self) -> None:
        self._open_until = time.monotonic() + self.pause

    def succeeded(self) -> None:
        self._open_until = 0.0


class SharedConnection:
    """One connection for every request of the process, for the commands each request sends
    (the rate limit, the cached metadata): the commands asked for in one turn of the event
    loop go out in one write and replies are matched in order, so concurrent requests share
    the round trips, the writes and the reads. A pooled redis-py client spent ~70 µs of CPU a
    command here, this ~25 µs; on MariaDB + Redis that was a third of a popular file's request,
    and a write of its own per command another tenth (bench/README.md).

    The same failure rules as `connect`: a command that gets no reply within `timeout` fails
    with a TimeoutError, and so does everything sent after it on that connection, which is
    closed (a reply that came late would be taken for another's); a connection error is
    retried once, on a new connection. Errors are redis-py's, so callers catch `RedisError`.
    """

    def __init__(self, url: str, timeout: float = COMMAND_TIMEOUT) -> None:
        parsed: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        self._address: dict[str, Any] = (
            {"path": parsed["path"]}
            if "path" in parsed
            else {"host": parsed.get("host", "localhost"), "port": parsed.get("port", 6379)}
        )
        self._tls = (
            _tls_context(parsed) if parsed.get("connection_class") is SSLConnection else None
        )
        self._hello: list[tuple[Any, ...]] = []
        if parsed.get("password") is not None:
            self._hello.append(
                ("AUTH", *filter(None, (parsed.get("username"), parsed["password"])))
            )
        if parsed.get("db"):
            self._hello.append(("SELECT", parsed["db"]))
        self._timeout = timeout
        self._line: _Line | None = None
        self._connecting: asyncio.Task[_Line] | None = None

    async def call(self, *command: Any) -> Any:
        try:
            return await (await self._connected()).send(command)
        except exceptions.ConnectionError:  # perhaps a connection Redis closed as it restarted
            return await (await self._connected()).send(command)

    async def script(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA, and EVAL where Redis does not know the script yet (after a restart)."""
        sha = _sha1(source)
        try:
            return await self.call("EVALSHA", sha, len(keys), *keys, *args)
        except exceptions.NoScriptError:
            return await self.call("EVAL", source, len(keys), *keys, *args)

    async def _connected(self) -> _Line:
        loop = asyncio.get_running_loop()
        line = self._line
        if line is not None and line.open and line.loop is loop:
            return line
        connecting = self._connecting
        if connecting is None or connecting.done() or connecting.get_loop() is not loop:
            # Requests that find it closed share one new connection, which stands even if
            # they all give up waiting; its failure is each waiter's to see.
            connecting = self._connecting = loop.create_task(self._connect())
            connecting.add_done_callback(lambda task: task.cancelled() or task.exception())
        try:
            return await asyncio.shield(connecting)
        except asyncio.CancelledError:
            if connecting.cancelled():  # closed while connecting: not this request's cancel
                raise exceptions.ConnectionError("the connection to Redis was closed") from None
            raise

    async def _connect(self) -> _Line:
        loop = asyncio.get_running_loop()
        line = _Line(loop, self._timeout)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                if "path" in self._address:
                    await loop.create_unix_connection(lambda: line, self._address["path"])
                else:
                    await loop.create_connection(
                        lambda: line, self._address["host"], self._address["port"], ssl=self._tls
                    )
                for command in self._hello:
                    await line.send(command)
        except BaseException as exc:
            line.close()
            if isinstance(exc, TimeoutError):
                raise exceptions.TimeoutError("Redis did not answer the connection") from None
            if isinstance(exc, OSError):
                raise exceptions.ConnectionError(f"Redis cannot be reached: {exc}") from None
            raise
        self._line = line
        return line

    async def aclose(self) -> None:
        connecting, self._connecting = self._connecting, None
        if connecting is not None and not connecting.done():
            connecting.cancel()  # it closes what it had opened
            with contextlib.suppress(asyncio.CancelledError, exceptions.RedisError):
                await connecting
        if self._line is not None:
            self._line.close()
            self._line = None


class _Line(asyncio.Protocol):
    """One connection's commands in flight, oldest first, each with the time it gives up."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self._timeout = timeout
        self._reader = hiredis.Reader(replyError=exceptions.ResponseError)
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._transport: asyncio.Transport | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._unsent: list[bytes] = []
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self.open = True

    def send(self, command: tuple[Any, ...]) -> asyncio.Future[Any]:
        if not self.open or self._transport is None:
            raise exceptions.ConnectionError("the connection to Redis is closed")
        packed = hiredis.pack_command(command)
        reply = self.loop.create_future()
        # Written once the loop has run whatever else is ready: the commands of every request
        # asking meanwhile go out in one write (one system call, and one read for Redis), not
        # one each. A request waits for no more than that turn of the loop.
        if not self._unsent:
            self.loop.call_soon(self._write)
        self._unsent.append(packed)
        self._waiting.append((reply, self.loop.time() + self._timeout))
        if self._watch is None:
            self._watch = self.loop.call_at(self._waiting[0][1], self._check)
        return reply

    def _write(self) -> None:
        unsent, self._unsent = self._unsent, []
        if self.open and self._transport is not None:  # else `_fail` has failed their replies
            self._transport.write(b"".join(unsent))

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while True:
            try:
                answer = self._reader.gets()
            except hiredis.ProtocolError as exc:
                self._fail(exceptions.ConnectionError(f"Redis sent what is not RESP: {exc}"))
                return
            if answer is False:
                return
            if not self._waiting:  # a reply nobody asked for: the stream cannot be trusted
                self._fail(exceptions.ConnectionError("Redis sent an unexpected reply"))
                return
            reply, _ = self._waiting.popleft()
            if reply.done():
                continue
            if isinstance(answer, exceptions.ResponseError):
                reply.set_exception(_error(answer))
            else:
                reply.set_result(answer)

    def _check(self) -> None:
        self._watch = None
        if not self._waiting:
            return
        if self._waiting[0][1] <= self.loop.time():
            self._fail(exceptions.TimeoutError("Redis did not answer in time"))
        else:
            self._watch = self.loop.call_at(self._waiting[0][1], self._check)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exceptions.ConnectionError(f"Redis closed the connection: {exc}"))

    def close(self) -> None:
        self._fail(exceptions.ConnectionError("the connection to Redis was closed"))

    def _fail(self, error: exceptions.RedisError) -> None:
        self.open = False
        if self._transport is not None:
            self._transport.abort()
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        while self._waiting:
            reply, _ = self._waiting.popleft()
            if not reply.done():
                reply.set_exception(error)


def _error(answer: exceptions.ResponseError) -> exceptions.ResponseError:
    message = str(answer)
    if message.startswith("NOSCRIPT"):
        return exceptions.NoScriptError(message)
    return answer


@functools.lru_cache(maxsize=16)
def _sha1(source: str) -> str:
    # The script's name in Redis, not a secret
    return hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


def _tls_context(parsed: dict[str, Any]) -> ssl.SSLContext:
    """The TLS that redis-py's `rediss://` options ask for: a CA, a client certificate, and
    whether the server's certificate is checked."""
    context = ssl.create_default_context(
        cafile=parsed.get("ssl_ca_certs"), capath=parsed.get("ssl_ca_path")
    )
    if parsed.get("ssl_certfile"):
        context.load_cert_chain(
            parsed["ssl_certfile"], parsed.get("ssl_keyfile"), parsed.get("ssl_password")
        )
    required = str(parsed.get("ssl_cert_reqs", "required")).lower()
    if required in {"none", "cert_none"}:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif required in {"optional", "cert_optional"}:
        context.verify_mode = ssl.CERT_OPTIONAL
    else:
        context.check_hostname = str(parsed.get("ssl_check_hostname", "true")).lower() != "false"
    return context
