"""APNs provider authentication tokens: ES256 JWTs minted and cached per signing key."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

# Apple rejects tokens older than an hour and throttles renewals more often than
# every 20 minutes; 40 minutes sits safely between the two.
DEFAULT_RENEW_AFTER_SECONDS = 40 * 60


class ProviderTokenSource:
    """Hands out the current provider token, renewing it before Apple would reject it."""

    def __init__(
        self,
        team_id: str,
        key_id: str,
        private_key_pem: str | bytes,
        *,
        renew_after: float = DEFAULT_RENEW_AFTER_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        pem = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
        key = load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("APNs signing keys must be P-256 elliptic-curve keys")
        self._key = key
        self._team_id = team_id
        self._key_id = key_id
        self._renew_after = renew_after
        self._clock = clock
        self._token: str | None = None
        self._issued_at = 0.0

    def current(self) -> str:
        """The cached token, minting a new one when it has aged past `renew_after`."""
        now = self._clock()
        if self._token is None or now - self._issued_at >= self._renew_after:
            self._mint(now)
        assert self._token is not None
        return self._token

    def renew(self, rejected: str) -> str:
        """Replace `rejected` after ExpiredProviderToken; concurrent callers share one renewal."""
        if rejected == self._token:
            self._mint(self._clock())
        return self.current()

    def _mint(self, now: float) -> None:
        self._token = jwt.encode(
            {"iss": self._team_id, "iat": int(now)},
            self._key,
            algorithm="ES256",
            headers={"kid": self._key_id},
        )
        self._issued_at = now
