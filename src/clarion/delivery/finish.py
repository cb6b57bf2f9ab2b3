"""The last phase of a send: inbox items for contacts without devices, then SMS fallback.

A contact gets the fallback SMS (once per send) when the send found no reachable
device for it (no installation, or all invalidated) or when every push delivery to
it failed for good (`undeliverable` or `error`). A contact with any delivery sent,
still waiting, capped or cancelled gets no SMS. Each SMS leaves one row in the trail:
platform `sms`, the phone as token, outcome `sms_fallback` (accepted by the gateway),
`sms_failed` (refused or unreachable) or `sms_no_phone` (the contact has no number).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clarion.config import Settings
from clarion.delivery.inbox import inbox_item, render_for_contact
from clarion.delivery.jobs import finish_job
from clarion.delivery.rendering import compile_command
from clarion.domain.command import SendCommand
from clarion.domain.engagement import Engagement
from clarion.domain.errors import DomainError
from clarion.domain.personalize import RenderContext, TemplateCache
from clarion.domain.vocabulary import FINAL_STATUSES, DeliveryOutcome, Provider, SendStatus
from clarion.providers.result import Outcome
from clarion.providers.sms import SmsClient
from clarion.providers.tls import client_ssl_context
from clarion.queue.models import HandlerResult, Job
from clarion.queue.sql import SqlJobQueue
from clarion.store import inbox as inbox_store
from clarion.store import sends as send_store
from clarion.store.deliveries import insert_delivery
from clarion.store.text import describe, storable
from clarion.store.types import utcnow
from clarion.store.unreached import contacts_by_pk, unreached_contacts

log = logging.getLogger(__name__)

SMS_SENT = "sms_fallback"
SMS_FAILED = "sms_failed"
SMS_NO_PHONE = "sms_no_phone"
DEFAULT_SENDER = "Clarion"
#: Runs of the last phase while the SMS gateway answers with transient errors.
SMS_MAX_ATTEMPTS = 5
MAX_SMS_RETRY_SECONDS = 300.0


@dataclass
class SmsGateway:
    """The HTTP SMS provider fallback messages go through."""

    client: SmsClient
    default_sender: str

    async def close(self) -> None:
        """Close the provider's connections."""
        await self.client.close()


def sms_gateway_from(settings: Settings, extra_ca_file: Path | None = None) -> SmsGateway | None:
    """The gateway configured by CLARION_SMS_URL (None when no SMS provider is set)."""
    if not settings.sms_url:
        return None
    client = SmsClient(
        settings.sms_url,
        settings.sms_api_key or None,
        ssl_context=client_ssl_context(extra_ca_file or settings.extra_ca_file),
    )
    return SmsGateway(client, settings.sms_sender or DEFAULT_SENDER)


async def complete_send(
    conn: AsyncConnection, queue: SqlJobQueue, send_id: str, engagement: Engagement
) -> None:
    """Once no push is waiting: mark the send done, or first run its last phase."""
    if not engagement.needs_finish:
        await send_store.set_status(
            conn, send_id, SendStatus.DONE, only_from=(SendStatus.DELIVERING,)
        )
        return
    send = await send_store.get_send(conn, send_id)
    # While a broadcast is still planning pages, its planner completes it.
    if send is not None and send["status"] == SendStatus.DELIVERING:
        await queue.enqueue(conn, [finish_job(send_id)])


def render_sms(body: str, contact: Mapping[str, Any], command: SendCommand, send_id: str) -> str:
    """The personalized SMS text of one contact."""
    context = RenderContext(
        contact=dict(contact),
        params=command.params,
        current={"now": utcnow().isoformat(), "send_id": send_id} | command.current,
    )
    return TemplateCache().render(body, context, "sms_fallback.body").strip()


def _template_contact(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "external_id": row["external_id"],
        "email": row["email"],
        "phone": row["phone"],
        "language": row["language"],
        "timezone": row["timezone"],
        "attributes": row["attributes"] or {},
    }


class Finisher:
    """Runs the last phase of sends with inbox storage or SMS fallback."""

    def __init__(self, engine: AsyncEngine, queue: SqlJobQueue) -> None:
        self.engine = engine
        self.queue = queue
        self.sms: SmsGateway | None = None

    async def close(self) -> None:
        """Close the SMS provider's connections."""
        if self.sms is not None:
            await self.sms.close()

    async def handle(self, job: Job) -> HandlerResult:
        """Run the last step of the job's send."""
        return await self.run(str(job.payload["send_id"]), job.attempts, job.max_attempts)

    async def run(
        self, send_id: str, attempt: int = 1, max_attempts: int = SMS_MAX_ATTEMPTS
    ) -> HandlerResult:
        """Store inbox items of contacts without devices, text unreached contacts, mark done.

        Each SMS is recorded as soon as the gateway answers, so a rerun texts only the
        contacts still missing. A transient gateway error (429, 5xx, network) asks for a
        rerun later, up to SMS_MAX_ATTEMPTS runs (or the job's own limit, if lower); after
        that it is recorded `sms_failed`. Anything else going wrong for one contact is
        recorded `sms_failed` for that contact alone.
        """
        async with self.engine.connect() as conn:
            send = await send_store.get_send(conn, send_id)
            if send is None or send["status"] in FINAL_STATUSES:
                return HandlerResult.done()
            command = SendCommand.from_document(send["request"])
            deviceless, failed, texted = await unreached_contacts(conn, send["project_id"], send_id)
            failed_contacts = await contacts_by_pk(conn, failed - set(deviceless))
        items = self._inbox_items(send["project_id"], send_id, command, deviceless, utcnow())
        if items:
            await self.queue.writer.write(lambda conn: inbox_store.store_items(conn, items))
        final = attempt >= min(SMS_MAX_ATTEMPTS, max_attempts)
        wait: float | None = None
        if command.engagement.sms_fallback is not None:
            for contact in [*deviceless.values(), *failed_contacts.values()]:
                if contact["external_id"] in texted:
                    continue
                try:
                    row, retry_after = await self._text(send_id, command, contact, final)
                except Exception as exc:
                    log.exception("SMS fallback to contact %s of send %s", contact["pk"], send_id)
                    row, retry_after = _sms_row(send_id, contact), 0.0
                    row |= {
                        "outcome": DeliveryOutcome.SMS_FAILED,
                        "provider_reason": describe(exc, 128),
                    }
                if row is None:
                    wait = max(wait or 0.0, retry_after)
                    continue
                await self.queue.writer.write(partial(insert_delivery, row=row))
        if wait is not None:
            return HandlerResult.retry("SMS gateway unavailable", after=wait)
        await self.queue.writer.write(
            lambda conn: send_store.set_status(
                conn, send_id, SendStatus.DONE, only_from=(SendStatus.DELIVERING,)
            )
        )
        return HandlerResult.done()

    def _inbox_items(
        self,
        project_id: str,
        send_id: str,
        command: SendCommand,
        deviceless: Mapping[int, Mapping[str, Any]],
        now: datetime,
    ) -> list[dict[str, Any]]:
        spec = command.engagement.inbox
        if spec is None or not deviceless:
            return []
        compiled = compile_command(command)
        items = []
        for pk, row in deviceless.items():
            try:
                content = render_for_contact(
                    command, compiled, _template_contact(row), send_id, now
                )
            except DomainError as exc:
                log.warning("inbox item of contact %s: %s", pk, exc.message)
                continue
            except Exception:
                log.exception("inbox item of contact %s of send %s", pk, send_id)
                continue
            items.append(inbox_item(project_id, pk, send_id, content, spec, now))
        return items

    async def _text(
        self, send_id: str, command: SendCommand, contact: Mapping[str, Any], final: bool
    ) -> tuple[dict[str, Any] | None, float]:
        """The trail row of one contact's SMS, or None and a delay when it should be retried."""
        spec = command.engagement.sms_fallback
        assert spec is not None
        now = utcnow()
        row = _sms_row(send_id, contact)
        if not contact["phone"]:
            return row, 0.0
        if self.sms is None:
            row |= {"outcome": DeliveryOutcome.SMS_FAILED, "provider_reason": "SmsNotConfigured"}
            return row, 0.0
        try:
            text = render_sms(spec.body, _template_contact(contact), command, send_id)
        except DomainError as exc:
            row |= {"outcome": DeliveryOutcome.SMS_FAILED, "provider_reason": exc.code}
            return row, 0.0
        result = await self.sms.client.send(
            contact["phone"], spec.sender or self.sms.default_sender, text
        )
        if result.outcome is Outcome.RETRY and not final:
            return None, min(result.retry_after or 1.0, MAX_SMS_RETRY_SECONDS)
        row |= {
            "outcome": DeliveryOutcome.SMS_FALLBACK
            if result.outcome is Outcome.SENT
            else DeliveryOutcome.SMS_FAILED,
            "provider_status": result.status,
            "provider_reason": storable(result.reason or "", 128) or None,
            "provider_message_id": result.provider_message_id,
            "attempts": 1,
            "first_attempt_at": now,
            "last_attempt_at": utcnow(),
        }
        return row, 0.0


def _sms_row(send_id: str, contact: Mapping[str, Any]) -> dict[str, Any]:
    """The trail row of one contact's SMS, as if it had no phone (the caller fills the rest)."""
    now = utcnow()
    return {
        "send_id": send_id,
        "installation_pk": None,
        "app_id": None,
        "installation_id": None,
        # An SMS row names its channel where push rows name the device platform.
        "platform": Provider.SMS,
        "recipient_kind": "external_id",
        "recipient": contact["external_id"],
        "token": contact["phone"],
        "language": None,
        "outcome": DeliveryOutcome.SMS_NO_PHONE,
        "provider_status": None,
        "provider_reason": None,
        "provider_message_id": None,
        "attempts": 0,
        "created_at": now,
        "first_attempt_at": None,
        "last_attempt_at": None,
        "completed_at": now,
    }
