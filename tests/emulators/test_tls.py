"""The CA and server certificate: created once, reused, trusted for 127.0.0.1 and localhost."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from clarion.emulators.tls import ensure_tls_files


def test_ca_is_reused_when_present(tmp_path: Path) -> None:
    first = ensure_tls_files(tmp_path)
    ca_before = first.ca_file.read_bytes()
    second = ensure_tls_files(tmp_path)
    assert second.ca_file == tmp_path / "ca.pem"
    assert second.ca_file.read_bytes() == ca_before


def test_new_ca_replaces_server_certificate(tmp_path: Path) -> None:
    first = ensure_tls_files(tmp_path)
    server_before = first.cert_file.read_bytes()
    first.ca_file.unlink()
    second = ensure_tls_files(tmp_path)
    assert second.cert_file.read_bytes() != server_before


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
async def test_clients_trusting_the_ca_verify_the_server(tmp_path: Path, hostname: str) -> None:
    files = ensure_tls_files(tmp_path)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=files.server_context())
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=files.client_context(), server_hostname=hostname
        )
        assert await reader.read() == b"ok"
        writer.close()


async def test_clients_without_the_ca_refuse_the_server(tmp_path: Path) -> None:
    files = ensure_tls_files(tmp_path)
    server = await asyncio.start_server(
        lambda r, w: None, "127.0.0.1", 0, ssl=files.server_context()
    )
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection(
                "127.0.0.1", port, ssl=ssl.create_default_context(), server_hostname="localhost"
            )
