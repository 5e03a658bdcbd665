"""What `/metrics` says of the service's state, read when Prometheus scrapes: what is stored,
the free space of local storage, the job queue, the database pool, the activity writer's lag
and the last backup. The database is asked at most every SAMPLE_SECONDS per process, and a
database that does not answer leaves its gauges out rather than failing the scrape."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import false, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import Pool

from filewallball.db import transaction, utcnow
from filewallball.files.activity import ActivityWriter
from filewallball.files.models import File
from filewallball.jobs.models import Job
from filewallball.system_settings import LAST_BACKUP_AT, SystemSetting

log = structlog.get_logger(__name__)

SAMPLE_SECONDS = 10.0


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class Gauges:
    """The state gauges of one process, with the database's answers kept briefly."""

    def __init__(self) -> None:
        self._sampled_at = -float("inf")
        self._from_database: list[Metric] = []

    async def collect(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pool: Pool,
        activity: ActivityWriter,
        storage_dir: Path | None,
    ) -> list[Metric]:
        """The gauges; `storage_dir`: local storage's folder, None for another backend."""
        now = time.monotonic()
        if now - self._sampled_at >= SAMPLE_SECONDS:
            self._sampled_at = now
            try:
                self._from_database = await self._sample_database(sessions)
            except SQLAlchemyError as exc:
                log.warning("gauges_unavailable", error=type(exc).__name__)
                self._from_database = []
        return [*self._from_database, *self._from_process(pool, activity, storage_dir)]

    async def _sample_database(self, sessions: async_sessionmaker[AsyncSession]) -> list[Metric]:
        async with transaction(sessions) as session:
            files, size = (
                await session.execute(
                    select(func.count(), func.coalesce(func.sum(File.file_size), 0)).where(
                        File.is_deleted == false()
                    )
                )
            ).one()
            queued, oldest = (
                await session.execute(
                    select(func.count(), func.min(Job.run_after)).where(
                        Job.state == "pending", Job.run_after <= utcnow()
                    )
                )
            ).one()
            backup = await session.scalar(
                select(SystemSetting.setting_value).where(
                    SystemSetting.setting_key == LAST_BACKUP_AT
                )
            )
        metrics: list[Metric] = [
            _gauge("filewallball_stored_files", "Live files (not deleted).", files),
            _gauge("filewallball_stored_bytes", "Bytes of the live files.", size),
            _gauge("filewallball_jobs_queued", "Background jobs due and not yet taken.", queued),
            _gauge(
                "filewallball_jobs_oldest_age_seconds",
                "How long the oldest due job has waited; 0 when none waits.",
                _age(oldest),
            ),
        ]
        if backup:
            stamp = datetime.fromisoformat(backup).timestamp()
            metrics.append(
                _gauge(
                    "filewallball_last_backup_timestamp_seconds",
                    "When the last successful backup was written (Unix time).",
                    stamp,
                )
            )
        return metrics

    @staticmethod
    def _from_process(
        pool: Pool, activity: ActivityWriter, storage_dir: Path | None
    ) -> Iterable[Metric]:
        yield _gauge(
            "filewallball_db_pool_in_use",
            "Database connections this process has checked out.",
            float(getattr(pool, "checkedout", lambda: 0)()),
        )
        yield _gauge(
            "filewallball_activity_pending",
            "Views and downloads this process holds, not yet written.",
            activity.pending,
        )
        yield _gauge(
            "filewallball_activity_lag_seconds",
            "How long the oldest unwritten view or download of this process has waited.",
            activity.lag_seconds,
        )
        if storage_dir is not None:
            try:
                usage = shutil.disk_usage(storage_dir)
            except OSError:
                return
            yield _gauge(
                "filewallball_storage_capacity_bytes",
                "Size of the local storage's file system.",
                usage.total,
            )
            yield _gauge(
                "filewallball_storage_free_bytes",
                "Free space of the local storage's file system.",
                usage.free,
            )


def _age(moment: datetime | None) -> float:
    return 0.0 if moment is None else max((utcnow() - moment).total_seconds(), 0.0)
