"""Peak resident memory of a process and all its children (granian runs the app in a child)."""

from __future__ import annotations

import threading
from types import TracebackType

import psutil

MiB = 1024 * 1024


class PeakRss:
    """Samples the tree's summed RSS in a thread while the `with` block runs."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self._root = psutil.Process(pid)
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.peak_mib = 0.0
        self.idle_mib = 0.0  # before any scenario

    def _total_mib(self) -> float:
        total = 0
        for process in [self._root, *self._root.children(recursive=True)]:
            total += process.memory_info().rss
        return total / MiB

    def _sample(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.peak_mib = max(self.peak_mib, self._total_mib())
            except psutil.NoSuchProcess:
                continue  # a child came or went mid-sample; the next sample counts it

    def __enter__(self) -> PeakRss:
        self.idle_mib = self.peak_mib = self._total_mib()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
