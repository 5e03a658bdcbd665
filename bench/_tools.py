"""The outside programs the benchmarks drive: wrk for request rates, curl for large transfers,
nginx as the reference file server. Each runner returns numbers, never prints."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
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


def wrk(
    url: str, seconds: int, threads: int = 2, connections: int = 64, script: Path | None = None
) -> Rate:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
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


def parallel_download_mb_per_s(url: str, size: int, streams: int) -> float:
    """`streams` downloads of one file at once (`curl --parallel`): all their bytes over the
    wall time of the whole."""
    targets = [arg for _ in range(streams) for arg in ("-o", "/dev/null", url)]
    command = ["curl", "-sS", "--fail", "--parallel", "--parallel-max", str(streams), *targets]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)  # its progress bar, not ours
    return streams * size / (time.perf_counter() - started) / 1e6


def upload_form_mb_per_s(url: str, source: Path) -> tuple[float, str]:
    """A multipart upload (`curl -F`); returns the rate and the server's answer."""
    body, seconds = _curl("-F", f"file=@{source}", url)
    return source.stat().st_size / seconds / 1e6, body


def upload_put_mb_per_s(url: str, source: Path) -> float:
    _, seconds = _curl("-T", str(source), url)
    return source.stat().st_size / seconds / 1e6


def multipart_script(folder: Path, size: int) -> Path:
    """A wrk script that POSTs a multipart form with one `size`-byte file in it."""
    script = folder / f"upload-{size}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "multipart/form-data; boundary=fwbbench"\n'
        'wrk.body = "--fwbbench\\r\\n'
        'Content-Disposition: form-data; name=\\"file\\"; filename=\\"small.txt\\"\\r\\n'
        'Content-Type: text/plain\\r\\n\\r\\n" .. string.rep("x", '
        f"{size}"
        ') .. "\\r\\n--fwbbench--\\r\\n"\n'
    )
    return script


@dataclass(frozen=True)
class Upload:
    status: int
    seconds: float


def concurrent_uploads(url: str, source: Path, clients: int) -> list[Upload]:
    """`clients` multipart uploads at once, each curl from its own loopback address
    (127.0.0.2, 127.0.0.3, …): distinct clients, as far as the server can tell."""
    marker = "%{http_code} %{time_total}"
    processes = [
        subprocess.Popen(
            [
                *("curl", "-sS", "-o", "/dev/null", "-w", marker),
                *("--interface", f"127.0.0.{n + 2}", "-F", f"file=@{source}", url),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(clients)
    ]
    answers = []
    for process in processes:
        output, _ = process.communicate()
        status, _, seconds = output.partition(" ")
        answers.append(Upload(int(status or 0), float(seconds or "nan")))
    return answers


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ text/html html; text/css css; text/javascript js; image/svg+xml svg; }}
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
def nginx(files: list[Path], tree: Path | None = None) -> Iterator[str]:
    """nginx on a free port, serving `files` at /<name> (and the folder `tree` at its own
    paths) and taking PUT at /put/<name>.

    It runs as an ordinary process from its own folder; under root it drops to `nobody`, so
    that the reference never has more rights than a user's server would."""
    with tempfile.TemporaryDirectory(prefix="fwb-nginx-") as scratch:
        root = Path(scratch)
        (root / "files" / "put").mkdir(parents=True)
        if tree is not None:
            shutil.copytree(tree, root / "files", dirs_exist_ok=True)
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
