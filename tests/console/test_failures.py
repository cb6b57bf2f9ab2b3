"""Why a device got no push: a provider refusal made in the emulators, found in the console."""

from __future__ import annotations

import re

from clarion.demo import DEMO_IOS_TOKEN
from tests.console.browser import Demo, Watched


def test_a_refused_device_shows_the_providers_reason_in_the_trail_and_the_debugger(
    signed: Watched, demo: Demo
) -> None:
    page = signed.page
    page.goto(demo.url + "/emulators")
    panel = page.get_by_role("region", name="apns")
    panel.get_by_text("Fault rules in force").click()
    panel.get_by_label("Target (device token)").fill(DEMO_IOS_TOKEN)
    panel.get_by_label("Reason", exact=True).fill("BadDeviceToken")
    panel.get_by_role("button", name="Make this target fail").click()
    page.wait_for_url(re.compile(r"/emulators$"))
    assert "BadDeviceToken" in (panel.locator("pre.payload").text_content() or "")

    page.goto(demo.url + "/devices?q=demo-iphone")
    page.get_by_role("button", name="Send a test push to demo-iphone").click()
    answer = page.locator("#test-result .provider-answer")
    answer.wait_for()
    assert re.search(r"undeliverable · HTTP 400 · reason BadDeviceToken", answer.inner_text())
    assert page.get_by_text(re.compile(r"invalid since .*: BadDeviceToken")).is_visible()

    page.get_by_role("link", name=re.compile(r"^snd_")).first.click()
    trail = page.locator("article.trail")
    assert "BadDeviceToken" in trail.inner_text()
    outcomes = page.get_by_role("row", name=re.compile("ios undeliverable BadDeviceToken"))
    assert outcomes.is_visible()

    page.goto(demo.url + "/emulators")
    page.get_by_role("button", name="Clear the fault rules of apns").click()
    page.wait_for_url(re.compile(r"/emulators$"))
    assert "BadDeviceToken" not in (
        page.get_by_role("region", name="apns").locator("pre.payload").text_content() or ""
    )
