"""A server that cannot verify a provider's certificate says so in its own log."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import httpx

from tests.e2e.processes import ClarionProcess, clean_environment, free_port
from tests.e2e.test_processes import Emulators, Server, _configure, _created
from tests.e2e.test_processes import emulators as emulators


def test_certificate_failure_reaches_the_server_log_once(
    emulators: Emulators, tmp_path: Path
) -> None:
    port = free_port()
    admin = secrets.token_hex(32)
    # The emulators' CA is not given: their certificate cannot be verified.
    env = clean_environment(
        CLARION_PORT=str(port),
        CLARION_ADMIN_KEY=admin,
        CLARION_VAR_DIR=str(tmp_path / "var"),
        CLARION_OUTBOUND_ALLOWLIST="127.0.0.0/8,::1",
    )
    process = ClarionProcess(["serve"], env, tmp_path / "serve.log", tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        process.wait_http_ok(url + "/readyz", seconds=60)
        with httpx.Client(base_url=url, timeout=10) as api:
            app_id, key = _configure(api, Server(process, url, admin), emulators)
            headers = {"Authorization": f"Bearer {key}"}
            for n in range(3):
                _created(
                    api.put(
                        f"/v1/apps/{app_id}/installations/iphone-{n}",
                        json={"platform": "ios", "token": secrets.token_hex(32)},
                        headers=headers,
                    )
                )
            body = {
                "recipients": {"installation_ids": ["iphone-0", "iphone-1", "iphone-2"]},
                "content": {"body": "hi"},
            }
            send_id = _created(api.post("/v1/sends", json=body, headers=headers))["id"]
            deadline = time.monotonic() + 20
            while "CERTIFICATE_VERIFY_FAILED" not in process.output():
                assert time.monotonic() < deadline, process.output()[-3000:]
                time.sleep(0.1)
        lines = [line for line in process.output().splitlines() if "provider failure" in line]
        assert len(lines) == 1, lines
        assert "WARNING clarion.providers.failures" in lines[0]
        assert f"app={app_id}" in lines[0] and f"send={send_id}" in lines[0]
        assert "kind=tls_certificate" in lines[0]
    finally:
        process.stop()
