"""The audit log: who did what to what, from where, and how it ended. Never a secret."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import structlog
from cachetools import TTLCache
from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import JSONResponse

from filewallball.access.models import AuditLog
from filewallball.db import transaction
from filewallball.errors import FileWallBallError
from filewallball.problems import problem_for

log = structlog.get_logger("filewallball.audit")


def entry(
    action: str,
    *,
    actor: str,
    target: str | None,
    outcome: str = "success",
    client_ip: str | None = None,
    request_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """An audit row, also written to the log; the caller adds it to a transaction."""
    detail = detail or {}
    log.info(
        "audit",
        action=action,
        actor=actor,
        target=target,
        outcome=outcome,
        client_ip=client_ip,
        **detail,
    )
    return AuditLog(
        actor=actor,
        action=action,
        target=target[:100] if target else None,  # a path is as long as a client likes
        outcome=outcome,
        client_ip=client_ip,
        request_id=request_id,
        detail=json.dumps(detail, default=str)[:4000] if detail else None,
    )


class Auditor:
    """Builds audit rows, and writes them in their own transaction when the request's own
    transaction cannot carry them (denials before any endpoint, failures that roll back)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # A flooding client is recorded once a minute per kind, not once per refused request.
        self._recent: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=10_000, ttl=60)

    async def write(self, entry: AuditLog) -> bool:
        try:
            async with transaction(self._sessions) as session:
                session.add(entry)
        except SQLAlchemyError as exc:
            log.error("audit_not_recorded", action=entry.action, error=type(exc).__name__)
            return False
        return True

    async def record(
        self,
        action: str,
        *,
        actor: str,
        target: str | None = None,
        outcome: str = "success",
        client_ip: str | None = None,
        request_id: str | None = None,
        once_a_minute: bool = False,
        **detail: Any,
    ) -> None:
        """Record in a transaction of its own."""
        seen = (action, f"{actor}@{client_ip}")
        if once_a_minute and seen in self._recent:
            return
        written = await self.write(
            entry(
                action,
                actor=actor,
                target=target,
                outcome=outcome,
                client_ip=client_ip,
                request_id=request_id,
                detail=detail,
            )
        )
        if once_a_minute and written:
            self._recent[seen] = True


@dataclass(frozen=True, slots=True)
class Audit:
    """The audit log bound to one request: its actor, address, request id and transaction."""

    auditor: Auditor
    session: AsyncSession
    actor: str
    client_ip: str | None
    request_id: str | None

    async def __call__(
        self, action: str, target: str | None = None, outcome: str = "success", **detail: Any
    ) -> None:
        """Record in the request's transaction: the entry commits with what it describes, and
        the request never needs a second database connection."""
        await self.within(self.session, action, target, outcome, **detail)

    async def within(
        self,
        session: AsyncSession,
        action: str,
        target: str | None = None,
        outcome: str = "success",
        **detail: Any,
    ) -> None:
        """Record in `session`'s transaction: the entry commits with the change it describes
        (an upload's, in the transaction of the file's row)."""
        session.add(self._entry(action, target, outcome, detail))
        await session.flush()

    async def separately(
        self, action: str, target: str | None = None, outcome: str = "failed", **detail: Any
    ) -> None:
        """Record in a transaction of its own, for a request whose own one will roll back."""
        await self.auditor.write(self._entry(action, target, outcome, detail))

    def _entry(
        self, action: str, target: str | None, outcome: str, detail: dict[str, Any]
    ) -> AuditLog:
        return entry(
            action,
            actor=self.actor,
            target=target,
            outcome=outcome,
            client_ip=self.client_ip,
            request_id=self.request_id,
            detail=detail,
        )


async def on_refusal(request: Request, exc: Exception) -> JSONResponse:
    """The handler of Unauthorized and Forbidden: wherever an endpoint refuses an actor, the
    refusal is recorded as `auth_failed`, once a minute per client like the guard's own."""
    assert isinstance(exc, FileWallBallError)
    auditor: Auditor = request.app.state.fwb.auditor
    request_state = request.scope.get("state", {})
    actor = request_state.get("actor")
    await auditor.record(
        "auth_failed",
        actor=actor.label if actor is not None else "anonymous",
        target=request.url.path,
        outcome="denied",
        client_ip=request_state.get("client_ip"),
        request_id=request_state.get("request_id"),
        once_a_minute=True,
        reason=exc.slug,
    )
    return problem_for(exc)
