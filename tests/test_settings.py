"""Settings: defaults that run on a laptop, and one clear line for a bad value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from filewallball.settings import Settings, SettingsError, load_settings


def test_defaults_are_the_embedded_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "FWB_DATABASE_URL",
        "FWB_REDIS_URL",
        "FWB_STORAGE",
        "FWB_STORAGE_DIR",
        "FWB_MAX_FILE_SIZE",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "sqlite+aiosqlite:///./data/filewallball.db"
    assert settings.storage == "local"
    assert str(settings.storage_dir) == "data/files"
    assert settings.redis_url is None
    assert settings.max_file_size == 100 * 1024 * 1024
    assert settings.preview_max_bytes == 1024 * 1024
    assert settings.cache_ttl == 300
    assert settings.auto_migrate is True


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("mysql://u:p@db:3306/fwb", "mysql+asyncmy://u:p@db:3306/fwb"),
        ("mariadb://u@db/fwb", "mysql+asyncmy://u@db/fwb"),
        ("mysql+pymysql://u@db/fwb", "mysql+asyncmy://u@db/fwb"),
    ],
)
def test_database_urls_are_mapped_to_async_drivers(given: str, used: str) -> None:
    assert Settings(database_url=given).database_url == used


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FWB_MAX_FILE_SIZE": "lots"}, "FWB_MAX_FILE_SIZE"),
        ({"FWB_DATABASE_URL": "postgresql://x/y"}, "FWB_DATABASE_URL"),
        ({"FWB_REDIS_URL": "http://cache"}, "FWB_REDIS_URL"),
        ({"FWB_CACHE_TTL": "0"}, "FWB_CACHE_TTL"),
        ({"FWB_BASE_URL": "not a url"}, "FWB_BASE_URL"),
        ({"FWB_STORAGE": "nfs"}, "FWB_STORAGE"),
        ({"FWB_STORAGE": "s3"}, "FWB_S3_BUCKET"),
        (
            {"FWB_STORAGE": "s3", "FWB_S3_BUCKET": "b", "FWB_S3_PART_SIZE": "1024"},
            "FWB_S3_PART_SIZE",
        ),
    ],
)
def test_bad_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError, match=f"^{named}: "):
        load_settings()


def test_an_async_driver_we_do_not_ship_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FWB_DATABASE_URL", "mysql+aiomysql://u@db/fwb")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value) == (
        "FWB_DATABASE_URL: unsupported database 'mysql+aiomysql': use sqlite or mysql/mariadb"
    )


def test_cli_refuses_to_start_with_one_line(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "filewallball", "serve"],
        env={"FWB_MAX_FILE_SIZE": "-5", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        "filewallball: invalid setting FWB_MAX_FILE_SIZE: "
        "Input should be greater than or equal to 1"
    )


def test_logs_also_go_to_a_file_rotated_by_size(tmp_path: Path) -> None:
    """FWB_LOG_FILE: JSON lines in a file that is rotated at its size, keeping so many."""
    script = (
        "import structlog\n"
        "from filewallball.log import configure_logging\n"
        "from filewallball.settings import load_settings\n"
        "configure_logging(load_settings())\n"
        "log = structlog.get_logger('check')\n"
        "for n in range(400):\n"
        "    log.info('line', n=n, padding='x' * 40)\n"
    )
    env = {
        **os.environ,
        "FWB_LOG_FILE": str(tmp_path / "service.log"),
        "FWB_LOG_FILE_MAX_BYTES": "4096",
        "FWB_LOG_FILE_BACKUPS": "3",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    files = sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("service"))
    assert files == ["service.log", "service.log.1", "service.log.2", "service.log.3"]
    last = (tmp_path / "service.log").read_text().splitlines()[-1]
    assert json.loads(last)["n"] == 399  # whole JSON lines, the newest in the live file
    assert all(path.stat().st_size <= 4096 + 200 for path in tmp_path.glob("service.log*"))
