"""APNs provider keys and the verification of ES256 provider tokens (JWT), with a cache."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

TOKEN_MAX_AGE_SECONDS = 3600
# Tokens stamped slightly in the future still pass, as clocks drift between hosts.
_CLOCK_LEEWAY_SECONDS = 60
_CACHE_LIMIT = 10_000

# Apple appends these to an app's bundle id for the non-alert push channels.
TOPIC_SUFFIXES = (
    ".voip",
    ".complication",
    ".pushkit.fileprovider",
    ".push-type.liveactivity",
    ".voip-ptt",
)


@dataclass(frozen=True)
class ProviderKey:
    """A registered signing key: team, key id, public key and the topics it may push to."""

    team_id: str
    key_id: str
    public_key: ec.EllipticCurvePublicKey
    topics: frozenset[str]

    def allows_topic(self, topic: str) -> bool:
        """Whether the key may push to `topic` (a bundle id or one of its suffixed channels)."""
        if not self.topics or topic in self.topics:
            return True
        return any(topic == base + suffix for base in self.topics for suffix in TOPIC_SUFFIXES)


@dataclass(frozen=True)
class _Verified:
    key: ProviderKey
    issued_at: int


class ProviderKeys:
    """Registered provider keys; `authenticate` checks an `authorization` header value."""

    def __init__(self) -> None:
        self._keys: dict[str, ProviderKey] = {}
        self._verified: dict[bytes, _Verified] = {}

    def create(self, team_id: str, key_id: str, topics: list[str]) -> str:
        """Make a new P-256 key, register its public half, and return the PKCS8 private PEM."""
        private_key = ec.generate_private_key(ec.SECP256R1())
        self.register(team_id, key_id, private_key.public_key(), topics)
        return private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def register(
        self, team_id: str, key_id: str, public_key: ec.EllipticCurvePublicKey, topics: list[str]
    ) -> None:
        """Trust `public_key` for tokens with this key id and team."""
        self._keys[key_id] = ProviderKey(team_id, key_id, public_key, frozenset(topics))
        self._verified.clear()

    def revoke(self, key_id: str) -> None:
        """Stop trusting a key; tokens signed with it become InvalidProviderToken."""
        self._keys.pop(key_id, None)
        self._verified.clear()

    def authenticate(
        self, authorization: bytes | None, now: float | None = None
    ) -> ProviderKey | str:
        """The key behind a valid `bearer <jwt>` header, or the APNs reason for refusing it."""
        if not authorization:
            return "MissingProviderToken"
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() != b"bearer" or not token:
            return "MissingProviderToken"
        moment = time.time() if now is None else now
        verified = self._verified.get(token)
        if verified is None:
            checked = self._verify(token.decode("ascii", "replace"))
            if isinstance(checked, str):
                return checked
            verified = checked
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = verified
        if moment - verified.issued_at > TOKEN_MAX_AGE_SECONDS:
            return "ExpiredProviderToken"
        return verified.key

    def _verify(self, token: str) -> _Verified | str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        key = self._keys.get(str(header.get("kid", "")))
        if key is None or header.get("alg") != "ES256":
            return "InvalidProviderToken"
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=["ES256"],
                options={"require": ["iss", "iat"], "verify_exp": False},
                leeway=_CLOCK_LEEWAY_SECONDS,
            )
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        issued_at = claims["iat"]
        if claims["iss"] != key.team_id or not isinstance(issued_at, int | float):
            return "InvalidProviderToken"
        return _Verified(key, int(issued_at))
