"""Bounds on Liquid rendering: no template can make a render big or long.

The Liquid environment built on these bounds is in `liquid_env`.

Liquid's own limits cover loop iterations (nested loops multiply), the output of a
field, the locals a template assigns and the depth of contexts. They do not cover
what happens between two writes: a range is materialized by `join` or `reversed`,
and a chain of `replace` filters grows a string geometrically. So here:

- a range may have at most RANGE_LIMIT items, checked when it is evaluated;
- every filter checks, before it runs when its output can outgrow its input by
  more than a constant (`replace`, `join`), and after it runs otherwise, that no
  string is longer than STRING_LIMIT characters, no array longer than
  SEQUENCE_LIMIT items and no value bigger than VALUE_LIMIT (strings, items and
  digits counted at every depth);
- the locals of a render are measured the same way, at every depth;
- a render shares a time budget (`render_budget`) checked at every filter call,
  loop iteration, assignment and write; the size bounds keep the work between two
  checks small, so an overrun is noticed within a fraction of a millisecond.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, Final

from liquid.exceptions import ResourceLimitError
from liquid.stringify import to_liquid_string

RANGE_LIMIT: Final = 10_000
STRING_LIMIT: Final = 65_536
SEQUENCE_LIMIT: Final = 65_536
VALUE_LIMIT: Final = 262_144
LOCALS_LIMIT: Final = 262_144
OUTPUT_LIMIT: Final = 65_536
# Python refuses to print integers of more than 4300 digits; about 14,300 bits.
INTEGER_BITS_LIMIT: Final = 14_000
LOOP_LIMIT: Final = 1_000
CONTEXT_DEPTH_LIMIT: Final = 30
RENDER_SECONDS: Final = 0.05


class RenderLimitExceeded(ResourceLimitError):
    """A bound of rendering was exceeded; `patterns` locate the construct in the source."""

    def __init__(
        self, message: str, patterns: tuple[str, ...] = (), timed_out: bool = False
    ) -> None:
        super().__init__(message)
        self.patterns = patterns
        self.timed_out = timed_out


class RenderBudget:
    """The processor time a render may use.

    It is processor time of the rendering thread, not wall time: a render paused by
    other threads (the GIL) or by a loaded host is not cut short, and an ordinary
    template never fails for it. Reading that clock costs ten times the wall clock,
    so it is read only once the wall clock says the budget could be spent.
    """

    __slots__ = ("_check_at", "_seconds", "_started_cpu")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._check_at = time.monotonic() + seconds
        # Read at the first check: content without templates never renders, and need
        # not pay for the processor clock (a system call).
        self._started_cpu: float | None = None

    def check(self) -> None:
        """Raise RenderLimitExceeded once the budget is spent."""
        if self._started_cpu is None:
            self._started_cpu = time.thread_time()
        now = time.monotonic()
        if now <= self._check_at:
            return
        used = time.thread_time() - self._started_cpu
        if used >= self._seconds:
            raise RenderLimitExceeded(
                f"rendering takes more than {self._seconds * 1000:.0f} ms of processor time",
                timed_out=True,
            )
        self._check_at = now + (self._seconds - used)


_BUDGET: ContextVar[RenderBudget | None] = ContextVar("clarion_render_budget", default=None)


class render_budget:
    """Give the renders inside one time budget; an enclosing budget, if any, is kept."""

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float = RENDER_SECONDS) -> None:
        self._seconds = seconds
        self._token: Token[RenderBudget | None] | None = None

    def __enter__(self) -> RenderBudget:
        current = _BUDGET.get()
        if current is not None:
            return current
        budget = RenderBudget(self._seconds)
        self._token = _BUDGET.set(budget)
        return budget

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _BUDGET.reset(self._token)
            self._token = None


def check_budget() -> None:
    """Raise RenderLimitExceeded when the current render is out of time."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.check()


def measure(value: object, cap: int) -> int:
    """The size of a value: characters, items and digits at every depth, counted up to past `cap`.

    Other objects (drops such as `forloop`) count as one: iterating them could change them.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 1
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, range):
            total += len(item) * (len(str(max(abs(item.start), abs(item.stop)))) + 1)
        elif isinstance(item, list | tuple):
            total += len(item)
            if total <= cap:
                stack.extend(item)
        elif isinstance(item, dict):
            total += len(item)
            if total <= cap:
                stack.extend(item.keys())
                stack.extend(item.values())
        else:
            total += 1
        if total > cap:
            return total
    return total


def _check_value(value: object, what: str) -> None:
    if isinstance(value, str):
        if len(value) > STRING_LIMIT:
            raise RenderLimitExceeded(
                f"{what} makes a string of {len(value)} characters, "
                f"over the {STRING_LIMIT}-character limit"
            )
        return
    if isinstance(value, int) and value.bit_length() > INTEGER_BITS_LIMIT:
        raise RenderLimitExceeded(f"{what} makes a number of more than 4200 digits")
    if isinstance(value, list | tuple | range | dict) and len(value) > SEQUENCE_LIMIT:
        raise RenderLimitExceeded(
            f"{what} makes an array of {len(value)} items, over the {SEQUENCE_LIMIT}-item limit"
        )
    if not isinstance(value, float) and measure(value, VALUE_LIMIT) > VALUE_LIMIT:
        raise RenderLimitExceeded(f"{what} makes a value over the {VALUE_LIMIT}-character limit")


def _text(value: object) -> str:
    return value if isinstance(value, str) else to_liquid_string(value, False)


def _before_replace(value: object, *args: object) -> int:
    if len(args) < 2:
        return 0
    text, old, new = _text(value), _text(args[0]), _text(args[1])
    if len(new) <= len(old):
        return len(text)
    return len(text) + text.count(old) * (len(new) - len(old))


def _digits(low: int, high: int) -> int:
    """The characters of the decimal numbers low..high-1 (0 <= low), without signs."""
    total, width, band = 0, 1, 10
    while low < high:
        top = min(high, band)
        if low < top:
            total += (top - low) * width
            low = top
        width, band = width + 1, band * 10
    return total


def _range_text(items: range) -> int:
    """The characters of a step-1 range's numbers printed one after another."""
    negatives = range(items.start, min(items.stop, 0))
    chars = _digits(max(items.start, 0), items.stop) if items.stop > 0 else 0
    if len(negatives):
        chars += len(negatives) + _digits(1 - negatives.stop, 1 - negatives.start)
    return chars


def _before_join(value: object, *args: object) -> int:
    if not isinstance(value, list | tuple | range):
        return 0
    separator = _text(args[0]) if args else " "
    joints = max(len(value) - 1, 0) * len(separator)
    if joints > STRING_LIMIT:
        return joints
    if isinstance(value, range):
        return joints + _range_text(value)
    return joints + measure(value, STRING_LIMIT)


# Filters whose output can be many times the size of their input: its size is
# computed before the filter runs.
_BEFORE: Final[dict[str, Callable[..., int]]] = {
    "replace": _before_replace,
    "join": _before_join,
}


# Filters whose work grows faster than their input: the longest text they may read.
# (A date is short; parsing 60,000 characters as one takes tenths of a second.)
_READS: Final[dict[str, int]] = {"date": 1_000}


def bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` checking the time budget and the size of what it would make and makes."""
    before = _BEFORE.get(name)
    reads = _READS.get(name)
    what = f"the filter {name!r}"
    where = (rf"\|\s*{name}\b",)

    if before is None and reads is None:

        @functools.wraps(func)
        def plain(value: object, *args: Any, **kwargs: Any) -> Any:
            check_budget()
            result = func(value, *args, **kwargs)
            if result.__class__ is not str or len(result) > STRING_LIMIT:
                try:
                    _check_value(result, what)
                except RenderLimitExceeded as exc:
                    exc.patterns = where
                    raise
            return result

        return plain

    @functools.wraps(func)
    def call(value: object, *args: Any, **kwargs: Any) -> Any:
        check_budget()
        if reads is not None and isinstance(value, str) and len(value) > reads:
            raise RenderLimitExceeded(
                f"{what} reads at most {reads} characters, not {len(value)}", where
            )
        if before is not None:
            size = before(value, *args)
            if size > STRING_LIMIT:
                raise RenderLimitExceeded(
                    f"{what} would make a string of {size} characters, "
                    f"over the {STRING_LIMIT}-character limit",
                    where,
                )
        result = func(value, *args, **kwargs)
        try:
            _check_value(result, what)
        except RenderLimitExceeded as exc:
            exc.patterns = where
            raise
        return result

    return call
