"""Fixtures of the access tests: the service's own log output, as it really writes it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import structlog
from fastapi import FastAPI


class AppLog:
    """Every line the service writes to its log, rendered by its own formatter."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def events(self, event: str) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.text.splitlines()]
        return [line for line in lines if line["event"] == event]

    def requests(self) -> list[dict[str, Any]]:
        return self.events("request")


@contextmanager
def capturing_app_log() -> Iterator[AppLog]:
    """What the service logs from now on; enter it after create_app, which sets logging up."""
    root = logging.getLogger()
    # The formatter create_app installed: what the service really writes, byte for byte.
    formatter = next(
        h.formatter
        for h in root.handlers
        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    captured = AppLog()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(formatter)
    # The test's HTTP client logs the URLs it calls; that is the caller's log, not ours.
    handler.addFilter(lambda record: not record.name.startswith("httpx"))
    root.addHandler(handler)
    try:
        yield captured
    finally:
        root.removeHandler(handler)


@pytest.fixture
def app_log(app: FastAPI) -> Iterator[AppLog]:
    with capturing_app_log() as captured:
        yield captured
