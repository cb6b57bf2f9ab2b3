"""The console's pure parts: the compose form, the session cookie, error marks and charts."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from clarion.console.charts import funnel_chart, period_chart
from clarion.console.context import clean
from clarion.console.forms import ComposeForm, FormProblem, send_document
from clarion.console.pages_content import check_template
from clarion.console.session import (
    COOKIE,
    Session,
    new_session,
    read_session,
    write_session,
)
from clarion.store.secrets import SecretBox


def _form(**fields: str) -> ComposeForm:
    return ComposeForm.from_form(FormData(list(fields.items())))


def test_a_compose_form_becomes_the_native_send_body() -> None:
    form = ComposeForm.from_form(
        FormData(
            [
                ("audience", "contact"),
                ("contact", "u1"),
                ("app", "shop"),
                ("title", "Hi"),
                ("body", "Hello"),
                ("language_1", "fr"),
                ("title_1", "Salut"),
                ("priority", "high"),
                ("ttl", "60"),
                ("data", '{"order": 7}'),
                ("when", "at"),
                ("at", "2030-01-02T03:04"),
            ]
        )
    )
    assert send_document(form) == {
        "recipients": {"external_ids": ["u1"], "all_devices": True},
        "apps": ["shop"],
        "schedule": {"at": "2030-01-02T03:04:00+00:00"},
        "contents": [
            {"title": "Hi", "body": "Hello", "data": {"order": 7}},
            {"language": "fr", "title": "Salut"},
        ],
        "options": {"priority": "high", "ttl": 60},
    }


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"audience": "contact"}, "contact"),
        ({"audience": "tokens", "tokens": " \n "}, "tokens"),
        ({"audience": "list"}, "list_id"),
        ({"audience": "elsewhere"}, "audience"),
        ({"audience": "contact", "contact": "u", "data": "[1]"}, "data"),
        ({"audience": "contact", "contact": "u", "ttl": "soon"}, "ttl"),
        ({"audience": "contact", "contact": "u", "when": "local"}, "when"),
        ({"audience": "contact", "contact": "u", "when": "at", "at": "soon"}, "at"),
        ({"audience": "contact", "contact": "u", "title_1": "x"}, "language_1"),
    ],
)
def test_a_compose_form_names_the_field_it_cannot_use(fields: dict[str, str], field: str) -> None:
    with pytest.raises(FormProblem) as caught:
        send_document(_form(**fields))
    assert caught.value.field == field


def _request(cookie: str | None = None) -> Request:
    headers = [(b"cookie", f"{COOKIE}={cookie}".encode())] if cookie else []
    return Request({"type": "http", "headers": headers, "scheme": "http", "path": "/"})


def _cookie_of(session: Session, box: SecretBox) -> str:
    response = Response()
    write_session(response, _request(), box, session)
    header = response.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/" in header
    return header.split(";", 1)[0].split("=", 1)[1]


def test_a_session_reads_back_only_when_sealed_by_this_server_and_fresh() -> None:
    box = SecretBox("one")
    session = new_session("clk_a_b", "demo")
    cookie = _cookie_of(session, box)
    assert "clk_a_b" not in cookie
    assert read_session(_request(cookie), box) == session
    assert read_session(_request(cookie), SecretBox("another")) is None
    assert read_session(_request(cookie[:-2] + "xx"), box) is None
    assert read_session(_request("x" * 5000), box) is None
    old = Session("clk_a_b", "demo", "t", time.time() - 13 * 3600)
    assert read_session(_request(_cookie_of(old, box)), box) is None


def test_a_liquid_error_is_marked_at_its_field_line_and_column() -> None:
    values = {"title": "ok", "subtitle": "", "body": "first\nsecond {{ x | }}"}
    error, mark = check_template(values)
    assert error is not None and mark is not None
    assert (mark["field"], mark["line"]) == ("body", 2)
    assert mark["source"] == "second {{ x | }}"
    assert mark["caret"].endswith("^") and len(mark["caret"]) == mark["column"]
    assert check_template({"title": "fine {{ contact.external_id }}", "body": ""}) == (None, None)


def test_charts_have_an_empty_state_and_labelled_axes() -> None:
    assert funnel_chart([("targeted", 0), ("sent", 0)]).empty
    days = [(datetime(2026, 1, d), {"sent": d, "errors": 0}) for d in range(1, 4)]
    chart = period_chart(days, ("sent", "errors"), "%d %b", "Per day")
    assert not chart.empty
    assert "01 Jan" in chart.svg and 'role="img"' in chart.svg
    assert [f">{tick}</text>" in chart.svg for tick in (0, 1, 2, 3, 4)] == [True] * 5
    assert "03 Jan: sent 3, errors 0" in chart.summary
    assert period_chart([(datetime(2026, 1, 1), {"sent": 0})], ("sent",), "%H", "x").empty
    hostile = funnel_chart([("<script>", 1)])
    assert "<script>" not in hostile.svg and "&lt;script&gt;" in hostile.svg


def test_search_text_loses_control_characters_and_lone_surrogates() -> None:
    assert clean(" a\x00b\r\nc\ud800 ") == "abc?"
