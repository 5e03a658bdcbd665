"""Which ASGI server serves FileWallBall faster: granian or uvicorn?

Uploads and downloads a 100 MiB file through each, three times, and prints the throughput
and the granian / uvicorn ratio. Both run the same app, on the same machine, in the same run.
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from _live import live_server

SIZE = 100 * 1024 * 1024
ROUNDS = 3


def measure(server: str, source: Path) -> tuple[float, float]:
    """Median upload and download rates in MiB/s."""
    uploads, downloads = [], []
    with live_server("--server", server) as url, httpx.Client(timeout=300) as http:
        for _ in range(ROUNDS):
            started = time.perf_counter()
            with source.open("rb") as handle:
                body = http.post(f"{url}/upload", files={"file": ("big.bin", handle)}).json()
            uploads.append(SIZE / (time.perf_counter() - started) / 2**20)
            started = time.perf_counter()
            digest = hashlib.sha256()
            with http.stream("GET", body["download_url"]) as response:
                for chunk in response.iter_bytes():
                    digest.update(chunk)
            downloads.append(SIZE / (time.perf_counter() - started) / 2**20)
            assert digest.hexdigest() == body["sha256"]
    return statistics.median(uploads), statistics.median(downloads)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "big.bin"
        source.write_bytes(b"\x5a" * SIZE)
        granian = measure("granian", source)
        uvicorn = measure("uvicorn", source)
    print(f"{'':10} {'upload MiB/s':>14} {'download MiB/s':>16}")
    print(f"{'granian':10} {granian[0]:14.0f} {granian[1]:16.0f}")
    print(f"{'uvicorn':10} {uvicorn[0]:14.0f} {uvicorn[1]:16.0f}")
    print(
        f"granian / uvicorn: upload x{granian[0] / uvicorn[0]:.2f}, "
        f"download x{granian[1] / uvicorn[1]:.2f}"
    )


if __name__ == "__main__":
    main()
