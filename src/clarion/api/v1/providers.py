"""Provider credentials of an app: APNs, FCM and Web Push (VAPID)."""

from __future__ import annotations

import base64
import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import APIRouter, Depends, Response
from pydantic import AfterValidator, Field, StringConstraints, field_validator

from clarion.api.auth import ProjectContext, project_scope, resolve_app
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import ApiError, not_found
from clarion.api.outbound import check_outbound_url
from clarion.api.state import AppState, get_state
from clarion.api.v1.validators import StrictModel
from clarion.domain.safe_input import HeaderValue, UnsafeInput, loads_checked
from clarion.domain.vocabulary import PUSH_PROVIDERS, ErrorCode, Provider
from clarion.store import apps as app_store

router = APIRouter(tags=["providers"], route_class=CheckedRoute)

PROVIDERS = PUSH_PROVIDERS


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https URL")
    return value.rstrip("/")


_FCM_PROJECT = re.compile(r"[A-Za-z0-9._:-]{1,128}")
HttpsUrl = Annotated[str, StringConstraints(max_length=500), AfterValidator(_https_url)]
Pem = Annotated[str, StringConstraints(min_length=1, max_length=20000)]


def _load_private_key(pem: str) -> Any:
    try:
        return serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("is not an unencrypted PEM private key") from exc


class ApnsIn(StrictModel):
    """APNs credentials: a .p8 signing key (token auth) or a TLS certificate."""

    auth_type: Literal["token", "certificate"] = "token"
    team_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{10}$")] | None = None
    key_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{10}$")] | None = None
    private_key: Pem | None = None
    certificate: Pem | None = None
    # Sent as the apns-topic header.
    topic: Annotated[HeaderValue, StringConstraints(min_length=1, max_length=255)]
    environment: Literal["production", "sandbox"] = "production"
    endpoint: HttpsUrl | None = Field(
        None,
        description="An APNs base URL to send to instead of Apple's (for the emulator, e.g. "
        "https://127.0.0.1:2197); default: Apple's production or sandbox host per environment",
    )

    @field_validator("private_key")
    @classmethod
    def _p8(cls, value: str | None) -> str | None:
        if value is not None:
            key = _load_private_key(value)
            if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                raise ValueError("must be an EC P-256 (.p8) or RSA private key")
        return value

    @field_validator("certificate")
    @classmethod
    def _cert(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                x509.load_pem_x509_certificate(value.encode())
            except ValueError as exc:
                raise ValueError("is not a PEM certificate") from exc
        return value


class FcmIn(StrictModel):
    """FCM HTTP v1 credentials: a Google service account."""

    service_account: dict[str, Any] | str = Field(
        description="The service-account JSON file Google makes (as an object or as text)"
    )
    endpoint: HttpsUrl | None = Field(
        None,
        description="An FCM base URL to send to instead of Google's (for the emulator); "
        "default https://fcm.googleapis.com",
    )
    token_uri: HttpsUrl | None = Field(
        None, description="The OAuth token URL; default: the service account's `token_uri`"
    )

    @field_validator("service_account")
    @classmethod
    def _account(cls, value: dict[str, Any] | str) -> dict[str, Any]:
        if isinstance(value, str):
            try:
                value = loads_checked(value, "service_account")
            except json.JSONDecodeError as exc:
                raise ValueError("is not a JSON document") from exc
            except UnsafeInput as exc:
                raise ValueError(exc.message) from None
            if not isinstance(value, dict):
                raise ValueError("must be a JSON object")
        for field in ("project_id", "client_email", "private_key"):
            if not isinstance(value.get(field), str) or not value[field]:
                raise ValueError(f"lacks `{field}`")
        if value.get("type", "service_account") != "service_account":
            raise ValueError("must be of type service_account")
        # The project id becomes part of the send URL's path.
        if not _FCM_PROJECT.fullmatch(value["project_id"]):
            raise ValueError("project_id must be letters, digits, '.', ':', '_' or '-'")
        if not isinstance(_load_private_key(value["private_key"]), rsa.RSAPrivateKey):
            raise ValueError("private_key must be an RSA key")
        return value


class WebPushIn(StrictModel):
    """Web Push VAPID identity; a key pair is generated when none is given."""

    subject: Annotated[
        str, StringConstraints(pattern=r"^(mailto:.+@.+|https://.+)$", max_length=320)
    ]
    vapid_private_key: Pem | None = None


def apns_documents(body: ApnsIn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split APNs credentials into public fields and sealed secrets."""
    if body.auth_type == "token":
        for field in ("team_id", "key_id", "private_key"):
            if getattr(body, field) is None:
                raise ApiError(
                    400, ErrorCode.MISSING_PARAMETER, f"{field} is required for token auth", field
                )
        secret = {"private_key": body.private_key}
    else:
        if body.certificate is None or body.private_key is None:
            missing = "certificate" if body.certificate is None else "private_key"
            raise ApiError(
                400,
                ErrorCode.MISSING_PARAMETER,
                f"{missing} is required for certificate auth",
                missing,
            )
        secret = {"certificate": body.certificate, "private_key": body.private_key}
    public = body.model_dump(exclude={"private_key", "certificate"})
    return public, secret


def fcm_documents(body: FcmIn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split an FCM service account into public fields and sealed secrets."""
    account = body.service_account
    assert isinstance(account, dict)
    public = {
        "project_id": account["project_id"],
        "client_email": account["client_email"],
        "endpoint": body.endpoint,
        "token_uri": body.token_uri or account.get("token_uri"),
    }
    return public, {"service_account": account}


def webpush_documents(body: WebPushIn) -> tuple[dict[str, Any], dict[str, Any]]:
    """The VAPID identity (generating a key pair when none is given), public and secret halves."""
    if body.vapid_private_key is None:
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        try:
            loaded = _load_private_key(body.vapid_private_key)
        except ValueError as exc:
            raise ApiError(
                400, ErrorCode.MALFORMED_PARAMETER, f"vapid_private_key {exc}", "vapid_private_key"
            ) from exc
        if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(
            loaded.curve, ec.SECP256R1
        ):
            raise ApiError(
                400,
                ErrorCode.MALFORMED_PARAMETER,
                "vapid_private_key must be a P-256 key",
                "vapid_private_key",
            )
        key = loaded
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    public_key = base64.urlsafe_b64encode(point).decode().rstrip("=")
    return {"subject": body.subject, "public_key": public_key}, {"private_key": pem}


def credentials_out(provider: str, row: dict[str, Any]) -> dict[str, Any]:
    """Public view of stored credentials: never any secret."""
    return {
        "provider": provider,
        **row["public_config"],
        "updated_at": row["updated_at"].isoformat(),
    }


async def _store(
    state: AppState,
    context: ProjectContext,
    app_id: str,
    provider: str,
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> dict[str, Any]:
    app = await resolve_app(state, context, app_id)
    public, secret = documents
    async with state.engine.begin() as conn:
        await app_store.put_credentials(conn, state.secrets, app["pk"], provider, public, secret)
        row = await app_store.get_credentials(conn, app["pk"], provider)
    assert row is not None
    return credentials_out(provider, row)


@router.put("/v1/apps/{app_id}/providers/apns")
async def put_apns(
    app_id: str,
    body: ApnsIn,
    context: ProjectContext = project_scope("admin"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Set the app's APNs credentials."""
    check_outbound_url(state.settings.outbound_policy, body.endpoint, "endpoint")
    return await _store(state, context, app_id, Provider.APNS, apns_documents(body))


@router.put("/v1/apps/{app_id}/providers/fcm")
async def put_fcm(
    app_id: str,
    body: FcmIn,
    context: ProjectContext = project_scope("admin"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Set the app's FCM service account."""
    policy = state.settings.outbound_policy
    check_outbound_url(policy, body.endpoint, "endpoint")
    check_outbound_url(policy, body.token_uri, "token_uri")
    assert isinstance(body.service_account, dict)
    if not body.token_uri:
        check_outbound_url(
            policy, body.service_account.get("token_uri"), "service_account.token_uri"
        )
    return await _store(state, context, app_id, Provider.FCM, fcm_documents(body))


@router.put("/v1/apps/{app_id}/providers/webpush")
async def put_webpush(
    app_id: str,
    body: WebPushIn,
    context: ProjectContext = project_scope("admin"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Set the app's VAPID identity; the public key is what browsers subscribe with."""
    return await _store(state, context, app_id, Provider.WEBPUSH, webpush_documents(body))


@router.get("/v1/apps/{app_id}/providers")
async def list_providers(
    app_id: str,
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """List the providers configured for an app (public fields only)."""
    app = await resolve_app(state, context, app_id)
    async with state.engine.connect() as conn:
        rows = await app_store.list_credentials(conn, app["pk"])
    return {"data": [credentials_out(r["provider"], r) for r in rows], "next_cursor": None}


@router.get("/v1/apps/{app_id}/providers/{provider}")
async def get_provider(
    app_id: str,
    provider: str,
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Fetch one provider's public configuration."""
    if provider not in PROVIDERS:
        raise not_found("provider", "provider")
    app = await resolve_app(state, context, app_id)
    async with state.engine.connect() as conn:
        row = await app_store.get_credentials(conn, app["pk"], provider)
    if row is None:
        raise not_found("provider credentials", "provider")
    return credentials_out(provider, row)


@router.delete("/v1/apps/{app_id}/providers/{provider}", status_code=204)
async def delete_provider(
    app_id: str,
    provider: str,
    context: ProjectContext = project_scope("admin"),
    state: AppState = Depends(get_state),
) -> Response:
    """Remove one provider's credentials."""
    app = await resolve_app(state, context, app_id)
    async with state.engine.begin() as conn:
        if provider not in PROVIDERS or not await app_store.delete_credentials(
            conn, app["pk"], provider
        ):
            raise not_found("provider credentials", "provider")
    return Response(status_code=204)
