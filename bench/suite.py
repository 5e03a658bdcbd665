"""FileWallBall's speed, as ratios against references measured side by side in the same run.

Request rates (wrk) against a bare FastAPI endpoint on the same ASGI server; a 100 MiB
download and upload (curl) against nginx; the server's peak memory against its budget. Each
pair is measured round after round, and the table shows the median ratio and its spread.
On SQLite + local storage, and on MariaDB + Redis when FWB_BENCH_DATABASE_URL and
FWB_BENCH_REDIS_URL are set (that database and Redis db are emptied first).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
from _live import OUT_OF_REACH, Live, bare, filewallball
from _report import Row, environment, save, table
from _rss import PeakRss
from _tools import (
    download_mb_per_s,
    have,
    install_missing,
    nginx,
    upload_form_mb_per_s,
    upload_put_mb_per_s,
    wrk,
)

BIG = 100 * 1024 * 1024
SMALL = 10 * 1000
LISTED = 30  # files on the server before GET /files?page=1
TRANSFER_ROUNDS = 5  # a 100 MiB transfer lasts well under a second: more rounds, steadier median


def upload(url: str, name: str, content: bytes) -> str:
    response = httpx.post(f"{url}/upload", files={"file": (name, content)}, timeout=60)
    response.raise_for_status()
    return str(response.json()["file_id"])


def request_rates(ours: Live, bare_url: str, backend: str, args: argparse.Namespace) -> list[Row]:
    """Each endpoint against the bare one: paired wrk runs, bare first, then ours."""
    popular = upload(ours.url, "popular.txt", b"p" * SMALL)
    for n in range(LISTED):
        upload(ours.url, f"listed-{n}.txt", f"file {n}".encode())
    scenarios = [
        ("GET /files/{id}, popular file", f"/files/{popular}", 0.5),
        ("GET /files?page=1", "/files?page=1", 0.4),
        ("10 KB download", f"/download/{popular}", 0.4),
        ("GET /health/live", "/health/live", 0.8),
    ]
    rows = []
    for name, path, target in scenarios:
        row = Row(backend, name, "req/s", "bare", target)
        wrk(f"{ours.url}{path}", 1)  # warm: caches, pools, the first log file writes
        for _ in range(args.rounds):
            reference = wrk(f"{bare_url}/health/live", args.seconds)
            measured = wrk(f"{ours.url}{path}", args.seconds)
            row.theirs.append(reference.requests_per_second)
            row.ours.append(measured.requests_per_second)
            row.p99_theirs_ms.append(reference.p99_ms)
            row.p99_ours_ms.append(measured.p99_ms)
            row.failures += measured.failures
        rows.append(row)
    return rows


def transfers(ours: Live, web: str, source: Path, backend: str, rounds: int) -> list[Row]:
    """100 MiB in one stream each way, against nginx's PUT and sendfile of the same bytes."""
    uploads = Row(backend, "100 MiB upload, multipart", "MB/s", "nginx PUT", 0.5)
    stored = ""
    for n in range(rounds):
        uploads.theirs.append(upload_put_mb_per_s(f"{web}/put/{n}-{source.name}", source))
        rate, answer = upload_form_mb_per_s(f"{ours.url}/upload", source)
        uploads.ours.append(rate)
        stored = json.loads(answer)["file_id"]
    downloads = Row(backend, "100 MiB download, 1 stream", "MB/s", "nginx", 0.6)
    for _ in range(rounds):
        downloads.theirs.append(download_mb_per_s(f"{web}/{source.name}", BIG))
        downloads.ours.append(download_mb_per_s(f"{ours.url}/download/{stored}", BIG))
    return [downloads, uploads]


def backends() -> Iterator[tuple[str, dict[str, str]]]:
    yield "sqlite + local", {}
    database, redis_url = (
        os.environ.get(f"FWB_BENCH_{name}_URL") for name in ("DATABASE", "REDIS")
    )
    if database and redis_url:
        empty(database, redis_url)
        yield "mariadb + redis", {"FWB_DATABASE_URL": database, "FWB_REDIS_URL": redis_url}
    else:
        print("skipped: MariaDB + Redis — set FWB_BENCH_DATABASE_URL and FWB_BENCH_REDIS_URL")


def empty(database: str, redis_url: str) -> None:
    """A fresh schema and cache: the last run's files must not change this one's numbers."""
    import redis

    from filewallball import migrations
    from filewallball.settings import Settings

    migrations.downgrade(Settings(database_url=database), "base")
    redis.Redis.from_url(redis_url).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="paired runs per scenario (>= 3)")
    parser.add_argument("--seconds", type=int, default=3, help="length of each wrk run")
    args = parser.parse_args()
    args.rounds = max(args.rounds, 3)
    install_missing()
    can_rate, can_transfer = have("wrk"), have("curl") and have("nginx")
    if not can_rate:
        print("skipped: request rates — wrk is not installed (apt-get install wrk)")
    if not can_transfer:
        print(
            "skipped: 100 MiB transfers — they need curl and nginx "
            "(apt-get install curl nginx-extras)"
        )
    about = environment() | {"load_before": [round(load, 2) for load in os.getloadavg()]}
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="fwb-suite-") as folder,
        contextlib.ExitStack() as stack,
    ):
        scratch = Path(folder)
        source = scratch / "big.bin"
        source.write_bytes(os.urandom(BIG))
        reference = stack.enter_context(bare(scratch))
        web = stack.enter_context(nginx([source])) if can_transfer else ""
        for backend, env in backends():
            home = scratch / backend.split()[0]
            home.mkdir()
            with filewallball(home, **OUT_OF_REACH, **env) as ours, PeakRss(ours.pid) as memory:
                if can_rate:
                    rows += request_rates(ours, reference.url, backend, args)
                if can_transfer:
                    rows += transfers(ours, web, source, backend, max(args.rounds, TRANSFER_ROUNDS))
            label = f"peak RSS, all of the above ({memory.idle_mib:.0f} MiB idle)"
            peak = Row(backend, label, "MiB", "budget", 1.0, at_least=False)
            peak.ours, peak.theirs = [memory.peak_mib], [200.0]
            rows.append(peak)
    about["load_after"] = [round(load, 2) for load in os.getloadavg()]
    print(table(rows))
    print(f"\nsaved {save(rows, about)} (and .json)")


if __name__ == "__main__":
    main()
