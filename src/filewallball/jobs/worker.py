"""The workers each replica runs: claim a job, run its handler under a renewed lease, record
how it ended."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.db import transaction
from filewallball.jobs import queue
from filewallball.jobs.models import Job
from filewallball.jobs.wakeup import Wakeup

log = structlog.get_logger(__name__)

Handler = Callable[[Mapping[str, Any]], Coroutine[Any, Any, None]]
# Called when a job fails for good, so that what waits on it can say so.
GiveUp = Callable[[Mapping[str, Any]], Awaitable[None]]


class Worker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        wakeup: Wakeup,
        *,
        concurrency: int,
        lease_seconds: float,
        poll_seconds: float,
    ) -> None:
        self.sessions = sessions
        self.wakeup = wakeup
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.handlers: dict[str, Handler] = {}
        self.give_ups: dict[str, GiveUp] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()
        self._stopping = False

    def handle(self, kind: str, handler: Handler, on_give_up: GiveUp | None = None) -> None:
        self.handlers[kind] = handler
        if on_give_up is not None:
            self.give_ups[kind] = on_give_up

    async def notify(self) -> None:
        """Tell a worker (here or in another replica) that a job is waiting."""
        await self.wakeup.notify()

    def start(self) -> None:
        self._tasks = [
            asyncio.get_running_loop().create_task(self._loop(), name=f"jobs-{n}")
            for n in range(self.concurrency)
        ]

    async def stop(self, grace: float = 5.0) -> None:
        """Let running jobs finish for up to `grace` seconds, then cut them short: a job cut
        short keeps its lease until it runs out, and then runs again somewhere."""
        self._stopping = True
        for task in self._tasks:
            if task not in self._busy:
                task.cancel()
        if self._busy:
            await asyncio.wait(set(self._busy), timeout=grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.wakeup.close()

    async def _loop(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        await self.wakeup.open()
        while not self._stopping:
            self._busy.add(task)
            try:
                ran = await self.run_one()
            except Exception:
                log.exception("job_loop_error")
                ran = False
            finally:
                self._busy.discard(task)
            if not ran and not self._stopping:
                await self.wakeup.wait(self.poll_seconds)

    async def run_until_idle(self) -> None:
        """Run due jobs in this task until none is left (for the CLI and the tests)."""
        while await self.run_one():
            pass

    async def run_one(self) -> bool:
        async with transaction(self.sessions) as session:
            job = await queue.claim(session, self.name, self.lease_seconds, self.handlers)
        if job is None:
            async with transaction(self.sessions) as session:
                lost = await queue.abandoned(session)
            for abandoned in lost:
                await self._give_up(abandoned)
            return False
        await self._run(job)
        return True

    async def _run(self, job: Job) -> None:
        handler = self.handlers[job.kind]
        work = asyncio.get_running_loop().create_task(handler(json.loads(job.payload)))
        keeper = asyncio.get_running_loop().create_task(self._keep_lease(job.id, work))
        error: str | None = None
        try:
            await work
        except asyncio.CancelledError:
            if not work.cancelled():
                raise  # this worker is stopping: the lease lapses and the job runs again
            error = "lease lost"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.exception("job_failed", job=job.id, kind=job.kind)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        async with transaction(self.sessions) as session:
            state = await queue.finish(session, job, error)
        if state == "failed":
            await self._give_up(job)
        log.info("job_finished", job=job.id, kind=job.kind, state=state, attempts=job.attempts)

    async def _give_up(self, job: Job) -> None:
        give_up = self.give_ups.get(job.kind)
        if give_up is not None:
            try:
                await give_up(json.loads(job.payload))
            except Exception:
                log.exception("job_give_up_failed", job=job.id, kind=job.kind)

    async def _keep_lease(self, job_id: int, work: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                async with transaction(self.sessions) as session:
                    ours = await queue.extend(session, job_id, self.name, self.lease_seconds)
            except Exception:
                log.exception("job_lease_not_renewed", job=job_id)
                continue  # the next try may work; the lease still has two thirds to go
            if not ours:
                work.cancel()  # another worker has it now: stop doing its work twice
                return
