"""What one device receives for a send: language choice, personalization and provider request.

Delivery and preview both call `render_for_device`, so a preview shows exactly
the request a delivery makes (except authentication headers, which the
transports add, and `current.send_id`, which a preview does not have).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from clarion.domain.command import SendCommand
from clarion.domain.device import Device
from clarion.domain.errors import DomainError
from clarion.domain.language import choose_content
from clarion.domain.limits import BuiltPayload
from clarion.domain.message import Content, LocalizedContent
from clarion.domain.payloads.build import build_payload
from clarion.domain.personalize import (
    CompiledContent,
    RenderContext,
    compile_contents,
    render_content,
)
from clarion.domain.vocabulary import ErrorCode, Provider, provider_of

Compiled = tuple[CompiledContent[LocalizedContent], ...]


@dataclass(frozen=True)
class Rendered:
    """The outcome of rendering for one device: language, content sent and provider request."""

    provider: Provider
    language: str | None
    content: Content
    payload: BuiltPayload


class RenderMemo:
    """Requests already built for one batch, reused when nothing in them is per device.

    A send whose contents carry no template markup renders the same for every device
    that gets the same language and provider target (the APNs topic), so a batch
    builds each such request once and changes only the address it goes to.
    """

    def __init__(self, compiled: Compiled) -> None:
        self.reusable = all(len(item.cache) == 0 for item in compiled)
        self._built: dict[tuple[int, Provider, str], Rendered] = {}

    def get(self, key: tuple[int, Provider, str]) -> Rendered | None:
        """The request built earlier in the batch for this key, if any."""
        return self._built.get(key) if self.reusable else None

    def keep(self, key: tuple[int, Provider, str], rendered: Rendered) -> None:
        """Remember a request other devices with the same key may reuse."""
        if self.reusable:
            self._built[key] = rendered


def compile_command(command: SendCommand) -> Compiled:
    """Compile a send's templates once, for all of its devices."""
    return compile_contents(command.message.localized())


def _target(provider: Provider, device: Device, public: Mapping[str, Any]) -> str:
    if provider == Provider.APNS:
        topic = public.get("topic")
        if not topic:
            raise DomainError(ErrorCode.MISSING_TOPIC, "the app's APNs credentials have no topic")
        return str(topic)
    if provider == Provider.FCM:
        return device.token or ""
    return ""


def _context(
    command: SendCommand, device: Device, send_id: str | None, now: datetime
) -> RenderContext:
    contact, installation = device.context_objects()
    current: dict[str, Any] = {"now": now.isoformat()}
    if send_id is not None:
        current["send_id"] = send_id
    return RenderContext(
        contact=contact,
        installation=installation,
        params=command.params,
        current=current | command.current,
    )


def render_for_device(
    command: SendCommand,
    compiled: Compiled,
    device: Device,
    public: Mapping[str, Any],
    *,
    send_id: str | None,
    now: datetime,
    memo: RenderMemo | None = None,
) -> Rendered:
    """Choose the language, personalize and build the provider request for one device.

    Language preference: the send's explicit language, then the contact's, then the
    installation's, then the fallback content. `public` is the app's public provider
    configuration (the APNs topic). Raises DomainError when rendering or the size
    limit fails for this device. With a `memo`, a request that cannot differ between
    devices is built once and reused.
    """
    provider = provider_of(device.platform)
    if provider is None:
        raise DomainError(
            ErrorCode.UNSUPPORTED_PLATFORM, f"no provider for platform {device.platform}"
        )
    chosen = choose_content(compiled, command.language, device.contact_language, device.language)
    target = _target(provider, device, public)
    # An FCM request names its device inside the body: it is never the same twice.
    key = (id(chosen), provider, target) if memo is not None and provider != Provider.FCM else None
    if key is not None and memo is not None:
        built = memo.get(key)
        if built is not None:
            return built
    content = chosen.plain
    if content is None:
        content = render_content(chosen, _context(command, device, send_id, now))
    sent, payload = build_payload(
        provider,
        content,
        command.message.options,
        target,
        now=now.timestamp(),
    )
    rendered = Rendered(provider, chosen.language, sent, payload)
    if key is not None and memo is not None:
        memo.keep(key, rendered)
    return rendered


def provider_request(
    rendered: Rendered, device: Device, public: Mapping[str, Any]
) -> dict[str, Any]:
    """The provider request as a JSON-ready description (authentication headers left out)."""
    payload = rendered.payload
    body = payload.body.decode("utf-8")
    described: dict[str, Any] = {"method": "POST"}
    if rendered.provider == Provider.APNS:
        described["path"] = "/3/device/" + quote(device.token or "", safe="")
        described["headers"] = dict(payload.headers)
    elif rendered.provider == Provider.FCM:
        described["path"] = f"/v1/projects/{public.get('project_id', '')}/messages:send"
        described["headers"] = {"Content-Type": "application/json"}
    else:
        described["url"] = (device.subscription or {}).get("endpoint")
        described["headers"] = dict(payload.headers) | {"Content-Encoding": "aes128gcm"}
        described["encrypted"] = True
    described["body"] = body
    described["json"] = json.loads(body)
    return described
