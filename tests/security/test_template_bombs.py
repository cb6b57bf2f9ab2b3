"""Template bombs: every construct of a render is bounded, and the API refuses a bomb with
its field and position (400) at preview, send and template save."""

from __future__ import annotations

import resource
import time
from typing import Any

import httpx
import pytest

from clarion.domain.errors import RENDER_FAILED, DomainError
from clarion.domain.message import Content
from clarion.domain.personalize import RenderContext, compile_content, render_content
from tests.conftest import Project, error_of
from tests.delivery_env import DeliveryEnv

# Each bomb is over a bound of rendering yet cheap enough for an unbounded engine to
# finish, so these tests fail (rather than hang) where rendering is not bounded.
A10 = "'aaaaaaaaaa'"
BOMBS: dict[str, tuple[str, str]] = {
    # name: (template, the text at the column the error must name)
    "range join": ("Hi {{ (1..200000) | join: ',' | size }}", "(1..200000)"),
    "range from data": ("{{ (1..params.n) | join: ',' | size }}", "(1..params.n)"),
    "range reversed": ("{% for i in (1..200000) reversed %}{% endfor %}", "(1..200000)"),
    "replace chain": (
        f"{{{{ {A10} | replace: 'a', {A10} | replace: 'a', {A10} | replace: 'a', {A10}"
        f" | replace: 'a', {A10} | replace: 'a', {A10} | size }}}}",
        "| replace",
    ),
    "append chain": (
        "{% assign s = 'xxxxxxxxxxxxxxxx' %}\n"
        "{% for i in (1..17) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}",
        "| append",
    ),
    "join separator": (
        "{% capture sep %}{% for i in (1..800) %}----------{% endfor %}{% endcapture %}"
        "{{ (1..1000) | join: sep | size }}",
        "| join",
    ),
    "array of big strings": (
        "{% capture s %}{% for i in (1..800) %}----------{% endfor %}{% endcapture %}"
        "{% assign one = s | split: '|' %}{% assign many = one %}"
        "{% for i in (1..200) %}{% assign many = many | concat: one %}{% endfor %}"
        "{{ many | size }}",
        "{%",
    ),
    "nested loops": (
        "{% for a in (1..100) %}{% for b in (1..100) %}{% endfor %}{% endfor %}",
        "{%",
    ),
    "huge output": (
        "ok\n{% for a in (1..999) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}"
        "{{ 'abcdefghijklmnopqrstuvwxyz' | upcase }}{{ 'abcdefghijklmnopqrstuvwxyz' }}"
        "{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}",
        "{%",
    ),
    "number squaring": (
        "{% assign x = 7 %}{% for i in (1..30) %}{% assign x = x | times: x %}{% endfor %}",
        "| times",
    ),
    "date of a long text": (
        "{% capture t %}{% for i in (1..900) %}1 {% endfor %}{% endcapture %}\n"
        "{{ t | date: '%Y' }}",
        "| date",
    ),
    "time": (
        "{% capture s %}{% for i in (1..400) %}ab{% endfor %}{% endcapture %}"
        + "{% for i in (1..1000) %}{% assign t = s | upcase | downcase | escape %}{% endfor %}"
        * 40,
        "{%",
    ),
}


def column_of(template: str, text: str) -> tuple[int, int]:
    """The 1-based line and column of the first `text` in `template`."""
    offset = template.index(text)
    return template.count("\n", 0, offset) + 1, offset - (template.rfind("\n", 0, offset) + 1) + 1


def assert_names_position(error: dict[str, Any], field: str, template: str, text: str) -> None:
    """The error is a render limit naming `field` and the line and column of `text`."""
    line, column = column_of(template, text)
    assert error["code"] == RENDER_FAILED, error
    assert error["field"] == field, error
    assert "render limit" in error["message"], error
    assert f"line {line}, column {column}" in error["message"], (error, line, column)


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_every_bomb_stops_fast_small_and_named(name: str) -> None:
    template, located = BOMBS[name]
    compiled = compile_content(Content(title="fine {{ params.n }}", body=template))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(DomainError) as caught:
        render_content(compiled, RenderContext(params={"n": 10_000_000}))
    assert time.monotonic() - started < 0.5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 50_000  # KiB
    error = {"code": caught.value.code, "message": caught.value.message}
    assert_names_position(error | {"field": caught.value.field}, "content.body", template, located)


def test_ordinary_templates_render_within_the_bounds() -> None:
    body = (
        "{% for i in (1..1000) %}{% if forloop.last %}{{ i }}{% endif %}{% endfor %} "
        "{{ (1..10000) | join: ',' | size }} {{ params.word | replace: 'o', '00' }}"
    )
    compiled = compile_content(Content(body=body))
    rendered = render_content(compiled, RenderContext(params={"word": "foo"}))
    assert rendered.body == "1000 48893 f0000"


def test_filters_with_superlinear_work_stay_fast() -> None:
    distinct = "".join(chr(0x4E00 + i) for i in range(20_000))
    body = "{{ params.s | split: '' | uniq | size }} {{ params.s | split: '' | sort | first }}"
    compiled = compile_content(Content(body=body))
    started = time.monotonic()
    rendered = render_content(compiled, RenderContext(params={"s": distinct}))
    assert time.monotonic() - started < 0.3
    assert rendered.body == "20000 \u4e00"


def test_a_send_that_ran_out_of_time_fails_fast_for_its_other_recipients() -> None:
    template, _ = BOMBS["time"]
    compiled = compile_content(Content(body=template))
    with pytest.raises(DomainError):
        render_content(compiled, RenderContext())
    started = time.monotonic()
    for _ in range(50):
        with pytest.raises(DomainError) as caught:
            render_content(compiled, RenderContext())
        assert "render limit" in caught.value.message
    assert time.monotonic() - started < 0.1


async def test_send_and_template_save_refuse_bombs_with_field_and_position(
    client: httpx.AsyncClient, project: Project
) -> None:
    for name, (template, located) in BOMBS.items():
        if name == "time":
            continue  # refused too, but its time budget would make this test slow
        params = {"n": 10_000_000}
        send = {"recipients": {"tokens": ["t"]}, "content": {"body": template}, "params": params}
        answer = await client.post("/v1/sends", json=send, headers=project.headers)
        assert answer.status_code == 400, (name, answer.text)
        assert_names_position(error_of(answer), "content.body", template, located)

        if name == "range from data":
            continue  # a template has no params: this one can only fail at delivery
        contents = [{"language": "fr", "body": "ok"}, {"title": template}]
        created = await client.post(
            "/v1/templates", json={"name": name, "contents": contents}, headers=project.headers
        )
        assert created.status_code == 400, (name, created.text)
        assert_names_position(error_of(created), "contents[1].title", template, located)

    fine = {"name": "fine", "contents": [{"title": "{{ params.n | default: 1 }}"}]}
    created = await client.post("/v1/templates", json=fine, headers=project.headers)
    assert created.status_code == 201, created.text
    url = f"/v1/templates/{created.json()['id']}"
    template, located = BOMBS["replace chain"]
    for method in ("PUT", "PATCH"):
        changed = await client.request(
            method, url, json=fine | {"contents": [{"body": template}]}, headers=project.headers
        )
        assert changed.status_code == 400, changed.text
        assert_names_position(error_of(changed), "contents[0].body", template, located)


async def test_partials_cannot_be_used_to_nest_templates(
    client: httpx.AsyncClient, project: Project
) -> None:
    for tag in ("{% include 'x' %}", "{% render 'x' %}"):
        body = {"name": "partial", "contents": [{"body": "a " + tag}]}
        created = await client.post("/v1/templates", json=body, headers=project.headers)
        assert created.status_code == 400, created.text
        assert error_of(created)["field"] == "contents[0].body"


async def test_preview_refuses_bombs_with_field_and_position(env: DeliveryEnv) -> None:
    await env.ios("bomb-phone")
    recipient = {"app_id": env.app_id, "installation_id": "bomb-phone"}
    for name in ("range join", "replace chain", "huge output", "range from data"):
        template, located = BOMBS[name]
        body = {
            "recipient": recipient,
            "content": {"title": "ok", "body": template},
            "params": {"n": 10_000_000},
        }
        answer = await env.http.post("/v1/sends/preview", json=body, headers=env.headers)
        assert answer.status_code == 400, (name, answer.text)
        assert_names_position(error_of(answer), "content.body", template, located)
