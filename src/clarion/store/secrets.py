"""Encryption at rest of provider secrets (Fernet: AES-128-CBC + HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from clarion.store.private_files import private_dir


class SecretBox:
    """Encrypts and decrypts JSON documents with the server's secret key."""

    def __init__(self, secret: str) -> None:
        # Any passphrase is accepted; hashing it gives Fernet its 32-byte key.
        digest = hashlib.sha256(secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, document: dict[str, Any]) -> bytes:
        """Encrypt a JSON-serialisable document."""
        return self._fernet.encrypt(json.dumps(document, separators=(",", ":")).encode())

    def open(self, blob: bytes) -> dict[str, Any]:
        """Decrypt a document sealed with the same key."""
        try:
            document: dict[str, Any] = json.loads(self._fernet.decrypt(blob))
        except InvalidToken as exc:
            raise RuntimeError(
                "provider secret cannot be decrypted: wrong CLARION_SECRET_KEY"
            ) from exc
        return document


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
