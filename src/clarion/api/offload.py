"""Running template work (trial renders, previews) off the event loop.

Rendering is bounded in size and time, but even a bounded render of a hostile
template takes tens of milliseconds; on the event loop that would delay every other
request. A small dedicated pool keeps such work away from the loop and from the
default executor, so a burst of bombs queues here without starving anything else.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")

_POOL: Final = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clarion-render")


async def off_loop(func: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """`func(*args, **kwargs)` run in the render pool; its exceptions are raised here."""
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_POOL, call)
