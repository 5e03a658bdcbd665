"""The OpenAPI document is a contract: schemathesis throws generated requests at a real server
and checks that nothing answers 5xx and every answer matches what the document promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import Backend
from tests.test_server import start_server

pytestmark = [pytest.mark.server]
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def test_generated_requests_keep_the_openapi_contract(
    clean_backend: Backend, storage_dir: Path, tmp_path: Path
) -> None:
    server = start_server(clean_backend, storage_dir, tmp_path)
    try:
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "filewallball",
                "keys",
                "create",
                "--name",
                "contract",
                "--role",
                "admin",
            ],
            env={"FWB_DATABASE_URL": clean_backend.database_url, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        key = created.stdout.rsplit("key:", 1)[1].strip()
        # Seed a few files so that reads and downloads have something to find.
        for name, body in [("a.txt", b"hello"), ("p.png", b"\x89PNG\r\n\x1a\n" + bytes(40))]:
            httpx.post(f"{server.url}/upload", files={"file": (name, body)}).raise_for_status()
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                "10",
                "--seed",
                "20261122",
                "--generation-database",
                "none",
                "--request-timeout",
                "30",
                "--header",
                f"Authorization: Bearer {key}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,
        )
    finally:
        server.stop()
    assert run.returncode == 0, run.stdout[-6000:]
