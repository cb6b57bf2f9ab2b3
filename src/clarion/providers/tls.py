"""Build client TLS contexts that trust the system roots plus optional extra CAs."""

from __future__ import annotations

import ssl
from pathlib import Path


def client_ssl_context(
    ca_file: Path | str | None = None,
    *,
    alpn: list[str] | None = None,
    cert_file: Path | str | None = None,
    key_file: Path | str | None = None,
    key_password: str | None = None,
) -> ssl.SSLContext:
    """A verifying client context; `ca_file` adds a CA (e.g. a local emulator's) to system roots."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    if cert_file is not None:
        context.load_cert_chain(
            certfile=str(cert_file),
            keyfile=None if key_file is None else str(key_file),
            password=key_password,
        )
    if alpn:
        context.set_alpn_protocols(alpn)
    return context
