"""The one interface delivery uses to reach a device, whatever its provider."""

from __future__ import annotations

from collections.abc import Mapping
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

    async def close(self) -> None:
        """Close the client's connections."""
        ...
