"""The event loop every Clarion process runs on, and what code must assume of it.

Production runs on uvloop when it is installed (it is a dependency), otherwise on
asyncio's own loop. `clarion serve`, `clarion worker`, `clarion emulate` and the
demo all start through `run`, so one process never differs from another.
"""

from __future__ import annotations

import asyncio
import gc
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


#: Allocations between young-generation collections (Python's default is 700).
GC_YOUNG_THRESHOLD = 20_000


def settle_garbage_collector() -> None:
    """Keep the cyclic garbage collector from rescanning what start-up built.

    Imports leave several hundred thousand long-lived objects (modules, schemas, SQL
    constructs). With the default thresholds a busy delivery loop, which allocates a
    few objects per device, sets off collections that walk them again and again: a
    third of a big send's CPU went there. Freezing moves them out of the collector's
    sight, and a higher young threshold makes collections rarer; the process holds
    few reference cycles, so memory barely changes.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new loop of the production kind."""
    settle_garbage_collector()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def stream_transport(transport: asyncio.BaseTransport) -> asyncio.Transport:
    """The transport handed to a stream protocol, typed as the read-write transport it is."""
    # uvloop's transports offer every asyncio.Transport method without subclassing
    # it, so an isinstance check here would refuse every connection made on uvloop.
    return cast(asyncio.Transport, transport)
