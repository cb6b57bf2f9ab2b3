"""Bounds on Liquid rendering: no template can make a render big or long.

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
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from io import StringIO
from typing import Any, Final

from liquid import Context, Environment
from liquid.builtin.tags.for_tag import ForLoop
from liquid.exceptions import LocalNamespaceLimitError, ResourceLimitError
from liquid.expression import Expression, Literal, RangeLiteral
from liquid.output import LimitedStringIO
from liquid.stringify import to_liquid_string
from liquid.template import BoundTemplate

RANGE_LIMIT: Final = 10_000
STRING_LIMIT: Final = 65_536
SEQUENCE_LIMIT: Final = 65_536
VALUE_LIMIT: Final = 262_144
LOCALS_LIMIT: Final = 262_144
OUTPUT_LIMIT: Final = 65_536
# Python refuses to print integers of more than 4300 digits; about 14,300 bits.
INTEGER_BITS_LIMIT: Final = 14_000
LOOP_LIMIT: Final = 1_000
RENDER_SECONDS: Final = 0.05

# Where in the source a construct over a bound is written, to name its column.
RANGE_PATTERN: Final = r"\(\s*[^()]*?\.\."


def range_patterns(expression: RangeLiteral) -> tuple[str, ...]:
    """Patterns finding this range expression in its source, the most precise first."""
    start, stop = (re.escape(str(end)) for end in (expression.start, expression.stop))
    return rf"\(\s*{start}\s*\.\.\s*{stop}\s*\)", RANGE_PATTERN


class RenderLimitExceeded(ResourceLimitError):
    """A bound of rendering was exceeded; `patterns` locate the construct in the source."""

    def __init__(
        self, message: str, patterns: tuple[str, ...] = (), timed_out: bool = False
    ) -> None:
        super().__init__(message)
        self.patterns = patterns
        self.timed_out = timed_out


@dataclass
class RenderBudget:
    """The instant by which the current render must be finished."""

    deadline: float

    def check(self) -> None:
        """Raise RenderLimitExceeded once the deadline has passed."""
        if time.monotonic() > self.deadline:
            raise RenderLimitExceeded(
                f"rendering takes longer than {RENDER_SECONDS * 1000:.0f} ms", timed_out=True
            )


_BUDGET: ContextVar[RenderBudget | None] = ContextVar("clarion_render_budget", default=None)


class render_budget:  # noqa: N801 - used like a function: `with render_budget():`
    """Give the renders inside one time budget; an enclosing budget, if any, is kept."""

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float = RENDER_SECONDS) -> None:
        self._seconds = seconds
        self._token: Token[RenderBudget | None] | None = None

    def __enter__(self) -> RenderBudget:
        current = _BUDGET.get()
        if current is not None:
            return current
        budget = RenderBudget(time.monotonic() + self._seconds)
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


def bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` checking the time budget and the size of what it would make and makes."""
    before = _BEFORE.get(name)
    what = f"the filter {name!r}"
    where = (rf"\|\s*{name}\b",)

    @functools.wraps(func)
    def call(value: object, *args: Any, **kwargs: Any) -> Any:
        check_budget()
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


class BoundedRange(RangeLiteral):
    """A range expression refusing more than RANGE_LIMIT items."""

    __slots__ = ()

    def _make_range(self, start: Any, stop: Any) -> range:
        made = super()._make_range(start, stop)
        if len(made) > RANGE_LIMIT:
            raise RenderLimitExceeded(
                f"the range {self} has {len(made)} items, over the {RANGE_LIMIT}-item limit",
                range_patterns(self),
            )
        return made


def literal_range_size(expression: RangeLiteral) -> int | None:
    """The number of items of a range whose ends are literals, else None."""
    if not (isinstance(expression.start, Literal) and isinstance(expression.stop, Literal)):
        return None
    made = RangeLiteral._make_range(expression, expression.start.value, expression.stop.value)
    return len(made)


def range_expressions(template: BoundTemplate) -> Iterator[tuple[int, RangeLiteral]]:
    """Every range expression of a template, with the line of its statement."""
    nodes: list[tuple[int, Any]] = [(1, node) for node in template.tree.statements]
    while nodes:
        _, node = nodes.pop()
        for child in node.children():
            if child.node is not None:
                nodes.append((child.linenum, child.node))
            expressions: list[Expression] = [child.expression] if child.expression else []
            while expressions:
                expression = expressions.pop()
                if isinstance(expression, RangeLiteral):
                    yield child.linenum, expression
                expressions.extend(expression.children())


def bound_ranges(template: BoundTemplate) -> None:
    """Make every range expression of a freshly parsed template a BoundedRange."""
    for _, expression in range_expressions(template):
        expression.__class__ = BoundedRange


class _Checked:
    """A loop's items, checking the time budget at each iteration."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterator[Any]) -> None:
        self._items = items

    def __iter__(self) -> _Checked:
        return self

    def __next__(self) -> Any:
        check_budget()
        return next(self._items)


class BoundedBuffer(LimitedStringIO):
    """An output buffer refusing oversized writes before encoding them, on the time budget."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit)
        self._writes = 0

    def write(self, __s: str) -> int:
        """Write `__s`, unless it is over the remaining room or time is out."""
        if not __s:
            return 0
        # A character is at least one byte: a huge text is refused before encoding it.
        size = len(__s)
        if size <= self.limit - self.size and not __s.isascii():
            size = len(__s.encode("utf-8", "surrogatepass"))
        self.size += size
        if self.size > self.limit:
            raise RenderLimitExceeded(f"the output is over the {OUTPUT_LIMIT}-byte limit of a field")
        self._writes += 1
        if not self._writes & 15:
            check_budget()
        return StringIO.write(self, __s)


class BoundedContext(Context):
    """A render context measuring locals at every depth and timing loops and assignments."""

    __slots__ = ("_sizes",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sizes: dict[str, int] = {}

    def assign(self, key: str, val: Any) -> None:
        """Bind a local, refusing it when the locals grow over the limit."""
        check_budget()
        self.locals[key] = val
        self._sizes[key] = measure(val, LOCALS_LIMIT)
        if self.get_size_of_locals() > LOCALS_LIMIT:
            raise LocalNamespaceLimitError(
                f"the variables assigned are over the {LOCALS_LIMIT}-character limit"
            )

    def get_size_of_locals(self) -> int:
        """The size of the locals, measured at every depth."""
        return sum(self._sizes.values()) + self.local_namespace_size_carry

    @contextmanager
    def loop(self, namespace: Any, forloop: ForLoop) -> Iterator[Context]:
        """Enter a for loop whose iterations check the time budget."""
        forloop.it = _Checked(forloop.it)
        with super().loop(namespace, forloop) as context:
            yield context

    def get_buffer(self, buf: Any = None) -> BoundedBuffer:
        """A buffer for a block, sharing the room left in `buf`."""
        carry = buf.size if isinstance(buf, LimitedStringIO) else 0
        return BoundedBuffer(limit=OUTPUT_LIMIT - carry)


class BoundedTemplate(BoundTemplate):
    """A template rendered with BoundedContext into a BoundedBuffer."""

    context_class = BoundedContext

    def _get_buffer(self) -> BoundedBuffer:
        return BoundedBuffer(limit=OUTPUT_LIMIT)


class BoundedEnvironment(Environment):
    """A Liquid environment whose every construct is bounded (see the module docstring)."""

    loop_iteration_limit = LOOP_LIMIT
    output_stream_limit = OUTPUT_LIMIT
    context_depth_limit = 30
    local_namespace_limit = LOCALS_LIMIT
    template_class = BoundedTemplate

    def setup_tags_and_filters(self) -> None:
        """Register the built-in tags and filters, every filter bounded."""
        super().setup_tags_and_filters()
        for name, func in list(self.filters.items()):
            self.filters[name] = bounded_filter(name, func)


def locate(source: str, line: int, patterns: Sequence[str] = ()) -> tuple[int, int]:
    """Line and column of the first of `patterns` found from `line` on, else of its first markup."""
    starts = [0, *(match.end() for match in re.finditer("\n", source))]
    line = min(max(line, 1), len(starts))
    offset = starts[line - 1]
    found = None
    for pattern in (*patterns, r"\{\{|\{%"):
        found = re.compile(pattern).search(source, offset)
        if found is not None:
            break
    if found is None:
        return line, 1
    at = found.start()
    found_line = source.count("\n", 0, at) + 1
    return found_line, at - starts[found_line - 1] + 1


def literal_range_problems(
    template: BoundTemplate,
) -> Sequence[tuple[int, str, tuple[str, ...]]]:
    """Ranges with literal ends over RANGE_LIMIT, as (line, message, patterns locating it)."""
    problems = []
    for line, expression in range_expressions(template):
        size = literal_range_size(expression)
        if size is not None and size > RANGE_LIMIT:
            message = f"the range {expression} has {size} items, over the {RANGE_LIMIT}-item limit"
            problems.append((line, message, range_patterns(expression)))
    return problems
