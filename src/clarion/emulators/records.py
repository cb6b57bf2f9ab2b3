"""What an emulator received: accepted deliveries and refused requests."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any


def decode_payload(body: bytes) -> Any:
    """The body as JSON when it parses, else as text, else None (binary)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Delivery:
    """One accepted notification as the emulator received it (web push: decrypted)."""

    target: str
    headers: dict[str, str]
    body: bytes
    payload: Any
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    meta: dict[str, str] = field(default_factory=dict)
    received_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view; binary bodies are given base64url-encoded."""
        view: dict[str, Any] = {
            "id": self.id,
            "target": self.target,
            "headers": self.headers,
            "payload": self.payload,
            "meta": self.meta,
            "received_at": self.received_at,
        }
        if self.payload is None:
            view["body_base64"] = base64.urlsafe_b64encode(self.body).decode()
        return view


@dataclass(frozen=True)
class Rejection:
    """One request the emulator answered with an error."""

    target: str
    status: int
    reason: str
    received_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "target": self.target,
            "status": self.status,
            "reason": self.reason,
            "received_at": self.received_at,
        }


class Recorder:
    """Keeps accepted deliveries and rejections in arrival order, plus running totals.

    With `max_records`, only the newest records are kept (the totals still count all), so a
    long-running emulator under load does not grow without bound.
    """

    def __init__(self, max_records: int | None = None) -> None:
        self.deliveries: list[Delivery] = []
        self.rejections: list[Rejection] = []
        self.accepted_total = 0
        self.rejected_total = 0
        self.max_records = max_records

    def accept(self, delivery: Delivery) -> None:
        """Record an accepted notification."""
        self.accepted_total += 1
        self.deliveries.append(delivery)
        self._trim(self.deliveries)

    def reject(self, target: str, status: int, reason: str) -> None:
        """Record a refused request."""
        self.rejected_total += 1
        self.rejections.append(Rejection(target=target, status=status, reason=reason))
        self._trim(self.rejections)

    def clear(self) -> None:
        """Forget everything recorded so far, totals included."""
        self.deliveries.clear()
        self.rejections.clear()
        self.accepted_total = 0
        self.rejected_total = 0

    def _trim(self, records: list[Delivery] | list[Rejection]) -> None:
        limit = self.max_records
        # Trimming in chunks of a tenth keeps the cost per record constant.
        if limit is not None and len(records) > limit + max(1, limit // 10):
            del records[: len(records) - limit]
