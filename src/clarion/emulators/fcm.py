"""The FCM HTTP v1 emulator: OAuth2 token endpoint and `messages:send`, over TLS."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from aiohttp import web

from clarion.emulators.base import HttpsEmulator
from clarion.emulators.control import add_control_routes, json_error, read_json_object
from clarion.emulators.faults import Outcome
from clarion.emulators.fcm_auth import (
    ACCESS_TOKEN_SECONDS,
    GOOGLE_TOKEN_URI,
    FcmCredentials,
    GrantError,
)
from clarion.emulators.fcm_message import Violation, parse_send_request
from clarion.emulators.http_site import reset_connection
from clarion.emulators.records import Delivery
from clarion.emulators.tls import TlsFiles

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"

# errorCode -> (HTTP status, google.rpc status, message) as FCM sends them.
ERROR_CODES: dict[str, tuple[int, str, str]] = {
    "UNSPECIFIED_ERROR": (500, "UNKNOWN", "Unknown error."),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "QUOTA_EXCEEDED": (
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for quota metric 'Send messages' of service 'fcm.googleapis.com'.",
    ),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
}
# Seconds a QUOTA_EXCEEDED answer asks to wait when its rule names none: short, so tests stay quick.
DEFAULT_QUOTA_RETRY_AFTER = 1


def status_for_error_code(code: str) -> int | None:
    """The HTTP status FCM pairs with an errorCode."""
    entry = ERROR_CODES.get(code)
    return None if entry is None else entry[0]


def fcm_error_response(
    status: int,
    rpc_status: str,
    message: str,
    error_code: str | None = None,
    violation: Violation | None = None,
    retry_after: int | None = None,
) -> web.Response:
    """An error in Google's JSON shape, with the FcmError detail when there is an errorCode."""
    details: list[dict[str, Any]] = []
    if error_code is not None:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": error_code})
    if violation is not None:
        details.append(
            {
                "@type": BAD_REQUEST_TYPE,
                "fieldViolations": [
                    {"field": violation.field, "description": violation.description}
                ],
            }
        )
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if details:
        error["details"] = details
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return web.json_response({"error": error}, status=status, headers=headers)


class FcmEmulator(HttpsEmulator):
    """Speaks FCM HTTP v1 and Google's token endpoint on `url` (HTTPS, HTTP/1.1)."""

    def __init__(
        self,
        tls: TlsFiles,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        max_records: int | None = None,
    ) -> None:
        self.credentials = FcmCredentials()
        self._token_projects: dict[str, str] = {}
        super().__init__(tls, host, port, status_for_error_code, seed, max_records)

    @property
    def token_uri(self) -> str:
        """The OAuth2 token endpoint."""
        return f"{self.url}/token"

    def create_service_account(self, project_id: str) -> dict[str, str]:
        """A new service-account JSON dict whose token_uri is this emulator's."""
        return self.credentials.create_service_account(project_id, self.token_uri)

    def register_token(self, token: str, project_id: str) -> None:
        """Bind a registration token to a project; other projects get SENDER_ID_MISMATCH."""
        self._token_projects[token] = project_id

    def unregister_token(self, token: str) -> Outcome:
        """Answer 404 UNREGISTERED for this token from now on."""
        return self.faults.set_outcome(token, "UNREGISTERED")

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        fields = {name: value for name, value in form.items() if isinstance(value, str)}
        audiences = {self.token_uri, f"{request.scheme}://{request.host}/token", GOOGLE_TOKEN_URI}
        result = self.credentials.exchange(fields, audiences)
        if isinstance(result, GrantError):
            return web.json_response(result.to_json(), status=result.status)
        return web.json_response(
            {
                "access_token": result.token,
                "expires_in": ACCESS_TOKEN_SECONDS - 1,
                "token_type": "Bearer",
            }
        )

    async def _send(self, request: web.Request) -> web.StreamResponse:
        if self.faults.pick_reset():
            reset_connection(request)
            return web.Response(status=500)
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)
        project = request.match_info["project"]
        access = self.credentials.check_access(request.headers.get("Authorization"))
        if access is None:
            self.recorder.reject("", 401, "UNAUTHENTICATED")
            return fcm_error_response(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
            )
        if access.project_id != project:
            self.recorder.reject("", 403, "PERMISSION_DENIED")
            return fcm_error_response(
                403,
                "PERMISSION_DENIED",
                "Permission 'cloudmessaging.messages.create' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/projects/{project}' "
                "(or it may not exist).",
            )
        try:
            send = parse_send_request(await request.json())
        except ValueError as error:
            violation = (
                error if isinstance(error, Violation) else Violation("", "Invalid JSON payload")
            )
            self.recorder.reject("", 400, "INVALID_ARGUMENT")
            return fcm_error_response(
                400,
                "INVALID_ARGUMENT",
                f"Invalid value at '{violation.field}': {violation.description}"
                if violation.field
                else violation.description,
                "INVALID_ARGUMENT",
                violation,
            )
        owner = self._token_projects.get(send.target) if send.target_kind == "token" else None
        forced: Outcome | None = None
        if owner is not None and owner != project:
            forced = self.faults.outcome("SENDER_ID_MISMATCH")
        forced = forced or self.faults.pick_outcome(send.target)
        if forced is not None:
            return self._refuse(send.target, forced)
        message_id = f"0:{secrets.randbelow(10**16)}%{secrets.token_hex(8)}"
        name = f"projects/{project}/messages/{message_id}"
        if send.validate_only:
            return web.json_response({"name": f"projects/{project}/messages/fake_message_id"})
        self.recorder.accept(
            Delivery(
                target=send.target,
                headers={},
                body=b"",
                payload=send.message,
                id=name,
                meta={"project": project, "target_kind": send.target_kind},
            )
        )
        return web.json_response({"name": name})

    def _refuse(self, target: str, outcome: Outcome) -> web.Response:
        self.recorder.reject(target, outcome.status, outcome.reason)
        known = ERROR_CODES.get(outcome.reason)
        rpc_status, message = (known[1], known[2]) if known else ("UNKNOWN", outcome.reason)
        retry_after = outcome.retry_after
        if retry_after is None and outcome.reason == "QUOTA_EXCEEDED":
            retry_after = DEFAULT_QUOTA_RETRY_AFTER
        return fcm_error_response(
            outcome.status, rpc_status, message, outcome.reason, retry_after=retry_after
        )

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1/projects/{project}/messages:send", self._send)
        add_control_routes(app, self.recorder, self.faults)

        async def add_account(request: web.Request) -> web.Response:
            doc = await read_json_object(request)
            if isinstance(doc, web.Response):
                return doc
            project_id = doc.get("project_id")
            if not isinstance(project_id, str) or not project_id:
                return json_error(400, "need a project_id string")
            return web.json_response(self.create_service_account(project_id))

        async def add_token(request: web.Request) -> web.Response:
            doc = await read_json_object(request)
            if isinstance(doc, web.Response):
                return doc
            token, project_id = doc.get("token"), doc.get("project_id")
            if not (isinstance(token, str) and isinstance(project_id, str)):
                return json_error(400, "need token and project_id strings")
            self.register_token(token, project_id)
            return web.json_response({"token": token, "project_id": project_id})

        app.router.add_post("/_emulator/service-accounts", add_account)
        app.router.add_post("/_emulator/tokens", add_token)
        return app
