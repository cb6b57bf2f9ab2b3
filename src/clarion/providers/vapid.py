"""RFC 8292 VAPID: application server keys and the `Authorization: vapid` header."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from clarion.providers.b64 import b64url_encode

# Push services refuse tokens valid for more than 24 h; 12 h leaves room for clock skew.
TOKEN_LIFETIME_SECONDS = 12 * 3600
# Re-sign once half the lifetime has passed, so a cached token is never near expiry.
REUSE_FOR_SECONDS = TOKEN_LIFETIME_SECONDS / 2


def generate_vapid_keys() -> tuple[str, str]:
    """A new P-256 key pair: (PKCS8 PEM private key, base64url uncompressed public key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    return private_pem, public_key_b64(key)


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """The application server key browsers are given (`applicationServerKey`)."""
    return b64url_encode(
        key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )


def audience_of(endpoint: str) -> str:
    """The origin of a push endpoint (scheme://host[:port]), which VAPID's `aud` must be."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"not a push endpoint URL: {endpoint!r}")
    return f"{parts.scheme}://{parts.netloc}"


class VapidSigner:
    """Signs and caches VAPID tokens per push-service origin."""

    def __init__(
        self,
        private_key_pem: str | bytes,
        subject: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject must be a mailto: or https: URI")
        pem = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
        key = load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("VAPID keys must be P-256 elliptic-curve keys")
        self._key = key
        self._subject = subject
        self._clock = clock
        self._public_b64 = public_key_b64(key)
        self._cache: dict[str, tuple[str, float]] = {}

    @property
    def public_key(self) -> str:
        """The base64url application server public key."""
        return self._public_b64

    def authorization(self, endpoint: str) -> str:
        """The `Authorization` header value for a request to `endpoint`."""
        audience = audience_of(endpoint)
        now = self._clock()
        cached = self._cache.get(audience)
        if cached is None or now - cached[1] >= REUSE_FOR_SECONDS:
            token = jwt.encode(
                {"aud": audience, "exp": int(now) + TOKEN_LIFETIME_SECONDS, "sub": self._subject},
                self._key,
                algorithm="ES256",
                headers={"typ": "JWT"},
            )
            cached = (token, now)
            self._cache[audience] = cached
        return f"vapid t={cached[0]}, k={self._public_b64}"
