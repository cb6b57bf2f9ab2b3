"""Throwaway certificate authority and certificates for TLS tests on 127.0.0.1."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from clarion.emulators.tls import issue_ca, issue_leaf, key_pem


@dataclass(frozen=True)
class TlsMaterial:
    """Paths to a CA, a server certificate for 127.0.0.1/localhost and a client certificate."""

    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_context(self, alpn: list[str], require_client_cert: bool = False) -> ssl.SSLContext:
        """A server context presenting the server certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_cert, self.server_key)
        context.set_alpn_protocols(alpn)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=str(self.ca_file))
        return context


def make_tls_material(directory: Path) -> TlsMaterial:
    """Create a CA and leaf certificates (server and client) under `directory`."""
    ca_key, ca_cert = issue_ca("Clarion Test CA")
    paths = TlsMaterial(
        ca_file=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )
    paths.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    for cert_path, key_path, usage in (
        (paths.server_cert, paths.server_key, ExtendedKeyUsageOID.SERVER_AUTH),
        (paths.client_cert, paths.client_key, ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key, cert = issue_leaf(ca_key, ca_cert, usage)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key_pem(key))
    return paths
