"""The native services a dialect hands its translated request to, imported in this one place.

Dialects produce the native send command and leave everything else to the core:
validation of the command, templates, media checks, acceptance. Reaching the core
through this module keeps the dialects independent of where those services live.
"""

from __future__ import annotations

from datetime import UTC, datetime

from clarion.api.dialects.kit.access import Caller
from clarion.api.state import AppState
from clarion.pipeline.accept import AcceptedSend, IdempotencyConflict, accept_send, request_hash
from clarion.pipeline.commands import SendCommand, check_message, parse_send_command
from clarion.pipeline.engagement import MAX_INBOX_SECONDS
from clarion.pipeline.media_check import MB, MediaRule, check_media
from clarion.pipeline.scheduler import accept_broadcast
from clarion.pipeline.templates import template_document
from clarion.pipeline.throttle import MAX_MESSAGES, MAX_PER_MINUTES

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
    store = accept_send if command.broadcast is None else accept_broadcast
    return await store(
        state.engine,
        state.queue,
        caller.project_id,
        command,
        fingerprint=fingerprint,
        idempotency_key=idempotency_key,
    )
