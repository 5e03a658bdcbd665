"""Network rules from the settings, overridden at run time by admins through system_settings,
and re-read by every replica every few seconds."""

from __future__ import annotations

import time
from collections.abc import Sequence

import structlog
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from filewallball.access.network import NetworkRules
from filewallball.access.roles import Role
from filewallball.cache.coalesce import Coalesced
from filewallball.settings import Network, Settings, parse_networks
from filewallball.system_settings import SystemSetting

log = structlog.get_logger(__name__)

# system_settings keys an admin may set, each a comma-separated CIDR list.
RULE_KEYS = {
    "ip.allow": "Only these networks may use the service (empty: everyone).",
    "ip.deny": "These networks may not use the service.",
    **{f"ip.allow.{role.value}": f"Only these networks may act as {role.value}." for role in Role},
    **{f"ip.deny.{role.value}": f"These networks may not act as {role.value}." for role in Role},
}


class PolicySource:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._settings = settings
        self._sessions = sessions
        self._rules = self._from_settings({})
        self._loaded_at = float("-inf")
        self._changes = 0  # changes made here: a read begun before one must not undo it
        self._refreshing: Coalesced[None] = Coalesced()

    def _from_settings(self, overrides: dict[str, str]) -> NetworkRules:
        def pick(key: str, default: Sequence[Network]) -> tuple[Network, ...]:
            return tuple(parse_networks(overrides[key]) if key in overrides else default)

        settings = self._settings
        return NetworkRules(
            allow=pick("ip.allow", settings.ip_allow),
            deny=pick("ip.deny", settings.ip_deny),
            role_allow={
                role: pick(
                    f"ip.allow.{role.value}", settings.admin_ip_allow if role is Role.admin else ()
                )
                for role in Role
            },
            role_deny={role: pick(f"ip.deny.{role.value}", ()) for role in Role},
        )

    async def rules(self) -> NetworkRules:
        if time.monotonic() - self._loaded_at >= self._settings.policy_refresh_seconds:
            # One read for every request that finds the rules due, not one each: under load,
            # hundreds began at once every few seconds, and requests waited up to a second
            # for them (bench/README.md).
            changes = self._changes
            await self._refreshing.load(changes, lambda: self._read(changes))
        return self._rules

    async def reload(self) -> None:
        """Read the rules again now: an admin changed them here (run after the commit)."""
        self._changes += 1
        await self._read(self._changes)

    async def _read(self, changes: int) -> None:
        try:
            async with self._sessions() as session:
                rows = await session.execute(
                    select(SystemSetting.setting_key, SystemSetting.setting_value).where(
                        SystemSetting.setting_key.in_(RULE_KEYS)
                    )
                )
                overrides = {key: value or "" for key, value in rows.all()}
            rules = self._from_settings(overrides)
        except (SQLAlchemyError, ValueError) as exc:
            # Keep enforcing the last rules we had rather than none.
            log.warning("network_rules_not_refreshed", error=type(exc).__name__)
            self._loaded_at = time.monotonic()
            return
        if changes == self._changes:  # else an admin's change is being read, or was
            self._rules = rules
            self._loaded_at = time.monotonic()
