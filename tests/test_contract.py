"""The OpenAPI document is a contract: schemathesis throws generated requests at a real server,
with every check it has, once with an admin key and once anonymously. Nothing may answer 5xx,
every answer must match what the document promises, and what the document calls valid must be
accepted and what it calls invalid refused: it states every limit the service enforces."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from filewallball.app import create_app
from filewallball.settings import Settings
from tests.conftest import Backend, issue_key
from tests.test_server import start_server

pytestmark = [pytest.mark.server]
ROOT = Path(__file__).parents[1]

# What no OpenAPI document can say, told to schemathesis, each with its reason.
CONFIG = """
[generation]
# RFC 9110: a server ignores headers (and we ignore query parameters) it does not know.
allow-extra-parameters = false

[checks.positive_data_acceptance]
# 410: a link expires with time or used-up downloads, state a request cannot show. 5xx is
# listed only so that this check does not report a server error a second time: the check
# not_a_server_error fails every one.
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "410", "429", "5xx"]

[[operations]]
# Each of `since` and `until` is any day; together at most 366 days apart, else 400.
include-path = "/stats"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403"]

[[operations]]
# A name of nothing but control, format, private or unassigned characters, spaces or dots is
# refused (400): Unicode's categories are more than a JSON Schema pattern can name. An
# executable's bytes are refused (415) whatever the name.
include-path = "/upload/{filename}"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "410", "415", "429", "5xx",
]

[[operations]]
# A multipart form carries text only: a boolean or a number sent as a type violation of a
# text field arrives as the text "true" or "5", which is valid there (a tag called "true"), so
# 2xx is a right answer. (Said as statuses: the stateful phase ignores `enabled = false` here.)
# The bytes, not the form, decide a file's type: an executable is refused (415).
include-name = "POST /upload"
checks.negative_data_rejection.expected-statuses = [
    "2xx", "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "429",
]
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "410", "415", "429", "5xx",
]

[[operations]]
# A file holds at most 20 tags: how many it has already is state no request shows.
include-name = "POST /files/{file_id}/tags"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "410", "429", "5xx",
]

[[operations]]
# An admin's restore brings a deleted file back, which the use-after-free check takes for a
# deleted file still answering (it knows of re-creation only by a POST to the same path). Left
# out of the stateful sequences; the other phases still call it.
include-name = "POST /admin/files/{file_id}/restore"
phases.stateful.enabled = false

[[operations]]
# A network rule must be CIDR, which no JSON Schema format names.
include-path = "/admin/settings/{key}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
# Only a text or an image has a preview: it depends on the file, not the request.
include-path = "/view/{file_id}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "410", "415"]

[[operations]]
# tus answers by its own rules: 412 for a missing or other Tus-Resumable; 413, 415 and 460 for
# a chunk whose bytes are too many, of another type, or not the checksum's; 400 for
# Upload-Metadata without a usable filename, which lives base64-encoded in a header.
include-path-regex = "^/uploads"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "400", "401", "403", "404", "409", "410", "413", "415", "423", "429", "460",
]
checks.negative_data_rejection.expected-statuses = [
    "400", "401", "403", "404", "405", "409", "412", "413", "415", "422", "429",
]
checks.missing_required_header.expected-statuses = ["400", "401", "403", "412", "415"]
"""


def _schemathesis(url: str, config: Path, cwd: Path, *headers: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run"]
        + [f"{url}/openapi.json", "--checks", "all", "--max-examples", "10"]
        + ["--seed", "20261122", "--generation-database", "none", "--request-timeout", "30"]
        + [arg for header in headers for arg in ("--header", header)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        # The hooks teach schemathesis to send a tus chunk's media type.
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract_hooks", "PYTHONPATH": str(ROOT)},
    )


def test_generated_requests_keep_the_whole_openapi_contract(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path
) -> None:
    # What is checked is the document and the code; the database changes neither, so one is
    # enough to keep the run near a minute.
    if clean_backend.name != "sqlite":
        pytest.skip("the contract is the same on every database: checked on SQLite")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    server = start_server(clean_backend, storage_dir, tmp_path)  # rate limits off
    runs: dict[str, subprocess.Popen[str]] = {}
    try:
        key = issue_key(clean_backend.database_url, "admin", name="contract")
        # Seed a few files so that reads and downloads have something to find.
        for name, body in [("a.txt", b"hello"), ("p.png", b"\x89PNG\r\n\x1a\n" + bytes(40))]:
            httpx.post(f"{server.url}/upload", files={"file": (name, body)}).raise_for_status()
        # Both at once: the server has a core of its own while each waits for the other. What
        # the admin changes meanwhile (a network rule, a category) the anonymous run may meet
        # as a 403 or 404, both answers its checks expect.
        runs["admin"] = _schemathesis(server.url, config, tmp_path, f"Authorization: Bearer {key}")
        runs["anonymous"] = _schemathesis(server.url, config, tmp_path)
        reports = {who: run.communicate(timeout=600)[0] for who, run in runs.items()}
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.kill()
        server.stop()
    for who, run in runs.items():
        assert run.returncode == 0, f"{who}:\n{reports[who][-8000:]}"


def test_each_allowance_applies_to_the_operations_it_names(settings: Settings) -> None:
    # Within one [[operations]] block schemathesis joins include-path and include-method with
    # OR: "/upload" with "POST" would loosen the checks of every POST. A block names one path
    # (every method of it), one operation, or the tus paths.
    config = SchemathesisConfig.from_dict(tomllib.loads(CONFIG))
    schema = schemathesis.openapi.from_dict(create_app(settings).openapi(), config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    for block in config.projects.default.operations.operations:
        covered = {op.label for op in operations if block._filter_set.applies_to(operation=op)}
        paths = {label.partition(" ")[2] for label in covered}
        assert len(paths) == 1 or all(path.startswith("/uploads") for path in paths), covered
