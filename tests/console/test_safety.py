"""What a tenant typed never runs; forms need their token; keys and scopes are respected."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from tests.console.browser import Demo, Watched, send_and_wait, sign_in

HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def _tenant_data_with_markup(demo: Demo) -> str:
    with demo.api() as api:
        template = api.post(
            "/v1/templates", json={"name": HOSTILE, "contents": [{"title": HOSTILE, "body": "x"}]}
        )
        assert template.status_code == 201, template.text
        api.put("/v1/contacts/" + "xss-contact", json={"language": "en"})
    return send_and_wait(
        demo,
        {
            "recipients": {"external_ids": ["demo-user"], "all_devices": True},
            "content": {"title": HOSTILE, "body": HOSTILE},
        },
    )


def test_markup_typed_by_a_tenant_is_shown_as_text_everywhere(signed: Watched, demo: Demo) -> None:
    send_id = _tenant_data_with_markup(demo)
    page = signed.page
    for path in ("/templates", f"/sends/{send_id}", "/sends", "/emulators", "/devices?q=demo-user"):
        page.goto(demo.url + path)
        page.wait_for_load_state("networkidle")
        assert page.locator("main img").count() == 0, path
        assert page.locator("main script").count() == 0, path
    page.goto(demo.url + "/templates")
    assert page.get_by_role("link", name=HOSTILE).is_visible()
    page.goto(demo.url + f"/sends/{send_id}")
    assert page.get_by_role("heading", name=re.compile(re.escape("<img src=x"))).is_visible()
    # The same markup typed into compose renders in the device mock-ups as text.
    page.goto(demo.url + "/compose?contact=demo-user")
    page.get_by_label("Title", exact=True).fill(HOSTILE)
    page.get_by_label("Body", exact=True).fill("body")
    page.locator(".mock-title").first.wait_for()
    assert page.locator(".mock-title").first.inner_text() == HOSTILE
    assert page.locator("#live img").count() == 0
    assert signed.dialogs == []


def test_console_pages_carry_a_policy_without_inline_scripts(demo: Demo) -> None:
    response = httpx.get(demo.url + "/signin")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "form-action 'self'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert "<script>" not in response.text and " style=" not in response.text


def test_forms_without_their_token_are_refused(signed: Watched, demo: Demo) -> None:
    page = signed.page
    refused = page.request.post(demo.url + "/registry/keys", form={"name": "x", "scope": "admin"})
    assert refused.status == 400
    forged = page.request.post(
        demo.url + "/registry/keys", form={"csrf": "forged", "name": "x", "scope": "admin"}
    )
    assert forged.status == 400
    with demo.api() as api:
        names = [key["name"] for key in api.get("/v1/keys").json()["data"]]
    assert "x" not in names
    # Without the sign-in cookie's twin token, the sign-in form is refused too.
    outside = httpx.post(demo.url + "/signin", data={"csrf": "guess", "key": demo.api_key})
    assert outside.status_code == 400


def test_a_tampered_session_cookie_is_not_a_session(fresh: Watched, demo: Demo) -> None:
    page = sign_in(fresh, demo)
    cookie = next(c for c in page.context.cookies() if c["name"] == "clarion_console")
    forged = cookie["value"][:-4] + ("AAAA" if not cookie["value"].endswith("AAAA") else "BBBB")
    answer = httpx.get(
        demo.url + "/sends", cookies={"clarion_console": forged}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"


def test_a_key_is_shown_once_when_created_and_stops_working_when_revoked(
    signed: Watched, demo: Demo
) -> None:
    page = signed.page
    page.goto(demo.url + "/registry")
    page.get_by_label("New key name").fill("ci robot")
    page.get_by_role("button", name="Create key").click()
    shown = page.locator("#new-key").inner_text()
    assert shown.startswith("clk_")
    with httpx.Client(base_url=demo.url, headers={"Authorization": f"Bearer {shown}"}) as api:
        assert api.get("/v1/sends").status_code == 200
    page.goto(demo.url + "/registry")
    assert shown not in page.content()
    key_id = shown.split("_")[1]
    page.get_by_role("button", name=f"Revoke key {key_id}").click()
    page.wait_for_url(re.compile(r"revoked=1"))
    assert signed.dialogs and "Revoke this key" in signed.dialogs[0]
    row = page.get_by_role("row", name=re.compile(key_id))
    assert "revoked" in row.inner_text()
    with httpx.Client(base_url=demo.url, headers={"Authorization": f"Bearer {shown}"}) as api:
        assert api.get("/v1/sends").status_code == 401


def test_a_read_only_key_sees_but_cannot_send_or_manage_keys(fresh: Watched, demo: Demo) -> None:
    with demo.api() as api:
        reader = api.post("/v1/keys", json={"name": "reader", "scopes": ["read"]}).json()["key"]
    page = sign_in(fresh, demo, reader)
    page.goto(demo.url + "/compose")
    assert page.get_by_text("This key may not send").is_visible()
    assert page.get_by_role("button", name="Review and send…").is_disabled()
    page.goto(demo.url + "/registry")
    assert page.get_by_text("Managing keys needs a key with the admin scope").is_visible()
    assert page.get_by_role("button", name="Create key").count() == 0
    page.goto(demo.url + "/devices?q=demo-user")
    assert page.get_by_role("button", name=re.compile("Send a test push")).count() == 0


def test_the_main_pages_fit_a_phone_screen(fresh: Watched, demo: Demo) -> None:
    page = sign_in(fresh, demo)
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", "/compose", "/sends", "/devices?q=demo-user", "/registry", "/templates/new"):
        page.goto(demo.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > 391)
                .slice(0, 5).map(e => e.tagName + '.' + e.className)"""
        )
        assert width <= 390, (path, width, wide)


def test_every_control_has_a_label_and_the_keyboard_reaches_the_main_content(
    signed: Watched, demo: Demo
) -> None:
    page = signed.page
    for path in ("/compose", "/registry", "/segments", "/lists", "/templates/new"):
        page.goto(demo.url + path)
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                .map(e => e.name)"""
        )
        assert unlabelled == [], (path, unlabelled)
    page.goto(demo.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"


def test_provider_credentials_are_uploaded_and_never_shown_back(
    signed: Watched, demo: Demo, tmp_path: Path
) -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        .decode()
    )
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        .decode()
    )
    (tmp_path / "AuthKey.p8").write_text(ec_pem)
    account = {
        "type": "service_account",
        "project_id": "shop-prod",
        "client_email": "push@shop-prod.iam.gserviceaccount.com",
        "private_key": rsa_pem,
    }
    (tmp_path / "account.json").write_text(json.dumps(account))
    page = signed.page
    page.goto(demo.url + "/registry")
    page.get_by_label("New app id").fill("shop")
    page.get_by_label("Name", exact=True).fill("Shop")
    page.get_by_role("button", name="Create app").click()
    app = page.locator("#app-shop")
    app.get_by_text("Upload APNs key (.p8)").click()
    app.get_by_label("Team id").fill("TEAM012345")
    app.get_by_label("Key id").fill("KEY0123456")
    app.get_by_label("Topic (bundle id)").fill("com.example.shop")
    app.get_by_label("Signing key file (.p8)").set_input_files(str(tmp_path / "AuthKey.p8"))
    app.get_by_role("button", name="Save APNs credentials").click()
    app = page.locator("#app-shop")
    app.get_by_text("Upload FCM service account (JSON)").click()
    app.get_by_label("Service-account JSON file").set_input_files(str(tmp_path / "account.json"))
    app.get_by_role("button", name="Save FCM credentials").click()
    app = page.locator("#app-shop")
    app.get_by_text("Web Push: generate VAPID keys").click()
    app.get_by_label("Contact (mailto: or https: URL)").fill("mailto:ops@example.com")
    app.get_by_role("button", name="Generate a VAPID key pair").click()
    table = page.locator("#app-shop table").inner_text()
    assert "KEY0123456" in table and "shop-prod" in table and "public_key" in table
    html = page.content()
    assert "PRIVATE KEY" not in html and ec_pem.splitlines()[1] not in html
    assert rsa_pem.splitlines()[1] not in html
