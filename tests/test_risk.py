"""Table-driven tests of the pure risk rules."""

from __future__ import annotations

import ipaddress

import pytest

from remediator.model import PortRange, RuleEntry, Source, SourceKind
from remediator.risk import (
    OpenThresholds,
    PrefixListInfo,
    assess,
    assess_advisory,
    network_is_open,
    normalize_protocol,
)
from remediator.sources import parse_source

DEFAULT_PORTS = (PortRange(first=22, last=22), PortRange(first=3389, last=3389))
THRESHOLDS = OpenThresholds(ipv4=8, ipv6=32)
PREFIX_LISTS = {
    "pl-0000000000000000a": PrefixListInfo(
        prefix_list_id="pl-0000000000000000a", aws_managed=False, cidrs=("203.0.113.0/24", "0.0.0.0/0")
    ),
    "pl-0000000000000000b": PrefixListInfo(
        prefix_list_id="pl-0000000000000000b", aws_managed=False, cidrs=("198.51.100.7/32", "10.0.0.0/8")
    ),
    "pl-0000000000000000c": PrefixListInfo(prefix_list_id="pl-0000000000000000c", aws_managed=True, cidrs=()),
}


def entry(protocol: str, ports: tuple[int, int] | None, source: str) -> RuleEntry:
    if source.startswith("sg-"):
        parsed = Source(kind=SourceKind.SECURITY_GROUP, value=source)
    elif source.startswith("pl-"):
        parsed = Source(kind=SourceKind.PREFIX_LIST, value=source)
    else:
        kind = SourceKind.IPV6 if ":" in source else SourceKind.IPV4
        parsed = Source(kind=kind, value=source)
    return RuleEntry(
        protocol=normalize_protocol(protocol),
        from_port=ports[0] if ports else None,
        to_port=ports[1] if ports else None,
        source=parsed,
        description=None,
        rule_id=None,
    )


@pytest.mark.parametrize(
    ("protocol", "ports", "source", "risky"),
    [
        ("tcp", (22, 22), "0.0.0.0/0", True),
        ("tcp", (22, 22), "::/0", True),
        ("tcp", (3389, 3389), "0.0.0.0/0", True),
        ("udp", (3389, 3389), "0.0.0.0/0", True),
        ("6", (22, 22), "0.0.0.0/0", True),
        ("17", (20, 30), "0.0.0.0/0", True),
        ("-1", None, "0.0.0.0/0", True),
        ("-1", (-1, -1), "::/0", True),
        ("tcp", (0, 65535), "0.0.0.0/0", True),
        ("tcp", (20, 30), "0.0.0.0/0", True),
        ("tcp", (23, 3388), "0.0.0.0/0", False),
        ("tcp", (443, 443), "0.0.0.0/0", False),
        ("icmp", (-1, -1), "0.0.0.0/0", False),
        ("1", (8, 0), "0.0.0.0/0", False),
        ("50", None, "0.0.0.0/0", False),
        # Split CIDRs that Prowler, AWS Config and Security Hub miss.
        ("tcp", (22, 22), "0.0.0.0/1", True),
        ("tcp", (22, 22), "128.0.0.0/1", True),
        ("tcp", (22, 22), "52.0.0.0/8", True),
        ("tcp", (22, 22), "52.0.0.0/9", False),
        ("tcp", (22, 22), "2600::/16", True),
        ("tcp", (22, 22), "2600:1f18::/32", True),
        ("tcp", (22, 22), "2600:1f18::/33", False),
        # Host bits set mean the network (lenient parsing).
        ("tcp", (22, 22), "1.2.3.4/0", True),
        ("tcp", (22, 22), "208.236.235.254/0", True),
        ("tcp", (22, 22), "0.0.0.0/16", False),
        # Wide but not public.
        ("tcp", (22, 22), "10.0.0.0/8", False),
        ("tcp", (22, 22), "203.0.113.0/24", False),
        ("tcp", (22, 22), "127.0.0.1/32", False),
        ("tcp", (22, 22), "100.64.0.0/10", False),
        ("tcp", (22, 22), "fc00::/7", False),
        ("tcp", (22, 22), "2001:db8::/32", False),
        ("tcp", (22, 22), "0.0.0.0/8", False),
        ("tcp", (22, 22), "0.0.0.0/7", True),
        # Sources that are never open to the internet by themselves.
        ("tcp", (22, 22), "sg-0123456789abcdef0", False),
        ("tcp", (22, 22), "not-a-cidr", False),
        # Prefix lists: customer lists by their entries, AWS-managed lists never.
        ("tcp", (22, 22), "pl-0000000000000000a", True),
        ("tcp", (22, 22), "pl-0000000000000000b", False),
        ("tcp", (22, 22), "pl-0000000000000000c", False),
        ("tcp", (22, 22), "pl-00000000000000ddd", False),
        # A malformed port range cannot be assessed, so it is not acted on.
        ("tcp", (30, 20), "0.0.0.0/0", False),
    ],
)
def test_an_entry_is_risky_only_with_a_traffic_protocol_a_risky_port_and_an_open_source(
    protocol: str, ports: tuple[int, int] | None, source: str, risky: bool
) -> None:
    risk = assess(entry(protocol, ports, source), DEFAULT_PORTS, THRESHOLDS, PREFIX_LISTS)
    assert (risk is not None) == risky


def test_the_risk_names_the_exposed_ports_and_why_the_source_is_open() -> None:
    risk = assess(entry("tcp", (0, 65535), "0.0.0.0/1"), DEFAULT_PORTS, THRESHOLDS, PREFIX_LISTS)
    assert risk is not None
    assert risk.ports == DEFAULT_PORTS
    assert "tcp/0-65535" in risk.reason
    assert "/1 of public address space" in risk.reason


def test_the_prefix_list_risk_names_the_open_entry() -> None:
    risk = assess(entry("tcp", (22, 22), "pl-0000000000000000a"), DEFAULT_PORTS, THRESHOLDS, PREFIX_LISTS)
    assert risk is not None
    assert "0.0.0.0/0" in risk.reason
    assert "203.0.113.0/24" not in risk.reason


@pytest.mark.parametrize(
    ("cidr", "thresholds", "is_open"),
    [
        ("52.0.0.0/9", OpenThresholds(ipv4=9, ipv6=32), True),
        ("52.0.0.0/8", OpenThresholds(ipv4=0, ipv6=32), False),
        ("0.0.0.0/0", OpenThresholds(ipv4=0, ipv6=0), True),
        ("2600::/48", OpenThresholds(ipv4=8, ipv6=48), True),
    ],
)
def test_the_open_thresholds_are_configurable(cidr: str, thresholds: OpenThresholds, is_open: bool) -> None:
    source = parse_source(cidr)
    assert source is not None
    network = source.network()
    assert network is not None
    assert network_is_open(network, thresholds) == is_open


def test_risky_ports_can_be_ranges() -> None:
    ports = (PortRange(first=8000, last=8100),)
    assert assess(entry("tcp", (8080, 8080), "0.0.0.0/0"), ports, THRESHOLDS, {}) is not None
    assert assess(entry("tcp", (22, 22), "0.0.0.0/0"), ports, THRESHOLDS, {}) is None


@pytest.mark.parametrize(
    ("raw", "expected"), [("TCP", "tcp"), ("6", "tcp"), ("17", "udp"), ("-1", "-1"), ("all", "-1"), (58, "icmpv6")]
)
def test_protocols_are_spelled_as_aws_spells_them(raw: str | int, expected: str) -> None:
    assert normalize_protocol(raw) == expected


WIDE_OPEN = OpenThresholds(ipv4=32, ipv6=128)


@pytest.mark.parametrize(
    ("block", "inside"),
    [
        ("224.0.0.0/4", "239.255.255.0/24"),  # multicast
        ("240.0.0.0/4", "255.255.255.255/32"),  # reserved, with the limited broadcast address
        ("ff00::/8", "ff02::/16"),  # IPv6 multicast
    ],
)
def test_multicast_and_reserved_space_is_never_open_however_narrow_the_threshold(block: str, inside: str) -> None:
    for cidr in (block, inside):
        assert not network_is_open(ipaddress.ip_network(cidr), WIDE_OPEN), cidr


@pytest.mark.parametrize("cidr", ["223.255.255.0/24", "0.0.0.0/0", "::/0", "fe00::/9"])
def test_public_space_beside_the_multicast_and_reserved_blocks_stays_open(cidr: str) -> None:
    assert network_is_open(ipaddress.ip_network(cidr), WIDE_OPEN)


ADVISORY_LISTS = {
    **PREFIX_LISTS,
    "pl-000000000000000dd": PrefixListInfo(
        prefix_list_id="pl-000000000000000dd", aws_managed=False, cidrs=("10.1.2.0/24", "192.168.0.0/16")
    ),
    "pl-000000000000000ee": PrefixListInfo(
        prefix_list_id="pl-000000000000000ee", aws_managed=False, cidrs=("10.1.2.0/24", "198.51.100.7/32")
    ),
    "pl-000000000000000ff": PrefixListInfo(
        prefix_list_id="pl-000000000000000ff", aws_managed=True, cidrs=("10.0.0.0/8",)
    ),
}


@pytest.mark.parametrize(
    ("protocol", "ports", "source", "advisory_prefix", "advisory"),
    [
        ("tcp", (22, 22), "10.0.0.0/8", 16, True),
        ("tcp", (22, 22), "10.0.0.0/16", 16, True),
        ("tcp", (22, 22), "10.1.0.0/17", 16, False),
        ("tcp", (443, 443), "10.0.0.0/8", 16, False),
        ("tcp", (3389, 3389), "192.168.0.0/16", 16, True),
        ("udp", (20, 30), "100.64.0.0/10", 16, True),
        ("-1", None, "172.16.0.0/12", 16, True),
        ("icmp", (-1, -1), "10.0.0.0/8", 16, False),
        ("tcp", (30, 20), "10.0.0.0/8", 16, False),
        # Risky already, so acted on as such and never advisory.
        ("tcp", (22, 22), "0.0.0.0/0", 16, False),
        ("tcp", (22, 22), "52.0.0.0/8", 16, False),
        # Public but narrower than the open threshold: neither risky nor internal.
        ("tcp", (22, 22), "52.0.0.0/12", 16, False),
        # Part public, part not: not wholly internal.
        ("tcp", (22, 22), "172.0.0.0/10", 16, False),
        # The edge of the setting: a prefix at most the limit counts, one bit longer does not.
        ("tcp", (22, 22), "10.0.0.0/20", 20, True),
        ("tcp", (22, 22), "10.0.0.0/21", 20, False),
        ("tcp", (22, 22), "10.0.0.0/8", 8, True),
        ("tcp", (22, 22), "10.0.0.0/8", 7, False),
        ("tcp", (22, 22), "10.0.0.5/32", 32, True),
        # IPv6 at the limit plus 32: a /48 by default.
        ("tcp", (22, 22), "fc00::/7", 16, True),
        ("tcp", (22, 22), "fd12:3456:789a::/48", 16, True),
        ("tcp", (22, 22), "fd12:3456:789a:100::/56", 16, False),
        ("tcp", (22, 22), "fd12:3456:789a:100::/56", 24, True),
        ("tcp", (22, 22), "2600:1f18::/40", 16, False),
        # Security groups never; customer prefix lists by their entries, AWS-managed ones never.
        ("tcp", (22, 22), "sg-0123456789abcdef0", 32, False),
        ("tcp", (22, 22), "pl-0000000000000000b", 16, True),
        ("tcp", (22, 22), "pl-000000000000000dd", 16, True),
        ("tcp", (22, 22), "pl-000000000000000ee", 16, False),
        ("tcp", (22, 22), "pl-000000000000000ff", 16, False),
        ("tcp", (22, 22), "pl-0000000000000000a", 16, False),
        ("tcp", (22, 22), "pl-00000000000000ddd", 16, False),
        ("tcp", (22, 22), "not-a-cidr", 32, False),
    ],
)
def test_a_risky_port_open_to_a_broad_internal_range_is_advisory_unless_it_is_risky_already(
    protocol: str, ports: tuple[int, int] | None, source: str, advisory_prefix: int, advisory: bool
) -> None:
    found = assess_advisory(
        entry(protocol, ports, source), DEFAULT_PORTS, THRESHOLDS, ADVISORY_LISTS, advisory_prefix=advisory_prefix
    )
    assert (found is not None) == advisory


def test_the_advisory_names_the_exposed_ports_and_the_internal_range() -> None:
    found = assess_advisory(
        entry("-1", None, "172.16.0.0/12"), DEFAULT_PORTS, THRESHOLDS, ADVISORY_LISTS, advisory_prefix=16
    )
    assert found is not None
    assert found.ports == DEFAULT_PORTS
    assert found.reason == (
        "all traffic exposes risky port 22, 3389; source 172.16.0.0/12 spans /12 of non-public address space"
    )


def test_the_prefix_list_advisory_names_only_its_broad_internal_entries() -> None:
    found = assess_advisory(
        entry("tcp", (22, 22), "pl-000000000000000dd"), DEFAULT_PORTS, THRESHOLDS, ADVISORY_LISTS, advisory_prefix=16
    )
    assert found is not None
    assert "192.168.0.0/16" in found.reason
    assert "10.1.2.0/24" not in found.reason
