"""Does one API process stay within the pod's memory while 20 clients upload 100 MB each and
20 download it, on local storage and on S3?

The pod limit is 256Mi; the budget for the process tree is 200 MiB (peak RSS, summed over the
server and its worker, sampled every 50 ms). Clients are curl processes; on S3 the bucket is
moto's server, in its own process, whose memory is not ours.

    uv run python bench/memory_under_load.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from _live import OUT_OF_REACH, filewallball
from _rss import PeakRss
from s3_clients import app_on, moto_server

CLIENTS = 20
SIZE = 100 * 1000 * 1000
BUDGET_MIB = 200.0


def uploads(url: str, source: Path) -> list[str]:
    """CLIENTS uploads of `source` at once; the file ids."""
    clients = [
        subprocess.Popen(
            ["curl", "-sS", "--fail", "-F", f"file=@{source}", f"{url}/upload"],
            stdout=subprocess.PIPE,
        )
        for _ in range(CLIENTS)
    ]
    answers = [client.communicate(timeout=600)[0] for client in clients]
    assert all(client.returncode == 0 for client in clients), "an upload failed"
    return [json.loads(answer)["file_id"] for answer in answers]


def downloads(url: str, file_ids: list[str]) -> None:
    clients = [
        subprocess.Popen(["curl", "-sS", "--fail", "-o", "/dev/null", f"{url}/download/{i}"])
        for i in file_ids
    ]
    for client in clients:
        client.wait(timeout=600)
    assert all(client.returncode == 0 for client in clients), "a download failed"


def measure(
    scratch: Path, source: Path, name: str, env: dict[str, str]
) -> tuple[float, float, float, float]:
    home = scratch / name
    home.mkdir()
    limits = {**OUT_OF_REACH, "FWB_MAX_FILE_SIZE": str(2 * SIZE)}
    with filewallball(home, **limits, **env) as ours, PeakRss(ours.pid) as memory:
        file_ids = uploads(ours.url, source)
        while_uploading = memory.peak_mib
        downloads(ours.url, file_ids)
    return memory.idle_mib, while_uploading, memory.peak_mib, memory.peak_pss_mib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["local", "s3"], help="one storage instead of both")
    only = parser.parse_args().only
    results: dict[str, tuple[float, float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="fwb-memory-") as folder:
        scratch = Path(folder)
        source = scratch / "big.bin"
        source.write_bytes(os.urandom(SIZE))
        if only != "s3":
            results["local"] = measure(scratch, source, "local", {})
        if only != "local":
            with moto_server() as endpoint:
                results["s3"] = measure(scratch, source, "s3", app_on(endpoint))
    print(f"{CLIENTS} uploads of 100 MB at once, then {CLIENTS} downloads; budget {BUDGET_MIB:.0f}")
    print("| storage | idle | peak uploading | peak, all | peak PSS | within budget (RSS) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (idle, uploading, peak, pss) in results.items():
        verdict = "yes" if peak <= BUDGET_MIB else "NO"
        print(f"| {name} | {idle:.0f} | {uploading:.0f} | {peak:.0f} | {pss:.0f} | {verdict} |")


if __name__ == "__main__":
    main()
