"""Putting jobs in, and taking them out under a lease."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from filewallball.db import utcnow
from filewallball.jobs.models import Job

MAX_ATTEMPTS = 3
_QUEUED = "filewallball.jobs.queued"  # in a session's info: it added a job


def enqueue(session: AsyncSession, kind: str, **payload: Any) -> Job:
    """Add a job to the caller's transaction: it exists exactly when the caller's change does."""
    job = Job(kind=kind, payload=json.dumps(payload))
    session.add(job)
    session.info[_QUEUED] = True
    return job


def queued_in(session: AsyncSession) -> bool:
    """Whether `session` added a job: once it has committed, a worker may be woken for it."""
    return bool(session.info.get(_QUEUED))


async def schedule(
    session: AsyncSession, kind: str, unique_key: str, run_after: datetime, **payload: Any
) -> None:
    """Add a job unless one holds `unique_key` already. Any number of replicas may schedule
    the same work at once: the database keeps one."""
    values = {
        "kind": kind,
        "unique_key": unique_key,
        "payload": json.dumps(payload),
        "state": "pending",
        "attempts": 0,
        "run_after": run_after,
        "created_at": utcnow(),
    }
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(sqlite.insert(Job).values(values).on_conflict_do_nothing())
    else:
        # A no-op update rather than INSERT IGNORE, which would also hide other errors and
        # log a warning for every duplicate.
        on_mariadb = mysql.insert(Job).values(values)
        await session.execute(
            on_mariadb.on_duplicate_key_update(unique_key=on_mariadb.inserted.unique_key)
        )


async def release(session: AsyncSession, unique_key: str) -> None:
    """Free `unique_key` for the next `schedule`: the job that held it has begun."""
    await session.execute(update(Job).where(Job.unique_key == unique_key).values(unique_key=None))


async def claim(
    session: AsyncSession, worker: str, lease_seconds: float, kinds: Collection[str]
) -> Job | None:
    """Take the oldest job of `kinds` that is due, or whose worker's lease ran out (while it
    has attempts left), and claim it in the caller's transaction."""
    now = utcnow()
    due = or_(
        (Job.state == "pending") & (Job.run_after <= now),
        (Job.state == "running") & (Job.lease_until < now) & (Job.attempts < MAX_ATTEMPTS),
    )
    query = select(Job).where(due, Job.kind.in_(kinds)).order_by(Job.id).limit(1)
    if session.get_bind().dialect.name != "sqlite":
        # Replicas claiming at once skip each other's rows instead of queueing on them.
        query = query.with_for_update(skip_locked=True)
    job = await session.scalar(query)
    if job is None:
        return None
    claimed = await session.execute(
        update(Job)
        .where(Job.id == job.id, due)  # SQLite has no row locks: the claim re-checks itself
        .values(
            state="running",
            attempts=Job.attempts + 1,
            worker=worker,
            lease_until=now + timedelta(seconds=lease_seconds),
        )
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    await session.refresh(job)
    return job


async def extend(session: AsyncSession, job_id: int, worker: str, lease_seconds: float) -> bool:
    """Renew the lease; False when the job is no longer this worker's."""
    renewed = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.worker == worker, Job.state == "running")
        .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
    )
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


async def abandoned(session: AsyncSession) -> list[Job]:
    """Jobs whose last worker died holding them with no attempts left: failed for good."""
    now = utcnow()
    jobs = list(
        await session.scalars(
            select(Job).where(
                Job.state == "running", Job.lease_until < now, Job.attempts >= MAX_ATTEMPTS
            )
        )
    )
    for job in jobs:
        job.state, job.finished_at, job.last_error = "failed", now, "worker lost"
    await session.flush()
    return jobs


async def finish(session: AsyncSession, job: Job, error: str | None = None) -> str:
    """Mark a job done, or failed: retried later while attempts remain. Returns the state."""
    state = "done" if error is None else "failed" if job.attempts >= MAX_ATTEMPTS else "pending"
    await session.execute(
        update(Job)
        # Only while it is still ours: a worker that lost its lease must not undo another's run.
        .where(Job.id == job.id, Job.worker == job.worker, Job.state == "running")
        .values(
            state=state,
            last_error=error[:500] if error else None,
            lease_until=None,
            run_after=utcnow() + timedelta(seconds=5 * 2**job.attempts),
            finished_at=utcnow() if state != "pending" else None,
        )
    )
    return state
