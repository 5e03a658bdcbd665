"""The service's log lines: the same bytes whichever way they reach the stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

SCRIPT = """
import logging, sys
import structlog
from filewallball.log import configure_logging
from filewallball.settings import load_settings

configure_logging(load_settings())
log = structlog.get_logger("filewallball.access")
structlog.contextvars.bind_contextvars(request_id="r1")
log.info("request", route="/files/{file_id}", status=200)  # the console alone: straight
log.debug("hidden")  # below FWB_LOG_LEVEL, either way
try:
    1 / 0
except ZeroDivisionError:
    log.exception("failed")  # a traceback: through logging
# A second handler, as FWB_LOG_FILE adds: every line goes through logging, to both.
also = logging.StreamHandler(sys.stderr)
also.setFormatter(logging.root.handlers[0].formatter)
logging.root.addHandler(also)
log.info("request", route="/files/{file_id}", status=200)
"""


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def _without_time(line: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in line.items() if name != "timestamp"}


def test_a_line_is_written_alike_straight_to_the_console_or_through_logging() -> None:
    env = {**os.environ, "FWB_LOG_JSON": "true", "FWB_LOG_LEVEL": "info"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    straight, failed, through_logging = _lines(done.stdout)
    assert _without_time(straight) == _without_time(through_logging)
    assert straight | {"timestamp": "", "pid": 0} == {
        "route": "/files/{file_id}",
        "status": 200,
        "event": "request",
        "request_id": "r1",
        "level": "info",
        "logger": "filewallball.access",
        "timestamp": "",
        "pid": 0,
    }
    assert list(straight) == list(through_logging)  # the same keys in the same order
    assert straight["timestamp"].endswith("Z") and straight["pid"] > 0
    assert failed["event"] == "failed" and "ZeroDivisionError" in failed["exception"]
    (copy,) = _lines(done.stderr)  # the other handler had the last line only
    assert copy == through_logging
