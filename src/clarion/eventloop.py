"""The event loop every Clarion process runs on, and what code must assume of it.

Production runs on uvloop when it is installed (it is a dependency), otherwise on
asyncio's own loop. `clarion serve`, `clarion worker`, `clarion emulate` and the
demo all start through `run`, so one process never differs from another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

T = TypeVar("T")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory() -> LoopFactory:
    """The factory of the loop Clarion runs on: uvloop's when importable, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def loop_name() -> str:
    """`uvloop` or `asyncio`: the loop `run` uses, for start-up lines and logs."""
    return "asyncio" if loop_factory() is asyncio.new_event_loop else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new loop of the production kind."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def stream_transport(transport: asyncio.BaseTransport) -> asyncio.Transport:
    """The transport handed to a stream protocol, typed as the read-write transport it is."""
    # uvloop's transports offer every asyncio.Transport method without subclassing
    # it, so an isinstance check here would refuse every connection made on uvloop.
    return cast(asyncio.Transport, transport)
