"""RFC 8291 encryption checked by decrypting with the http_ece library, and VAPID with pyjwt."""

from __future__ import annotations

import os
import struct

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.providers.b64 import b64url_decode, b64url_encode
from clarion.providers.vapid import VapidSigner, audience_of, generate_vapid_keys
from clarion.providers.webpush_crypto import MAX_PLAINTEXT, PayloadTooLargeError, encrypt


def browser_keys() -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    """What a browser holds for a subscription: private key, p256dh public point, auth secret."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return private, public, os.urandom(16)


def browser_decrypt(body: bytes, private: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    """Decrypt as the user agent would, using http_ece as an independent implementation."""
    plaintext: bytes = http_ece.decrypt(
        body, private_key=private, auth_secret=auth, version="aes128gcm"
    )
    return plaintext


def test_browser_decrypts_our_message() -> None:
    private, public, auth = browser_keys()
    body = encrypt(b'{"title":"Hello"}', public, auth)
    assert browser_decrypt(body, private, auth) == b'{"title":"Hello"}'


@settings(max_examples=25, deadline=None)
@given(payload=st.binary(min_size=0, max_size=MAX_PLAINTEXT))
def test_any_payload_round_trips(payload: bytes) -> None:
    private, public, auth = browser_keys()
    assert browser_decrypt(encrypt(payload, public, auth), private, auth) == payload


def test_header_layout_is_single_record_with_sender_key() -> None:
    _, public, auth = browser_keys()
    sender = ec.generate_private_key(ec.SECP256R1())
    salt = bytes(range(16))
    body = encrypt(b"x", public, auth, salt=salt, sender_private_key=sender)
    record_size, key_length = struct.unpack("!IB", body[16:21])
    sender_public = sender.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert body[:16] == salt
    assert (record_size, key_length) == (4096, 65)
    assert body[21:86] == sender_public
    # one byte of payload, the 0x02 delimiter and the 16-byte tag
    assert len(body) == 86 + 1 + 1 + 16


def test_fresh_salt_and_key_per_message() -> None:
    _, public, auth = browser_keys()
    first, second = encrypt(b"same", public, auth), encrypt(b"same", public, auth)
    assert first[:16] != second[:16]
    assert first[21:86] != second[21:86]


def test_wrong_auth_secret_cannot_decrypt() -> None:
    private, public, auth = browser_keys()
    body = encrypt(b"secret", public, auth)
    with pytest.raises(Exception):  # noqa: B017 - any authentication failure will do
        browser_decrypt(body, private, os.urandom(16))


def test_largest_payload_fits_in_4096_byte_record() -> None:
    private, public, auth = browser_keys()
    payload = b"p" * MAX_PLAINTEXT
    body = encrypt(payload, public, auth)
    assert len(body) == 86 + 4096
    assert browser_decrypt(body, private, auth) == payload


def test_oversized_payload_is_refused() -> None:
    _, public, auth = browser_keys()
    with pytest.raises(PayloadTooLargeError):
        encrypt(b"p" * (MAX_PLAINTEXT + 1), public, auth)


def test_generated_vapid_keys_pair_up() -> None:
    private_pem, public_b64 = generate_vapid_keys()
    key = load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    expected = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert b64url_decode(public_b64) == expected
    assert "=" not in public_b64


def test_vapid_header_carries_verifiable_token() -> None:
    private_pem, public_b64 = generate_vapid_keys()
    signer = VapidSigner(private_pem, "mailto:ops@example.com", clock=lambda: 1_700_000_000.0)
    header = signer.authorization("https://push.example.net:8443/wpush/v2/abc?x=1")
    scheme, _, params = header.partition(" ")
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert scheme == "vapid"
    assert fields["k"] == public_b64
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), b64url_decode(fields["k"])
    )
    claims = jwt.decode(
        fields["t"],
        public_key,
        algorithms=["ES256"],
        audience="https://push.example.net:8443",
        options={"verify_exp": False},
    )
    assert claims["sub"] == "mailto:ops@example.com"
    assert 0 < claims["exp"] - 1_700_000_000 <= 24 * 3600
    assert jwt.get_unverified_header(fields["t"])["typ"] == "JWT"


def test_vapid_token_cached_per_origin_and_renewed() -> None:
    private_pem, _ = generate_vapid_keys()
    now = [1_700_000_000.0]
    signer = VapidSigner(private_pem, "https://example.com/contact", clock=lambda: now[0])
    first = signer.authorization("https://a.example/1")
    assert signer.authorization("https://a.example/2") == first
    assert signer.authorization("https://b.example/1") != first
    now[0] += 7 * 3600
    assert signer.authorization("https://a.example/1") != first


def test_vapid_rejects_bad_subject() -> None:
    private_pem, _ = generate_vapid_keys()
    with pytest.raises(ValueError, match="subject"):
        VapidSigner(private_pem, "ops@example.com")


def test_audience_is_origin() -> None:
    assert audience_of("https://fcm.googleapis.com/fcm/send/abc") == "https://fcm.googleapis.com"
    with pytest.raises(ValueError):
        audience_of("not a url")


def test_b64url_round_trip_accepts_padding_and_standard_alphabet() -> None:
    data = bytes(range(250, 256)) + b"\xfb\xff"
    encoded = b64url_encode(data)
    assert b64url_decode(encoded) == data
    assert b64url_decode(encoded + "==") == data
    assert b64url_decode(encoded.replace("-", "+").replace("_", "/")) == data
