"""The media HEAD check against a real HTTPS server on 127.0.0.1 (opened by the allowlist)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from clarion.config import Settings
from clarion.domain.errors import DomainError
from clarion.domain.message import parse_message
from clarion.emulators.tls import TlsFiles, ensure_tls_files
from clarion.sending.media_check import MB, check_media, media_urls
from tests.conftest import ADMIN_KEY, Project, error_of
from tests.local_outbound import LOCAL_ALLOWLIST, LOCAL_OUTBOUND

# path -> (status, headers) answered to HEAD; GET answers the same with an empty body.
MEDIA: dict[str, tuple[int, dict[str, str]]] = {
    "/icon.png": (200, {"Content-Type": "image/png", "Content-Length": "900"}),
    "/big-icon.png": (200, {"Content-Type": "image/png", "Content-Length": str(2 * MB)}),
    "/photo.jpg": (200, {"Content-Type": "image/jpeg", "Content-Length": str(2 * MB)}),
    "/huge.jpg": (200, {"Content-Type": "image/jpeg", "Content-Length": str(11 * MB)}),
    "/unsized.gif": (200, {"Content-Type": "image/gif"}),
    "/song.mp3": (200, {"Content-Type": "audio/mpeg", "Content-Length": str(4 * MB)}),
    "/clip.mp4": (200, {"Content-Type": "video/mp4; codecs=avc1", "Content-Length": str(MB)}),
    "/long.mp4": (200, {"Content-Type": "video/mp4", "Content-Length": str(60 * MB)}),
    "/page.html": (200, {"Content-Type": "text/html", "Content-Length": "10"}),
    "/moved.png": (302, {"Location": "/icon.png", "Content-Length": "0"}),
    "/gone.png": (404, {"Content-Type": "text/plain", "Content-Length": "0"}),
}
#: Paths whose server refuses HEAD (405) but answers GET.
NO_HEAD = {"/nohead.png": (200, {"Content-Type": "image/png", "Content-Length": "300"})}


class MediaServer:
    """A minimal HTTP/1.1 server answering from MEDIA, recording the requests it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one request and close the connection."""
        head = await reader.readuntil(b"\r\n\r\n")
        method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        self.requests.append((method, path))
        if path in NO_HEAD:
            status, headers = (405, {"Content-Length": "0"}) if method == "HEAD" else NO_HEAD[path]
        else:
            status, headers = MEDIA.get(path, (404, {"Content-Length": "0"}))
        lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers.items())]
        lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        writer.close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1, shared by the module's servers."""
    return ensure_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tls: TlsFiles) -> Settings:
    """The API trusts the media server's CA and may reach the loopback interface."""
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        admin_key=ADMIN_KEY,
        secret_key="test-secret",
        extra_ca_file=tls.ca_file,
        outbound_allowlist=LOCAL_ALLOWLIST,
    )


@asynccontextmanager
async def media_server(tls: TlsFiles) -> AsyncIterator[tuple[str, Any]]:
    """Serve MEDIA over TLS on an ephemeral port; yield its base URL and the server."""
    handler = MediaServer()
    server = await asyncio.start_server(handler.handle, "127.0.0.1", 0, ssl=tls.server_context())
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"https://127.0.0.1:{port}", handler


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def message(content: dict[str, Any], **options: Any) -> Any:
    """A parsed message with one content."""
    return parse_message({"content": {"body": "b", **content}, "options": options})


async def local_check(msg: Any, tls: TlsFiles, field: str = "content") -> None:
    """The media check as a server configured for the local test servers runs it."""
    await check_media(msg, field, extra_ca_file=tls.ca_file, outbound=LOCAL_OUTBOUND)


async def refusal(msg: Any, tls: TlsFiles, field: str = "content") -> DomainError:
    """The DomainError the media check raises for a message."""
    with pytest.raises(DomainError) as caught:
        await local_check(msg, tls, field)
    return caught.value


async def test_good_media_of_every_kind_passes(tls: TlsFiles) -> None:
    async with media_server(tls) as (base, server):
        media = {
            "icon": f"{base}/icon.png",
            "picture": f"{base}/photo.jpg",
            "audio": f"{base}/song.mp3",
            "video": f"{base}/clip.mp4",
        }
        await local_check(message({"media": media}), tls)
        assert sorted(server.requests) == sorted(
            ("HEAD", url.removeprefix(base)) for url in media.values()
        )


async def test_wrong_type_is_refused_naming_the_field(tls: TlsFiles) -> None:
    async with media_server(tls) as (base, _):
        problem = await refusal(message({"media": {"picture": f"{base}/page.html"}}), tls)
        assert problem.code == "MALFORMED_PARAMETER"
        assert problem.field == "content.media.picture" and "text/html" in problem.message
        audio = await refusal(message({"media": {"audio": f"{base}/clip.mp4"}}), tls)
        assert audio.field == "content.media.audio" and "audio/" in audio.message


@pytest.mark.parametrize(
    ("kind", "path"),
    [("picture", "/huge.jpg"), ("icon", "/big-icon.png"), ("video", "/long.mp4")],
)
async def test_media_over_its_size_limit_is_refused(tls: TlsFiles, kind: str, path: str) -> None:
    async with media_server(tls) as (base, _):
        problem = await refusal(message({"media": {kind: base + path}}), tls)
        assert problem.field == f"content.media.{kind}" and "limit" in problem.message


async def test_unreachable_and_error_statuses_are_refused(tls: TlsFiles) -> None:
    async with media_server(tls) as (base, _):
        gone = await refusal(message({"media": {"picture": f"{base}/gone.png"}}), tls)
        assert gone.field == "content.media.picture" and "404" in gone.message
    closed = f"https://127.0.0.1:{closed_port()}/icon.png"
    down = await refusal(message({"media": {"icon": closed}}), tls)
    assert down.field == "content.media.icon"
    assert down.message == "the icon URL could not be fetched"


async def test_redirects_head_refusals_and_unknown_sizes_pass(tls: TlsFiles) -> None:
    async with media_server(tls) as (base, server):
        await local_check(
            message(
                {
                    "media": {
                        "icon": f"{base}/moved.png",
                        "picture": f"{base}/nohead.png",
                        "video": f"{base}/clip.mp4",
                    },
                    "landing": {"theme": "t", "image": f"{base}/unsized.gif"},
                }
            ),
            tls,
        )
        assert ("GET", "/nohead.png") in server.requests and (
            "HEAD",
            "/icon.png",
        ) in server.requests


async def test_landing_contents_and_webpush_images_are_checked(tls: TlsFiles) -> None:
    async with media_server(tls) as (base, _):
        landing = {
            "theme": "t",
            "contents": [{"title": "x"}, {"language": "fr", "image": f"{base}/page.html"}],
        }
        problem = await refusal(message({"landing": landing}), tls)
        assert problem.field == "content.landing.contents[1].image"
        web = await refusal(message({}, webpush={"icon": f"{base}/huge.jpg"}), tls)
        assert web.field == "options.webpush.icon"


async def test_contents_fields_are_indexed_and_templated_urls_skipped(tls: TlsFiles) -> None:
    async with media_server(tls) as (base, server):
        msg = parse_message(
            {
                "contents": [
                    {"body": "x", "media": {"picture": f"{base}/{{{{ params.img }}}}"}},
                    {"language": "de", "body": "y", "media": {"picture": f"{base}/gone.png"}},
                ]
            }
        )
        assert [item.field for item in media_urls(msg, "contents")] == ["contents[1].media.picture"]
        problem = await refusal(msg, tls, "contents")
        assert problem.field == "contents[1].media.picture"
        assert all("params" not in path for _, path in server.requests)


async def test_skip_media_check_makes_no_request(tls: TlsFiles) -> None:
    async with media_server(tls) as (base, server):
        await local_check(
            message({"media": {"picture": f"{base}/page.html"}}, skip_media_check=True), tls
        )
        assert server.requests == []


async def test_https_media_is_checked_with_the_extra_ca(tls: TlsFiles) -> None:
    async with media_server(tls) as (base, server):
        msg = message({"media": {"picture": f"{base}/photo.jpg"}})
        with pytest.raises(DomainError) as untrusted:
            await check_media(msg, outbound=LOCAL_OUTBOUND)
        assert untrusted.value.message == "the picture URL could not be fetched"
        await local_check(msg, tls)
        assert ("HEAD", "/photo.jpg") in server.requests


async def test_sends_api_refuses_bad_media_unless_skipped(
    client: httpx.AsyncClient, project: Project, tls: TlsFiles
) -> None:
    async with media_server(tls) as (base, _):
        body: dict[str, Any] = {
            "recipients": {"tokens": ["a" * 64]},
            "content": {"body": "hi", "media": {"picture": f"{base}/page.html"}},
        }
        refused = await client.post("/v1/sends", json=body, headers=project.headers)
        assert refused.status_code == 400, refused.text
        assert error_of(refused)["code"] == "MALFORMED_PARAMETER"
        assert error_of(refused)["field"] == "content.media.picture"
        body["options"] = {"skip_media_check": True}
        accepted = await client.post("/v1/sends", json=body, headers=project.headers)
        assert accepted.status_code == 201, accepted.text
