"""How far a long command got: a bar on a terminal (bytes and files, rate, time left), plain
log lines every few seconds otherwise (a CronJob's log)."""

from __future__ import annotations

import sys
import time
from types import TracebackType

import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

log = structlog.get_logger(__name__)
LOG_EVERY = 5.0  # seconds between two log lines


class Tally:
    """Counts bytes and files towards their totals, and shows it."""

    def __init__(self, what: str, total_bytes: int, total_files: int) -> None:
        self.what = what
        self.total_bytes, self.total_files = total_bytes, total_files
        self.bytes = self.files = 0
        self._started = self._logged = time.monotonic()
        self._bar: Progress | None = None
        if sys.stderr.isatty():
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TextColumn("{task.fields[files]}/{task.fields[total_files]} files"),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._task = self._bar.add_task(
                what, total=total_bytes, files=0, total_files=total_files
            )

    def __enter__(self) -> Tally:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
        if exc is None:
            self._log("done")

    def advance(self, size: int, files: int = 1) -> None:
        self.bytes += size
        self.files += files
        if self._bar is not None:
            self._bar.update(self._task, advance=size, files=self.files)
        elif time.monotonic() - self._logged >= LOG_EVERY:
            self._log("progress")

    def _log(self, event: str) -> None:
        self._logged = time.monotonic()
        elapsed = max(self._logged - self._started, 1e-6)
        log.info(
            f"{self.what}_{event}",
            bytes=self.bytes,
            total_bytes=self.total_bytes,
            files=self.files,
            total_files=self.total_files,
            mib_per_second=round(self.bytes / elapsed / 2**20, 1),
        )
