"""The serving process: the ASGI server, and the app in one worker or several.

`filewallball serve` checks the settings and migrates the database, then becomes this process
(an exec: same pid, so a service manager's signals reach the server). The migrations, the
command line and all they loaded are gone with the old image.

With one worker (the default, and a pod's), granian serves the app in this very process, on
its event loop: no second process starts and watches the worker, which saves that process's
28 MiB of a pod's memory. A worker that dies then ends the process (with status 1), for the
service manager (Kubernetes, systemd, Compose's restart policy) to start it again; SIGTERM and
SIGINT stop it gracefully, as granian's own supervisor would: no new connections, the requests
in flight finished within `drain_seconds` (FWB_DRAIN_SECONDS), then the app's shutdown.
Requests still running then are cut off, and the app's shutdown is skipped, as when the
supervisor kills a worker that outstays the drain.

With several, this process is granian's supervisor, which starts the workers and stops them
all, and itself, when one dies. It holds the ASGI server and a formatter of its own for its
few lines (`ServerLines`), about 28 MiB, and each worker loads the app, and the app's log
formatter, for itself.

Loading the app here instead, to share it with the forked workers, was measured: the workers
write to nearly every page they inherit (reference counts), so the copies cost more memory
(154 MiB proportional set size on one worker, against 106) and saved only start-up time.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging.config
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

# structlog loads rich, where it is installed, to draw tracebacks on a terminal: 5.6 MiB in
# this process and in each worker, which write JSON lines. Only the command line's progress
# bars need rich, in processes of their own; in these an import of it fails at once.
sys.modules.setdefault("rich", None)  # type: ignore[arg-type]

APP_FACTORY = "filewallball.app:create_app"
SERVER_FORMATTER = f"{__name__}.ServerLines"
# The allocators, tuned for many uploads at once (bench/memory_under_load.py, bench/README.md).
# glibc's (Python's objects) maps buffers of 128 KiB and more and returns them to the system when
# freed, and its threads share two arenas instead of growing one each. granian's jemalloc returns
# at once the request body buffers it frees (granian reads a body in buffers of 408 KiB): kept for
# reuse, they put 100 concurrent 1 MB uploads 35 MiB higher, past the pod's budget; returned, they
# cost one 100 MiB upload 8 % of its pace. The threshold stays above the buffers granian sends a
# file from, which lost 40 % of a large download's pace when returned at once. Read as the process
# starts, so set before the exec; an operator's own values win.
ALLOCATOR = {
    "MALLOC_MMAP_THRESHOLD_": str(128 * 1024),
    "MALLOC_ARENA_MAX": "2",
    "_RJEM_MALLOC_CONF": f"oversize_threshold:{400 * 1024}",
}


@dataclass(frozen=True)
class Plan:
    """How to serve, worked out by `filewallball serve` from the settings and its options."""

    host: str
    port: int
    workers: int
    server: str  # "granian" or "uvicorn"
    log_level: str
    log_config: dict[str, Any]
    drain_seconds: int = 25


class ServerLines(logging.Formatter):
    """This process's few lines (the server starting, spawning workers, stopping) as the app's
    formatter renders a line from `logging` (log.py): the same keys in the same order, without
    loading structlog and pydantic-core, 12 MiB of a process that does nothing else. Each
    worker puts the app's formatter in its place as it loads the app."""

    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "timestamp": datetime.fromtimestamp(record.created, UTC)
            .isoformat()
            .replace("+00:00", "Z"),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if not self.as_json:
            text = f"{line['timestamp']} [{line['level']:<9}] {line['event']}"
            return "\n".join([text, line["exception"]]) if record.exc_info else text
        line["pid"] = os.getpid()  # several workers share one stream
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))  # as the app writes


def become(plan: Plan) -> NoReturn:
    """Replace this process with the serving process."""
    sys.stdout.flush()
    sys.stderr.flush()
    for name, value in ALLOCATOR.items():
        os.environ.setdefault(name, value)
    # Our own interpreter and module, and the plan as one argument: no shell, nothing to quote.
    # -P: the folder the service starts in is not put on the module path, where a stray
    # json.py or granian.py would shadow the real one.
    os.execv(  # noqa: S606
        sys.executable,
        [sys.executable, "-P", "-m", "filewallball.serving", json.dumps(asdict(plan))],
    )


def _share_metrics_between_workers() -> None:
    """prometheus_client sums several processes through files in one folder."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    folder = tempfile.mkdtemp(prefix="filewallball-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)


def serve(plan: Plan) -> None:
    if plan.workers > 1:
        _share_metrics_between_workers()  # before the workers start: they inherit it
    logging.config.dictConfig(plan.log_config)
    # Every server runs the app on uvloop: on MariaDB + Redis a popular file's details took 14 %
    # less of the worker's CPU than on asyncio's own loop, a list page 21 %; on SQLite a popular
    # file's 7 % (bench/README.md).
    if plan.server == "granian" and plan.workers == 1:
        import uvloop

        if not uvloop.run(_serve_in_this_process(plan)):
            sys.exit(1)
    elif plan.server == "granian":
        from granian.constants import Loops
        from granian.server import Server

        Server(
            APP_FACTORY,
            workers=plan.workers,
            loop=Loops.uvloop,
            # Requests in flight get this long to finish; a worker still starting when the stop
            # signal comes never hears it (the handler it inherited belongs to this process):
            # it is killed after this long too, instead of holding the whole server up.
            workers_kill_timeout=plan.drain_seconds,
            **_granian_options(plan),
        ).serve()
    else:
        import uvicorn

        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=plan.host,
            port=plan.port,
            workers=plan.workers,
            access_log=False,
            log_config=plan.log_config,
            log_level=plan.log_level,
            timeout_keep_alive=5,
            loop="uvloop",
            timeout_graceful_shutdown=plan.drain_seconds,
        )


def _granian_options(plan: Plan) -> dict[str, Any]:
    """What granian is told the same way with one worker in this process or several."""
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    return {
        "factory": True,
        "interface": Interfaces.ASGI,
        "address": plan.host,
        "port": plan.port,
        "http1_settings": HTTP1Settings(header_read_timeout=10_000),
        "log_access": False,  # the app writes its own request lines, with their request id
        "log_level": LogLevels(plan.log_level),
        "log_dictconfig": plan.log_config,
    }


def _create_app() -> Any:
    from filewallball.app import create_app

    return create_app()


async def _serve_in_this_process(plan: Plan) -> bool:
    """Serve until told to stop; False when the worker ended by itself (its start failed)."""
    from granian.errors import FatalError
    from granian.server.embed import Server

    log = logging.getLogger(__name__)
    server = Server(_create_app, **_granian_options(plan))
    server.workers_kill_timeout = plan.drain_seconds  # not among this server's arguments

    def stop() -> None:
        if server.interrupt_signal:
            # Asked again while draining (Ctrl-C twice): gone now, as after a kill -9, which
            # the service survives (the sweep removes unfinished uploads' temporaries later).
            log.warning("stop_forced")
            os._exit(1)
        server.signal_handler_interrupt()  # type: ignore[no-untyped-call]  # granian: untyped

    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stop)
    try:
        await server.serve()
    except FatalError:  # the app did not start; granian has logged why
        return False
    except TimeoutError:  # the drain ran out: the requests still running are cut off
        log.warning("drain_timed_out")
        return True
    except Exception:  # the address taken, say: said in a line like every other, not raw
        log.exception("server_failed")
        return False
    return not server.interrupt_children


if __name__ == "__main__":
    serve(Plan(**json.loads(sys.argv[1])))
