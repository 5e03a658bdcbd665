"""Peak resident memory and CPU time of a process and all its children (granian runs the app
in a child)."""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType

import psutil

MiB = 1024 * 1024


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process and its children have used so far."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


class PeakRss:
    """Samples the tree's summed RSS in a thread while the `with` block runs."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self._root = psutil.Process(pid)
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.peak_mib = 0.0
        self.idle_mib = 0.0  # before any scenario
        # Proportional set size: a page shared by the processes counts once in all, as in a
        # pod's memory; the summed RSS above counts it in each process that maps it.
        self.peak_pss_mib = 0.0

    def _total_mib(self) -> tuple[float, float]:
        rss = pss = 0
        for process in [self._root, *self._root.children(recursive=True)]:
            memory = process.memory_full_info()
            rss, pss = rss + memory.rss, pss + memory.pss
        return rss / MiB, pss / MiB

    def _sample(self) -> None:
        while not self._stop.wait(self._every):
            try:
                rss, pss = self._total_mib()
            except psutil.NoSuchProcess:
                continue  # a child came or went mid-sample; the next sample counts it
            self.peak_mib = max(self.peak_mib, rss)
            self.peak_pss_mib = max(self.peak_pss_mib, pss)

    def __enter__(self) -> PeakRss:
        self.idle_mib, self.peak_pss_mib = self._total_mib()
        self.peak_mib = self.idle_mib
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
