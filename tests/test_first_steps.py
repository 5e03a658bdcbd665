"""A new user's first minutes: `make` sets itself up on whatever Python 3.11+ the machine has,
and the `filewallball` command answers without loading the service it manages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from filewallball import migrations
from filewallball.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# What `serve`, `backup` and `fsck` need, and `keys` must not pay for.
HEAVY = (
    "alembic",
    "aiobotocore",
    "botocore",
    "redis",
    "granian",
    "uvicorn",
    "PIL",
    "jinja2",
    "filewallball.app",
    "filewallball.migrations",
    "filewallball.serving",
    "filewallball.storage",
    "filewallball.backup",
    "filewallball.files",
)
HEAVY_PACKAGES = tuple(f"{name}." for name in HEAVY)


def test_the_keys_command_loads_no_server_storage_or_backup(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'keys.db'}"
    migrations.upgrade(Settings(database_url=database_url))
    # The command in full, then every module it loaded, as the interpreter saw them.
    script = (
        "import sys\n"
        "from filewallball.cli import cli\n"
        "cli(['keys', 'create', '--name', 'laptop', '--role', 'uploader'], standalone_mode=False)\n"
        "cli(['keys', 'list'], standalone_mode=False)\n"
        "print(*sys.modules, sep='\\n', file=sys.stderr)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "FWB_DATABASE_URL": database_url, "FWB_LOG_LEVEL": "warning"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert "laptop" in ran.stdout.splitlines()[-1]
    loaded = ran.stderr.splitlines()
    assert [name for name in loaded if name in HEAVY or name.startswith(HEAVY_PACKAGES)] == []


@pytest.fixture(scope="module")
def pip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pip cache for every bootstrap here: uv's wheel is fetched once."""
    return tmp_path_factory.mktemp("pip-cache")


def _python_without_uv(kind: str, tmp_path: Path) -> dict[str, str]:
    """PATH and friends of a shell whose Python is `kind` and that has no uv."""
    if kind == "an activated virtualenv":
        venv = tmp_path / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        return {"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    if kind == "Debian's externally managed Python":
        managed = list(Path("/usr/lib").glob("python3.*/EXTERNALLY-MANAGED"))
        pip = subprocess.run(["/usr/bin/python3", "-m", "pip", "--version"], capture_output=True)
        if not managed or pip.returncode != 0:
            pytest.skip("no externally managed system Python with pip here")
        return {"PATH": "/usr/bin:/bin"}
    plain = Path(sys.base_prefix) / "bin"  # the Python under the tests' own (pyenv's, here)
    pip = subprocess.run([plain / "python3", "-m", "pip", "--version"], capture_output=True)
    if pip.returncode != 0:
        pytest.skip("the Python under this run has no pip")
    return {"PATH": f"{plain}:/usr/bin:/bin"}


@pytest.mark.parametrize(
    "kind", ["an activated virtualenv", "Debian's externally managed Python", "a plain Python"]
)
def test_make_installs_uv_quietly_under_any_python(
    kind: str, tmp_path: Path, pip_cache: Path
) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / "Makefile", checkout)
    environment = {
        **_without_python_choices(os.environ),
        **_python_without_uv(kind, tmp_path),
        "HOME": str(tmp_path / "home"),
        "PIP_CACHE_DIR": str(pip_cache),
    }
    assert shutil.which("uv", path=environment["PATH"]) is None

    made = subprocess.run(
        ["make", "uv"], cwd=checkout, env=environment, capture_output=True, text=True, timeout=300
    )

    assert made.returncode == 0, made.stderr
    for alarming in ("error", "traceback", "root", "externally-managed", "break-system"):
        assert alarming not in made.stderr.lower(), made.stderr
    uv = checkout / ".tools" / "bin" / "uv"
    assert subprocess.run([uv, "--version"], capture_output=True, check=True).stdout
    assert (checkout / ".tools" / ".gitignore").read_text() == "*\n"  # out of git's sight


def test_make_uses_the_uv_on_the_path(tmp_path: Path) -> None:
    present = os.environ.get("UV") or shutil.which("uv")  # `uv run` names itself in UV
    if present is None:
        pytest.skip("uv is not on the PATH of this run")
    shutil.copy(ROOT / "Makefile", tmp_path)
    environment = {
        **_without_python_choices(os.environ),
        "PATH": f"{Path(present).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
    }

    made = subprocess.run(
        ["make", "uv"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )

    assert (made.returncode, made.stdout, made.stderr) == (0, "", "")
    assert not (tmp_path / ".tools").exists()


def _without_python_choices(environment: os._Environ[str]) -> dict[str, str]:
    """The environment, less what would choose a Python or a uv for make, and what makes it a
    sub-make of `make test` (which would announce the folders it enters)."""
    chosen = {"VIRTUAL_ENV", "UV", "PYTHON", "PYTHONPATH", "PYTHONHOME"}
    chosen |= {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    return {name: value for name, value in environment.items() if name not in chosen}
