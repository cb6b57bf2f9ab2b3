"""RFC 8291 message encryption for Web Push: aes128gcm content coding, one record."""

from __future__ import annotations

import os
import struct

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

RECORD_SIZE = 4096
_TAG_LENGTH = 16
_LAST_RECORD_DELIMITER = b"\x02"
_KEY_INFO_PREFIX = b"WebPush: info\x00"
_CEK_INFO = b"Content-Encoding: aes128gcm\x00"
_NONCE_INFO = b"Content-Encoding: nonce\x00"
# The single record must hold the payload, its delimiter and the GCM tag.
MAX_PLAINTEXT = RECORD_SIZE - _TAG_LENGTH - len(_LAST_RECORD_DELIMITER)


class PayloadTooLargeError(ValueError):
    """The payload does not fit the single record Web Push allows."""


def _hkdf_extract(salt: bytes, key_material: bytes) -> bytes:
    mac = hmac.HMAC(salt, hashes.SHA256())
    mac.update(key_material)
    return mac.finalize()


def _hkdf_expand_one_block(prk: bytes, info: bytes, length: int) -> bytes:
    # Every output here is at most 32 bytes, so one HMAC block is the whole expansion.
    mac = hmac.HMAC(prk, hashes.SHA256())
    mac.update(info + b"\x01")
    return mac.finalize()[:length]


def encrypt(
    payload: bytes,
    receiver_public_key: bytes,
    auth_secret: bytes,
    *,
    salt: bytes | None = None,
    sender_private_key: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """The aes128gcm body for `payload`, addressed to a subscription's p256dh key and auth secret.

    `salt` and `sender_private_key` are fresh per message unless given (tests pin them).
    """
    if len(payload) > MAX_PLAINTEXT:
        raise PayloadTooLargeError(f"payload of {len(payload)} bytes exceeds {MAX_PLAINTEXT}")
    if len(auth_secret) != 16:
        raise ValueError("the auth secret must be 16 bytes")
    receiver_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), receiver_public_key)
    sender_key = sender_private_key or ec.generate_private_key(ec.SECP256R1())
    sender_public = sender_key.public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint
    )
    receiver_public = receiver_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    shared_secret = sender_key.exchange(ec.ECDH(), receiver_key)

    auth_prk = _hkdf_extract(auth_secret, shared_secret)
    input_key = _hkdf_expand_one_block(
        auth_prk, _KEY_INFO_PREFIX + receiver_public + sender_public, 32
    )
    salt = salt if salt is not None else os.urandom(16)
    prk = _hkdf_extract(salt, input_key)
    content_key = _hkdf_expand_one_block(prk, _CEK_INFO, 16)
    nonce = _hkdf_expand_one_block(prk, _NONCE_INFO, 12)

    ciphertext = AESGCM(content_key).encrypt(nonce, payload + _LAST_RECORD_DELIMITER, None)
    header = salt + struct.pack("!IB", RECORD_SIZE, len(sender_public)) + sender_public
    return header + ciphertext
