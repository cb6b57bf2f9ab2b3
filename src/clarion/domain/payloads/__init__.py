"""Exact provider requests built from one rendered content and its options."""

from __future__ import annotations

from clarion.domain.payloads.apns import ApnsPayload, build_apns
from clarion.domain.payloads.build import build_payload
from clarion.domain.payloads.fcm import FcmPayload, build_fcm
from clarion.domain.payloads.webpush import WebPushPayload, build_webpush

__all__ = [
    "ApnsPayload",
    "FcmPayload",
    "WebPushPayload",
    "build_apns",
    "build_fcm",
    "build_payload",
    "build_webpush",
]
