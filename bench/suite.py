"""FileWallBall's speed, as ratios against references measured side by side in the same run.

Request rates (wrk) against a bare FastAPI endpoint on the same ASGI server; 100 MiB
downloads and uploads (curl) against nginx and copyparty; 100 concurrent uploads against a
time budget; the server's CPU time per request against the bare app's; its peak memory
against its budget; 100 MiB each way with the blobs on S3 (moto's server) against local
storage. Each pair is measured round after round, and the table shows the median
ratio and its spread. On SQLite + local storage, and on MariaDB + Redis when
FWB_BENCH_DATABASE_URL and FWB_BENCH_REDIS_URL are set (that database and Redis db are
emptied first).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from _live import OUT_OF_REACH, Live, bare, copyparty, filewallball
from _report import Row, environment, save, table
from _rss import PeakRss, cpu_seconds
from _tools import (
    Rate,
    concurrent_uploads,
    download_mb_per_s,
    have,
    install_missing,
    multipart_script,
    nginx,
    parallel_download_mb_per_s,
    upload_form_mb_per_s,
    upload_put_mb_per_s,
    wrk,
)
from s3_clients import app_on, moto_server

BIG = 100 * 1024 * 1024
SMALL = 10 * 1000
LISTED = 30  # files on the server before GET /files?page=1
TRANSFER_ROUNDS = 5  # a 100 MiB transfer lasts well under a second: more rounds, steadier median
STREAMS = 16  # parallel downloads of the 100 MiB file
CLIENTS = 100  # concurrent 1 MB uploads, each from its own address
UPLOAD_BUDGET_S = 3.0  # the p99 those uploads must stay under


@dataclass(frozen=True)
class Files:
    """What the request scenarios fetch: a popular 10 KB file, the same bytes as a path."""

    popular: str
    small: Path


def upload(url: str, name: str, content: bytes) -> str:
    response = httpx.post(f"{url}/upload", files={"file": (name, content)}, timeout=60)
    response.raise_for_status()
    return str(response.json()["file_id"])


def stored_files(ours: Live, scratch: Path) -> Files:
    content = os.urandom(SMALL)
    small = scratch / "small.bin"
    small.write_bytes(content)
    popular = upload(ours.url, "popular.bin", content)
    for n in range(LISTED):
        upload(ours.url, f"listed-{n}.txt", f"file {n}".encode())
    return Files(popular, small)


def measured(pid: int, url: str, seconds: int, script: Path | None = None) -> tuple[Rate, float]:
    """One wrk run, and the server's CPU seconds per 1000 requests during it."""
    before = cpu_seconds(pid)
    rate = wrk(url, seconds, script=script)
    used = cpu_seconds(pid) - before
    answered = rate.requests_per_second * seconds
    return rate, used / answered * 1000 if answered else math.inf


@dataclass
class Paired:
    """A request rate against the bare app's, and the CPU each took per 1000 requests."""

    rate: Row
    cpu: Row

    @classmethod
    def named(cls, backend: str, name: str, target: float | None) -> Paired:
        cpu = Row(backend, f"CPU s per 1000 req, {name}", "s", "bare", None, at_least=False)
        return cls(Row(backend, name, "req/s", "bare", target), cpu)

    def round(self, reference: Live, ours: Live, url: str, seconds: int, body: Path | None) -> None:
        """One paired round: the bare app first, then ours."""
        theirs, theirs_cpu = measured(reference.pid, f"{reference.url}/health/live", seconds)
        rate, ours_cpu = measured(ours.pid, url, seconds, body)
        self.rate.theirs.append(theirs.requests_per_second)
        self.rate.ours.append(rate.requests_per_second)
        self.rate.p99_theirs_ms.append(theirs.p99_ms)
        self.rate.p99_ours_ms.append(rate.p99_ms)
        self.rate.failures += rate.failures
        self.cpu.theirs.append(theirs_cpu)
        self.cpu.ours.append(ours_cpu)


def request_rates(
    ours: Live, reference: Live, files: Files, backend: str, args: argparse.Namespace
) -> list[Row]:
    """Each endpoint against the bare one: paired wrk runs, bare first, then ours."""
    script = multipart_script(files.small.parent, SMALL)
    scenarios: list[tuple[str, str, float | None, Path | None]] = [
        ("GET /files/{id}, popular file", f"/files/{files.popular}", 0.5, None),
        ("GET /files?page=1", "/files?page=1", 0.4, None),
        ("10 KB download", f"/download/{files.popular}", 0.4, None),
        ("10 KB upload, multipart", "/upload", None, script),
        ("GET /health/live", "/health/live", 0.8, None),
    ]
    rows = []
    for name, path, target, body in scenarios:
        paired = Paired.named(backend, name, target)
        wrk(f"{ours.url}{path}", 1, script=body)  # warm: caches, pools, the first log writes
        for _ in range(args.rounds):
            paired.round(reference, ours, f"{ours.url}{path}", args.seconds, body)
        rows.append(paired.rate)
        if name.startswith("GET /files/{id}"):
            rows.append(paired.cpu)
    return rows


def two_workers(
    home: Path, env: dict[str, str], reference: Live, files: Files, backend: str, rounds: int
) -> list[Row]:
    """The popular file on `serve --workers 2`: what a second process buys on this machine."""
    paired = Paired.named(backend, "GET /files/{id}, popular file, 2 workers", None)
    with filewallball(home, "--workers", "2", **OUT_OF_REACH, **env) as ours:
        url = f"{ours.url}/files/{files.popular}"
        wrk(url, 1)
        for _ in range(rounds):
            paired.round(reference, ours, url, 3, None)
    return [paired.rate, paired.cpu]


def transfers(ours: Live, web: str, source: Path, backend: str, rounds: int) -> list[Row]:
    """100 MiB each way, against nginx's PUT and sendfile of the same bytes."""
    uploads = Row(backend, "100 MiB upload, multipart", "MB/s", "nginx PUT", 0.5)
    stored = ""
    for n in range(rounds):
        uploads.theirs.append(upload_put_mb_per_s(f"{web}/put/{n}-{source.name}", source))
        rate, answer = upload_form_mb_per_s(f"{ours.url}/upload", source)
        uploads.ours.append(rate)
        stored = json.loads(answer)["file_id"]
    downloads = Row(backend, "100 MiB download, 1 stream", "MB/s", "nginx", 0.6)
    parallel = Row(backend, f"100 MiB download, {STREAMS} parallel", "MB/s", "nginx", 0.6)
    for _ in range(rounds):
        downloads.theirs.append(download_mb_per_s(f"{web}/{source.name}", BIG))
        downloads.ours.append(download_mb_per_s(f"{ours.url}/download/{stored}", BIG))
    for _ in range(max(3, rounds // 2)):  # 1.6 GB a round: three rounds are enough
        parallel.theirs.append(parallel_download_mb_per_s(f"{web}/{source.name}", BIG, STREAMS))
        parallel.ours.append(
            parallel_download_mb_per_s(f"{ours.url}/download/{stored}", BIG, STREAMS)
        )
    return [downloads, parallel, uploads]


def beside_copyparty(
    ours: Live, peer: Live, source: Path, files: Files, backend: str, rounds: int
) -> list[Row]:
    """The same files through copyparty: a large download and upload, and the small file."""
    downloads = Row(backend, "100 MiB download", "MB/s", "copyparty", 0.8)
    uploads = Row(backend, "100 MiB upload (copyparty: PUT)", "MB/s", "copyparty", 1.0)
    small = Row(backend, "10 KB file, wrk -c64", "req/s", "copyparty", 1.0)
    stored = upload(ours.url, "big.bin", source.read_bytes())
    for n in range(rounds):
        downloads.theirs.append(download_mb_per_s(f"{peer.url}/{source.name}", BIG))
        downloads.ours.append(download_mb_per_s(f"{ours.url}/download/{stored}", BIG))
        uploads.theirs.append(upload_put_mb_per_s(f"{peer.url}/put-{n}-{source.name}", source))
        uploads.ours.append(upload_form_mb_per_s(f"{ours.url}/upload", source)[0])
    for _ in range(3):
        theirs = wrk(f"{peer.url}/{files.small.name}", 3)
        rate = wrk(f"{ours.url}/download/{files.popular}", 3)
        small.theirs.append(theirs.requests_per_second)
        small.ours.append(rate.requests_per_second)
        small.p99_theirs_ms.append(theirs.p99_ms)
        small.p99_ours_ms.append(rate.p99_ms)
        small.failures += rate.failures
    return [downloads, uploads, small]


def many_uploads(ours: Live, scratch: Path, backend: str, rounds: int) -> list[Row]:
    """CLIENTS uploads of 1 MB at once, each client its own address: all must be stored."""
    source = scratch / "one-mb.bin"
    source.write_bytes(os.urandom(1_000_000))
    p50s: list[float] = []
    row = Row(backend, "", "s", f"{UPLOAD_BUDGET_S:.0f} s budget", 1.0, at_least=False)
    for _ in range(rounds):
        answers = concurrent_uploads(f"{ours.url}/upload", source, CLIENTS)
        seconds = sorted(answer.seconds for answer in answers)
        row.failures += sum(answer.status != 201 for answer in answers)
        p50s.append(statistics.median(seconds))
        row.ours.append(seconds[int(0.99 * (len(seconds) - 1))])
        row.theirs.append(UPLOAD_BUDGET_S)
    row.scenario = f"{CLIENTS} concurrent 1 MB uploads, p99 (p50 {statistics.median(p50s):.2f} s)"
    return [row]


def on_s3(scratch: Path, source: Path, rounds: int) -> list[Row]:
    """100 MiB each way with the blobs on S3 (moto's server), against the same app on local
    storage: S3 downloads pass through the app, local ones go to the kernel."""
    local_home, s3_home = scratch / "s3-local", scratch / "s3"
    local_home.mkdir()
    s3_home.mkdir()
    with moto_server() as endpoint:
        s3 = app_on(endpoint)
        with (
            filewallball(local_home, **OUT_OF_REACH) as local,
            filewallball(s3_home, **OUT_OF_REACH, **s3) as ours,
            PeakRss(ours.pid) as memory,
        ):
            downloads = Row("sqlite + s3", "100 MiB download", "MB/s", "local storage", None)
            uploads = Row("sqlite + s3", "100 MiB upload", "MB/s", "local storage", None)
            stored: dict[str, str] = {}
            for _ in range(rounds):
                for server, row in ((local, uploads.theirs), (ours, uploads.ours)):
                    rate, answer = upload_form_mb_per_s(f"{server.url}/upload", source)
                    row.append(rate)
                    stored[server.url] = json.loads(answer)["file_id"]
            for _ in range(rounds):
                for server, row in ((local, downloads.theirs), (ours, downloads.ours)):
                    url = f"{server.url}/download/{stored[server.url]}"
                    row.append(download_mb_per_s(url, BIG))
        peak = Row("sqlite + s3", "peak RSS, the above", "MiB", "budget", 1.0, at_least=False)
        peak.ours, peak.theirs = [memory.peak_mib], [200.0]
    return [downloads, uploads, peak]


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
    """A fresh schema and cache: the last run's files must not change this one's numbers.
    The database is created when missing."""
    import redis
    from sqlalchemy import create_engine, text

    from filewallball import migrations
    from filewallball.settings import Settings

    settings = Settings(database_url=database)
    name = settings.database.database
    admin = create_engine(settings.database.set(drivername="mysql+pymysql", database="mysql"))
    with admin.begin() as connection:
        connection.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"))
    admin.dispose()
    migrations.downgrade(settings, "base")
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
    transfer_rounds = max(args.rounds, TRANSFER_ROUNDS)
    with (
        tempfile.TemporaryDirectory(prefix="fwb-suite-") as folder,
        contextlib.ExitStack() as stack,
    ):
        scratch = Path(folder)
        source = scratch / "big.bin"
        source.write_bytes(os.urandom(BIG))
        reference = stack.enter_context(bare(scratch))
        web = stack.enter_context(nginx([source])) if can_transfer else ""
        shared = scratch / "copyparty"
        shared.mkdir()
        os.link(source, shared / source.name)
        peer = stack.enter_context(copyparty(shared))
        for backend, env in backends():
            home = scratch / backend.split()[0]
            home.mkdir()
            with filewallball(home, **OUT_OF_REACH, **env) as ours, PeakRss(ours.pid) as memory:
                files = stored_files(ours, home)
                os.link(files.small, shared / files.small.name)
                if can_rate:
                    rows += request_rates(ours, reference, files, backend, args)
                if can_transfer:
                    rows += transfers(ours, web, source, backend, transfer_rounds)
                    rows += many_uploads(ours, home, backend, args.rounds)
                    rows += beside_copyparty(ours, peer, source, files, backend, args.rounds)
            label = f"peak RSS, all of the above ({memory.idle_mib:.0f} MiB idle)"
            peak = Row(backend, label, "MiB", "budget", 1.0, at_least=False)
            peak.ours, peak.theirs = [memory.peak_mib], [200.0]
            pss = Row(backend, "peak PSS, the same", "MiB", "budget", 1.0, at_least=False)
            pss.ours, pss.theirs = [memory.peak_pss_mib], [200.0]
            rows += [peak, pss]
            if can_rate:
                rows += two_workers(home, env, reference, files, backend, args.rounds)
            (shared / files.small.name).unlink()
        if can_transfer:
            rows += on_s3(scratch, source, transfer_rounds)
    about["load_after"] = [round(load, 2) for load in os.getloadavg()]
    print(table(rows))
    print(f"\nsaved {save(rows, about)} (and .json)")


if __name__ == "__main__":
    main()
