"""The native services a dialect hands its translated request to, imported in this one place.

Dialects produce the native send command and leave everything else to the core:
validation of the command, templates, media checks, acceptance. Reaching the core
through this module keeps the dialects independent of where those services live.
"""

from __future__ import annotations

from datetime import UTC, datetime

from clarion.api.dialects.kit.access import Caller
from clarion.api.state import AppState
from clarion.domain.command import SendCommand, check_message, parse_send_command
from clarion.domain.engagement import MAX_INBOX_SECONDS
from clarion.domain.throttle import MAX_MESSAGES, MAX_PER_MINUTES
from clarion.sending.accept import AcceptedSend, IdempotencyConflict, request_hash
from clarion.sending.accept import accept as accept_command
from clarion.sending.media_check import MB, MediaRule, check_media
from clarion.sending.templates import template_document

__all__ = [
    "MAX_INBOX_SECONDS",
    "MAX_MESSAGES",
    "MAX_PER_MINUTES",
    "MB",
    "AcceptedSend",
    "IdempotencyConflict",
    "MediaRule",
    "SendCommand",
    "accept",
    "check_media",
    "check_message",
    "parse_send_command",
    "request_hash",
    "template_document",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


async def accept(
    state: AppState,
    caller: Caller,
    command: SendCommand,
    *,
    fingerprint: str,
    idempotency_key: str | None = None,
) -> AcceptedSend:
    """Store the send (a broadcast when the command has an audience) before answering.

    Raises IdempotencyConflict when the key was used for another request.
    """
    return await accept_command(
        state.engine,
        state.queue,
        caller.project_id,
        command,
        fingerprint=fingerprint,
        idempotency_key=idempotency_key,
    )
