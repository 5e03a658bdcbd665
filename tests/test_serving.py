"""The process that serves several workers (and restarts them) stays small: its memory counts
against a pod's limit as much as a worker's. (One worker runs in the serving process itself.)"""

from __future__ import annotations

import json
import subprocess
import sys

from filewallball.log import logging_config
from filewallball.settings import load_settings


def test_the_serving_process_loads_neither_the_app_nor_the_database_libraries() -> None:
    # What the serving process does before it starts the ASGI server, in a fresh interpreter.
    probe = (
        "import json, logging.config, sys\n"
        "import filewallball.serving\n"
        "logging.config.dictConfig(json.loads(sys.argv[1]))\n"
        "logging.getLogger('probe').warning('rendered by our formatter')\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    # Its stdout is the probe's answer: the log line goes to stderr.
    config = logging_config(load_settings(log_json=True, log_stream="stderr"))
    run = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(config)],
        capture_output=True,
        text=True,
        check=True,
    )

    assert json.loads(run.stderr)["event"] == "rendered by our formatter"
    loaded = {name.partition(".")[0] for name in json.loads(run.stdout)}
    assert loaded.isdisjoint({"sqlalchemy", "alembic", "pydantic", "fastapi", "PIL", "redis"})
    assert "filewallball.app" not in json.loads(run.stdout)
