"""The client code in docs/clients: the browser code run against a real server, every
snippet's requests checked against the OpenAPI document."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from clarion.api.app import create_app
from clarion.config import Settings
from tests.e2e.test_processes import Emulators, Server, _configure, _created
from tests.e2e.test_processes import emulators as emulators
from tests.e2e.test_processes import server as server
from tests.ops.markdown import ROOT

CLIENTS = ROOT / "docs" / "clients"
WEB = CLIENTS / "web"
NODE = shutil.which("node")

# Each language's string interpolation, replaced by a placeholder segment.
_INTERPOLATION = re.compile(r"\\\([^)]*\)|\$\{[^}]*\}|\$[A-Za-z_]\w*")
_PATH = re.compile(r'["`](?:\$\{[^}]*\})?(/v1/[^"`]*)["`]')
_METHOD = re.compile(r'(?:httpMethod = |method: |call\()"(GET|PUT|POST|DELETE|PATCH)"')
_KEYS = {
    "swift": re.compile(r'(?:"(\w+)":|body\["(\w+)"\] =)'),
    "kt": re.compile(r'\.put\("(\w+)"'),
    "js": re.compile(r"(?:^|[{,]\s*)(\w+)(?::|\s*(?=[,}]))|body\.(\w+) ="),
}
_LITERALS = {
    "swift": re.compile(r'"(\w+)": "([^"\\]*)"'),
    "kt": re.compile(r'\.put\("(\w+)", "([^"$]*)"\)'),
    "js": re.compile(r'(\w+): "([^"$]*)"'),
}


def _openapi() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def _schema(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    for template, operations in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            ref = operations[method.lower()]["requestBody"]["content"]["application/json"]
            name = ref["schema"]["$ref"].rsplit("/", 1)[1]
            schema: dict[str, Any] = spec["components"]["schemas"][name]
            return schema
    raise AssertionError(f"{method} {path}: no such operation in the OpenAPI document")


_FUNCTION = re.compile(r"\n\s*(?:export\s+)?(?:async\s+)?(?:func|fun|function)\s")


def _requests(source: str, language: str) -> list[tuple[str, str, set[str], dict[str, str]]]:
    """(method, path, body keys, literal values) of each request a snippet makes.

    Each function that names an API path makes one request: its method and its body's
    keys are what that function's code names.
    """
    found = []
    for function in _FUNCTION.split(source):
        match = _PATH.search(function)
        if match is None:
            continue
        path = _INTERPOLATION.sub("x", match.group(1))
        methods = _METHOD.findall(function)
        assert methods, f"no method near {path}"
        keys = {
            m if isinstance(m, str) else next(g for g in m if g)
            for m in _KEYS[language].findall(function)
        }
        keys -= {"method", "headers", "body"}
        literals = dict(_LITERALS[language].findall(function))
        found.append((methods[0], path, keys, literals))
    return found


def _check_against_openapi(file: Path, language: str) -> set[str]:
    spec = _openapi()
    checked = set()
    for method, path, keys, literals in _requests(file.read_text(), language):
        schema = _schema(spec, path, method)
        properties = schema["properties"]
        body_keys = keys & set(properties)
        assert set(schema.get("required", [])) <= body_keys, (file.name, path, body_keys)
        unknown = {k for k in keys if k not in properties and k in literals}
        assert not unknown, (file.name, path, unknown)
        for name, value in literals.items():
            if name in properties and "enum" in properties[name]:
                assert value in properties[name]["enum"], (file.name, name, value)
        checked.add(f"{method} {re.sub('x', '{}', path)}")
    return checked


@pytest.mark.parametrize(
    ("file", "language"),
    [
        (CLIENTS / "ios" / "ClarionPush.swift", "swift"),
        (CLIENTS / "android" / "ClarionPush.kt", "kt"),
        (WEB / "clarion-push.js", "js"),
        (WEB / "sw.js", "js"),
    ],
)
def test_snippet_requests_match_the_openapi_document(file: Path, language: str) -> None:
    checked = _check_against_openapi(file, language)
    if file.name == "sw.js":
        assert checked == {"POST /v1/events"}
    elif file.suffix == ".js":
        assert checked == {"PUT /v1/apps/{}/installations/{}"}
    else:
        assert checked == {"PUT /v1/apps/{}/installations/{}", "POST /v1/events"}


def test_snippet_request_shapes_are_really_checked() -> None:
    # A body missing a required field or naming an unknown one is caught.
    broken = '"/v1/events"\nrequest.httpMethod = "POST"\nlet body = ["type": "opened"]\n'
    with pytest.raises(AssertionError):
        _check_against_openapi_text(broken, "swift")
    wrong = '"/v1/apps/\\(a)/installations/\\(i)"\nhttpMethod = "PUT"\n["platform": "iphone"]'
    with pytest.raises(AssertionError):
        _check_against_openapi_text(wrong, "swift")


def _check_against_openapi_text(source: str, language: str) -> None:
    spec = _openapi()
    for method, path, keys, literals in _requests(source, language):
        schema = _schema(spec, path, method)
        properties = schema["properties"]
        assert set(schema.get("required", [])) <= keys & set(properties)
        for name, value in literals.items():
            if name in properties and "enum" in properties[name]:
                assert value in properties[name]["enum"]


_REGISTER = """
import { registerSubscription } from "%(module)s";
const [settings, subscription] = JSON.parse(process.argv[2]);
const answer = await registerSubscription(settings, "web-snippet", subscription, "ann");
console.log(JSON.stringify(answer));
"""

_WORKER = """
const fs = require("fs"), vm = require("vm");
const [query, payload] = JSON.parse(process.argv[2]);
const handlers = {}, shown = [], opened = [];
const self = {
  location: { href: "https://shop.example/sw.js?" + query },
  addEventListener: (type, handler) => { handlers[type] = handler; },
  registration: { showNotification: async (title, options) => { shown.push({ title, options }); } },
  clients: { openWindow: async (url) => { opened.push(url); } },
};
vm.runInNewContext(fs.readFileSync("%(worker)s", "utf8"),
  { self, fetch, URL, Object, Promise, Date, JSON, console });
(async () => {
  let waits = [];
  handlers.push({ data: { json: () => payload }, waitUntil: (p) => waits.push(p) });
  await Promise.all(waits);
  waits = [];
  const notification = { data: shown[0].options.data, close: () => {} };
  handlers.notificationclick({ notification, waitUntil: (p) => waits.push(p) });
  await Promise.all(waits);
  console.log(JSON.stringify({ shown, opened }));
})();
"""


def _node(script: str, argument: Any, suffix: str, tmp_path: Path) -> Any:
    assert NODE is not None
    path = tmp_path / f"harness{suffix}"
    path.write_text(script)
    done = subprocess.run(
        [NODE, str(path), json.dumps(argument)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(NODE is None, reason="needs node")
def test_browser_code_registers_shows_and_reports_against_a_real_server(
    server: Server, emulators: Emulators, tmp_path: Path
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as api, emulators.client() as control:
        app_id, key = _configure(api, server, emulators)
        headers = {"Authorization": f"Bearer {key}"}
        registry = _created(
            api.post(
                "/v1/keys", json={"scopes": ["registry"], "app_ids": [app_id]}, headers=headers
            )
        )["key"]
        vapid = _created(api.get(f"/v1/apps/{app_id}/providers/webpush", headers=headers))
        public_key = _created(api.get(f"/v1/apps/{app_id}", headers=headers))["public_key"]
        # The browser's push service: a subscription bound to the app's VAPID key.
        subscription = _created(
            control.post(
                emulators.urls["webpush"] + "/_emulator/subscriptions",
                json={"application_server_key": vapid["public_key"]},
            )
        )
        settings = {"clarionUrl": server.url, "appId": app_id, "registryKey": registry}
        module = (WEB / "clarion-push.js").as_uri()
        registered = _node(
            _REGISTER % {"module": module}, [settings, subscription], ".mjs", tmp_path
        )
        assert registered["installation_id"] == "web-snippet" and registered["platform"] == "web"
        assert registered["external_id"] == "ann"

        body = {
            "recipients": {"installation_ids": ["web-snippet"]},
            "content": {
                "title": "Hello",
                "body": "From the snippet",
                "deeplink": "https://shop.example/orders/1",
                "data": {"send_id": "{{ current.send_id }}"},
            },
        }
        send_id = _created(api.post("/v1/sends", json=body, headers=headers))["id"]
        deadline = time.monotonic() + 20
        while _created(api.get(f"/v1/sends/{send_id}", headers=headers))["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        received = _created(control.get(emulators.urls["webpush"] + "/_emulator/deliveries"))
        payload = received["deliveries"][-1]["payload"]

        query = f"clarionUrl={server.url}&appPublicKey={public_key}&installationId=web-snippet"
        worker = _node(_WORKER % {"worker": WEB / "sw.js"}, [query, payload], ".cjs", tmp_path)
        assert worker["shown"][0]["title"] == "Hello"
        assert worker["shown"][0]["options"]["body"] == "From the snippet"
        assert worker["opened"] == ["https://shop.example/orders/1"]
        counts = _created(api.get(f"/v1/sends/{send_id}", headers=headers))["counts"]
        assert counts["clicked"] == 1, counts
