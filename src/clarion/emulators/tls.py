"""Self-signed CA and server certificate for the emulators, kept in a state directory."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the CA certificate and the server certificate chain and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        """A server TLS context presenting the emulator certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile=str(self.cert_file), keyfile=str(self.key_file))
        if alpn:
            context.set_alpn_protocols(alpn)
        return context

    def client_context(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        """A verifying client TLS context that trusts only the emulator CA."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        if alpn:
            context.set_alpn_protocols(alpn)
        return context


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A private key as unencrypted PKCS8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def issue_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new P-256 key and a self-signed CA certificate for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.SERVER_AUTH,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new P-256 key and its certificate for localhost, 127.0.0.1 and ::1, signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _new_ca(ca_file: Path, ca_key_file: Path) -> None:
    key, cert = issue_ca("Clarion emulator CA")
    _write_private(ca_key_file, key_pem(key))
    ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _new_server_cert(ca_file: Path, ca_key_file: Path, cert_file: Path, key_file: Path) -> None:
    ca_cert = x509.load_pem_x509_certificate(ca_file.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_file.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca_key_file} does not hold an EC private key")
    key, cert = issue_leaf(ca_key, ca_cert)
    _write_private(key_file, key_pem(key))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure_tls_files(state_dir: Path) -> TlsFiles:
    """Create (or reuse) `ca.pem`, `ca-key.pem`, `server.pem` and `server-key.pem`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ca_file = state_dir / "ca.pem"
    ca_key_file = state_dir / "ca-key.pem"
    cert_file = state_dir / "server.pem"
    key_file = state_dir / "server-key.pem"
    if not (ca_file.exists() and ca_key_file.exists()):
        _new_ca(ca_file, ca_key_file)
        cert_file.unlink(missing_ok=True)
    if not (cert_file.exists() and key_file.exists()):
        _new_server_cert(ca_file, ca_key_file, cert_file, key_file)
    return TlsFiles(ca_file=ca_file, cert_file=cert_file, key_file=key_file)
