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
    "BlockedAddress",
    "LookupFailed",
    "NameNotFound",
    "Resolver",
    "StaticResolver",
    "SystemResolver",
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


def is_public_address(address: str | IPAddress) -> bool:
    """False for loopback, private, link-local, multicast, reserved and other special ranges."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if mapped is not None:
            return is_public_address(mapped)
    return ip.is_global and not ip.is_multicast


def ip_literal(host: str) -> IPAddress | None:
    # Most hosts are names: tell them apart without paying for an exception.
    if not host or not (host[0].isdigit() or host[0] == "[" or ":" in host):
        return None
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
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
