"""Media checks and every checked connection obey the outbound policy, hop by hop.

The address judged is the address connected to: a name is resolved once and
its answer checked, and every socket is checked again before it connects.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from clarion.config import Settings
from clarion.domain.errors import DomainError
from clarion.domain.message import parse_message
from clarion.emulators.tls import TlsFiles, ensure_tls_files
from clarion.providers.h2_pool import Http2Pool
from clarion.providers.http_session import new_session
from clarion.providers.outbound import STRICT, OutboundPolicy, OutboundRefused
from clarion.providers.outbound_http import refusal_in
from clarion.sending.media_check import check_media
from tests.security.outbound_support import http_reply, listening

REFUSED = "refused by the outbound policy"
PNG = http_reply(200, {"Content-Type": "image/png"})


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA and a certificate for 127.0.0.1, ::1 and localhost."""
    return ensure_tls_files(tmp_path_factory.mktemp("tls"))


async def media_refusal(url: str, tls: TlsFiles, outbound: OutboundPolicy) -> DomainError:
    """The error the media check gives a picture at `url`."""
    message = parse_message({"content": {"body": "b", "media": {"picture": url}}})
    with pytest.raises(DomainError) as caught:
        await check_media(message, extra_ca_file=tls.ca_file, outbound=outbound)
    assert caught.value.field == "content.media.picture"
    return caught.value


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:{port}/a.png",
        "https://localhost:{port}/a.png",
        "https://[::ffff:127.0.0.1]:{port}/a.png",
    ],
)
async def test_media_on_loopback_is_refused(tls: TlsFiles, url: str) -> None:
    async with listening(tls, PNG) as listener:
        error = await media_refusal(url.format(port=listener.port), tls, STRICT)
    assert REFUSED in error.message and "loopback" in error.message
    assert listener.connections == 0


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://10.20.30.40/a.png", "private"),
        ("https://192.168.1.1/a.png", "private"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://[fd00:ec2::254]/a.png", "metadata"),
        ("https://metadata.google.internal/a.png", "metadata"),
        ("https://[fe80::1]/a.png", "link-local"),
        ("https://224.0.0.1/a.png", "multicast"),
        ("https://0.0.0.0/a.png", "unspecified"),
        ("https://[2002:a00:1::]/a.png", "private"),
        ("https://[64:ff9b::a00:1]/a.png", "private"),
    ],
)
async def test_media_on_internal_addresses_is_refused_before_any_connection(
    tls: TlsFiles, url: str, kind: str
) -> None:
    error = await media_refusal(url, tls, OutboundPolicy.parse("127.0.0.0/8,::1"))
    assert REFUSED in error.message and kind in error.message


async def test_media_redirect_hops_are_each_checked(tls: TlsFiles) -> None:
    async with listening(tls, PNG, host="::1") as internal:
        hop = http_reply(302, {"Location": f"https://[::1]:{internal.port}/a.png"})
        async with listening(tls, hop) as first:
            url = f"https://127.0.0.1:{first.port}/a.png"
            error = await media_refusal(url, tls, OutboundPolicy.parse("127.0.0.1"))
            assert REFUSED in error.message and "::1" in error.message
            assert (first.connections, internal.connections) == (1, 0)
            # Once the operator opens the second host too, the same chain is followed.
            message = parse_message({"content": {"body": "b", "media": {"picture": url}}})
            opened = OutboundPolicy.parse("127.0.0.1,::1")
            await check_media(message, extra_ca_file=tls.ca_file, outbound=opened)
            assert internal.requests == ["HEAD /a.png HTTP/1.1"]


async def test_media_redirects_are_limited(tls: TlsFiles) -> None:
    async with listening(tls) as loop_server:
        loop_server.reply = http_reply(302, {"Location": "/again"})
        error = await media_refusal(
            f"https://127.0.0.1:{loop_server.port}/a.png", tls, OutboundPolicy.parse("127.0.0.1")
        )
    assert error.message == "the picture URL redirects more than 3 times"
    assert loop_server.connections == 4


async def test_media_errors_do_not_map_the_network(tls: TlsFiles) -> None:
    opened = OutboundPolicy.parse("127.0.0.1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(not_http, "127.0.0.1", 0)
    async with server, listening(tls) as silent_close:
        ssh_port = server.sockets[0].getsockname()[1]
        messages = {
            (await media_refusal(f"https://127.0.0.1:{port}/a.png", tls, opened)).message
            for port in (closed_port, ssh_port, silent_close.port)
        }
    assert messages == {"the picture URL could not be fetched"}


async def test_plain_http_media_is_refused_even_on_an_opened_host(tls: TlsFiles) -> None:
    async with listening(tls, PNG) as listener:
        url = f"http://127.0.0.1:{listener.port}/a.png"
        error = await media_refusal(url, tls, OutboundPolicy.parse("127.0.0.1"))
    assert REFUSED in error.message and "https" in error.message
    assert listener.connections == 0


async def _session_get(url: str, tls: TlsFiles, outbound: OutboundPolicy) -> Any:
    session = new_session(
        tls.client_context(),
        request_timeout=5,
        connect_timeout=5,
        max_connections=2,
        outbound=outbound,
    )
    async with session, session.get(url) as response:
        return response.status


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::ffff:127.0.0.1]"])
async def test_checked_connections_refuse_the_address_connected_to(
    tls: TlsFiles, host: str
) -> None:
    # No URL check runs here: the resolver and the socket check alone must refuse.
    async with listening(tls, PNG) as listener:
        with pytest.raises(aiohttp.ClientError) as caught:
            await _session_get(f"https://{host}:{listener.port}/", tls, STRICT)
    refusal = refusal_in(caught.value)
    assert refusal is not None and "loopback" in str(refusal)
    assert listener.connections == 0


async def test_http2_connections_refuse_a_name_resolving_to_loopback(tls: TlsFiles) -> None:
    async with listening(tls) as listener:
        pool = Http2Pool("localhost", listener.port, tls.client_context(["h2"]), outbound=STRICT)
        try:
            with pytest.raises(OutboundRefused, match="loopback"):
                await pool.request("POST", "/", [], b"", queue_timeout=5)
        finally:
            await pool.close()
    assert listener.connections == 0


async def test_an_allowlisted_host_name_is_reached_at_its_addresses(tls: TlsFiles) -> None:
    async with listening(tls, PNG) as listener:
        status = await _session_get(
            f"https://localhost:{listener.port}/", tls, OutboundPolicy.parse("localhost")
        )
    assert status == 200 and listener.connections == 1


def test_allowlist_setting_is_validated() -> None:
    settings = Settings(outbound_allowlist="127.0.0.0/8, ::1, push.example.net")
    policy = settings.outbound_policy
    assert policy.hosts == frozenset({"push.example.net"}) and len(policy.networks) == 2
    with pytest.raises(ValidationError, match="not a host name"):
        Settings(outbound_allowlist="127.0.0.0/8,https://x/")
    with pytest.raises(ValidationError, match="not a host name"):
        Settings(outbound_allowlist="10.0.0.0/33")
