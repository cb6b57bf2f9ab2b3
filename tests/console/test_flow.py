"""The console's main path in a real browser: sign in, compose, send, watch it finish, debug."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.console.browser import Demo, Watched, forgive, send_and_wait, sign_in

DOCS_SCREENSHOTS = Path(__file__).parent.parent.parent / "docs" / "console"


def test_the_printed_link_opens_the_console_signed_in_once(fresh: Watched, demo: Demo) -> None:
    page = fresh.page
    page.goto(demo.link)
    assert page.get_by_role("heading", name="Overview").is_visible()
    assert page.get_by_text("demo-app").first.is_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "clarion_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert demo.api_key not in cookie["value"]
    page.goto(demo.link)
    assert page.get_by_text("already used").is_visible()
    forgive(fresh, 410)


def test_a_wrong_key_is_refused_and_sign_out_ends_the_session(fresh: Watched, demo: Demo) -> None:
    page = sign_in(fresh, demo, "clk_0000000000000000_wrong")
    assert page.get_by_role("alert").inner_text() == "This key is not valid."
    forgive(fresh, 401)
    page = sign_in(fresh, demo)
    assert page.get_by_role("heading", name="Overview").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/signin$"))
    page.goto(demo.url + "/sends")
    assert page.url.endswith("/signin")


def test_the_admin_key_chooses_a_project(fresh: Watched, demo: Demo) -> None:
    page = sign_in(fresh, demo, demo.admin_key)
    assert page.get_by_role("heading", name="Choose a project").is_visible()
    page.get_by_label("Project").select_option("demo")
    page.get_by_role("button", name="Open").click()
    assert page.get_by_role("heading", name="Overview").is_visible()
    assert page.get_by_role("link", name="Switch project").is_visible()


def _compose(page: Any, demo: Demo, title: str) -> None:
    page.goto(demo.url + "/compose")
    page.get_by_label("Contact external id").fill("demo-user")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Body", exact=True).fill("Hello {{ contact.external_id }}")
    page.locator("[data-audience-size='3']").wait_for()


def test_compose_previews_each_platform_then_sends_and_the_progress_bar_reaches_done(
    signed: Watched, demo: Demo
) -> None:
    page = signed.page
    _compose(page, demo, "Flash sale")
    live = page.locator("#live")
    live.get_by_text("Hello demo-user").first.wait_for()
    for platform in ("ios · apns", "android · fcm", "web · webpush"):
        assert live.get_by_role("heading", name=re.compile(platform)).is_visible()
    # The exact requests come from the preview route: APNs JSON with the rendered body.
    assert '"body": "Hello demo-user"' in (live.locator("pre.payload").first.text_content() or "")
    page.get_by_role("button", name="Review and send…").click()
    assert page.get_by_text("This will be sent to 3 devices now.").is_visible()
    with demo.api() as api:
        before = len(api.get("/v1/sends", params={"limit": 100}).json()["data"])
    page.get_by_role("button", name="Send to 3 devices").dblclick()
    page.wait_for_url(re.compile(r"/sends/snd_"))
    page.locator("[data-status='done'] progress[value='100']").wait_for(timeout=20_000)
    page.get_by_role("cell", name="sent").first.wait_for()
    assert page.get_by_role("heading", name="Flash sale").is_visible()
    with demo.api() as api:
        assert len(api.get("/v1/sends", params={"limit": 100}).json()["data"]) == before + 1
    page.get_by_label("Token, installation or contact").fill("demo-iphone")
    page.get_by_role("button", name="Search").click()
    trail = page.locator("article.trail")
    assert trail.count() == 1
    assert "HTTP 200" in trail.inner_text()
    page.goto(demo.url + "/sends")
    row = page.get_by_role("row", name=re.compile("Flash sale"))
    assert row.locator("[data-status='done']").is_visible()


def test_the_compose_idempotency_key_sends_a_repeated_confirmation_once(
    signed: Watched, demo: Demo
) -> None:
    page = signed.page
    _compose(page, demo, "Once only")
    page.get_by_role("button", name="Review and send…").click()
    form = page.locator("form[action='/compose/send']")
    fields = {
        name: form.locator(f"input[name='{name}']").input_value()
        for name in ("csrf", "idempotency_key", "document")
    }
    first = page.request.post(demo.url + "/compose/send", form=fields, max_redirects=0)
    second = page.request.post(demo.url + "/compose/send", form=fields, max_redirects=0)
    assert first.status == second.status == 303
    assert first.headers["location"] == second.headers["location"]


def test_the_device_debugger_shows_the_providers_answer_to_a_test_push(
    signed: Watched, demo: Demo
) -> None:
    page = signed.page
    page.goto(demo.url + "/devices?q=demo-user")
    assert page.locator("article.device").count() == 3
    page.get_by_role("button", name="Send a test push to demo-android").click()
    result = page.locator("#test-result")
    result.wait_for()
    assert re.search(r"Provider answer: sent · HTTP 200", result.inner_text())
    assert page.get_by_role("cell", name="demo-android").first.is_visible()


def test_the_template_editor_marks_a_liquid_error_at_its_line_and_column(
    signed: Watched, demo: Demo
) -> None:
    page = signed.page
    page.goto(demo.url + "/templates/new")
    page.get_by_label("Name", exact=True).fill("Welcome")
    page.get_by_label("Title (Liquid)", exact=True).fill("Welcome")
    page.get_by_label("Body (Liquid)").fill("Hi there\nYour code: {% if %}")
    mark = page.locator("#mark[data-line]")
    mark.wait_for()
    assert mark.get_attribute("data-line") == "2"
    assert mark.get_attribute("data-field") == "body"
    assert "Body, line 2, column" in mark.inner_text()
    assert page.get_by_label("Body (Liquid)").get_attribute("aria-invalid") is None  # live only
    page.get_by_label("Body (Liquid)").fill("Hi {{ contact.external_id }}")
    page.get_by_label("Sample contact for the preview").fill("demo-user")
    page.locator("#template-check").get_by_text("Hi demo-user").first.wait_for()
    page.get_by_role("button", name="Save template").click()
    assert page.get_by_text("Saved.").is_visible()


def test_screenshots_of_the_main_pages(signed: Watched, demo: Demo, tmp_path: Path) -> None:
    # The pictures in docs/console are only rewritten on request, so that a test run
    # leaves the working tree as it found it.
    refresh = os.environ.get("CLARION_REFRESH_SCREENSHOTS") == "1"
    shots = DOCS_SCREENSHOTS if refresh else tmp_path
    page = signed.page
    shots.mkdir(parents=True, exist_ok=True)
    send_id = send_and_wait(
        demo,
        {
            "recipients": {"external_ids": ["demo-user"], "all_devices": True},
            "content": {"title": "Your order has shipped", "body": "It arrives Friday."},
        },
    )
    pages = {
        "overview": "/",
        "compose": "/compose?contact=demo-user",
        "sends": "/sends",
        "devices": "/devices?q=demo-user",
        "registry": "/registry",
        "emulators": "/emulators",
    }
    for name, path in pages.items():
        page.goto(demo.url + path)
        if name == "compose":
            page.get_by_label("Title", exact=True).fill("Your order has shipped")
            page.get_by_label("Body", exact=True).fill(
                "Hi {{ contact.external_id }}, it arrives Friday."
            )
            page.locator("#live").get_by_text("it arrives Friday").first.wait_for()
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    page.goto(demo.url + f"/sends/{send_id}")
    page.screenshot(path=str(shots / "send-detail.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(demo.url + "/devices?q=demo-user")
    page.screenshot(path=str(shots / "devices-phone.png"), full_page=True)
    for name in (*pages, "send-detail", "devices-phone"):
        assert (shots / f"{name}.png").stat().st_size > 10_000


def test_a_scheduled_send_is_cancelled_from_the_sends_list(signed: Watched, demo: Demo) -> None:
    with demo.api() as api:
        later = api.post(
            "/v1/sends",
            json={
                "audience": {"all": True},
                "schedule": {"at": (datetime.now(UTC) + timedelta(days=30)).isoformat()},
                "content": {"title": "New year", "body": "Soon"},
            },
        ).json()
    page = signed.page
    page.goto(demo.url + "/sends?status=scheduled")
    page.get_by_role("button", name=f"Cancel send {later['id']}").click()
    page.wait_for_url(re.compile(later["id"]))
    assert page.locator("[data-status='cancelled']").is_visible()


def test_a_segment_count_follows_the_filter_and_a_csv_fills_a_list(
    signed: Watched, demo: Demo, tmp_path: Path
) -> None:
    page = signed.page
    page.goto(demo.url + "/segments")
    page.locator("[data-segment-size]").wait_for()
    page.get_by_label("ios").check()
    page.locator("[data-segment-size='1']").wait_for()
    page.get_by_label("Segment name").fill("iPhones")
    page.get_by_role("button", name="Save segment").click()
    assert page.get_by_role("heading", name=re.compile("iPhones")).is_visible()
    page.goto(demo.url + "/lists")
    page.get_by_label("New list name").fill("Beta testers")
    page.get_by_role("button", name="Create list").click()
    csv_file = tmp_path / "testers.csv"
    csv_file.write_text("external_id,name\ndemo-user,Demo\nnew-1,New\nnew-2,New\n")
    page.get_by_label("CSV of external ids").set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("3 contacts added.").wait_for()
    assert page.get_by_text("3 members").is_visible()


def test_the_overview_charts_the_week_with_labelled_axes(signed: Watched, demo: Demo) -> None:
    send_and_wait(
        demo, {"recipients": {"external_ids": ["demo-user"]}, "content": {"body": "chart"}}
    )
    page = signed.page
    page.goto(demo.url + "/")
    chart = page.get_by_role("img", name=re.compile("Sends per day"))
    assert chart.is_visible()
    assert chart.locator("text").count() >= 12  # 5 y ticks and 7 day labels
    hours = page.get_by_role("img", name=re.compile("Sends per hour"))
    assert hours.locator("text").count() >= 17  # 5 y ticks and 12 hour labels
    assert page.get_by_role("cell", name="ios").first.is_visible()
