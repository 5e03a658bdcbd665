"""The suite's one table of ratios, and the record of where it was measured."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from _tools import version

RESULTS = Path(__file__).parent / "results"


@dataclass
class Row:
    """One scenario: our numbers and the reference's, round by round, paired."""

    backend: str
    scenario: str
    unit: str
    reference: str  # what we are compared against
    target: float | None  # None: measured for the record, with no target of its own
    at_least: bool = True  # the ratio must be >= target (else <=)
    ours: list[float] = field(default_factory=list)
    theirs: list[float] = field(default_factory=list)
    p99_ours_ms: list[float] = field(default_factory=list)
    p99_theirs_ms: list[float] = field(default_factory=list)
    failures: int = 0

    @property
    def ratios(self) -> list[float]:
        return [ours / theirs for ours, theirs in zip(self.ours, self.theirs, strict=True)]

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None if self.failures == 0 else False
        ratio = statistics.median(self.ratios)
        return self.failures == 0 and (
            ratio >= self.target if self.at_least else ratio <= self.target
        )

    def cells(self) -> list[str]:
        ratios = self.ratios
        p99 = "—"
        if self.p99_ours_ms:
            p99 = f"{_median(self.p99_ours_ms)} / {_median(self.p99_theirs_ms)}"
        verdict = {True: "yes", False: "NO", None: "—"}[self.met]
        if self.failures:
            verdict += f" ({self.failures} failed requests)"
        return [
            self.backend,
            self.scenario,
            f"{_median(self.ours)} {self.unit}",
            f"{self.reference} {_median(self.theirs)}",
            f"{statistics.median(ratios):.2f}",
            f"{min(ratios):.2f}-{max(ratios):.2f}" if len(ratios) > 1 else "—",
            "—" if self.target is None else f"{'≥' if self.at_least else '≤'} {self.target}",
            p99,
            verdict,
        ]


HEADER = [
    "backend",
    "scenario",
    "ours (median)",
    "reference (median)",
    "ratio",
    "min-max",
    "target",
    "p99 ms ours / ref",
    "met",
]


def _median(values: list[float]) -> str:
    value = statistics.median(values)
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def table(rows: list[Row]) -> str:
    lines = [HEADER, ["---"] * len(HEADER), *(row.cells() for row in rows)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def environment() -> dict[str, Any]:
    """Versions and machine, so that a table is read against what produced it."""
    import granian

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "python": sys.version.split()[0],
        "granian": granian.__version__,
        "nginx": version(["nginx", "-v"]).split()[-1],
        "wrk": " ".join(version(["wrk", "-v"]).split()[:2]),
        "curl": " ".join(version(["curl", "--version"]).split()[:2]),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "commit": commit,
    }


def save(rows: list[Row], about: dict[str, Any]) -> Path:
    """Writes suite-<time>.json and .md under bench/results; returns the Markdown's path."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = RESULTS / f"suite-{stamp}"
    record = {
        "when": stamp,
        "environment": about,
        "rows": [{**asdict(row), "ratios": row.ratios, "met": row.met} for row in rows],
    }
    base.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    facts = "\n".join(f"- {key}: {value}" for key, value in about.items())
    shared = "The load averages show how busy the machine was with other work meanwhile."
    text = f"# Benchmark suite, {stamp} UTC\n\n{facts}\n\n{shared}\n\n{table(rows)}\n"
    base.with_suffix(".md").write_text(text)
    return base.with_suffix(".md")
