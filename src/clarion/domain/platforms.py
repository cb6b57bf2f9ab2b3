"""The push platforms Clarion builds payloads for."""

from __future__ import annotations

from typing import Literal

Platform = Literal["apns", "fcm", "webpush"]
