"""Start and stop a real `filewallball serve` on a free port, for the benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_server(*args: str, **env: str) -> Iterator[str]:
    """A server on SQLite and a scratch folder; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="fwb-bench-") as scratch:
        port = free_port()
        environment = {
            **os.environ,
            "FWB_DATABASE_URL": f"sqlite:///{scratch}/bench.db",
            "FWB_STORAGE_DIR": f"{scratch}/files",
            "FWB_LOG_LEVEL": "warning",
            "FWB_MAX_FILE_SIZE": str(1024**3),
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "filewallball", "serve", "--port", str(port), *args],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=Path(scratch),
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{url}/health/live", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)
