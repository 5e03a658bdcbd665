"""The outside programs the benchmarks drive: wrk for request rates, curl for large transfers,
nginx as the reference file server. Each runner returns numbers, never prints."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from _live import free_port, stop, wait_until_up

# The Debian package that brings each program
PACKAGES = {"wrk": "wrk", "curl": "curl", "nginx": "nginx-extras"}
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def install_missing() -> None:
    """apt-get what is missing when we may (root on Debian); otherwise leave it to `have`."""
    missing = [PACKAGES[tool] for tool in PACKAGES if not have(tool)]
    if not missing or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    print(f"installing {' '.join(missing)} with apt-get")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
    ):
        subprocess.run(command, env=environment, stdout=subprocess.DEVNULL, check=False)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None or Path("/usr/sbin", tool).exists()


def version(command: list[str]) -> str:
    """First line a program prints about its version (nginx writes it to stderr)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "missing"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


@dataclass(frozen=True)
class Rate:
    """What one wrk run saw."""

    requests_per_second: float
    p99_ms: float
    failures: int  # non-2xx/3xx answers, socket errors, silence: any makes the run suspect


def wrk(url: str, seconds: int, threads: int = 2, connections: int = 64) -> Rate:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if rate is None or p99 is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    failures = int(non_2xx.group(1)) if non_2xx else 0
    failures += sum(int(count) for count in errors.groups()) if errors else 0
    p99_ms = float(p99.group(1)) * _UNITS[p99.group(2)]
    if re.search(r"^\s+0 requests in", output, re.MULTILINE):
        # wrk counts a timeout only when the late answer arrives: a server that answered
        # nothing during the run shows no errors, so every connection counts as failed.
        failures, p99_ms = failures + connections, seconds * 1000.0
    return Rate(float(rate.group(1)), p99_ms, failures)


def _curl(*args: str) -> tuple[str, float]:
    """Runs curl, failing on any HTTP error; returns the body and the transfer time in s."""
    marker = "\n@@time="
    command = ["curl", "-sS", "--fail", "-w", marker + "%{time_total}", *args]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    body, _, seconds = output.rpartition(marker)
    return body, float(seconds)


def download_mb_per_s(url: str, size: int) -> float:
    _, seconds = _curl("-o", "/dev/null", url)
    return size / seconds / 1e6


def upload_form_mb_per_s(url: str, source: Path) -> tuple[float, str]:
    """A multipart upload (`curl -F`); returns the rate and the server's answer."""
    body, seconds = _curl("-F", f"file=@{source}", url)
    return source.stat().st_size / seconds / 1e6, body


def upload_put_mb_per_s(url: str, source: Path) -> float:
    _, seconds = _curl("-T", str(source), url)
    return source.stat().st_size / seconds / 1e6


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root}/files;
        client_max_body_size 0;
        location /put/ {{ dav_methods PUT; }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(files: list[Path]) -> Iterator[str]:
    """nginx on a free port, serving `files` at /<name> and taking PUT at /put/<name>.

    It runs as an ordinary process from its own folder; under root it drops to `nobody`, so
    that the reference never has more rights than a user's server would."""
    with tempfile.TemporaryDirectory(prefix="fwb-nginx-") as scratch:
        root = Path(scratch)
        (root / "files" / "put").mkdir(parents=True)
        for source in files:
            os.link(source, root / "files" / source.name)
        port = free_port()
        (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, port=port))
        as_root = os.geteuid() == 0
        if as_root:
            for path in [root, *root.rglob("*")]:
                os.chown(path, *_nobody())
        process = subprocess.Popen(
            [_nginx_binary(), "-e", str(root / "error.log"), "-p", scratch, "-c", "nginx.conf"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user="nobody" if as_root else None,
            group="nogroup" if as_root else None,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{url}/", process)
            yield url
        finally:
            stop(process)


def _nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def _nobody() -> tuple[int, int]:
    import grp
    import pwd

    return pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
