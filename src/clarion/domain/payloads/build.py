"""One entry point that builds a provider request for any platform and enforces its limit."""

from __future__ import annotations

from collections.abc import Callable

from clarion.domain.limits import BuiltPayload, check_size, fit_body
from clarion.domain.message import Content, Options
from clarion.domain.payloads.apns import build_apns
from clarion.domain.payloads.fcm import build_fcm
from clarion.domain.payloads.webpush import build_webpush
from clarion.domain.vocabulary import Provider


def build_payload(
    platform: Provider,
    content: Content,
    options: Options,
    target: str,
    *,
    badge_count: int | None = None,
    now: float | None = None,
) -> tuple[Content, BuiltPayload]:
    """Build the request for `platform` and return it with the content actually sent.

    `target` is the APNs topic, the FCM registration token, or ignored for Web Push
    (the endpoint is the transport's business). Over the limit, the body is shortened
    when `options.truncate_body` is set, otherwise PAYLOAD_TOO_LARGE is raised.
    """
    build: Callable[[Content], BuiltPayload]
    if platform == Provider.APNS:

        def build(candidate: Content) -> BuiltPayload:
            """Build the request for one candidate content."""
            return build_apns(candidate, options, target, badge_count=badge_count, now=now)

    elif platform == Provider.FCM:

        def build(candidate: Content) -> BuiltPayload:
            """Build the request for one candidate content."""
            return build_fcm(candidate, options, target, badge_count=badge_count, now=now)

    else:

        def build(candidate: Content) -> BuiltPayload:
            """Build the request for one candidate content."""
            return build_webpush(candidate, options)

    if options.truncate_body:
        return fit_body(content, build)
    payload = build(content)
    check_size(payload)
    return content, payload
