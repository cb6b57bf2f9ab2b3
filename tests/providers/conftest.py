"""Fixtures shared by the provider transport tests."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.providers.tls_material import TlsMaterial, make_tls_material


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    """A CA plus server and client certificates valid for 127.0.0.1."""
    return make_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def apns_key() -> ec.EllipticCurvePrivateKey:
    """A P-256 signing key like the .p8 files Apple issues."""
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def apns_key_pem(apns_key: ec.EllipticCurvePrivateKey) -> str:
    """The signing key as PKCS8 PEM text."""
    return apns_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
