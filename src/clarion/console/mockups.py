"""What a notification looks like on a device, read from the exact provider request."""

from __future__ import annotations

import json
from typing import Any


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def mockups_of(device: dict[str, Any]) -> dict[str, str]:
    """Title, subtitle, body and image as the device would show them (empty when absent)."""
    request = device.get("request") or {}
    body = request.get("json") if isinstance(request, dict) else None
    if not isinstance(body, dict):
        body = {}
    provider = device.get("provider")
    shown: dict[str, str] = {"title": "", "subtitle": "", "body": "", "image": ""}
    if provider == "apns":
        alert = (body.get("aps") or {}).get("alert")
        if isinstance(alert, dict):
            shown |= {k: _text(alert.get(k)) for k in ("title", "subtitle", "body")}
        else:
            shown["body"] = _text(alert)
    elif provider == "fcm":
        message = body.get("message") or {}
        notification = message.get("notification") or {}
        android = (message.get("android") or {}).get("notification") or {}
        data = message.get("data") or {}
        for name in ("title", "body"):
            shown[name] = _text(android.get(name) or notification.get(name) or data.get(name))
        shown["image"] = _text(notification.get("image") or android.get("image"))
    else:
        payload = body.get("payload") if isinstance(body.get("payload"), dict) else body
        notification = payload.get("notification") if isinstance(payload, dict) else None
        source = notification if isinstance(notification, dict) else payload
        if isinstance(source, dict):
            shown["title"] = _text(source.get("title"))
            shown["body"] = _text(source.get("body"))
            shown["image"] = _text(source.get("image"))
    return shown


def shown_devices(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Preview answers with each request as indented JSON text and its mock-up."""
    for device in devices:
        if "request" in device:
            device["request_text"] = json.dumps(device["request"], indent=2, ensure_ascii=False)
            device["mockup"] = mockups_of(device)
    return devices
