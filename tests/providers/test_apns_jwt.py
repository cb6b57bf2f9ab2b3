"""Provider token caching and renewal."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from clarion.providers.apns_jwt import DEFAULT_RENEW_AFTER_SECONDS, ProviderTokenSource


def make_source(pem: str, now: list[float]) -> ProviderTokenSource:
    return ProviderTokenSource("TEAM", "KID", pem, clock=lambda: now[0])


def test_renews_before_apple_would_reject() -> None:
    assert 20 * 60 <= DEFAULT_RENEW_AFTER_SECONDS < 60 * 60


def test_token_is_cached_until_renewal_age(apns_key_pem: str) -> None:
    now = [1_700_000_000.0]
    source = make_source(apns_key_pem, now)
    first = source.current()
    now[0] += DEFAULT_RENEW_AFTER_SECONDS - 1
    assert source.current() == first
    now[0] += 1
    renewed = source.current()
    assert renewed != first
    assert jwt.decode(renewed, options={"verify_signature": False})["iat"] == int(now[0])


def test_renew_replaces_only_the_rejected_token(apns_key_pem: str) -> None:
    now = [1_700_000_000.0]
    source = make_source(apns_key_pem, now)
    stale = source.current()
    now[0] += 5
    fresh = source.renew(stale)
    assert fresh != stale
    now[0] += 5
    # A second request holding the same stale token must not trigger another mint.
    assert source.renew(stale) == fresh


def test_rejects_non_p256_keys() -> None:
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ValueError, match="P-256"):
        ProviderTokenSource("T", "K", rsa_pem)
    p384_pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="P-256"):
        ProviderTokenSource("T", "K", p384_pem)
