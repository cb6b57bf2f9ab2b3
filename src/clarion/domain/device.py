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
