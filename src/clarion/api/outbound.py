"""Tenant-chosen URLs checked against the outbound policy when the API receives them."""

from __future__ import annotations

from clarion.api.errors import ApiError
from clarion.domain.vocabulary import ErrorCode
from clarion.providers.outbound import OutboundPolicy, OutboundRefused


def check_outbound_url(policy: OutboundPolicy, url: object, field: str) -> None:
    """Answer 400 naming `field` when the server would refuse to call this URL.

    Only what the URL itself shows is judged here (scheme, address literals, local
    names); names are resolved and judged again on every connection.
    """
    if url is None:
        return
    try:
        policy.check_url(str(url))
    except OutboundRefused as exc:
        raise ApiError(400, ErrorCode.MALFORMED_PARAMETER, f"{field} is {exc}", field) from exc
