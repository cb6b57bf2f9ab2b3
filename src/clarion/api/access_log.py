"""uvicorn's access lines, written once per event-loop iteration instead of once per request."""

from __future__ import annotations

import asyncio
import copy
import functools
import http
import logging
from typing import Any, TextIO

from uvicorn.config import LOGGING_CONFIG
from uvicorn.logging import AccessFormatter

#: uvicorn's access line format, which `AccessLineFormatter` writes without its machinery.
_UVICORN_FORMAT = LOGGING_CONFIG["formatters"]["access"]["fmt"]
#: The logger uvicorn writes access lines to, and the message it logs for each.
ACCESS_LOGGER = "uvicorn.access"
_UVICORN_MESSAGE = '%s - "%s %s HTTP/%s" %d'


class AccessLineFormatter(AccessFormatter):
    """uvicorn's access line, made without copying the record twice per request.

    Lines in colour, or in another format, are left to uvicorn's own formatter.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The line as uvicorn's formatter writes it."""
        args = record.args
        if self.use_colors or self._fmt != _UVICORN_FORMAT or not isinstance(args, tuple):
            return super().formatMessage(record)
        return _line(record.levelname, args)

    def plain(self) -> bool:
        """Whether lines are uvicorn's own format without colour (what `_line` writes)."""
        return not self.use_colors and self._fmt == _UVICORN_FORMAT


def _line(level: str, args: tuple[Any, ...]) -> str:
    client_addr, method, full_path, http_version, status_code = args
    request_line = f"{method} {full_path} HTTP/{http_version}"
    status = _status_and_phrase(int(status_code))
    return f'{level}:{" " * (8 - len(level))} {client_addr} - "{request_line}" {status}'


@functools.cache
def _status_and_phrase(status_code: int) -> str:
    try:
        phrase = http.HTTPStatus(status_code).phrase
    except ValueError:
        phrase = ""
    return f"{status_code} {phrase}"


class BatchedAccessHandler(logging.StreamHandler[TextIO]):
    """A stream handler that gathers the lines of one loop iteration into one write.

    A write and a flush per request cost as much as a fifth of a small send's accept;
    under load one iteration answers tens of requests. Lines are written, in order,
    as soon as the iteration's callbacks have run (at once when no loop is running).
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._lines: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        """Format the line and keep it for this iteration's write."""
        try:
            self._lines.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)
            return
        self._schedule()

    def keep(self, line: str) -> None:
        """Keep a line already formatted for this iteration's write."""
        self._lines.append(line + self.terminator)
        self._schedule()

    def _schedule(self) -> None:
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.write_lines()
            return
        self._scheduled = True
        loop.call_soon(self.write_lines)

    def write_lines(self) -> None:
        """Write and flush every line gathered so far."""
        self._scheduled = False
        lines, self._lines = self._lines, []
        if not lines:
            return
        try:
            self.stream.write("".join(lines))
            self.flush()
        except Exception:
            # As StreamHandler does for a line that cannot be written: report, go on.
            self.handleError(logging.makeLogRecord({"msg": "access log write failed"}))

    def close(self) -> None:
        """Write what is left, then close."""
        self.write_lines()
        super().close()


class AccessLogger(logging.Logger):
    """uvicorn's access logger, which writes its lines without a LogRecord each when it can.

    When the line would reach only a `BatchedAccessHandler` writing uvicorn's plain
    format, through no filter, the line is made from the arguments directly: a record,
    the caller's frame lookup and the handler chain cost several times the line itself.
    Anything else (other handlers, filters, formats, levels, messages) goes through
    `logging` as usual.
    """

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at INFO; uvicorn's access lines straight to the batching handler."""
        handler = self._direct() if msg == _UVICORN_MESSAGE and not kwargs else None
        if handler is None or len(args) != 5:
            super().info(msg, *args, **kwargs)
            return
        try:
            line = _line("INFO", args)
        except Exception:
            super().info(msg, *args, **kwargs)
            return
        handler.keep(line)

    def _direct(self) -> BatchedAccessHandler | None:
        """The one handler a line goes to, when nothing else would see the record."""
        if self.filters or self.propagate or not self.isEnabledFor(logging.INFO):
            return None
        handlers = self.handlers
        if len(handlers) != 1:
            return None
        handler = handlers[0]
        if (
            type(handler) is not BatchedAccessHandler
            or handler.filters
            or handler.level > logging.INFO
        ):
            return None
        formatter = handler.formatter
        if type(formatter) is not AccessLineFormatter or not formatter.plain():
            return None
        return handler


def install_access_logger() -> None:
    """Make uvicorn's access logger an `AccessLogger` (uvicorn looks it up by name)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if type(logger) is logging.Logger:
        # The logger may exist already (uvicorn's modules look it up on import), and
        # the logging module keeps one object per name: its class is changed in place.
        logger.__class__ = AccessLogger


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, its access lines written in batches."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["access"]["()"] = f"{__name__}.{AccessLineFormatter.__name__}"
    config["handlers"]["access"]["class"] = f"{__name__}.{BatchedAccessHandler.__name__}"
    return config
