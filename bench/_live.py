"""Start and stop real servers on free ports for the benchmarks: `filewallball serve`, and the
bare FastAPI app that serves as the reference."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

BENCH = Path(__file__).parent
# The rate limiter stays on, with limits out of reach of a benchmark's own clients
OUT_OF_REACH = {
    "FWB_RATE_LIMIT_READS": "1000000/second",
    "FWB_RATE_LIMIT_UPLOADS": "1000000/second",
    "FWB_MAX_UPLOADS_PER_CLIENT": "1000000",
    "FWB_MAX_INFLIGHT_UPLOAD_BYTES": str(1024**4),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    """Poll `url` until it answers; fail at once if the process has died."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args!r} exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL to the whole tree: a server stuck in its shutdown (seen after a
    starved database pool) must not outlive the benchmark."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()
        process.wait()


@dataclass(frozen=True)
class Live:
    url: str
    pid: int


@contextlib.contextmanager
def running(
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    log: Path | None,
    ready: str = "/health/live",
    port_option: str = "--port",
) -> Iterator[Live]:
    """Runs `command --port N` until the block ends; its output goes to `log` (or nowhere)."""
    port = free_port()
    output = log.open("ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        [*command, port_option, str(port)],
        env={**os.environ, **env},
        stdout=output,
        stderr=output,
        cwd=cwd,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}{ready}", process)
        yield Live(url, process.pid)
    finally:
        stop(process)
        if log:
            output.close()  # type: ignore[union-attr]


def filewallball(scratch: Path, *args: str, **env: str) -> contextlib.AbstractContextManager[Live]:
    """`filewallball serve` in `scratch`, where its ./data and its log (serve.log) live."""
    command = [sys.executable, "-m", "filewallball", "serve", *args]
    return running(command, env, scratch, scratch / "serve.log")


def copyparty(shared: Path) -> contextlib.AbstractContextManager[Live]:
    """copyparty, a file server in Python, on its defaults: `shared` readable and writable at
    /, uploads by `PUT /<name>`."""
    command = [sys.executable, "-m", "copyparty", "-i", "127.0.0.1", "-q", "-v", f"{shared}::rw"]
    return running(command, {}, shared, None, ready="/", port_option="-p")


def bare(scratch: Path) -> contextlib.AbstractContextManager[Live]:
    """bench/bare_app.py on granian, as `serve` runs the real app: one worker, ASGI."""
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--no-access-log"]
    env = {"PYTHONPATH": str(BENCH)}
    return running([*command, "bare_app:app"], env, scratch, None)


@contextlib.contextmanager
def live_server(*args: str, **env: str) -> Iterator[str]:
    """A server on SQLite and a scratch folder; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="fwb-bench-") as scratch:
        environment = {
            "FWB_DATABASE_URL": f"sqlite:///{scratch}/bench.db",
            "FWB_STORAGE_DIR": f"{scratch}/files",
            "FWB_LOG_LEVEL": "warning",
            "FWB_MAX_FILE_SIZE": str(1024**3),
            **OUT_OF_REACH,
            **env,
        }
        command = [sys.executable, "-m", "filewallball", "serve", *args]
        with running(command, environment, Path(scratch), None) as live:
            yield live.url
