"""Structured logs: JSON when not on a terminal, the request id on every line, on stdout.

One logging configuration serves the app, the libraries and the ASGI server: `serve` hands the
same dictConfig to granian or uvicorn, so their start-up and shutdown lines are rendered like
ours rather than as plain text in between JSON lines.
"""

from __future__ import annotations

import logging.config
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pydantic_core
import structlog

if TYPE_CHECKING:  # the serving process renders logs without loading the settings' libraries
    from filewallball.settings import Settings

# The ASGI servers' own loggers: no handlers of their own, everything through the root's.
SERVER_LOGGERS = ("_granian", "uvicorn", "uvicorn.error")
# Silenced: the app writes one line per request itself, with its request id and route.
SERVER_ACCESS_LOGGERS = ("granian.access", "uvicorn.access")

_SHARED: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _add_pid(_: Any, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    # Several workers share one stream: the pid tells whose line it is.
    event_dict.setdefault("pid", os.getpid())
    return event_dict


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def write_straight(
    logger: logging.Logger, method_name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Our own lines are written straight to the console handler's stream when it alone would
    take them: the same bytes, through the same formatter's processors, at a quarter of the
    cost of `logging` (no LogRecord, no caller lookup, no copies). The access line is written
    once a request, so this is most of what logging costs a request. Anything else (another
    handler, such as FWB_LOG_FILE's, an exception, format arguments) goes on to `logging`."""
    handlers = logging.root.handlers
    level = _LEVELS.get(method_name)
    if len(handlers) != 1 or level is None or logger.handlers or not logger.propagate:
        return event_dict
    handler = handlers[0]
    formatter = handler.formatter
    if (
        type(handler) is not logging.StreamHandler
        or not isinstance(formatter, structlog.stdlib.ProcessorFormatter)
        or handler.filters
        or not _STRAIGHT.isdisjoint(event_dict)
    ):
        return event_dict
    if level < handler.level or not logger.isEnabledFor(level):
        raise structlog.DropEvent  # as `logging` would
    rendered: Any = {**event_dict, "_record": None, "_from_structlog": True}
    for processor in formatter.processors:
        rendered = processor(logger, method_name, rendered)
    handler.acquire()  # other threads (the database's, say) write through the same handler
    try:
        handler.stream.write(rendered + handler.terminator)
        handler.stream.flush()
    except (OSError, ValueError):  # a closed or broken stream: `logging` reports it
        return event_dict
    finally:
        handler.release()
    raise structlog.DropEvent


# What only `logging` renders: an exception's traceback, a stack, %-format arguments.
_STRAIGHT = frozenset({"exc_info", "stack_info", "positional_args"})


def _dumps(line: structlog.types.EventDict, default: Callable[[Any], Any]) -> str:
    # pydantic-core's serializer, not the standard library's: a tenth of the cost of a
    # request's access line went to `json.dumps` (bench/README.md). Keys keep their order;
    # what it cannot write is written as structlog would, by `default`.
    return pydantic_core.to_json(line, fallback=default).decode()


def _as_json(settings: Settings) -> bool:
    stream = sys.stdout if settings.log_stream == "stdout" else sys.stderr
    return settings.log_json if settings.log_json is not None else not stream.isatty()


def structured_formatter(as_json: bool) -> logging.Formatter:
    """Renders any log record, from structlog or plain `logging`, as one JSON or console line."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(_dumps) if as_json else structlog.dev.ConsoleRenderer()
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Only JSON lines, which are read by machines; a terminal shows one process anyway.
            *([_add_pid] if as_json else []),
            renderer,
        ],
    )


def logging_config(
    settings: Settings, formatter: str = f"{__name__}.structured_formatter"
) -> dict[str, Any]:
    """The dictConfig for this process and the server's: a handler on the root for stdout (or
    stderr), and with FWB_LOG_FILE one more for the file, in JSON lines, rotated by size.
    `formatter` names the factory that renders them (the serving process has its own)."""
    handlers: dict[str, Any] = {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "structured",
            "stream": f"ext://sys.{settings.log_stream}",
        }
    }
    if settings.log_file is not None:
        # Worker processes share the file: this handler locks it to write and to rotate, so
        # no two rotate at once and no line is lost between them.
        handlers["file"] = {
            "()": "concurrent_log_handler.ConcurrentRotatingFileHandler",
            "filename": str(settings.log_file),
            "maxBytes": settings.log_file_max_bytes,
            "backupCount": settings.log_file_backups,
            "formatter": "json",
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {"()": formatter, "as_json": _as_json(settings)},
            "json": {"()": formatter, "as_json": True},
        },
        "handlers": handlers,
        "root": {"handlers": list(handlers), "level": settings.log_level.upper()},
        "loggers": {
            **{name: {"handlers": [], "propagate": True} for name in SERVER_LOGGERS},
            **{name: {"handlers": [], "propagate": False} for name in SERVER_ACCESS_LOGGERS},
        },
    }


def configure_logging(settings: Settings) -> None:
    structlog.configure(
        processors=[
            *_SHARED,
            write_straight,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(logging_config(settings))
