"""A real Chromium driving the pages of a real server process.

Playwright's synchronous API runs its own event loop, so these are plain (not anyio) tests.
The pages do not depend on the database, so they run on SQLite only."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy import Engine, text

from tests.conftest import DATA_TABLES, IN_CI, Backend
from tests.test_server import LiveServer, MiB, start_server

CHROMIUM = Path(os.environ.get("FWB_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).parent
MAX_FILE_SIZE = 12 * MiB


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(
                f"CI must run the browser tests: {CHROMIUM} is missing (apt install chromium)"
            )
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


NewContext = Callable[..., BrowserContext]


@pytest.fixture
def new_context(browser: Browser) -> Iterator[NewContext]:
    """`new_context(locale="ko-KR")`: a fresh browser profile; a script error on any of its
    pages fails the test."""
    opened: list[BrowserContext] = []
    errors: list[object] = []

    def make(**options: object) -> BrowserContext:
        context = browser.new_context(**{"accept_downloads": True, "locale": "en-US", **options})  # type: ignore[arg-type]
        context.on("page", lambda page: page.on("pageerror", lambda error: errors.append(error)))
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()
    assert not errors, errors


@pytest.fixture
def page(new_context: NewContext) -> Page:
    return new_context().new_page()


@pytest.fixture(scope="module")
def site(
    backend: Backend, database: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server for a module's tests, started on empty tables: starting one takes seconds,
    and each test looks only at the files it uploaded itself."""
    with database.begin() as connection:
        connection.execute(text("UPDATE api_keys SET created_by = NULL"))
        for table in DATA_TABLES:
            connection.execute(text(f"DELETE FROM {table}"))
    folder = tmp_path_factory.mktemp("site")
    live = start_server(backend, folder / "blobs", folder, FWB_MAX_FILE_SIZE=str(MAX_FILE_SIZE))
    yield live
    live.stop()


def until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Polls from Python: the pages' CSP forbids the eval behind Playwright's wait_for_function."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the page never got there")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core from npm, installed once from its lock file."""
    npm = shutil.which("npm")
    installed = AXE / "node_modules" / "axe-core" / "axe.min.js"
    if not installed.exists():
        if npm is None:
            if IN_CI:
                pytest.fail("CI must check accessibility: npm is missing (apt install npm)")
            pytest.skip("npm is not installed")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=AXE, check=True, timeout=300
        )
    return installed.read_text()
