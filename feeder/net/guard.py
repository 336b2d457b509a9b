"""Name resolution and the address guard for every outgoing request.

feeder fetches URLs that come from content files and other people's feeds,
so a URL must never make it talk to the machine itself or to the private
network it sits on. Host names are resolved here, every address is checked,
and the connection is made to the checked address, on every redirect hop,
so a DNS answer cannot change between the check and the connect.

Resolution is injectable: tests answer names themselves and no query leaves
the machine; `links.hosts` pins names like /etc/hosts does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "AddressGuard",
    "BadHost",
    "BlockedAddress",
    "LookupFailed",
    "NameNotFound",
    "Resolver",
    "StaticResolver",
    "SystemResolver",
    "embedded_ipv4",
    "ip_literal",
    "ipv4_number",
    "is_public_address",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class NameNotFound(OSError):
    """The name does not exist (NXDOMAIN)."""


class LookupFailed(OSError):
    """The lookup itself failed (no answer, no network): says nothing about the name."""


class BlockedAddress(OSError):
    """The name resolves to an address feeder may not connect to."""

    def __init__(self, host: str, address: str):
        super().__init__(f"{host} resolves to the non-public address {address}")
        self.host = host
        self.address = address


class Resolver(Protocol):
    async def resolve(self, host: str) -> list[str]:
        """The addresses of `host`; raises NameNotFound or LookupFailed."""
        ...


class SystemResolver:
    """The operating system's resolver (getaddrinfo in a thread)."""

    _NOT_FOUND = frozenset({socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)})

    async def resolve(self, host: str) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno in self._NOT_FOUND:
                raise NameNotFound(f"{host}: name not found") from None
            raise LookupFailed(f"{host}: lookup failed ({exc.strerror})") from None
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass
class StaticResolver:
    """Answers from a table first; other names go to `fallback`, or do not exist."""

    table: Mapping[str, tuple[str, ...]]
    fallback: Resolver | None = None

    async def resolve(self, host: str) -> list[str]:
        addrs = self.table.get(host.lower().rstrip("."))
        if addrs:
            return list(addrs)
        if self.fallback is not None:
            return await self.fallback.resolve(host)
        raise NameNotFound(f"{host}: name not found")


# IPv6 prefixes whose addresses carry an IPv4 address that a gateway or the
# stack itself talks to: NAT64's well-known prefix (RFC 6052) and its
# local-use one (RFC 8215), and the deprecated IPv4-compatible form (::a.b.c.d).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped and
    -compatible, NAT64 (both prefixes), 6to4 and Teredo (server and client)."""
    found: list[ipaddress.IPv4Address] = []
    value = int(ip)
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _NAT64 or (ip in _COMPATIBLE and value > 1):  # :: and ::1 are not IPv4-compatible addresses
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if ip in _NAT64_LOCAL:
        # A /48 prefix: the IPv4 address is bits 48-63 and 72-87 (bits 64-71, "u", stay zero).
        packed = ip.packed
        found.append(ipaddress.IPv4Address(packed[6:8] + packed[9:11]))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def is_public_address(address: str | IPAddress) -> bool:
    """False for loopback, private, link-local, multicast, reserved and other
    special ranges, and for IPv6 forms that lead to such an IPv4 address."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        inside = embedded_ipv4(ip)
        if inside:
            # Judged by where they lead; a local-use NAT64 prefix is as public as what it translates to.
            return all(is_public_address(v4) for v4 in inside)
    return ip.is_global and not ip.is_multicast


class BadHost(ValueError):
    """A host written as a number that is no IPv4 address (`1.2.3.256`, `0x1g`)."""


def ipv4_number(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host written as numbers means, as browsers and
    `inet_aton` read it (WHATWG URL, "IPv4 parser"): `0177.0.0.1`,
    `127.000.000.001`, `0x7f.1` and `2130706433` are all 127.0.0.1. None for
    a host name; `BadHost` for numbers that make no address."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    last = parts[-1]
    if not (last.isdigit() and last.isascii()) and not (last[:2].lower() == "0x" and _hex(last[2:])):
        return None  # the last label is not a number: a name
    if len(parts) > 4:
        raise BadHost(f"{host!r} has more than four numbers")
    numbers = []
    for part in parts:
        if part[:2].lower() == "0x":
            if not _hex(part[2:]):
                raise BadHost(f"{host!r} is not an IPv4 address")
            numbers.append(int(part[2:] or "0", 16))
        elif part.startswith("0") and len(part) > 1:
            if not part.isascii() or any(c not in "01234567" for c in part):
                raise BadHost(f"{host!r} is not an IPv4 address")
            numbers.append(int(part, 8))
        elif part.isascii() and part.isdigit():
            numbers.append(int(part))
        else:
            raise BadHost(f"{host!r} is not an IPv4 address")
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise BadHost(f"{host!r} is out of the IPv4 range")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n * 256 ** (3 - i)
    return ipaddress.IPv4Address(value)


def _hex(digits: str) -> bool:
    return digits.isascii() and all(c in "0123456789abcdefABCDEF" for c in digits)


def ip_literal(host: str) -> IPAddress | None:
    """The address a URL's host is, when it is one (IPv6 in brackets, IPv4 in
    any spelling `ipv4_number` reads); None for a name."""
    # Most hosts are names: tell them apart without paying for an exception.
    if not host or not (host[0].isdigit() or host[0] == "[" or ":" in host):
        return None
    if ":" in host or host[0] == "[":
        try:
            return ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return None
    try:
        return ipv4_number(host)
    except BadHost:
        return None


@dataclass
class AddressGuard:
    """Resolves and checks; also counts outcomes so a round can tell a dead
    network from dead links."""

    resolver: Resolver
    allow_private: bool = False
    permit: Callable[[str], bool] | None = None  # overrides the public-address rule (tests)
    lookups_ok: int = 0
    lookups_failed: int = 0
    _names: dict[str, list[str]] = field(default_factory=dict)

    def check(self, host: str, address: str) -> None:
        if self.permit is not None:
            allowed = self.permit(address)
        else:
            allowed = self.allow_private or is_public_address(address)
        if not allowed:
            raise BlockedAddress(host, address)

    def check_literal(self, host: str) -> None:
        """Raise `BlockedAddress` when `host` is an IP address the rules refuse.

        Names are checked when they are resolved (`addresses`); an address
        written in a URL is never resolved, so it is checked here, before
        any request to it is sent.
        """
        literal = ip_literal(host)
        if literal is not None:
            self.check(host, str(literal))

    async def addresses(self, host: str) -> list[str]:
        literal = ip_literal(host)
        if literal is not None:
            self.check(host, str(literal))
            return [str(literal)]
        try:
            addrs = await self.resolver.resolve(host)
        except OSError:
            self.lookups_failed += 1
            raise
        self.lookups_ok += 1
        for a in addrs:
            self.check(host, a)
        return addrs

    def reset_counts(self) -> None:
        self.lookups_ok = self.lookups_failed = 0
