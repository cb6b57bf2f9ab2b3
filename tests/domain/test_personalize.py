"""Liquid personalization: context objects, missing variables, defaults, errors with position."""

from __future__ import annotations

import pytest

from clarion.domain.errors import MALFORMED_PARAMETER, RENDER_FAILED, DomainError
from clarion.domain.message import Content, LocalizedContent, parse_message
from clarion.domain.personalize import (
    RenderContext,
    TemplateCache,
    TemplateSyntaxError,
    compile_content,
    compile_contents,
    compile_template,
    render_content,
)


def render(content: Content, context: RenderContext) -> Content:
    return render_content(compile_content(content), context)


def test_every_context_object_is_available() -> None:
    content = Content(
        title="Hi {{ contact.first_name }}",
        body="{{ params.count }} items on {{ installation.model }} at {{ current.time }}",
    )
    context = RenderContext(
        contact={"first_name": "Ana"},
        installation={"model": "Pixel"},
        params={"count": 3},
        current={"time": "noon"},
    )
    rendered = render(content, context)
    assert rendered.title == "Hi Ana"
    assert rendered.body == "3 items on Pixel at noon"


def test_missing_variable_renders_empty_and_default_filter_applies() -> None:
    content = Content(
        title="Hi {{ contact.first_name }}!",
        body='Hi {{ contact.first_name | default: "there" }} {{ nothing.at.all }}',
    )
    rendered = render(content, RenderContext())
    assert rendered.title == "Hi !"
    assert rendered.body == "Hi there "


def test_an_optional_field_rendering_blank_is_dropped() -> None:
    content = Content(body="x", deeplink="{{ params.link }}", subtitle="  {{ params.s }} ")
    rendered = render(content, RenderContext())
    assert rendered.deeplink is None
    assert rendered.subtitle is None


def test_every_text_field_is_rendered() -> None:
    message = parse_message(
        {
            "content": {
                "title": "{{ params.v }}",
                "subtitle": "{{ params.v }}",
                "body": "{{ params.v }}",
                "deeplink": "app://{{ params.v }}",
                "media": {
                    "icon": "https://cdn/{{ params.v }}/i.png",
                    "picture": "https://cdn/{{ params.v }}/p.png",
                    "audio": "https://cdn/{{ params.v }}/a.mp3",
                    "video": "https://cdn/{{ params.v }}/v.mp4",
                },
                "data": {
                    "plain": "{{ params.v }}",
                    "nested": {"list": ["{{ params.v }}", 4, {"deep": "{{ params.v }}"}]},
                    "{{ params.v }}": "keys stay",
                },
                "actions": [
                    {"id": "a", "label": "{{ params.v }}", "deeplink": "app://{{ params.v }}"}
                ],
                "landing": {
                    "theme": "{{ params.v }}",
                    "header": "{{ params.v }}",
                    "title": "{{ params.v }}",
                    "body": "{{ params.v }}",
                    "image": "https://cdn/{{ params.v }}",
                    "actions": [{"label": "{{ params.v }}", "args": {"l": "{{ params.v }}"}}],
                    "contents": [{"title": "{{ params.v }}"}],
                },
            }
        }
    )
    rendered = render(message.localized()[0], RenderContext(params={"v": "X"}))
    assert (rendered.title, rendered.subtitle, rendered.body) == ("X", "X", "X")
    assert rendered.deeplink == "app://X"
    assert rendered.media.icon == "https://cdn/X/i.png"
    assert rendered.media.video == "https://cdn/X/v.mp4"
    assert rendered.data == {
        "plain": "X",
        "nested": {"list": ["X", 4, {"deep": "X"}]},
        "{{ params.v }}": "keys stay",
    }
    assert rendered.actions[0].label == "X"
    assert rendered.actions[0].deeplink == "app://X"
    landing = rendered.landing
    assert landing is not None
    assert landing.theme == "{{ params.v }}"  # a theme is a code, not a text
    assert (landing.header, landing.title, landing.body, landing.image) == (
        "X",
        "X",
        "X",
        "https://cdn/X",
    )
    assert landing.actions[0].label == "X"
    assert landing.actions[0].args == {"l": "X"}
    assert landing.contents[0].title == "X"


def test_loops_and_filters_work() -> None:
    content = Content(body="{% for item in params.items %}{{ item | upcase }};{% endfor %}")
    assert render(content, RenderContext(params={"items": ["a", "b"]})).body == "A;B;"


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [
        ("Hello\n  {{ name | }}", 2, 3),
        ("a\nb\n{% if %}x{% endif %}", 3, 1),
        ("a\n\nb {{ x ", 3, 3),
        ("line1\nline2 {% endif %}", 2, 7),
        ("first\n  {{ x | shout }}", 2, 8),
    ],
)
def test_parse_errors_report_line_and_column(source: str, line: int, column: int) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        compile_template(source, "content.body")
    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert error.code == MALFORMED_PARAMETER
    assert error.field == "content.body"
    assert f"line {line}, column {column}" in error.message


def test_compile_names_the_field_of_the_broken_template() -> None:
    contents = (
        LocalizedContent(language="fr", body="ok {{ contact.name }}"),
        LocalizedContent(body="x", data={"k": {"deep": ["fine", "{% if %}"]}}),
    )
    with pytest.raises(DomainError) as caught:
        compile_contents(contents)
    assert caught.value.field == "contents[1].data.k.deep[1]"


def test_partials_are_refused() -> None:
    with pytest.raises(TemplateSyntaxError):
        compile_template('{% include "other" %}')


def test_render_errors_are_reported_not_raised_raw() -> None:
    compiled = compile_content(Content(body="{{ 10 | divided_by: params.zero }}"))
    with pytest.raises(DomainError) as caught:
        render_content(compiled, RenderContext(params={"zero": 0}))
    assert (caught.value.code, caught.value.field) == (RENDER_FAILED, "content.body")


def test_runaway_loops_are_stopped() -> None:
    compiled = compile_content(Content(body="{% for i in (1..100000) %}x{% endfor %}"))
    with pytest.raises(DomainError) as caught:
        render_content(compiled, RenderContext())
    assert caught.value.code == RENDER_FAILED


def test_templates_are_compiled_once_per_source() -> None:
    cache = TemplateCache()
    contents = (
        LocalizedContent(language="fr", title="{{ params.a }}", body="{{ params.a }}"),
        LocalizedContent(title="{{ params.a }}", body="plain text"),
    )
    compiled = compile_contents(contents)
    assert len(compiled[0].cache) == 1
    assert compiled[0].cache is compiled[1].cache
    assert len(cache) == 0


def test_rendering_does_not_change_the_compiled_content() -> None:
    compiled = compile_content(Content(body="{{ params.a }}"))
    first = render_content(compiled, RenderContext(params={"a": "one"}))
    second = render_content(compiled, RenderContext(params={"a": "two"}))
    assert (first.body, second.body, compiled.content.body) == ("one", "two", "{{ params.a }}")


def test_no_html_escaping_of_values() -> None:
    rendered = render(Content(body="{{ params.v }}"), RenderContext(params={"v": "<b>&"}))
    assert rendered.body == "<b>&"


def _full_content(v: str) -> dict[str, object]:
    return {
        "title": v,
        "subtitle": v,
        "body": v,
        "deeplink": f"app://{v}",
        "media": {
            "icon": f"https://cdn/{v}/i.png",
            "picture": f"https://cdn/{v}/p.png",
            "audio": f"https://cdn/{v}/a.mp3",
            "video": f"https://cdn/{v}/v.mp4",
        },
        "data": {"plain": v, "nested": {"list": [v, 4, {"deep": v}]}},
        "actions": [{"id": "a", "label": v, "deeplink": f"app://{v}"}],
        "landing": {
            "theme": "light",
            "header": v,
            "title": v,
            "body": v,
            "image": f"https://cdn/{v}",
            "image_description": v,
            "webview_url": f"https://web/{v}",
            "actions": [{"label": v, "args": {"l": [v]}}],
            "contents": [
                {
                    "header": v,
                    "title": v,
                    "body": v,
                    "image": f"https://cdn/{v}",
                    "image_description": v,
                    "actions": [{"label": v, "args": {"l": v}}],
                }
            ],
        },
    }


def _leaves(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, (*path, index))]
    # A theme is a code, not a text.
    return [path] if isinstance(value, str) and path[-1:] != ("theme",) else []


def _at(document: object, path: tuple[object, ...]) -> object:
    for step in path:
        document = document[step]  # type: ignore[index]
    return document


@pytest.mark.parametrize("path", _leaves(_full_content("p")), ids=str)
def test_a_single_template_anywhere_is_rendered(path: tuple[object, ...]) -> None:
    # Only one text holds markup: the rest of the content is plain, yet this one renders.
    document = _full_content("p")
    parent = _at(document, path[:-1])
    source = str(parent[path[-1]])  # type: ignore[index]
    parent[path[-1]] = source.replace("p", "{{ params.v }}", 1)  # type: ignore[index]
    rendered = render(
        parse_message({"content": document}).localized()[0], RenderContext(params={"v": "X"})
    )
    assert _at(rendered.model_dump(mode="json"), path) == source.replace("p", "X", 1)


def test_plain_content_renders_to_itself_with_blank_optional_texts_dropped() -> None:
    document = _full_content("p")
    document["subtitle"] = "  "
    document["data"] = {"{{ keys }}": "are not rendered", "blank": " "}
    content = parse_message({"content": document}).localized()[0]
    rendered = render(content, RenderContext())
    assert rendered.subtitle is None
    assert rendered.data == {"{{ keys }}": "are not rendered", "blank": " "}
    assert rendered.model_dump(exclude={"subtitle"}) == content.model_dump(exclude={"subtitle"})
    assert render(content.model_copy(update={"subtitle": "s"}), RenderContext()) == (
        content.model_copy(update={"subtitle": "s"})
    )
