"""Pure risk rules: which ingress entries open a risky port to the internet."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from remediator.model import ALL_PORTS, IpNetwork, PortRange, Risk, RuleEntry, SourceKind, network_of

# Address space that is not reachable from the internet: a network wholly inside it is never "open".
NON_PUBLIC_NETWORKS: tuple[IpNetwork, ...] = tuple(
    ipaddress.collapse_addresses(
        ipaddress.IPv4Network(cidr)
        for cidr in (
            "0.0.0.0/8",  # "this network"
            "10.0.0.0/8",  # RFC 1918
            "100.64.0.0/10",  # carrier-grade NAT
            "127.0.0.0/8",  # loopback
            "169.254.0.0/16",  # link-local
            "172.16.0.0/12",  # RFC 1918
            "192.0.0.0/24",  # IETF protocol assignments
            "192.0.2.0/24",  # documentation
            "192.168.0.0/16",  # RFC 1918
            "198.18.0.0/15",  # benchmarking
            "198.51.100.0/24",  # documentation
            "203.0.113.0/24",  # documentation
            "224.0.0.0/4",  # multicast: no unicast host of the internet
            "240.0.0.0/4",  # reserved (and the limited broadcast address)
        )
    )
) + tuple(
    ipaddress.collapse_addresses(
        ipaddress.IPv6Network(cidr)
        for cidr in (
            "::1/128",  # loopback
            "::/128",  # unspecified
            "fc00::/7",  # unique local
            "fe80::/10",  # link-local
            "2001:db8::/32",  # documentation
            "3fff::/20",  # documentation (RFC 9637)
            "ff00::/8",  # multicast
        )
    )
)

TRAFFIC_PROTOCOLS = {"tcp", "udp", "-1"}
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenThresholds:
    """How wide a network must be to count as open to the internet: this prefix length or shorter."""

    ipv4: int
    ipv6: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefixListInfo:
    """What the risk rules need to know of a managed prefix list."""

    prefix_list_id: str
    aws_managed: bool
    cidrs: tuple[str, ...]


def normalize_protocol(raw: str | int | None) -> str:
    """AWS's spelling of a protocol: names for tcp/udp/icmp, `-1` for all traffic, else the number."""
    text = str(raw if raw is not None else "").strip().lower()
    return PROTOCOL_NAMES.get(text, text)


# Cached: a sweep asks it of the same few networks in thousands of rules.
@functools.lru_cache(maxsize=4096)
def is_non_public(network: IpNetwork) -> bool:
    """Whether the network lies wholly inside one block of non-public address space."""
    return any(
        network.version == block.version and network.subnet_of(block)  # type: ignore[arg-type]
        for block in NON_PUBLIC_NETWORKS
    )


def network_is_open(network: IpNetwork, thresholds: OpenThresholds) -> bool:
    """Whether a network is in effect the internet: wide enough, and not wholly non-public space."""
    limit = thresholds.ipv4 if network.version == 4 else thresholds.ipv6
    return network.prefixlen <= limit and not is_non_public(network)


def entry_ports(entry: RuleEntry) -> PortRange | None:
    """The ports an entry lets in; None for a malformed range."""
    if entry.protocol == "-1" or entry.from_port is None or entry.to_port is None:
        return ALL_PORTS
    first, last = entry.from_port, entry.to_port
    if first == -1 and last == -1:
        return ALL_PORTS
    if not (0 <= first <= last <= 65535):
        return None
    return PortRange(first=first, last=last)


def open_source_reason(
    entry: RuleEntry, thresholds: OpenThresholds, prefix_lists: Mapping[str, PrefixListInfo]
) -> str | None:
    """Why the entry's source is open to the internet, or None when it is not."""
    source = entry.source
    if source.kind in (SourceKind.IPV4, SourceKind.IPV6):
        network = source.network()
        if network is None or not network_is_open(network, thresholds):
            return None
        if network.prefixlen == 0:
            return f"source {source.value} is the whole internet"
        return f"source {source.value} spans /{network.prefixlen} of public address space"
    if source.kind == SourceKind.PREFIX_LIST:
        info = prefix_lists.get(source.value)
        if info is None or info.aws_managed:
            return None
        open_cidrs = [cidr for cidr in info.cidrs if cidr_is_open(cidr, thresholds)]
        if open_cidrs:
            return f"prefix list {source.value} contains {', '.join(open_cidrs)}"
    return None


def cidr_is_open(cidr: str, thresholds: OpenThresholds) -> bool:
    """Whether a CIDR, read leniently, is open to the internet; False when it is not a CIDR."""
    network = network_of(cidr)
    return network is not None and network_is_open(network, thresholds)


def exposed_ports(entry: RuleEntry, risky_ports: tuple[PortRange, ...]) -> tuple[PortRange, ...]:
    """The risky ports an entry lets traffic in to; none for a protocol without ports of its own or a bad range."""
    if entry.protocol not in TRAFFIC_PROTOCOLS:
        return ()
    ports = entry_ports(entry)
    if ports is None:
        return ()
    return tuple(risky for risky in risky_ports if risky.overlaps(ports))


def assess(
    entry: RuleEntry,
    risky_ports: tuple[PortRange, ...],
    thresholds: OpenThresholds,
    prefix_lists: Mapping[str, PrefixListInfo],
) -> Risk | None:
    """The risk of one ingress entry: a risky port reachable from the internet, or None."""
    exposed = exposed_ports(entry, risky_ports)
    if not exposed:
        return None
    source_reason = open_source_reason(entry, thresholds, prefix_lists)
    if source_reason is None:
        return None
    port_text = ", ".join(str(port) for port in exposed)
    return Risk(ports=exposed, reason=f"{entry.ports_text()} exposes risky port {port_text}; {source_reason}")


# IPv6 has 96 more bits than IPv4; the advisory limit is written as an IPv4 prefix, and for IPv6 it is shifted by 32
# (the default /16 gives /48). /48 is the block RFC 4193 gives one site's unique local addresses, so an IPv6 source
# counts when it spans a whole site's ULA or more (fc00::/7, fd00::/8), as 10.0.0.0/16 does; one VPC's /56 does not.
# Leaving IPv6 out would stay silent on SSH open to every unique local address, which a careful reader would expect
# to be flagged as 10.0.0.0/8 is.
ADVISORY_IPV6_OFFSET = 32


def broad_internal(network: IpNetwork, advisory_prefix: int) -> bool:
    """Whether a network is a wide range of non-public space: prefix at most the limit (+32 for IPv6)."""
    limit = advisory_prefix if network.version == 4 else advisory_prefix + ADVISORY_IPV6_OFFSET
    return network.prefixlen <= limit and is_non_public(network)


def broad_internal_reason(
    entry: RuleEntry, advisory_prefix: int, prefix_lists: Mapping[str, PrefixListInfo]
) -> str | None:
    """Why the entry's source is a broad internal range, or None when it is not (security groups never are)."""
    source = entry.source
    if source.kind in (SourceKind.IPV4, SourceKind.IPV6):
        network = source.network()
        if network is None or not broad_internal(network, advisory_prefix):
            return None
        return f"source {source.value} spans /{network.prefixlen} of non-public address space"
    if source.kind == SourceKind.PREFIX_LIST:
        info = prefix_lists.get(source.value)
        # AWS-managed lists hold AWS's own service ranges, as for `assess`: not a choice of the group's owner.
        if info is None or info.aws_managed:
            return None
        broad = [
            cidr for cidr in info.cidrs if (network := network_of(cidr)) and broad_internal(network, advisory_prefix)
        ]
        if broad:
            return f"prefix list {source.value} contains {', '.join(broad)}, broad non-public address space"
    return None


def assess_advisory(
    entry: RuleEntry,
    risky_ports: tuple[PortRange, ...],
    thresholds: OpenThresholds,
    prefix_lists: Mapping[str, PrefixListInfo],
    *,
    advisory_prefix: int,
) -> Risk | None:
    """The advisory of one entry: a risky port open to a broad internal range, and not risky already; else None."""
    exposed = exposed_ports(entry, risky_ports)
    # A risky entry is acted on as such; an advisory never repeats it (a prefix list may hold both kinds of range).
    if not exposed or assess(entry, risky_ports, thresholds, prefix_lists) is not None:
        return None
    source_reason = broad_internal_reason(entry, advisory_prefix, prefix_lists)
    if source_reason is None:
        return None
    port_text = ", ".join(str(port) for port in exposed)
    return Risk(ports=exposed, reason=f"{entry.ports_text()} exposes risky port {port_text}; {source_reason}")
