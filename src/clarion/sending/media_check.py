"""The media check at send acceptance: every media URL must answer with the right kind and size.

Each plain (non-Liquid) media URL of the message gets a HEAD request (servers
answering 405 or 501 to HEAD get a GET whose body is not read). Every URL, and
each of at most three redirects, is checked against the outbound policy: https
only, public addresses only unless CLARION_OUTBOUND_ALLOWLIST opens them.
The send is refused with MALFORMED_PARAMETER naming the field when the URL is
refused by the policy, cannot be fetched, answers an error status, has the
wrong content type, or announces a Content-Length over the limit. Why a fetch
failed (closed port, TLS, not HTTP) is not told: that would map the network
behind the server. A response without Content-Length passes the size
rule, since the size cannot be known without downloading the file.

Kinds and limits (the tightest platform rule for each kind, so that media that
passes here is shown everywhere):
- icon (media.icon, options.webpush.icon, options.webpush.badge): image/*, 1 MB
  (Android and browsers load icons eagerly; large ones are dropped).
- picture and landing images: image/*, 10 MB (the APNs attachment limit for images).
- audio: audio/*, 5 MB (APNs attachment limit for audio).
- video: video/*, 50 MB (APNs attachment limit for video).
URLs holding Liquid markup are only known per recipient and are not checked.
`options.skip_media_check` turns the whole check off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urljoin

import aiohttp

from clarion.domain.errors import MALFORMED_PARAMETER, DomainError, join_path
from clarion.domain.message import Content, Landing, Message, has_template_markup
from clarion.providers.http_session import new_session
from clarion.providers.outbound import STRICT, OutboundPolicy, OutboundRefused
from clarion.providers.outbound_http import refusal_in
from clarion.providers.tls import client_ssl_context

MB: Final = 1024 * 1024
DEFAULT_TIMEOUT_SECONDS: Final = 5.0
_PARALLEL_PROBES: Final = 8
_HEAD_REFUSED: Final = frozenset({405, 501})
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS: Final = 3


class TooManyRedirects(Exception):
    """A media URL redirected more often than MAX_REDIRECTS."""


@dataclass(frozen=True)
class MediaRule:
    """What a media URL must serve: a content-type family and a largest size."""

    name: str
    type_prefix: str
    max_bytes: int
    # When set, only these exact media types pass (a dialect's stricter list).
    exact_types: frozenset[str] = frozenset()

    def accepts(self, media_type: str) -> bool:
        """Whether a served media type fits this rule."""
        if self.exact_types:
            return media_type in self.exact_types
        return media_type.startswith(self.type_prefix)

    def expected(self) -> str:
        """The media types this rule wants, for error messages."""
        return ", ".join(sorted(self.exact_types)) if self.exact_types else self.type_prefix + "*"


ICON: Final = MediaRule("icon", "image/", 1 * MB)
PICTURE: Final = MediaRule("picture", "image/", 10 * MB)
AUDIO: Final = MediaRule("audio", "audio/", 5 * MB)
VIDEO: Final = MediaRule("video", "video/", 50 * MB)
LANDING_IMAGE: Final = MediaRule("landing image", "image/", 10 * MB)

#: Rules of the notification media fields; a dialect may pass its platform's own.
CONTENT_RULES: Final[Mapping[str, MediaRule]] = {
    "icon": ICON,
    "picture": PICTURE,
    "audio": AUDIO,
    "video": VIDEO,
    "landing": LANDING_IMAGE,
}


@dataclass(frozen=True)
class MediaUrl:
    """One URL to check, the field that holds it, and its rule."""

    field: str
    url: str
    rule: MediaRule


def _landing_urls(landing: Landing | None, path: str | None, rule: MediaRule) -> list[MediaUrl]:
    if landing is None:
        return []
    found = []
    if landing.image:
        found.append(MediaUrl(join_path(path, "image") or "image", landing.image, rule))
    for index, item in enumerate(landing.contents):
        if item.image:
            where = join_path(path, "contents", index, "image") or "image"
            found.append(MediaUrl(where, item.image, rule))
    return found


def _content_urls(
    content: Content, path: str | None, rules: Mapping[str, MediaRule]
) -> list[MediaUrl]:
    found = []
    for name, rule in rules.items():
        url = getattr(content.media, name, None) if name != "landing" else None
        if url:
            found.append(MediaUrl(join_path(path, "media", name) or name, url, rule))
    # Rules without "landing" leave landing images unchecked (a platform that never did).
    landing_rule = rules.get("landing")
    if landing_rule is not None:
        found += _landing_urls(content.landing, join_path(path, "landing"), landing_rule)
    return found


def media_urls(
    message: Message,
    content_field: str = "content",
    rules: Mapping[str, MediaRule] = CONTENT_RULES,
) -> list[MediaUrl]:
    """Every checkable media URL of a message; `content_field` is "content" or "contents"."""
    found: list[MediaUrl] = []
    contents = message.localized()
    for index, content in enumerate(contents):
        path = join_path(content_field, index) if content_field == "contents" else content_field
        found += _content_urls(content, path, rules)
    web = message.options.webpush
    for name, url in (("icon", web.icon), ("badge", web.badge)):
        if url:
            found.append(MediaUrl(f"options.webpush.{name}", url, ICON))
    return [item for item in found if not has_template_markup(item.url)]


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


async def _once(
    http: aiohttp.ClientSession, method: str, url: str
) -> tuple[int, str, int | None, str | None]:
    async with http.request(method, url, allow_redirects=False) as response:
        location = response.headers.get("Location") if response.status in _REDIRECTS else None
        return (
            response.status,
            _media_type(response.content_type),
            response.content_length,
            location,
        )


async def _probe(
    http: aiohttp.ClientSession, url: str, outbound: OutboundPolicy
) -> tuple[int, str, int | None]:
    # Redirects are followed here, not by aiohttp, so that each hop meets the policy.
    method, hops = "HEAD", 0
    while True:
        outbound.check_url(url)
        status, media_type, length, location = await _once(http, method, url)
        if location is not None:
            hops += 1
            if hops > MAX_REDIRECTS:
                raise TooManyRedirects
            url = urljoin(url, location)
        elif method == "HEAD" and status in _HEAD_REFUSED:
            # Some servers refuse HEAD: GET and read only the headers.
            method = "GET"
        else:
            return status, media_type, length


async def check_url(
    http: aiohttp.ClientSession, item: MediaUrl, outbound: OutboundPolicy = STRICT
) -> DomainError | None:
    """The problem with one media URL, or None when it serves an acceptable file."""
    name = item.rule.name
    try:
        status, media_type, length = await _probe(http, item.url, outbound)
    except OutboundRefused as exc:
        return DomainError(MALFORMED_PARAMETER, f"the {name} URL is {exc}", item.field)
    except TooManyRedirects:
        return DomainError(
            MALFORMED_PARAMETER,
            f"the {name} URL redirects more than {MAX_REDIRECTS} times",
            item.field,
        )
    except (aiohttp.ClientError, OSError) as exc:
        refusal = refusal_in(exc)
        if refusal is not None:
            return DomainError(MALFORMED_PARAMETER, f"the {name} URL is {refusal}", item.field)
        return DomainError(MALFORMED_PARAMETER, f"the {name} URL could not be fetched", item.field)
    if status >= 300:
        return DomainError(
            MALFORMED_PARAMETER, f"the {name} URL answered HTTP {status}", item.field
        )
    if not item.rule.accepts(media_type):
        shown = media_type or "no content type"
        return DomainError(
            MALFORMED_PARAMETER,
            f"the {name} URL serves {shown}, not {item.rule.expected()}",
            item.field,
        )
    if length is not None and length > item.rule.max_bytes:
        return DomainError(
            MALFORMED_PARAMETER,
            f"the {name} is {length} bytes, over the {item.rule.max_bytes} byte limit",
            item.field,
        )
    return None


async def check_media(
    message: Message,
    content_field: str = "content",
    *,
    extra_ca_file: Path | None = None,
    probe_timeout: float = DEFAULT_TIMEOUT_SECONDS,
    rules: Mapping[str, MediaRule] = CONTENT_RULES,
    outbound: OutboundPolicy = STRICT,
) -> None:
    """Refuse the message (DomainError on the first failing field) unless its media is fine."""
    if message.options.skip_media_check:
        return
    items = media_urls(message, content_field, rules)
    if not items:
        return
    limit = asyncio.Semaphore(_PARALLEL_PROBES)
    http = new_session(
        client_ssl_context(extra_ca_file),
        request_timeout=probe_timeout,
        connect_timeout=probe_timeout,
        max_connections=_PARALLEL_PROBES,
        outbound=outbound,
    )
    verdicts: dict[tuple[str, MediaRule], asyncio.Task[DomainError | None]] = {}

    async def bounded(item: MediaUrl) -> DomainError | None:
        async with limit:
            return await check_url(http, item, outbound)

    async with http:
        for item in items:
            key = (item.url, item.rule)
            if key not in verdicts:
                verdicts[key] = asyncio.ensure_future(bounded(item))
        await asyncio.gather(*verdicts.values())
    for item in items:
        problem = verdicts[(item.url, item.rule)].result()
        if problem is not None:
            # The same URL may sit in several fields: name the first one that holds it.
            raise DomainError(problem.code, problem.message, item.field)
