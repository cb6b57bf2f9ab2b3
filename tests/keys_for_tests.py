"""Credentials generated on the fly for tests (never real ones)."""

from __future__ import annotations

import base64
import os
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def p8_key() -> str:
    """A fresh APNs-style P-256 signing key in PKCS8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def service_account(project_id: str = "demo-project") -> dict[str, Any]:
    """A fresh Google-style service account document."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": f"sender@{project_id}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def browser_subscription(endpoint: str = "https://push.example.test/sub/1") -> dict[str, Any]:
    """A syntactically valid web push subscription."""
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    b64 = base64.urlsafe_b64encode
    return {
        "endpoint": endpoint,
        "keys": {
            "p256dh": b64(point).decode().rstrip("="),
            "auth": b64(os.urandom(16)).decode().rstrip("="),
        },
    }


APNS_TOKEN = "a" * 64
