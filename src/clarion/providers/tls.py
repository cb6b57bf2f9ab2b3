"""Build client TLS contexts that trust the system roots plus optional extra CAs."""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
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


def load_client_certificate(context: ssl.SSLContext, certificate_pem: str, key_pem: str) -> None:
    """Give a context a client certificate and its key without leaving the key on disk.

    ssl reads certificates only from paths, so on Linux the PEM goes into an anonymous
    memory file (nothing on disk, gone with the process even after kill -9); elsewhere into
    an owner-only file in an owner-only directory, removed as soon as it is loaded.
    """
    pem = (key_pem.strip() + "\n" + certificate_pem.strip() + "\n").encode()
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("clarion-client-cert", os.MFD_CLOEXEC)
        try:
            os.write(fd, pem)
            context.load_cert_chain(certfile=f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    directory = tempfile.mkdtemp(prefix="clarion-cert-")
    try:
        path = os.path.join(directory, "client.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        context.load_cert_chain(certfile=path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
