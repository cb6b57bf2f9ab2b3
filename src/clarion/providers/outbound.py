"""The outbound policy: which URLs Clarion may call on a tenant's behalf.

Tenants choose URLs the server then calls (provider endpoints, the FCM token
URI, Web Push subscriptions, media URLs). Without care they could make the
server reach its own network: the loopback interface, private ranges, cloud
metadata services. The policy allows https only and refuses every address that
is not public, unless the operator opened it with CLARION_OUTBOUND_ALLOWLIST
(comma-separated host names, IP addresses and CIDR ranges).

Addresses are judged where they are connected to, after resolution (see
`outbound_http` and `OutboundPolicy.resolve`), so a name that resolves to an
internal address, or changes its answer between two lookups, is refused too.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWLIST_VARIABLE: Final = "CLARION_OUTBOUND_ALLOWLIST"

# Instance metadata services hand out cloud credentials: refused even inside an
# allowed range. Some sit outside private space (Azure's wire server), so a
# "public only" rule alone would not catch them.
_METADATA: Final = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",
        "169.254.169.253",
        "169.254.170.2",
        "169.254.169.123",
        "fd00:ec2::254",
        "fd00:ec2::253",
        "fd00:ec2::23",
        "100.100.100.200",
        "192.0.0.192",
        "168.63.129.16",
    )
)
# Names of this machine, judged as its loopback address before any lookup.
_LOCAL_NAMES: Final = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
)
# Names of metadata services, refused like their addresses.
_METADATA_NAMES: Final = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL: Final = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")
# inet_aton reads 2130706433, 0x7f.1 and 017700000001 as 127.0.0.1: such hosts are addresses.
_HOST_NAME: Final = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")
_LEGACY_IPV4: Final = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")


class OutboundRefused(OSError):
    """The outbound policy refused a URL or an address; the message says which and why."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"refused by the outbound policy: {detail}"
            f" (an operator can open a host with {ALLOWLIST_VARIABLE})"
        )
        self.detail = detail


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, compatible, 6to4, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _kind(address: IPAddress) -> str | None:
    """What makes an address non-public, or None for a public address."""
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if isinstance(address, ipaddress.IPv6Address) and (
        address.teredo is not None or address in _NAT64_LOCAL
    ):
        return "a tunnelled address"
    if not address.is_global:
        return "not a public address"
    return None


def parse_address(host: str) -> IPAddress | None:
    """The IP address a URL host or socket address stands for, or None for a name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if _LEGACY_IPV4.match(text.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class OutboundPolicy:
    """Public https hosts only, plus what the operator's allowlist opens."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, allowlist: str) -> OutboundPolicy:
        """A policy from the allowlist syntax: host names, IP addresses and CIDR ranges."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in allowlist.split(","):
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or not _HOST_NAME.fullmatch(entry) or parse_address(entry):
                raise ValueError(
                    f"{ALLOWLIST_VARIABLE}: {raw.strip()!r} is not a host name,"
                    " IP address or CIDR range"
                )
            hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    def allows_name(self, host: str) -> bool:
        """Whether the operator opened this host name (then any address it resolves to)."""
        return host.lower().rstrip(".") in self.hosts

    def address_problem(self, address: IPAddress) -> str | None:
        """Why an address may not be connected to, or None when it may."""
        if address in _METADATA:
            return "a cloud metadata address"
        if any(address in network for network in self.networks):
            return None
        if isinstance(address, ipaddress.IPv6Address):
            inner = _embedded_ipv4(address)
            if inner is not None:
                problem = self.address_problem(inner)
                return None if problem is None else f"an IPv6 form of {inner}, {problem}"
        return _kind(address)

    def check_address(self, address: str, host: str | None = None) -> None:
        """Raise OutboundRefused unless this address may be connected to."""
        parsed = parse_address(address)
        if parsed is None:
            raise OutboundRefused(f"{address} is not an IP address")
        problem = self.address_problem(parsed)
        if problem is not None:
            if host is None or host == address:
                raise OutboundRefused(f"{address} is {problem}")
            # The address a name resolved to is not told: it may be internal DNS.
            raise OutboundRefused(f"{host} resolves to {problem}")

    def check_host(self, host: str) -> None:
        """Refuse a host that is an address or a well-known local name, before any lookup."""
        name = host.lower().strip("[]").rstrip(".")
        if name in self.hosts:
            return
        if parse_address(name) is not None:
            self.check_address(name)
            return
        if name in _METADATA_NAMES:
            raise OutboundRefused(f"{host} names a cloud metadata service")
        if name in _LOCAL_NAMES or name.endswith(".localhost"):
            self.check_address("127.0.0.1", host)

    def check_url(self, url: str) -> str:
        """Refuse a URL that is not https or whose host is refused; return its host."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - a malformed port raises here
        except ValueError as exc:
            raise OutboundRefused("the URL cannot be parsed") from exc
        if parts.scheme.lower() != "https":
            raise OutboundRefused(f"only https URLs are called, not {parts.scheme or 'none'}")
        if not host:
            raise OutboundRefused("the URL has no host")
        self.check_host(host)
        return host

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of `host` that may be connected to; OutboundRefused when none."""
        literal = parse_address(host)
        if literal is not None:
            self.check_address(str(literal))
            return [str(literal)]
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if self.allows_name(host):
            return addresses
        allowed: list[str] = []
        refusal: OutboundRefused | None = None
        for address in addresses:
            try:
                self.check_address(address, host)
            except OutboundRefused as exc:
                refusal = refusal or exc
            else:
                allowed.append(address)
        if not allowed:
            raise refusal or OutboundRefused(f"{host} has no address")
        return allowed


STRICT: Final = OutboundPolicy()


@functools.lru_cache(maxsize=16)
def policy_from(allowlist: str) -> OutboundPolicy:
    """The policy for an allowlist setting (parsed once per distinct value)."""
    return OutboundPolicy.parse(allowlist)
