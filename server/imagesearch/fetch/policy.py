"""Which addresses the server may fetch from: public ones, plus an allow-list.

A URL's host can be made to resolve anywhere, so the check is on every resolved address
(and the connection then goes to exactly those addresses; fetcher.py), not on the name,
and once more on the address of every socket the fetcher dials (dial.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance-metadata endpoints of the big clouds. Most are link-local or private anyway;
# 100.100.100.200 (Alibaba) sits in shared address space, so each is named explicitly.
CLOUD_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
# IPv6 ranges Python's ipaddress calls global that still reach non-public hosts (issue 10):
# 6to4 (2002::/16) embeds an IPv4 address a relay router turns back into IPv4, so
# 2002:7f00:1:: can end up at 127.0.0.1 or at a private network behind a 6to4 gateway;
# fec0::/10 is the deprecated site-local range, still routed inside some networks.
NON_PUBLIC_IPV6 = (
    ("6to4", ipaddress.ip_network("2002::/16")),
    ("site-local", ipaddress.ip_network("fec0::/10")),
)


class FetchRefused(Exception):
    """The URL points somewhere the server does not fetch from."""


@dataclass(frozen=True)
class AddressPolicy:
    """Refuses non-public addresses unless the host name or the address is allow-listed."""

    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IpNetwork, ...] = ()

    @classmethod
    def parse(cls, allow_list: str) -> "AddressPolicy":
        """From the url_allow_hosts setting: comma-separated host names, addresses or CIDR ranges."""
        hosts: set[str] = set()
        networks: list[IpNetwork] = []
        for entry in (e.strip() for e in allow_list.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        """Whether the host name is allow-listed (its addresses are then not checked)."""
        return host.lower().rstrip(".") in self.allowed_hosts

    def refusal(self, host: str, address: str) -> str | None:
        """Why `host` may not be fetched from `address`; None when it may."""
        if self.host_allowed(host):
            return None
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.allowed_networks):
            return None
        kind = _kind(ip)
        if kind is None:
            return None
        shown = host if host == str(ip) else f"{host} ({ip})"
        return (
            f"image_url host {shown} is a {kind} address; the server only fetches from public addresses "
            "unless the host is in the url_allow_hosts setting"
        )


def _kind(ip: IpAddress) -> str | None:
    """The kind of non-public address `ip` is, or None for a public one."""
    if ip in CLOUD_METADATA:
        return "cloud metadata"
    if isinstance(ip, ipaddress.IPv6Address):
        for kind, network in NON_PUBLIC_IPV6:
            if ip in network:
                return kind
    for kind, test in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
    ):
        if test:
            return kind
    return None if ip.is_global else "non-public"
