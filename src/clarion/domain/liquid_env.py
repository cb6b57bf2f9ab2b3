"""The bounded Liquid environment: ranges, buffers, contexts and filters within the bounds.

See `liquid_limits` for the bounds. Ranges are bounded by giving every range
expression of a parsed template the class BoundedRange (`bound_ranges`); the time
budget is checked at each loop iteration, assignment and every few writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import _GeneratorContextManager
from io import StringIO
from typing import Any, Final

from liquid import Context, Environment
from liquid.builtin.tags.for_tag import ForLoop
from liquid.exceptions import FilterArgumentError, LocalNamespaceLimitError
from liquid.expression import Expression, Literal, RangeLiteral
from liquid.filter import sequence_filter
from liquid.output import LimitedStringIO
from liquid.template import BoundTemplate

from clarion.domain.liquid_limits import (
    CONTEXT_DEPTH_LIMIT,
    LOCALS_LIMIT,
    LOOP_LIMIT,
    OUTPUT_LIMIT,
    RANGE_LIMIT,
    RenderLimitExceeded,
    bounded_filter,
    check_budget,
    measure,
)

# Where in the source a construct over a bound is written, to name its column.
RANGE_PATTERN: Final = r"\(\s*[^()]*?\.\."


def range_patterns(expression: RangeLiteral) -> tuple[str, ...]:
    """Patterns finding this range expression in its source, the most precise first."""
    start, stop = (re.escape(str(end)) for end in (expression.start, expression.stop))
    return rf"\(\s*{start}\s*\.\.\s*{stop}\s*\)", RANGE_PATTERN


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
            raise RenderLimitExceeded(
                f"the output is over the {OUTPUT_LIMIT}-byte limit of a field"
            )
        self._writes += 1
        if not self._writes & 15:
            check_budget()
        return StringIO.write(self, __s)


class BoundedContext(Context):
    """A render context measuring locals at every depth and timing loops and assignments."""

    # The size of each local, made on first assignment: most renders assign nothing.
    __slots__ = ("_sizes",)
    _sizes: dict[str, int]

    def assign(self, key: str, val: Any) -> None:
        """Bind a local, refusing it when the locals grow over the limit."""
        check_budget()
        self.locals[key] = val
        try:
            sizes = self._sizes
        except AttributeError:
            sizes = self._sizes = {}
        sizes[key] = measure(val, LOCALS_LIMIT)
        if self.get_size_of_locals() > LOCALS_LIMIT:
            raise LocalNamespaceLimitError(
                f"the variables assigned are over the {LOCALS_LIMIT}-character limit"
            )

    def get_size_of_locals(self) -> int:
        """The size of the locals, measured at every depth."""
        sizes: dict[str, int] = getattr(self, "_sizes", {})
        return sum(sizes.values()) + self.local_namespace_size_carry

    def loop(self, namespace: Any, forloop: ForLoop) -> _GeneratorContextManager[Context]:
        """Enter a for loop whose iterations check the time budget."""
        forloop.it = _Checked(forloop.it)
        return super().loop(namespace, forloop)

    def get_buffer(self, buf: Any = None) -> BoundedBuffer:
        """A buffer for a block, sharing the room left in `buf`."""
        carry = buf.size if isinstance(buf, LimitedStringIO) else 0
        return BoundedBuffer(limit=OUTPUT_LIMIT - carry)


class BoundedTemplate(BoundTemplate):
    """A template rendered with BoundedContext into a BoundedBuffer."""

    context_class = BoundedContext

    def _get_buffer(self) -> BoundedBuffer:
        return BoundedBuffer(limit=OUTPUT_LIMIT)


_MISSING: Final = object()


def _property(item: Any, key: object) -> object:
    try:
        return item[key]
    except KeyError:
        return _MISSING
    except TypeError as err:
        raise FilterArgumentError(f"can't read property '{key}' of {item}") from err


@sequence_filter
def uniq(sequence: Sequence[Any], key: object = None) -> list[object]:
    """The items of `sequence` without repeats (of `item[key]` when given), first kept.

    Liquid's own `uniq` compares every pair, seconds for a few ten thousand items;
    here hashable values are looked up in a set, and only unhashable ones (objects,
    arrays) are compared pairwise, on the time budget.
    """
    hashable: set[object] = set()
    others: list[object] = []
    kept = []
    for item in sequence:
        value = item if key is None else _property(item, key)
        try:
            if value in hashable:
                continue
            hashable.add(value)
        except TypeError:
            check_budget()
            if value in others:
                continue
            others.append(value)
        kept.append(item)
    return kept


class BoundedEnvironment(Environment):
    """A Liquid environment whose every construct is bounded (see the module docstring)."""

    loop_iteration_limit = LOOP_LIMIT
    output_stream_limit = OUTPUT_LIMIT
    context_depth_limit = CONTEXT_DEPTH_LIMIT
    local_namespace_limit = LOCALS_LIMIT
    template_class = BoundedTemplate

    def setup_tags_and_filters(self) -> None:
        """Register the built-in tags and filters, every filter bounded."""
        super().setup_tags_and_filters()
        self.filters["uniq"] = uniq
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
