"""Liquid personalization of every text field: compiled once per send, rendered per recipient.

Rules:
- The context offers four objects: `contact`, `installation`, `params` (the send's
  custom parameters) and `current` (request-time data).
- A missing variable renders as an empty string, never an error; use
  `{{ contact.first_name | default: "there" }}` to supply a fallback.
- An optional text field (title, subtitle, body, deeplink, media and landing texts)
  that renders to only whitespace is dropped, as if it had not been given.
- A template that does not parse, uses an unknown filter or the unavailable
  `include`/`render` tags is refused at compile time with its line and column.
- Keys of custom data are never rendered; string values are, at any depth.
- An error while rendering (for example `divided_by: 0`) raises RENDER_FAILED for
  that recipient only.
- Rendering is bounded (see `liquid_limits`): a render over a bound raises
  RenderLimitError, naming the field and the line and column of the construct. A
  send whose render ran out of time once fails at once for its other recipients:
  its template is a bomb, and retrying it for each recipient would only burn time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from liquid import Environment, Mode, Undefined
from liquid.exceptions import Error as LiquidError
from liquid.exceptions import LiquidSyntaxError, ResourceLimitError
from liquid.template import BoundTemplate
from pydantic import JsonValue

from clarion.domain.errors import MALFORMED_PARAMETER, RENDER_FAILED, DomainError, join_path
from clarion.domain.liquid_env import BoundedEnvironment, bound_ranges, locate
from clarion.domain.liquid_limits import RenderLimitExceeded, render_budget
from clarion.domain.message import (
    Action,
    Content,
    Landing,
    LandingAction,
    LandingContent,
    Media,
    data_key_path,
    has_template_markup,
)

_Content = TypeVar("_Content", bound=Content)
TextMapper = Callable[[str, str], str]

_MARKUP = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_OPENER = re.compile(r"\{\{|\{%")


def _environment() -> Environment:
    env = BoundedEnvironment(tolerance=Mode.STRICT, undefined=Undefined, strict_filters=True)
    # Partials would read other templates: a content is self-contained.
    for tag in ("include", "render"):
        env.tags.pop(tag, None)
    return env


ENVIRONMENT: Final = _environment()


class TemplateSyntaxError(DomainError):
    """A template that cannot be compiled, with its 1-based line and column."""

    def __init__(self, message: str, field: str | None, line: int, column: int) -> None:
        super().__init__(
            MALFORMED_PARAMETER, f"template error at line {line}, column {column}: {message}", field
        )
        self.line = line
        self.column = column


class RenderLimitError(DomainError):
    """A render over a bound (size, loop, output or time), with its 1-based line and column."""

    def __init__(self, message: str, field: str | None, line: int, column: int) -> None:
        super().__init__(
            RENDER_FAILED,
            f"template over a render limit at line {line}, column {column}: {message}",
            field,
        )
        self.line = line
        self.column = column


def limit_error(source: str, exc: ResourceLimitError, field_path: str | None) -> RenderLimitError:
    """The RenderLimitError for a bound `exc` hit while rendering `source`."""
    patterns = exc.patterns if isinstance(exc, RenderLimitExceeded) else ()
    line, column = locate(source, exc.linenum or 1, patterns)
    message = str(exc.args[0]) if exc.args else str(exc)
    return RenderLimitError(message, field_path, line, column)


@dataclass(frozen=True)
class RenderContext:
    """The variables a template may read for one recipient."""

    contact: Mapping[str, Any] = field(default_factory=dict)
    installation: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    current: Mapping[str, Any] = field(default_factory=dict)

    def variables(self) -> dict[str, Any]:
        """The globals handed to Liquid."""
        return {
            "contact": self.contact,
            "installation": self.installation,
            "params": self.params,
            "current": self.current,
        }


def _line_and_column(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _syntax_position(source: str, reported_line: int) -> tuple[int, int]:
    """Locate a syntax error more precisely than Liquid's line number.

    Liquid reports the line of the enclosing text for errors inside `{{ }}`, so each
    output statement is parsed alone first; an unclosed opener is found next; for tag
    errors Liquid's line is right and the column is that of the line's first tag.
    """
    closed_end = 0
    for match in _MARKUP.finditer(source):
        closed_end = match.end()
        if match.group().startswith("{{"):
            try:
                ENVIRONMENT.from_string(match.group())
            except LiquidError:
                return _line_and_column(source, match.start())
    for match in _OPENER.finditer(source, closed_end):
        return _line_and_column(source, match.start())
    line_start = 0
    for _ in range(max(reported_line, 1) - 1):
        line_start = source.find("\n", line_start) + 1
        if line_start == 0:
            return reported_line, 1
    line_end = source.find("\n", line_start)
    text = source[line_start : line_end if line_end >= 0 else len(source)]
    tag = text.find("{%")
    return reported_line, (tag + 1 if tag >= 0 else 1)


def _unknown_filter(template: BoundTemplate, source: str) -> tuple[str, int, int] | None:
    for name, places in template.analyze().filters.items():
        if name in ENVIRONMENT.filters:
            continue
        line = places[0][1] if places else 1
        found = re.search(rf"\|\s*{re.escape(name)}\b", source)
        column = _line_and_column(source, found.start())[1] if found else 1
        return name, line, column
    return None


def compile_template(source: str, field_path: str | None = None) -> BoundTemplate:
    """Parse one template, refusing syntax errors and unknown filters with their position."""
    try:
        template = ENVIRONMENT.from_string(source)
    except LiquidSyntaxError as exc:
        line, column = _syntax_position(source, exc.linenum or 1)
        raise TemplateSyntaxError(str(exc.message or exc), field_path, line, column) from None
    except LiquidError as exc:
        raise TemplateSyntaxError(str(exc), field_path, 1, 1) from None
    except RecursionError:
        raise TemplateSyntaxError("the template nests too deeply", field_path, 1, 1) from None
    bound_ranges(template)
    unknown = _unknown_filter(template, source)
    if unknown is not None:
        name, line, column = unknown
        raise TemplateSyntaxError(f"unknown filter {name!r}", field_path, line, column)
    return template


class TemplateCache:
    """Compiled templates keyed by source text, shared by all recipients of one send."""

    def __init__(self) -> None:
        self._templates: dict[str, BoundTemplate] = {}
        self._timed_out: RenderLimitError | None = None

    def __len__(self) -> int:
        return len(self._templates)

    def compile(self, source: str, field_path: str | None = None) -> str:
        """Compile `source` once (plain text needs nothing) and return it unchanged."""
        if has_template_markup(source) and source not in self._templates:
            self._templates[source] = compile_template(source, field_path)
        return source

    def template(self, source: str, field_path: str | None = None) -> BoundTemplate:
        """The compiled template of `source` (which must contain markup)."""
        template = self._templates.get(source)
        if template is None:
            template = self._templates[source] = compile_template(source, field_path)
        return template

    def render(self, source: str, context: RenderContext, field_path: str | None = None) -> str:
        """Render `source` for one recipient; plain text is returned as is."""
        if not has_template_markup(source):
            return source
        template = self.template(source, field_path)
        if self._timed_out is not None:
            timed_out = self._timed_out
            raise RenderLimitError(timed_out.message, timed_out.field, 1, 1) from None
        with render_budget():
            try:
                rendered: str = template.render(**context.variables())
            except ResourceLimitError as exc:
                error = limit_error(source, exc, field_path)
                if isinstance(exc, RenderLimitExceeded) and exc.timed_out:
                    self._timed_out = error
                raise error from None
            except LiquidError as exc:
                raise DomainError(RENDER_FAILED, f"template failed: {exc}", field_path) from None
            except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
                # Python's own limits, e.g. converting an integer of too many digits.
                message = f"template failed: {type(exc).__name__}: {exc}"
                raise DomainError(RENDER_FAILED, message[:500], field_path) from None
        return rendered


@dataclass(frozen=True)
class CompiledContent(Generic[_Content]):
    """A content whose templates are compiled; render it with `render_content`."""

    content: _Content
    cache: TemplateCache
    field: str | None
    #: What every recipient gets when no text of the content holds markup.
    plain: _Content | None = None

    @property
    def language(self) -> str | None:
        """The language of the compiled content, so `choose_content` can pick among these."""
        return getattr(self.content, "language", None)


def _optional(mapper: TextMapper, value: str | None, path: str | None) -> str | None:
    if value is None:
        return None
    result = mapper(value, path or "")
    return result if result.strip() else None


def _json(mapper: TextMapper, value: JsonValue, path: str | None) -> JsonValue:
    if isinstance(value, str):
        return mapper(value, path or "")
    if isinstance(value, list):
        return [_json(mapper, item, join_path(path, index)) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {
            key: _json(mapper, item, join_path(path, data_key_path(key)))
            for key, item in value.items()
        }
    return value


def _data(mapper: TextMapper, data: dict[str, JsonValue], path: str | None) -> dict[str, JsonValue]:
    return {
        key: _json(mapper, item, join_path(path, data_key_path(key))) for key, item in data.items()
    }


def _media(mapper: TextMapper, media: Media, path: str | None) -> Media:
    if media.is_empty():
        return media
    return media.model_copy(
        update={
            name: _optional(mapper, getattr(media, name), join_path(path, name))
            for name in ("icon", "picture", "audio", "video")
        }
    )


def _action(mapper: TextMapper, action: Action, path: str | None) -> Action:
    return action.model_copy(
        update={
            "label": mapper(action.label, join_path(path, "label") or ""),
            "deeplink": _optional(mapper, action.deeplink, join_path(path, "deeplink")),
        }
    )


def _landing_action(mapper: TextMapper, action: LandingAction, path: str | None) -> LandingAction:
    return action.model_copy(
        update={
            "label": mapper(action.label, join_path(path, "label") or ""),
            "args": _data(mapper, action.args, join_path(path, "args")),
        }
    )


_LANDING_TEXTS: Final = ("header", "title", "body", "image", "image_description")


def _landing_content(mapper: TextMapper, item: LandingContent, path: str | None) -> LandingContent:
    update: dict[str, Any] = {
        name: _optional(mapper, getattr(item, name), join_path(path, name))
        for name in _LANDING_TEXTS
    }
    update["actions"] = tuple(
        _landing_action(mapper, action, join_path(path, "actions", index))
        for index, action in enumerate(item.actions)
    )
    return item.model_copy(update=update)


def _landing(mapper: TextMapper, landing: Landing, path: str | None) -> Landing:
    update: dict[str, Any] = {
        name: _optional(mapper, getattr(landing, name), join_path(path, name))
        for name in (*_LANDING_TEXTS, "webview_url")
    }
    update["actions"] = tuple(
        _landing_action(mapper, action, join_path(path, "actions", index))
        for index, action in enumerate(landing.actions)
    )
    update["contents"] = tuple(
        _landing_content(mapper, item, join_path(path, "contents", index))
        for index, item in enumerate(landing.contents)
    )
    return landing.model_copy(update=update)


def map_texts(content: _Content, mapper: TextMapper, path: str | None = None) -> _Content:
    """Apply `mapper(text, field_path)` to every personalizable text of a content."""
    update: dict[str, Any] = {
        name: _optional(mapper, getattr(content, name), join_path(path, name))
        for name in ("title", "subtitle", "body", "deeplink")
    }
    update["media"] = _media(mapper, content.media, join_path(path, "media"))
    update["data"] = _data(mapper, content.data, join_path(path, "data"))
    update["actions"] = tuple(
        _action(mapper, action, join_path(path, "actions", index))
        for index, action in enumerate(content.actions)
    )
    if content.landing is not None:
        update["landing"] = _landing(mapper, content.landing, join_path(path, "landing"))
    return content.model_copy(update=update)


def _texts(content: Content) -> Iterator[tuple[str, bool]]:
    """Every text `map_texts` visits, with whether it is optional, in no particular order."""
    for name in ("title", "subtitle", "body", "deeplink"):
        value = getattr(content, name)
        if value is not None:
            yield value, True
    media = content.media
    if not media.is_empty():
        for name in ("icon", "picture", "audio", "video"):
            value = getattr(media, name)
            if value is not None:
                yield value, True
    if content.data:
        yield from _json_texts(content.data)
    for action in content.actions:
        yield action.label, False
        if action.deeplink is not None:
            yield action.deeplink, True
    landing = content.landing
    if landing is not None:
        for name in (*_LANDING_TEXTS, "webview_url"):
            value = getattr(landing, name)
            if value is not None:
                yield value, True
        for item in landing.contents:
            for name in _LANDING_TEXTS:
                value = getattr(item, name)
                if value is not None:
                    yield value, True
        for landing_action in (*landing.actions, *(a for c in landing.contents for a in c.actions)):
            yield landing_action.label, False
            yield from _json_texts(landing_action.args)


def _json_texts(value: JsonValue) -> Iterator[tuple[str, bool]]:
    if isinstance(value, str):
        yield value, False
    elif isinstance(value, list):
        for item in value:
            yield from _json_texts(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _json_texts(item)


def _keep_text(source: str, path: str) -> str:
    return source


def compile_content(
    content: _Content, cache: TemplateCache | None = None, field_path: str | None = "content"
) -> CompiledContent[_Content]:
    """Compile every template of a content (raising TemplateSyntaxError with its field)."""
    shared = cache if cache is not None else TemplateCache()
    templated = blank = False
    for text, optional in _texts(content):
        if has_template_markup(text):
            templated = True
            break
        if optional and not text.strip():
            blank = True
    if templated:
        # The full walk names the field of a template that does not compile.
        map_texts(content, shared.compile, field_path)
        return CompiledContent(content, shared, field_path)
    # Without markup every recipient gets the same content, blank optional texts dropped.
    plain = map_texts(content, _keep_text, field_path) if blank else content
    return CompiledContent(content, shared, field_path, plain)


def compile_contents(
    contents: tuple[_Content, ...], field_path: str = "contents"
) -> tuple[CompiledContent[_Content], ...]:
    """Compile all localized contents of a send with one shared cache."""
    cache = TemplateCache()
    return tuple(
        compile_content(content, cache, join_path(field_path, index))
        for index, content in enumerate(contents)
    )


def render_content(compiled: CompiledContent[_Content], context: RenderContext) -> _Content:
    """The content personalized for one recipient."""

    if compiled.plain is not None:
        return compiled.plain

    def render(source: str, path: str) -> str:
        """Render one text of the content for this recipient."""
        return compiled.cache.render(source, context, path or None)

    with render_budget():
        return map_texts(compiled.content, render, compiled.field)
