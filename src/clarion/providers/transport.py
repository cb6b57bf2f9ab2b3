"""The one interface delivery uses to reach a device, whatever its provider."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from clarion.domain.limits import BuiltPayload
from clarion.providers.result import DeliveryResult


@dataclass(frozen=True)
class Address:
    """Where one device is reached: a provider token, or a web push subscription."""

    token: str | None = None
    subscription: Mapping[str, Any] | None = None


class Transport(Protocol):
    """A provider client: takes a built request for one device, answers with its outcome."""

    async def deliver(self, address: Address, payload: BuiltPayload) -> DeliveryResult:
        """Send one built request; transport failures come back as results, never raise."""
        ...

    async def deliver_many(
        self, items: Sequence[tuple[Address, BuiltPayload]]
    ) -> list[DeliveryResult | Exception]:
        """Send a batch; one result per item in order, an exception being that item's own."""
        ...

    async def close(self) -> None:
        """Close the client's connections."""
        ...


async def deliver_each(
    transport: Transport, items: Sequence[tuple[Address, BuiltPayload]]
) -> list[DeliveryResult | Exception]:
    """A batch as concurrent single deliveries, for providers without a batch path."""
    answers = await asyncio.gather(
        *(transport.deliver(address, payload) for address, payload in items),
        return_exceptions=True,
    )
    results: list[DeliveryResult | Exception] = []
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, Exception):
            raise answer
        results.append(answer)
    return results
