"""A real `clarion serve --demo` and Debian's chromium, shared by the tests of one module."""

from __future__ import annotations

import re
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import ClarionProcess, clean_environment, free_port

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Demo:
    """The running demo: its base URL, printed sign-in link, demo key and admin key."""

    url: str
    link: str
    api_key: str
    admin_key: str
    process: ClarionProcess

    def api(self, key: str | None = None) -> httpx.Client:
        """An API client with the demo key (or another)."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {key or self.api_key}"},
            timeout=10,
        )


def start_demo(tmp_path: Path) -> Demo:
    """Start `clarion serve --demo` on a free port and read what it prints."""
    port = free_port()
    admin_key = secrets.token_urlsafe(32)
    env = clean_environment(
        CLARION_ADMIN_KEY=admin_key,
        CLARION_VAR_DIR=str(tmp_path / "var"),
        CLARION_SECRET_KEY="console-test-secret",
    )
    process = ClarionProcess(
        ["serve", "--demo", "--port", str(port)], env, tmp_path / "serve.log", tmp_path
    )
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_http_ok(url + "/readyz", seconds=30)
    except BaseException:
        process.stop()
        raise
    output = process.output()
    link = re.search(r"Console:\s+(\S+)", output)
    key = re.search(r"API key:\s+(\S+)", output)
    assert link and key, output
    return Demo(url, link.group(1), key.group(1), admin_key, process)


@dataclass
class Watched:
    """A browser page whose console errors, page errors and dialogs are collected."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def watch(page: Any) -> Watched:
    """Collect every console error, uncaught exception and dialog of a page."""
    watched = Watched(page)
    page.on(
        "console",
        lambda message: watched.errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: watched.errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)
    return watched


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo server for the module."""
    running = start_demo(tmp_path_factory.mktemp("console"))
    yield running
    running.process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module (Debian's, never a downloaded one)."""
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.fail("chromium is missing: `apt-get install -y chromium` (make test does it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def fresh(browser: Any) -> Iterator[Watched]:
    """A page in a new browser context (no cookies); fails the test on any browser error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = watch(context.new_page())
    yield watched
    context.close()
    assert watched.errors == [], watched.errors


def sign_in(watched: Watched, demo: Demo, key: str | None = None) -> Any:
    """Sign in through the form with a key (the demo key by default)."""
    page = watched.page
    page.goto(demo.url + "/signin")
    page.get_by_label("API key").fill(key or demo.api_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


@pytest.fixture
def signed(fresh: Watched, demo: Demo) -> Watched:
    """A page signed in with the demo key."""
    sign_in(fresh, demo)
    return fresh


def forgive(watched: Watched, status: int) -> None:
    """Drop the browser's log line of a refusal the test asked for (and only that one)."""
    line = f"the server responded with a status of {status}"
    watched.errors[:] = [error for error in watched.errors if line not in error]


def send_and_wait(demo: Demo, body: dict[str, Any], seconds: float = 20) -> str:
    """Send through the API and wait until the send is done (its open page would reload)."""
    with demo.api() as api:
        answer = api.post("/v1/sends", json=body)
        assert answer.status_code in (200, 201), answer.text
        send_id = str(answer.json()["id"])
        deadline = time.monotonic() + seconds
        while api.get(f"/v1/sends/{send_id}").json()["status"] != "done":
            assert time.monotonic() < deadline, f"send {send_id} not done"
            time.sleep(0.1)
    return send_id
