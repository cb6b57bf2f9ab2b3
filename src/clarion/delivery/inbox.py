"""Inbox items of a send: the rendered message kept once per contact."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from clarion.delivery.rendering import Compiled
from clarion.domain.command import SendCommand
from clarion.domain.engagement import InboxSpec
from clarion.domain.language import choose_content
from clarion.domain.message import Content
from clarion.domain.personalize import RenderContext, render_content


def inbox_item(
    project_id: str,
    contact_pk: int,
    send_id: str,
    content: Content,
    spec: InboxSpec,
    now: datetime,
) -> dict[str, Any]:
    """The stored row of one contact's item."""
    expires = now + timedelta(seconds=spec.expires_in) if spec.expires_in else None
    return {
        "project_id": project_id,
        "contact_pk": contact_pk,
        "send_id": send_id,
        "title": content.title,
        "body": content.body,
        "deeplink": str(content.deeplink) if content.deeplink is not None else None,
        "data": dict(content.data),
        "created_at": now,
        "expires_at": expires,
        "read_at": None,
    }


def render_for_contact(
    command: SendCommand,
    compiled: Compiled,
    contact: Mapping[str, Any],
    send_id: str,
    now: datetime,
) -> Content:
    """The content a contact without a device sees: its own language, no installation data."""
    chosen = choose_content(compiled, command.language, contact.get("language"), None)
    context = RenderContext(
        contact=dict(contact),
        installation={},
        params=command.params,
        current={"now": now.isoformat(), "send_id": send_id} | command.current,
    )
    return render_content(chosen, context)
