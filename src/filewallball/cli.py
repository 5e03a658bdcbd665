"""The `filewallball` command: serve the API, migrate the database, manage keys, back up,
check integrity.

Each command imports what it needs when it runs: an operator's `keys list` should start in a
fraction of a second, not pay for the servers, the storage backends, Alembic and the backup
machinery that `serve` and `backup` need (tests/test_first_steps.py holds it to that)."""

from __future__ import annotations

import enum
import ipaddress
import os
import zlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import structlog
import typer

from filewallball.access.roles import Role
from filewallball.log import configure_logging
from filewallball.settings import ANY_HOST, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

cli = typer.Typer(help="FileWallBall: upload a file, get a link.", no_args_is_help=True)
log = structlog.get_logger("filewallball.cli")
T = TypeVar("T")


class Server(enum.StrEnum):
    granian = "granian"
    uvicorn = "uvicorn"


def _settings(*, serving: bool = False) -> Settings:
    """The settings, logging configured: the service logs where FWB_LOG_STREAM says (stdout);
    an operator's command on stderr, so that its stdout holds only its answer."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.echo(f"filewallball: invalid setting {exc}", err=True)
        raise typer.Exit(2) from None
    if not serving:
        settings = settings.model_copy(update={"log_stream": "stderr"})
    configure_logging(settings)
    return settings


def warn_if_links_follow_any_host(settings: Settings, host: str) -> None:
    """Reachable from other machines, links built from any Host header can be poisoned."""
    if settings.base_url is None and ANY_HOST in settings.allowed_hosts and not _is_loopback(host):
        log.warning(
            "links_follow_any_host",
            detail="FWB_BASE_URL is unset and FWB_ALLOWED_HOSTS allows any host: a forged Host "
            "header would change the links in responses. Set either of them.",
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    server: Annotated[Server, typer.Option(help="ASGI server.")] = Server.granian,
) -> None:
    """Apply migrations (unless FWB_AUTO_MIGRATE=false), then serve the API."""
    from filewallball import migrations, serving
    from filewallball.log import logging_config

    settings = _settings(serving=True)
    if workers > 1 and settings.storage == "memory":
        # Each worker process would keep its own blobs: a file uploaded through one would be
        # missing from the others.
        typer.echo(
            "filewallball: invalid setting FWB_STORAGE: memory keeps blobs inside one process; "
            "serve with --workers 1, or use FWB_STORAGE=local",
            err=True,
        )
        raise typer.Exit(2)
    if settings.auto_migrate:
        migrations.upgrade(settings)
    if workers > 1 and not settings.redis_url:
        # Private caches would let one worker serve a file another has deleted; the workers
        # read this from the environment they inherit.
        os.environ["FWB_MEMORY_CACHE"] = "false"
        log.warning(
            "no_shared_cache",
            detail="several workers without FWB_REDIS_URL: metadata is read from the "
            "database on every request. Set FWB_REDIS_URL to cache it for all workers.",
        )
    warn_if_links_follow_any_host(settings, host)
    log.info("serving", url=f"http://{host}:{port}", server=server.value, workers=workers)
    serving.become(
        serving.Plan(
            host=host,
            port=port,
            workers=workers,
            server=server.value,
            log_level=settings.log_level,
            log_config=logging_config(settings, formatter=serving.SERVER_FORMATTER),
            drain_seconds=settings.drain_seconds,
        )
    )


@cli.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Bring the database schema to the latest revision (or REVISION)."""
    from filewallball import migrations

    settings = _settings()
    migrations.upgrade(settings, revision)
    typer.echo(f"database at {revision}")


@cli.command()
def backup(
    place: Annotated[
        str,
        typer.Argument(
            help="A folder, or s3://bucket/prefix on the service's S3 store.",
            envvar="FWB_BACKUP_PLACE",
        ),
    ],
    verify: Annotated[
        bool, typer.Option("--verify", help="Check the latest snapshot there instead.")
    ] = False,
    snapshot: Annotated[str | None, typer.Option(help="With --verify: this snapshot.")] = None,
) -> None:
    """Write a consistent snapshot (metadata and every blob) while the service runs; only blobs
    not already in PLACE are copied. With --verify, re-hash a snapshot without restoring it."""
    from filewallball.backup import service as backup_service

    settings = _settings()
    if verify:
        outcome = _run_backup(backup_service.verify(settings, place, snapshot))
    else:
        outcome = _run_backup(backup_service.backup(settings, place))
    manifest = outcome.manifest
    rows = sum(entry.rows for entry in manifest.tables.values())
    typer.echo(
        f"snapshot {manifest.snapshot}: {rows} rows, {manifest.blob_count} blobs"
        + ("" if verify else f" ({outcome.copied} copied, the rest already there)")
    )
    for problem in outcome.problems:
        typer.echo(f"damaged: {problem}", err=True)
    if outcome.problems:
        raise typer.Exit(1)


@cli.command()
def restore(
    place: Annotated[str, typer.Argument(help="Where the backup is (as for backup).")],
    snapshot: Annotated[str | None, typer.Option(help="This snapshot, not the latest.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace whatever this instance holds.")
    ] = False,
) -> None:
    """Restore a snapshot into this (empty) instance, checking every blob's SHA-256."""
    from filewallball import migrations
    from filewallball.backup import service as backup_service

    settings = _settings()
    migrations.upgrade(settings)
    outcome = _run_backup(backup_service.restore(settings, place, snapshot=snapshot, force=force))
    manifest = outcome.manifest
    rows = sum(entry.rows for entry in manifest.tables.values())
    typer.echo(f"restored snapshot {manifest.snapshot}: {rows} rows, {outcome.copied} blobs")
    for problem in outcome.problems:
        typer.echo(f"warning: {problem}", err=True)


@cli.command()
def fsck(
    deep: Annotated[
        bool, typer.Option("--deep", help="Read every byte and compare SHA-256s, not sizes.")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Remove orphans and stale writes; mark files whose bytes are gone as lost (410).",
        ),
    ] = False,
) -> None:
    """Check that every file's row has its blob and every blob its row; exit 1 on damage."""
    from filewallball.db import create_engine, create_sessionmaker
    from filewallball.files import fsck as fsck_check
    from filewallball.storage import create_storage

    settings = _settings()

    async def run() -> fsck_check.Findings:
        engine, storage = create_engine(settings), create_storage(settings)
        await storage.open()
        try:
            return await fsck_check.check(
                create_sessionmaker(engine),
                storage,
                deep=deep,
                repair=repair,
                stale_seconds=settings.stale_upload_seconds,
            )
        finally:
            await storage.close()
            await engine.dispose()

    findings = _run(run())
    for line in findings.summary():
        typer.echo(line)
    for kind, names in (
        ("missing", findings.missing),
        ("wrong size", findings.wrong_size),
        ("wrong content", findings.wrong_content),
        ("orphan", findings.orphans),
        ("orphan thumbnail", findings.orphan_thumbnails),
    ):
        for name in names:
            typer.echo(f"{kind}: {name}", err=True)
    if findings.damaged:
        raise typer.Exit(1)


@cli.command("cleanup")
def cleanup_command() -> None:
    """Purge files deleted FWB_PURGE_AFTER_DAYS ago and expired links (row, logs, thumbnails,
    blob), and prune view and download logs older than FWB_LOG_RETENTION_DAYS. Safe to run on
    several replicas at once; the periodic sweep job runs it too."""
    from filewallball.admin import cleanup
    from filewallball.cache import create_cache
    from filewallball.db import create_engine, create_sessionmaker
    from filewallball.storage import create_storage

    settings = _settings()

    async def run() -> cleanup.Cleaned:
        engine, storage, cache = (
            create_engine(settings),
            create_storage(settings),
            create_cache(settings),
        )
        await storage.open()
        try:
            return await cleanup.cleanup(
                create_sessionmaker(engine),
                cache,
                storage,
                purge_after_days=settings.purge_after_days,
                log_retention_days=settings.log_retention_days,
            )
        finally:
            await cache.close()
            await storage.close()
            await engine.dispose()

    cleaned = _run(run())
    typer.echo(
        f"{cleaned.purged} files purged, {cleaned.views_pruned} views and "
        f"{cleaned.downloads_pruned} downloads pruned"
    )


def _run_backup(work: Coroutine[Any, Any, T]) -> T:
    from filewallball.backup import service as backup_service

    try:
        return _run(work)
    except backup_service.BackupError as exc:
        typer.echo(f"filewallball: {exc}", err=True)
        raise typer.Exit(1) from None


def _run_on_uvloop(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on the loop the service and its tests run on, imported only by a command
    that runs one."""
    import uvloop

    return uvloop.run(work)


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run an operator's command: a database, a store or a file that fails it is one clear
    line and exit status 2, never a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from filewallball.storage import StorageError

    try:
        return _run_on_uvloop(work)
    except SQLAlchemyError as exc:
        typer.echo(f"filewallball: the database failed: {type(exc).__name__}", err=True)
    except (StorageError, OSError) as exc:
        typer.echo(f"filewallball: the storage failed: {exc}", err=True)
    except (zlib.error, ValueError) as exc:
        typer.echo(f"filewallball: unreadable data: {exc}", err=True)
    raise typer.Exit(2)


keys_cli = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
CLI_ACTOR = "cli"  # who the audit log says changed a key from the command line
cli.add_typer(keys_cli, name="keys")


async def _with_session(work: Callable[[AsyncSession], Awaitable[T]], settings: Settings) -> T:
    from filewallball.db import create_engine, create_sessionmaker, transaction

    engine = create_engine(settings)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


@keys_cli.command("create")
def create_key(
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    role: Annotated[Role, typer.Option(help="What the key may do.")],
) -> None:
    """Create a key and print it. It is shown this once; only its hash is stored."""
    from filewallball.access import audit, keys

    settings = _settings()

    async def create(session: AsyncSession) -> keys.IssuedKey:
        issued = await keys.issue(session, name, role)
        # In the key's own transaction: no key without its audit entry, and the reverse.
        session.add(
            audit.entry(
                "key_created",
                actor=CLI_ACTOR,
                target=f"key:{issued.key.key_id}",
                detail={"role": role.value},
            )
        )
        return issued

    issued = _run_on_uvloop(_with_session(create, settings))
    typer.echo(f"key id:  {issued.key.key_id}\nrole:    {role.value}\nkey:     {issued.secret}")
    typer.echo("Store the key now: it cannot be shown again.", err=True)


@keys_cli.command("list")
def list_keys() -> None:
    """List keys: id, role, name, and when revoked."""
    from filewallball.access import keys

    settings = _settings()
    for key in _run_on_uvloop(_with_session(keys.all_keys, settings)):
        revoked = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        typer.echo(f"{key.key_id}  {key.role:<8}  {revoked:<24}  {key.name}")


@keys_cli.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="The key id from `keys list`.")]) -> None:
    """Revoke a key: it answers 401 from the next request on, on every replica."""
    from filewallball.access import audit, keys

    settings = _settings()

    async def revoke(session: AsyncSession) -> bool:
        key = await keys.find(session, key_id)
        if key is None:
            return False
        await keys.revoke(session, key)
        session.add(audit.entry("key_revoked", actor=CLI_ACTOR, target=f"key:{key_id}"))
        return True

    if not _run_on_uvloop(_with_session(revoke, settings)):
        typer.echo(f"filewallball: no key {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


def main() -> None:
    cli()
