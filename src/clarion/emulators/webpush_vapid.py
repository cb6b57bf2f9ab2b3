"""VAPID (RFC 8292) checks for the Web Push emulator: `Authorization: vapid t=..., k=...`."""

from __future__ import annotations

import binascii
import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from clarion.emulators.webpush_crypto import b64url_decode

MAX_EXPIRY_SECONDS = 24 * 3600
_CLOCK_LEEWAY_SECONDS = 60


class VapidError(ValueError):
    """A refused VAPID header: 400 malformed, 401 invalid, 403 wrong key for the subscription."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class VapidIdentity:
    """The verified sender: its public key (raw point) and contact subject."""

    public_key: bytes
    subject: str


def _parameters(credentials: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in credentials.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            found[name.strip().lower()] = value.strip()
    return found


def verify_vapid(
    authorization: str | None,
    audience: str,
    required_key: bytes | None = None,
    now: float | None = None,
) -> VapidIdentity:
    """Check the header against the push service origin `audience`; raises VapidError."""
    if not authorization:
        raise VapidError(401, "missing Authorization header")
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "vapid":
        raise VapidError(401, "Authorization scheme must be vapid")
    params = _parameters(credentials)
    token, key_text = params.get("t"), params.get("k")
    if not token or not key_text:
        raise VapidError(400, "vapid credentials need both t and k")
    try:
        raw_key = b64url_decode(key_text)
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw_key)
    except (ValueError, binascii.Error) as error:
        raise VapidError(400, "k is not a base64url P-256 public key") from error
    if required_key is not None and raw_key != required_key:
        raise VapidError(403, "k is not the applicationServerKey of this subscription")
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["ES256"],
            options={"require": ["aud", "exp"], "verify_aud": False, "verify_exp": False},
        )
    except jwt.PyJWTError as error:
        raise VapidError(401, f"invalid VAPID token: {error}") from error
    if claims["aud"] != audience:
        raise VapidError(401, f"aud must be {audience}")
    moment = time.time() if now is None else now
    expires = claims["exp"]
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise VapidError(401, "exp must be a number")
    if expires <= moment:
        raise VapidError(401, "VAPID token has expired")
    if expires > moment + MAX_EXPIRY_SECONDS + _CLOCK_LEEWAY_SECONDS:
        raise VapidError(401, "exp must be within 24 hours")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.startswith(("mailto:", "https:")):
        raise VapidError(401, "sub must be a mailto: or https: URI")
    return VapidIdentity(raw_key, subject)
