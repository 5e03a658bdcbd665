"""Where a request comes from, and whether that address may be served.

Addresses are normalised before any rule sees them (IPv4-mapped and IPv4-compatible IPv6
become IPv4, scope ids and brackets go), and odd spellings that the standard library refuses
(`127.1`, `0x7f.0.0.1`, `010.0.0.1`) never become an address at all: they are treated as no
address, which no deny list can name and no allow list admits.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.datastructures import Headers

from filewallball.access.roles import Role
from filewallball.settings import Network

Address = IPv4Address | IPv6Address


# Every request parses its peer's address, and a few peers send most requests: a parse is
# ten times the cost of a lookup. Bounded: forwarded hops are the client's to invent.
@functools.lru_cache(maxsize=4096)
def normalise(raw: str | None) -> Address | None:
    if not raw:
        return None
    text = raw.strip().strip('"')
    if text.startswith("["):  # [v6]:port, as in Forwarded
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    text = text.split("%", 1)[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        # IPv4-compatible (`::192.0.2.1`, deprecated) is the IPv4 address too; `::` and `::1`
        # share its shape but are IPv6's own unspecified and loopback addresses.
        if int(address) >> 32 == 0 and int(address) > 1:
            return IPv4Address(int(address))
    return address


def normalise_network(network: Network) -> Network:
    """`::ffff:10.0.0.0/104` is the IPv4 network 10.0.0.0/8, and must match it."""
    if isinstance(network, IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network


def within(address: Address, networks: Iterable[Network]) -> bool:
    return any(
        address.version == net.version and address in net
        for net in map(normalise_network, networks)
    )


def _forwarded_chain(headers: Headers, header: str) -> list[str]:
    if header == "forwarded":
        hops = []
        for element in ",".join(headers.getlist("forwarded")).split(","):
            for pair in element.split(";"):
                name, _, value = pair.strip().partition("=")
                if name.lower() == "for":
                    hops.append(value)
        return hops
    return [hop for value in headers.getlist("x-forwarded-for") for hop in value.split(",")]


def client_address(
    peer: str | None,
    headers: Headers,
    trusted_proxies: Sequence[Network],
    header: str = "x-forwarded-for",
) -> Address | None:
    """The client's address: the peer's, unless the peer is a trusted proxy, in which case the
    nearest untrusted hop of the one forwarding header the proxies write (`header`). A spoofed
    header from anyone else, or the other forwarding header from anyone, is ignored."""
    address = normalise(peer)
    if address is None or not within(address, trusted_proxies):
        return address
    for hop in reversed(_forwarded_chain(headers, header)):
        hop_address = normalise(hop)
        if hop_address is None:
            # `unknown`, an obfuscated id or garbage: the client's address is not known. It is
            # not the proxy's either, which the rules would otherwise judge in the client's place.
            return None
        address = hop_address
        if not within(address, trusted_proxies):
            return address
    return address


def client_bucket(address: Address | None) -> str:
    """Who a limit counts against when there is no key: the address, or for IPv6 its /64,
    which one subscriber holds whole and could otherwise walk through."""
    if isinstance(address, IPv6Address):
        return f"ip:{IPv6Network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


@dataclass(frozen=True, slots=True)
class NetworkRules:
    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()
    role_allow: dict[Role, tuple[Network, ...]] = field(default_factory=dict)
    role_deny: dict[Role, tuple[Network, ...]] = field(default_factory=dict)

    def admits(self, address: Address | None) -> bool:
        """The global lists: deny wins; a non-empty allow list admits only its networks."""
        return _admitted(address, self.allow, self.deny)

    def admits_role(self, address: Address | None, role: Role | None) -> bool:
        """The role's own lists, the same way; no role (anonymous access off) has none."""
        if role is None:
            return True
        return _admitted(address, self.role_allow.get(role, ()), self.role_deny.get(role, ()))

    def permits(self, address: Address | None, role: Role | None) -> bool:
        return self.admits(address) and self.admits_role(address, role)


def _admitted(address: Address | None, allow: Sequence[Network], deny: Sequence[Network]) -> bool:
    if address is None:  # unknown: no deny list can name it, and no allow list admits it
        return not allow
    if within(address, deny):
        return False
    return not allow or within(address, allow)
