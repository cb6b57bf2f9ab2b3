"""Encryption at rest of provider secrets (Fernet: AES-128-CBC + HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from clarion.store.private_files import private_dir


class SecretUnreadable(RuntimeError):
    """A stored secret that none of the configured keys can decrypt."""


def _fernet(passphrase: str) -> Fernet:
    # Any passphrase is accepted; hashing it gives Fernet its 32-byte key.
    digest = hashlib.sha256(passphrase.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def split_keys(configured: str) -> list[str]:
    """The keys of a comma-separated CLARION_SECRET_KEY, first (sealing) key first."""
    return [key.strip() for key in configured.split(",") if key.strip()]


class SecretBox:
    """Encrypts JSON documents with the first key and decrypts with any of them.

    Several keys let an operator rotate: the new key goes first, the old ones stay
    after it until `clarion secrets rotate` has re-sealed every stored secret.
    """

    def __init__(self, secret: str) -> None:
        keys = split_keys(secret)
        if not keys:
            raise ValueError("the secret key is empty")
        self._first = _fernet(keys[0])
        self._all = MultiFernet([self._first, *(_fernet(key) for key in keys[1:])])
        self.key_count = len(keys)

    def seal(self, document: dict[str, Any]) -> bytes:
        """Encrypt a JSON-serialisable document under the first key."""
        return self._first.encrypt(json.dumps(document, separators=(",", ":")).encode())

    def open(self, blob: bytes) -> dict[str, Any]:
        """Decrypt a document sealed with any of the keys."""
        try:
            document: dict[str, Any] = json.loads(self._all.decrypt(blob))
        except InvalidToken as exc:
            raise SecretUnreadable(
                "provider secret cannot be decrypted with any key of CLARION_SECRET_KEY"
            ) from exc
        return document

    def is_current(self, blob: bytes) -> bool:
        """Whether the blob is already sealed under the first key."""
        try:
            self._first.decrypt(blob)
        except InvalidToken:
            return False
        return True

    def reseal(self, blob: bytes) -> bytes:
        """The same document sealed under the first key (SecretUnreadable if no key opens it)."""
        try:
            return self._all.rotate(blob)
        except InvalidToken as exc:
            raise SecretUnreadable(
                "provider secret cannot be decrypted with any key of CLARION_SECRET_KEY"
            ) from exc


def load_or_create_secret(configured: str, var_dir: Path) -> str:
    """Return the configured secret key, or one generated once and kept under var_dir."""
    if configured:
        return configured
    path = var_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    private_dir(var_dir)
    secret = base64.urlsafe_b64encode(os.urandom(32)).decode()
    # O_EXCL so two processes starting together cannot write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret
