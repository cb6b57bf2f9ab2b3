"""Refusing template bombs before they are stored or sent.

Two checks, both raising RenderLimitError with the field, line and column:
- a range whose ends are literals may not have more items than the range bound,
  wherever it is written (even in a branch no trial reaches);
- every text is rendered once for a recipient without data, with the send's own
  params, under the bounds of delivery. Only a bound hit refuses: any other render
  error (say `divided_by` a missing number) depends on the recipient's data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from clarion.domain.errors import DomainError
from clarion.domain.liquid_env import literal_range_problems, locate
from clarion.domain.liquid_limits import render_budget
from clarion.domain.message import has_template_markup
from clarion.domain.personalize import (
    CompiledContent,
    RenderContext,
    RenderLimitError,
    TemplateCache,
    compile_template,
    map_texts,
)


def _check_text(
    cache: TemplateCache, source: str, path: str | None, context: RenderContext
) -> None:
    if not has_template_markup(source):
        return
    template = cache.template(source, path)
    for line, message, patterns in literal_range_problems(template):
        found_line, column = locate(source, line, patterns)
        raise RenderLimitError(message, path, found_line, column)
    try:
        cache.render(source, context, path)
    except RenderLimitError:
        raise
    except DomainError:
        pass


def check_render_bounds(
    compiled: Sequence[CompiledContent[Any]], params: Mapping[str, Any] | None = None
) -> None:
    """Raise RenderLimitError when a template of these contents is over a bound of rendering."""
    context = RenderContext(params=params or {}, current={"now": datetime.now(UTC).isoformat()})
    for item in compiled:
        cache = item.cache

        def check(source: str, path: str, cache: TemplateCache = cache) -> str:
            """Check one text of the content, returning it unchanged."""
            _check_text(cache, source, path or None, context)
            return source

        with render_budget():
            map_texts(item.content, check, item.field)


def check_template_bounds(
    source: str, field_path: str, params: Mapping[str, Any] | None = None
) -> None:
    """The same checks for a single template text, such as an SMS body."""
    compile_template(source, field_path)
    context = RenderContext(params=params or {}, current={"now": datetime.now(UTC).isoformat()})
    _check_text(TemplateCache(), source, field_path, context)
