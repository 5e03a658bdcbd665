"""deploy/monitoring: the alert rules pass promtool's checks and its unit tests, and every
query of the rules and the dashboard names only metrics the service exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import Engine

from tests.conftest import IN_CI, local_storage_only, record_backup_time

MONITORING = Path(__file__).parent.parent / "deploy" / "monitoring"
OUR_METRIC = re.compile(r"\bfilewallball_[a-z0-9_]+")

needs_promtool = pytest.mark.skipif(
    not shutil.which("promtool") and not IN_CI,
    reason="promtool (Debian package prometheus) is not installed",
)


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *arguments], cwd=MONITORING, capture_output=True, text=True, check=False
    )


@needs_promtool
def test_the_alert_rules_are_valid_and_fire_when_they_should() -> None:
    checked = promtool("check", "rules", "alerts.yaml")
    tested = promtool("test", "rules", "alerts.test.yaml")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_rules_cover_what_operations_must_hear_of() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"][0]["rules"]
    exprs = {rule["alert"]: rule["expr"] for rule in rules}

    assert '{status=~"5.."}' in exprs["FileWallBallServerErrors"]
    assert "> 0.5" in exprs["FileWallBallSlowAnswers"]  # the documents' 500 ms
    assert "> 0.8" in exprs["FileWallBallStorageFilling"]
    assert "spec_max_replicas" in exprs["FileWallBallAtMaxReplicas"]
    assert "filewallball_jobs_oldest_age_seconds" in exprs["FileWallBallJobsPilingUp"]
    assert "26 * 3600" in exprs["FileWallBallBackupTooOld"]
    assert "kube_pod_status_ready" in exprs["FileWallBallNotReady"]


def queries() -> list[str]:
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"][0]["rules"]
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    panels = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return [rule["expr"] for rule in rules] + panels


@local_storage_only("the free-space gauges exist for local storage only")
@pytest.mark.anyio
async def test_every_query_names_only_metrics_the_service_exports(
    client: httpx.AsyncClient, database: Engine
) -> None:
    # What makes every metric show: an upload, a download, a refusal, a past backup.
    created = (await client.post("/upload", files={"file": ("a.txt", b"x")})).json()
    await client.get(created["download_url"])
    await client.get(created["info_url"])
    await record_backup_time(database)
    exposition = (await client.get("/metrics")).text
    exported = {
        line.split("{")[0].split(" ")[0]
        for line in exposition.splitlines()
        if line and not line.startswith("#")
    }

    named = {name for query in queries() for name in OUR_METRIC.findall(query)}

    assert named  # the rules and the dashboard do read our metrics
    assert named - exported == set()
