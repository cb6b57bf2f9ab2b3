"""Access lines are written together once per event-loop iteration, in order, none lost."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
from uvicorn.config import LOGGING_CONFIG
from uvicorn.logging import AccessFormatter

from clarion.api.access_log import (
    ACCESS_LOGGER,
    AccessLineFormatter,
    AccessLogger,
    BatchedAccessHandler,
    install_access_logger,
    uvicorn_log_config,
)


class CountingStream(io.StringIO):
    """A text stream that counts its writes."""

    writes = 0

    def write(self, text: str) -> int:
        """Count, then write."""
        self.writes += 1
        return super().write(text)


def _logger(stream: CountingStream) -> tuple[logging.Logger, BatchedAccessHandler]:
    handler = BatchedAccessHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.Logger("access-test")
    logger.addHandler(handler)
    return logger, handler


async def test_one_write_per_iteration() -> None:
    stream = CountingStream()
    logger, _ = _logger(stream)
    for number in range(5):
        logger.info("line %d", number)
    assert stream.getvalue() == ""
    await asyncio.sleep(0)
    assert stream.getvalue() == "".join(f"line {n}\n" for n in range(5))
    assert stream.writes == 1
    logger.info("later")
    await asyncio.sleep(0)
    assert stream.getvalue().endswith("line 4\nlater\n") and stream.writes == 2


def test_without_a_loop_lines_are_written_at_once() -> None:
    stream = CountingStream()
    logger, _ = _logger(stream)
    logger.info("now")
    assert stream.getvalue() == "now\n"


async def test_closing_writes_what_is_left() -> None:
    stream = CountingStream()
    logger, handler = _logger(stream)
    logger.info("last")
    handler.close()
    assert stream.getvalue() == "last\n"


def test_uvicorn_config_keeps_its_format() -> None:
    config = uvicorn_log_config()
    assert config["handlers"]["access"]["class"].endswith("BatchedAccessHandler")
    assert config["formatters"]["access"]["()"].endswith("AccessLineFormatter")
    assert config["formatters"]["access"]["fmt"] == LOGGING_CONFIG["formatters"]["access"]["fmt"]


@pytest.mark.parametrize("status", [200, 201, 404, 599])
def test_lines_are_uvicorns_own(status: int) -> None:
    fmt = LOGGING_CONFIG["formatters"]["access"]["fmt"]
    ours = AccessLineFormatter(fmt, use_colors=False)
    theirs = AccessFormatter(fmt, use_colors=False)
    args = ("127.0.0.1:4321", "POST", "/v1/sends?x=1", "1.1", status)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', args, None
    )
    assert ours.format(record) == theirs.format(record)
    coloured = AccessLineFormatter(fmt, use_colors=True)
    assert coloured.format(record) == AccessFormatter(fmt, use_colors=True).format(record)


def _access_logger(stream: CountingStream) -> logging.Logger:
    """A logger set up as uvicorn sets up its access logger, made an AccessLogger."""
    logger = AccessLogger("access-direct-test")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = BatchedAccessHandler(stream)
    handler.setFormatter(AccessLineFormatter(LOGGING_CONFIG["formatters"]["access"]["fmt"]))
    handler.formatter.use_colors = False  # type: ignore[union-attr]
    logger.addHandler(handler)
    return logger


ACCESS_ARGS = ("127.0.0.1:4321", "POST", "/v1/sends", "1.1", 201)


async def test_access_lines_without_records_are_uvicorns_own() -> None:
    fmt = LOGGING_CONFIG["formatters"]["access"]["fmt"]
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', ACCESS_ARGS, None
    )
    expected = AccessFormatter(fmt, use_colors=False).format(record) + "\n"
    stream = CountingStream()
    logger = _access_logger(stream)
    made: list[logging.LogRecord] = []
    factory = logging.getLogRecordFactory()

    def counting(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        made.append(record)
        return record

    logging.setLogRecordFactory(counting)
    try:
        logger.info('%s - "%s %s HTTP/%s" %d', *ACCESS_ARGS)
        logger.info('%s - "%s %s HTTP/%s" %d', *ACCESS_ARGS)
    finally:
        logging.setLogRecordFactory(factory)
    await asyncio.sleep(0)
    assert stream.getvalue() == expected * 2 and stream.writes == 1
    assert made == []


async def test_filters_levels_and_other_messages_still_apply() -> None:
    stream = CountingStream()
    logger = _access_logger(stream)
    logger.addFilter(lambda record: record.args != ACCESS_ARGS)
    logger.info('%s - "%s %s HTTP/%s" %d', *ACCESS_ARGS)
    logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/healthz", "1.1", 200)
    await asyncio.sleep(0)
    assert stream.getvalue() == 'INFO:     127.0.0.1:1 - "GET /healthz HTTP/1.1" 200 OK\n'
    quiet = CountingStream()
    logger = _access_logger(quiet)
    logger.setLevel(logging.WARNING)
    logger.info('%s - "%s %s HTTP/%s" %d', *ACCESS_ARGS)
    await asyncio.sleep(0)
    assert quiet.getvalue() == ""
    # A logger that passes records on to its parents makes them as logging does.
    propagated = CountingStream()
    logger = _access_logger(propagated)
    logger.propagate = True
    seen: list[logging.LogRecord] = []
    logger.addFilter(lambda record: not seen.append(record))
    logger.info('%s - "%s %s HTTP/%s" %d', *ACCESS_ARGS)
    await asyncio.sleep(0)
    assert [record.args for record in seen] == [ACCESS_ARGS]
    assert propagated.getvalue().endswith('"POST /v1/sends HTTP/1.1" 201 Created\n')


def test_uvicorns_access_logger_is_made_an_access_logger() -> None:
    install_access_logger()
    assert type(logging.getLogger(ACCESS_LOGGER)) is AccessLogger
