"""Transactional sends: accept (durably, idempotently), report status and the per-device trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import Field, StringConstraints

from clarion.api.auth import ProjectContext, project_scope
from clarion.api.checked_route import CheckedRoute
from clarion.api.errors import ApiError, not_found
from clarion.api.offload import off_loop
from clarion.api.state import AppState, get_state
from clarion.api.v1.paging import Page
from clarion.api.v1.validators import Slug, StrictModel
from clarion.delivery.pacing import shown_outcome
from clarion.domain.command import canonical_json, parse_send_command
from clarion.domain.message import has_template_markup
from clarion.domain.vocabulary import OPEN_STATUSES, DeliveryOutcome, ErrorCode, SendStatus
from clarion.sending.accept import IdempotencyConflict, accept, canonical_hash
from clarion.sending.media_check import check_media
from clarion.sending.templates import expand_template
from clarion.store import events as event_store
from clarion.store import sends as send_store
from clarion.store.throttling import throttled_count
from clarion.store.types import utcnow

router = APIRouter(tags=["sends"], route_class=CheckedRoute)

MAX_IDEMPOTENCY_KEY_CHARS = 256
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_IDEMPOTENCY_KEY_CHARS)
]


class SendIn(StrictModel):
    """A transactional send: recipients, content (or per-language contents) and options."""

    recipients: dict[str, Any] | None = Field(
        None,
        description="tokens, installation_ids, external_ids, emails, advertising_ids "
        "(10,000 in all), all_devices; or give audience instead",
    )
    audience: dict[str, Any] | None = Field(
        None,
        description='Broadcast: {"all": true} | {"list_id"} | {"segment_id"} | {"filter"}',
    )
    exclude_lists: list[str] | None = Field(
        None, description="Broadcast: contacts in these lists are left out"
    )
    only_last_engaged: bool | None = Field(
        None, description="Broadcast: one device per contact, the most recently engaged"
    )
    schedule: dict[str, Any] | None = Field(
        None,
        description='{"at": UTC instant} (any send); broadcast only: '
        '{"local_time": "09:00", "date", "past_time": send_now|next_day|skip}',
    )
    apps: list[Slug] | None = Field(None, description="Only target installations of these apps")
    content: dict[str, Any] | None = Field(None, description="title, subtitle, body, sound, ...")
    contents: list[dict[str, Any]] | None = Field(
        None, description="Per-language contents; exactly one without language is the fallback"
    )
    options: dict[str, Any] | None = Field(
        None, description="priority, ttl, collapse_key, push_type, sandbox, ..."
    )
    params: dict[str, Any] | None = Field(
        None, description="Custom parameters templates read as {{ params.name }}"
    )
    language: str | None = Field(None, description="Language override for every recipient")
    template_id: str | None = Field(
        None,
        description="Send a template's contents (not with content/contents); "
        "options given here override the template's defaults",
    )
    inbox: dict[str, Any] | None = Field(
        None, description="Store the message in each contact's inbox: {expires_in} seconds"
    )
    inbox_only: bool | None = Field(None, description="Store in the inbox, push nothing")
    sms_fallback: dict[str, Any] | None = Field(
        None, description="{body, sender}: SMS to contacts no push reached (Liquid body)"
    )
    throttle: dict[str, Any] | None = Field(
        None, description="{messages, per_minutes}: at most N deliveries start per M minutes"
    )
    idempotency_key: IdempotencyKey | None = None


#: The counts of a send's answer: every delivery outcome, and the devices that engaged.
COUNT_NAMES: tuple[str, ...] = (*(str(o) for o in DeliveryOutcome), "opened", "clicked")


def send_out(row: dict[str, Any], counts: dict[str, int] | None = None) -> dict[str, Any]:
    """Public representation of a send."""
    out: dict[str, Any] = {
        "id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "created_at": row["created_at"].isoformat(),
        "completed_at": row["completed_at"].isoformat() if row["completed_at"] else None,
        # Why the send ended short (a stage that gave up, an audience gone); null otherwise.
        "error": row.get("error"),
    }
    if counts is not None:
        # Every count is always there, zero or not, so clients read one fixed shape.
        every = dict.fromkeys(COUNT_NAMES, 0) | counts
        # Deliveries end with the outcome `error`; the count of them is `errors`.
        shown = {("errors" if name == "error" else name): value for name, value in every.items()}
        out["counts"] = {"targeted": row["targeted"], **shown}
    if row.get("scheduled_at"):
        out["scheduled_at"] = row["scheduled_at"].isoformat()
    return out


@router.post("/v1/sends", status_code=201)
async def create_send(
    body: SendIn,
    response: Response,
    idempotency_header: IdempotencyKey | None = Header(None, alias="Idempotency-Key"),
    context: ProjectContext = project_scope("send"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Accept a send: it is stored with its planning job before this answers 201."""
    status, answer = await accept_send(body, idempotency_header, context, state)
    response.status_code = status
    return answer


async def accept_send(
    body: SendIn, idempotency_header: str | None, context: ProjectContext, state: AppState
) -> tuple[int, dict[str, Any]]:
    """The work of `create_send`: its status (201, or 200 for a replay) and its answer."""
    key = idempotency_header or body.idempotency_key
    document = body.model_dump(exclude={"idempotency_key"}, exclude_none=True)
    canonical = canonical_json(document)
    expanded, expanded_canonical = document, canonical
    if body.template_id is not None:
        async with state.engine.connect() as conn:
            expanded = await expand_template(conn, context.project_id, document, utcnow())
        expanded_canonical = canonical_json(expanded)
    apps = context.principal.app_ids
    if _without_markup(expanded_canonical):
        command = parse_send_command(expanded, apps, utcnow(), canonical=expanded_canonical)
    else:
        command = await off_loop(parse_send_command, expanded, apps, utcnow())
    await check_media(
        command.message,
        "contents" if "contents" in expanded else "content",
        extra_ca_file=state.settings.extra_ca_file,
        outbound=state.settings.outbound_policy,
    )
    try:
        accepted = await accept(
            state.engine,
            state.queue,
            context.project_id,
            command,
            fingerprint=canonical_hash(canonical),
            idempotency_key=key,
        )
    except IdempotencyConflict as exc:
        raise ApiError(
            409,
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was used for a different request",
            "Idempotency-Key",
        ) from exc
    answer = accepted.to_json()
    if command.broadcast is not None:
        # Counted as it is planned: GET /v1/sends/{id} shows `counts.targeted`.
        answer["recipients"] = None
    return (200 if accepted.replayed else 201), answer


#: Bodies up to this size without template markup are checked on the event loop.
INLINE_PARSE_CHARS = 16_384


def _without_markup(canonical: str) -> bool:
    """Whether a body (as canonical JSON) is small and free of Liquid, so checking it
    cannot take long.

    Trial renders of templates run in the render pool, away from the event loop; a
    plain body (the everyday transactional send) is checked here without the hop.
    """
    return len(canonical) <= INLINE_PARSE_CHARS and not has_template_markup(canonical)


async def _own_send(state: AppState, context: ProjectContext, send_id: str) -> dict[str, Any]:
    async with state.engine.connect() as conn:
        row = await send_store.get_send(conn, send_id)
    if row is None or row["project_id"] != context.project_id:
        raise not_found("send", "send_id")
    return row


@router.get("/v1/sends")
async def list_sends(
    page: Page = Depends(),
    status: str | None = Query(None, max_length=16, description="Only sends with this status"),
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """The project's sends, newest first (counts are on each send's own page)."""
    before = None
    cursor = page.after_str()
    if cursor is not None:
        stamp, _, send_id = cursor.partition("|")
        try:
            before = (datetime.fromisoformat(stamp), send_id)
        except ValueError as exc:
            raise ApiError(
                400, ErrorCode.MALFORMED_PARAMETER, "this cursor was not issued here", "cursor"
            ) from exc
        if before[0].tzinfo is None or not send_id:
            raise ApiError(
                400, ErrorCode.MALFORMED_PARAMETER, "this cursor was not issued here", "cursor"
            )
    async with state.engine.connect() as conn:
        rows = await send_store.list_sends(conn, context.project_id, before, page.limit, status)
    last = f"{rows[-1]['created_at'].isoformat()}|{rows[-1]['id']}" if rows else None
    return page.envelope([send_out(row) for row in rows], last)


@router.get("/v1/sends/{send_id}")
async def get_send(
    send_id: str,
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Status of a send with its delivery counts."""
    row = await _own_send(state, context, send_id)
    async with state.engine.connect() as conn:
        counts = await send_store.outcome_counts(conn, send_id)
        counts |= await event_store.engagement_counts(conn, send_id)
        # Pending deliveries waiting for their throttle window are reported apart.
        counts[DeliveryOutcome.THROTTLED] = await throttled_count(conn, send_id, utcnow())
        counts[DeliveryOutcome.PENDING] -= counts[DeliveryOutcome.THROTTLED]
    return send_out(row, counts)


@router.get("/v1/sends/{send_id}/deliveries")
async def list_deliveries(
    send_id: str,
    page: Page = Depends(),
    outcome: str | None = Query(None, description="Only deliveries with this outcome"),
    context: ProjectContext = project_scope("read"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Per-device trail: token, platform, outcome, provider status and reason, attempts, times."""
    await _own_send(state, context, send_id)
    async with state.engine.connect() as conn:
        rows = await send_store.list_deliveries(
            conn, send_id, page.after_int(), page.limit, outcome
        )
    return page.envelope([delivery_out(r) for r in rows], rows[-1]["id"] if rows else None)


@router.post("/v1/sends/{send_id}/cancel")
async def cancel_send(
    send_id: str,
    context: ProjectContext = project_scope("send"),
    state: AppState = Depends(get_state),
) -> dict[str, Any]:
    """Cancel a send: what has not been handed to a provider yet is not sent."""
    await _own_send(state, context, send_id)
    async with state.engine.begin() as conn:
        moved = await send_store.set_status(
            conn,
            send_id,
            SendStatus.CANCELLED,
            only_from=OPEN_STATUSES,
        )
        if moved:
            await send_store.cancel_pending(conn, send_id)
    if moved:
        await state.queue.cancel_send(send_id)
    async with state.engine.connect() as conn:
        row = await send_store.get_send(conn, send_id)
        counts = await send_store.outcome_counts(conn, send_id)
    assert row is not None
    if not moved:
        raise ApiError(
            409, ErrorCode.SEND_FINISHED, f"the send is already {row['status']}", "send_id"
        )
    return send_out(row, counts)


def delivery_out(row: dict[str, Any]) -> dict[str, Any]:
    """Public representation of one delivery."""

    def iso(name: str) -> str | None:
        value = row[name]
        return value.isoformat() if value else None

    return {
        "id": row["id"],
        "recipient": {"kind": row["recipient_kind"], "value": row["recipient"]},
        "app_id": row["app_id"],
        "installation_id": row["installation_id"],
        "platform": row["platform"],
        "token": row["token"],
        "language": row["language"],
        "outcome": shown_outcome(row, utcnow()),
        "scheduled_at": iso("scheduled_at"),
        "provider_status": row["provider_status"],
        "provider_reason": row["provider_reason"],
        "provider_message_id": row["provider_message_id"],
        "attempts": row["attempts"],
        "created_at": iso("created_at"),
        "first_attempt_at": iso("first_attempt_at"),
        "last_attempt_at": iso("last_attempt_at"),
        "completed_at": iso("completed_at"),
    }
