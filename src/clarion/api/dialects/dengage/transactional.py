"""SendTransactionalPush: the request model and its translation into a native send command."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, field_validator

from clarion.api.dialects.dengage.errors import from_domain, validation_error
from clarion.api.dialects.kit import rename_field
from clarion.api.dialects.kit.native import MAX_INBOX_SECONDS, SendCommand, parse_send_command
from clarion.domain.errors import DomainError

Id = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CustomParameter(_Strict):
    """One personalization value, read by templates as `{{ params.<key> }}`."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    value: JsonValue = None


class FallbackChannel(_Strict):
    """SMS sent when the push cannot be delivered: a template or a text, optionally a number."""

    channel: Literal["SMS"]
    templateId: Id | None = None
    message: Annotated[str, StringConstraints(min_length=1, max_length=1600)] | None = None
    phoneNumber: Annotated[str, StringConstraints(min_length=3, max_length=32)] | None = None

    @field_validator("phoneNumber")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            raise ValueError(f"{value!r} is not an international phone number") from None
        if not phonenumbers.is_valid_number(parsed):
            raise ValueError(f"{value!r} is not a valid phone number")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class InboxParams(_Strict):
    """Keep the notification in the contact's inbox until `expireDate`."""

    saveToInbox: bool = True
    expireDate: datetime | None = None
    category: Tag | None = None


class TransactionalPush(_Strict):
    """The SendTransactionalPush body, field names as the platform spells them."""

    appId: Id | None = None
    contactKey: Id | None = None
    templateId: Id
    current: dict[str, JsonValue] = Field(default_factory=dict)
    customParameters: list[CustomParameter] = Field(default_factory=list)
    fallbackChannel: FallbackChannel | None = None
    inboxParams: InboxParams | None = None
    language: Annotated[str, StringConstraints(min_length=1, max_length=35)] | None = None
    sendToAll: bool = False
    tags: Annotated[list[Tag], Field(max_length=50)] = Field(default_factory=list)
    token: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    traceId: Id | None = None

    def check_targeting(self) -> None:
        """Exactly one of contactKey and token; the rules binding appId and sendToAll."""
        if self.contactKey is None and self.token is None:
            raise validation_error("contactKey or token is required", "contactKey")
        if self.contactKey is not None and self.token is not None:
            raise validation_error("give either contactKey or token, not both", "token")
        if self.token is not None and self.sendToAll:
            raise validation_error("sendToAll cannot be used with token", "sendToAll")
        if self.token is not None and self.appId is None:
            raise validation_error("appId is required when sending to a token", "appId")
        if self.fallbackChannel is not None and not (
            self.fallbackChannel.templateId or self.fallbackChannel.message
        ):
            raise validation_error(
                "fallbackChannel needs a templateId or a message", "fallbackChannel.templateId"
            )

    def params(self) -> dict[str, Any]:
        """customParameters as the native send's params."""
        params: dict[str, Any] = {}
        for index, parameter in enumerate(self.customParameters):
            if parameter.key in params:
                raise validation_error(
                    f"custom parameter {parameter.key!r} is given twice",
                    f"customParameters[{index}].key",
                )
            params[parameter.key] = parameter.value
        return params

    def inbox(self, now: datetime) -> dict[str, Any] | None:
        """inboxParams as the native `inbox` option: expireDate becomes seconds from now."""
        if self.inboxParams is None or not self.inboxParams.saveToInbox:
            return None
        expire = self.inboxParams.expireDate
        if expire is None:
            return {}
        if expire.tzinfo is None:
            expire = expire.replace(tzinfo=UTC)
        seconds = math.ceil((expire - now).total_seconds())
        if seconds < 1:
            raise validation_error("expireDate must be in the future", "inboxParams.expireDate")
        # The core keeps inbox items at most a year; a later expireDate is cut to that.
        return {"expires_in": min(seconds, MAX_INBOX_SECONDS)}

    def extras(self) -> dict[str, Any]:
        """The request's dialect-only fields, kept with the send for reporting."""
        return {
            "tags": list(self.tags),
            "fallbackChannel": self.fallbackChannel.model_dump(mode="json")
            if self.fallbackChannel
            else None,
            "inboxParams": self.inboxParams.model_dump(mode="json") if self.inboxParams else None,
        }


#: Native field prefixes and the dengage names they are reported under.
_FIELD_NAMES = (
    ("recipients.tokens", "token"),
    ("recipients.external_ids", "contactKey"),
    ("recipients", "contactKey"),
    ("apps", "appId"),
    ("params", "customParameters"),
    ("language", "language"),
    ("sms_fallback", "fallbackChannel"),
    ("inbox", "inboxParams.expireDate"),
    ("contents", "templateId"),
    ("options", "templateId"),
    ("template_id", "templateId"),
)


def dengage_field(native: str | None) -> str | None:
    """The dengage field name of a native field path."""
    if native is None:
        return None
    return rename_field(native, _FIELD_NAMES, keep_rest=False) or native


def sms_text(push: TransactionalPush, sms_template: dict[str, Any] | None) -> str | None:
    """The fallback SMS body: fallbackChannel.message, else the body of its template.

    A template's body is taken from its default content (the one without language).
    """
    if push.fallbackChannel is None:
        return None
    if push.fallbackChannel.message is not None:
        return push.fallbackChannel.message
    assert sms_template is not None
    contents: list[dict[str, Any]] = sms_template["contents"]
    default = next((c for c in contents if not c.get("language")), contents[0])
    body = default.get("body")
    if not isinstance(body, str) or not body.strip():
        raise validation_error(
            "the fallback template has no body to send as SMS", "fallbackChannel.templateId"
        )
    return body


def build_command(
    push: TransactionalPush,
    template: dict[str, Any],
    allowed_apps: frozenset[str] | None,
    now: datetime,
    sms_template: dict[str, Any] | None = None,
) -> SendCommand:
    """The native command for a validated request, its template and its SMS template.

    The dialect fields the core does not act on ride in the command's `extras` slot.
    """
    recipients: dict[str, Any]
    if push.token is not None:
        recipients = {"tokens": [push.token]}
    else:
        recipients = {"external_ids": [push.contactKey], "all_devices": push.sendToAll}
    document: dict[str, Any] = {
        "recipients": recipients,
        "contents": template["contents"],
        "options": template["options"],
        "params": push.params(),
    }
    if push.appId is not None:
        document["apps"] = [push.appId]
    if push.language is not None:
        document["language"] = push.language
    sms_body = sms_text(push, sms_template)
    if sms_body is not None:
        document["sms_fallback"] = {"body": sms_body}
    inbox = push.inbox(now)
    if inbox is not None:
        document["inbox"] = inbox
    try:
        command = parse_send_command(
            document, allowed_apps, now=now, extras={"dengage": push.extras()}
        )
    except DomainError as exc:
        raise from_domain(exc, dengage_field(exc.field)) from None
    return dataclasses.replace(command, current=dict(push.current))
