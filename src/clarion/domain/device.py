"""One device as templates and payloads see it: its installation and, if any, its contact."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Device:
    """The facts about one installation (and its contact) that templates and payloads read."""

    platform: str
    installation_id: str
    token: str | None = None
    subscription: dict[str, Any] | None = None
    language: str | None = None
    timezone: str | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    contact: dict[str, Any] | None = None

    @classmethod
    def assembled(
        cls,
        platform: str,
        installation_id: str,
        token: str | None,
        subscription: dict[str, Any] | None,
        language: str | None,
        timezone: str | None,
        tags: list[str],
        attributes: dict[str, Any],
        contact: dict[str, Any] | None,
    ) -> Device:
        """The same Device as the constructor makes, every field given, made faster.

        A delivery makes one per device: the frozen constructor's guarded assignment of
        each field cost more than the rest of turning a row into a device.
        """
        device = object.__new__(cls)
        device.__dict__.update(
            platform=platform,
            installation_id=installation_id,
            token=token,
            subscription=subscription,
            language=language,
            timezone=timezone,
            tags=tags,
            attributes=attributes,
            contact=contact,
        )
        return device

    @property
    def contact_language(self) -> str | None:
        """The contact's language, when the device belongs to a contact that has one."""
        return (self.contact or {}).get("language")

    def context_objects(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The `contact` and `installation` objects templates read."""
        installation = {
            "installation_id": self.installation_id,
            "platform": self.platform,
            "language": self.language,
            "timezone": self.timezone,
            "tags": self.tags,
            "attributes": self.attributes,
        }
        return dict(self.contact or {}), installation
