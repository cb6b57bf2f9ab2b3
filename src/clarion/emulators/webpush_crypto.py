"""Browser-side Web Push keys and aes128gcm decryption (RFC 8188 records, RFC 8291 keys)."""

from __future__ import annotations

import base64
import secrets
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SALT_BYTES = 16
_HEADER_FIXED_BYTES = _SALT_BYTES + 4 + 1
_TAG_BYTES = 16
_POINT_BYTES = 65


class DecryptError(ValueError):
    """The body is not a valid aes128gcm message for these keys."""


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    """Encode base64url without padding, as Web Push does."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class BrowserKeys:
    """What a browser keeps for one subscription: its P-256 key pair and auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @property
    def public_bytes(self) -> bytes:
        """The uncompressed P-256 public point (65 bytes)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @property
    def p256dh(self) -> str:
        """The public key as the subscription's `keys.p256dh`."""
        return b64url_encode(self.public_bytes)

    @property
    def auth(self) -> str:
        """The auth secret as the subscription's `keys.auth`."""
        return b64url_encode(self.auth_secret)


def new_browser_keys() -> BrowserKeys:
    """Fresh keys for a new subscription."""
    return BrowserKeys(ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16))


def _hkdf(salt: bytes, info: bytes, length: int, secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def _unpad(record: bytes, last: bool) -> bytes:
    stripped = record.rstrip(b"\x00")
    if not stripped:
        raise DecryptError("record has no delimiter")
    delimiter = stripped[-1]
    if delimiter != (2 if last else 1):
        raise DecryptError("record delimiter is wrong")
    return stripped[:-1]


def decrypt_aes128gcm(body: bytes, keys: BrowserKeys) -> bytes:
    """The plaintext of an aes128gcm Web Push message sent to `keys`."""
    if len(body) < _HEADER_FIXED_BYTES:
        raise DecryptError("body is shorter than the aes128gcm header")
    salt = body[:_SALT_BYTES]
    (record_size,) = struct.unpack("!I", body[_SALT_BYTES : _SALT_BYTES + 4])
    key_id_length = body[_SALT_BYTES + 4]
    start = _HEADER_FIXED_BYTES + key_id_length
    sender_public = body[_HEADER_FIXED_BYTES:start]
    if key_id_length != _POINT_BYTES or len(sender_public) != _POINT_BYTES:
        raise DecryptError("keyid must be the sender's 65-byte public key")
    if record_size < _TAG_BYTES + 2:
        raise DecryptError("record size is too small")
    try:
        sender_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_public)
    except ValueError as error:
        raise DecryptError("keyid is not a P-256 point") from error
    shared = keys.private_key.exchange(ec.ECDH(), sender_key)
    key_info = b"WebPush: info\x00" + keys.public_bytes + sender_public
    input_key = _hkdf(keys.auth_secret, key_info, 32, shared)
    content_key = _hkdf(salt, b"Content-Encoding: aes128gcm\x00", 16, input_key)
    base_nonce = int.from_bytes(_hkdf(salt, b"Content-Encoding: nonce\x00", 12, input_key), "big")
    cipher = AESGCM(content_key)
    records = [body[i : i + record_size] for i in range(start, len(body), record_size)]
    if not records:
        raise DecryptError("no ciphertext")
    plaintext = bytearray()
    for sequence, record in enumerate(records):
        nonce = (base_nonce ^ sequence).to_bytes(12, "big")
        try:
            clear = cipher.decrypt(nonce, record, None)
        except InvalidTag as error:
            raise DecryptError("authentication tag does not match") from error
        plaintext += _unpad(clear, last=sequence == len(records) - 1)
    return bytes(plaintext)
