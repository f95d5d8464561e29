"""The precision corpus: each real event of tests/events/ and generated variants, and the truth to judge by.

The truth is written here, independently of the remediator's own code: a rule is risky when it is ingress,
tcp/udp/all traffic, its ports include 22 or 3389, and its source is open to the internet (a CIDR of /8 or wider
for IPv4, /32 or wider for IPv6, not wholly inside private or reserved space; or a customer-managed prefix list
holding such a CIDR). Every other rule is legitimate and must stay.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench.aws import EVENTS_DIR, Perm, Rule

RISKY_PORTS = (22, 3389)
IPV4_OPEN_PREFIX = 8
IPV6_OPEN_PREFIX = 32
# Blocks that are never "the internet": private, shared, loopback, link-local, documentation, multicast, reserved.
NON_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        # Multicast and reserved together: adjacent blocks, and a network may span both.
        "224.0.0.0/3",
        "::1/128",
        "::/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
        "2001:db8::/32",
        "3fff::/20",
    )
)


def cidr_is_open(cidr: str) -> bool:
    net = ipaddress.ip_network(cidr, strict=False)
    widest = IPV4_OPEN_PREFIX if net.version == 4 else IPV6_OPEN_PREFIX
    if net.prefixlen > widest:
        return False
    return not any(net.version == block.version and net.subnet_of(block) for block in NON_PUBLIC)  # type: ignore[arg-type]


def is_risky(rule: Rule, prefix_lists: Mapping[str, Sequence[str]]) -> bool:
    if rule.direction != "in" or rule.protocol not in ("tcp", "udp", "-1"):
        return False
    if rule.protocol != "-1":
        low = rule.from_port if rule.from_port is not None else 0
        high = rule.to_port if rule.to_port is not None else 65535
        if not any(low <= port <= high for port in RISKY_PORTS):
            return False
    if rule.kind in ("cidr4", "cidr6"):
        return cidr_is_open(rule.source)
    if rule.kind == "pl":
        return any(cidr_is_open(c) for c in prefix_lists.get(rule.source, ()))
    return False


# Legitimate rules every corpus group starts with (none is risky by the truth above).
BASELINE = (
    Perm("tcp", 443, 443, cidrs=("0.0.0.0/0",), cidrs_v6=("::/0",)),
    Perm("tcp", 22, 22, cidrs=("10.0.0.0/8",)),
    Perm("tcp", 22, 22, cidrs=("198.51.100.0/24",)),
    Perm("tcp", 3389, 3389, cidrs=("192.168.0.0/16",)),
    Perm("tcp", 5432, 5432, groups=("sg:peer",)),
    Perm("udp", 53, 53, cidrs=("0.0.0.0/0",)),
)

WORLD = ("0.0.0.0/0",)


@dataclass(frozen=True)
class Case:
    """One event to replay: a real file of tests/events/, or a generated call on the template event."""

    name: str
    note: str
    event_file: str | None = None
    perms: tuple[Perm, ...] = ()
    egress: bool = False
    ruleset: bool = True  # generated events: with responseElements.securityGroupRuleSet, as today's AWS sends
    modify: Perm | None = None  # a ModifySecurityGroupRules of the baseline's first tcp/22 rule into this
    prefix_lists: tuple[tuple[str, tuple[str, ...]], ...] = field(default_factory=tuple)


GENERATED = (
    Case("tcp22-world", "tcp/22 from 0.0.0.0/0 (the issue's scenario)", perms=(Perm("tcp", 22, 22, cidrs=WORLD),)),
    Case(
        "tcp22-world-old-format",
        "the same, response without securityGroupRuleSet (pre-2021 format)",
        perms=(Perm("tcp", 22, 22, cidrs=WORLD),),
        ruleset=False,
    ),
    Case("tcp3389-world", "RDP from 0.0.0.0/0", perms=(Perm("tcp", 3389, 3389, cidrs=WORLD),)),
    Case("tcp20-30-world", "port range 20-30 from 0.0.0.0/0", perms=(Perm("tcp", 20, 30, cidrs=WORLD),)),
    Case("tcp-all-ports-world", "tcp 0-65535 from 0.0.0.0/0", perms=(Perm("tcp", 0, 65535, cidrs=WORLD),)),
    Case("udp22-world", "udp/22 from 0.0.0.0/0", perms=(Perm("udp", 22, 22, cidrs=WORLD),)),
    Case("udp3389-world", "udp/3389 (RDP over UDP) from 0.0.0.0/0", perms=(Perm("udp", 3389, 3389, cidrs=WORLD),)),
    Case("all-traffic-world", "all traffic (-1) from 0.0.0.0/0", perms=(Perm("-1", cidrs=WORLD),)),
    Case(
        "split-cidrs-tcp22",
        "tcp/22 from 0.0.0.0/1 + 128.0.0.0/1 (the whole internet in two halves)",
        perms=(Perm("tcp", 22, 22, cidrs=("0.0.0.0/1", "128.0.0.0/1")),),
    ),
    Case("wide-v4-tcp22", "tcp/22 from 11.0.0.0/8 (a public /8)", perms=(Perm("tcp", 22, 22, cidrs=("11.0.0.0/8",)),)),
    Case("ipv6-world-tcp22", "tcp/22 from ::/0", perms=(Perm("tcp", 22, 22, cidrs_v6=("::/0",)),)),
    Case(
        "ipv6-wide-tcp22",
        "tcp/22 from 2000::/3 (all global unicast)",
        perms=(Perm("tcp", 22, 22, cidrs_v6=("2000::/3",)),),
    ),
    Case("ipv6-all-traffic", "all traffic from ::/0", perms=(Perm("-1", cidrs_v6=("::/0",)),)),
    Case(
        "v4-v6-one-permission-tcp3389",
        "tcp/3389 from 0.0.0.0/0 and ::/0 in one permission",
        perms=(Perm("tcp", 3389, 3389, cidrs=WORLD, cidrs_v6=("::/0",)),),
    ),
    Case(
        "prefix-list-world-tcp22",
        "tcp/22 from a customer prefix list holding 0.0.0.0/0",
        perms=(Perm("tcp", 22, 22, prefix_lists=("pl:world",)),),
        prefix_lists=(("pl:world", WORLD),),
    ),
    Case(
        "prefix-list-split-tcp3389",
        "tcp/3389 from a prefix list holding 0.0.0.0/1 and 128.0.0.0/1",
        perms=(Perm("tcp", 3389, 3389, prefix_lists=("pl:halves",)),),
        prefix_lists=(("pl:halves", ("0.0.0.0/1", "128.0.0.0/1")),),
    ),
    Case(
        "mixed-cidrs-tcp22",
        "tcp/22 from 172.16.0.0/12 and 0.0.0.0/0 in one permission (only the second is risky)",
        perms=(Perm("tcp", 22, 22, cidrs=("172.16.0.0/12", "0.0.0.0/0")),),
    ),
    Case(
        "two-permissions",
        "tcp/22 and tcp/80 from 0.0.0.0/0 in one call (80 is legitimate)",
        perms=(Perm("tcp", 22, 22, cidrs=WORLD), Perm("tcp", 80, 80, cidrs=WORLD)),
    ),
    Case(
        "modify-rule-to-world",
        "ModifySecurityGroupRules turns tcp/22 from 10.99.0.0/24 into tcp/22 from 0.0.0.0/0",
        modify=Perm("tcp", 22, 22, cidrs=WORLD),
    ),
    Case(
        "benign-tcp8080-world",
        "tcp/8080 from 0.0.0.0/0 (not a risky port)",
        perms=(Perm("tcp", 8080, 8080, cidrs=WORLD),),
    ),
    Case(
        "benign-tcp22-host",
        "tcp/22 from one public address 198.51.100.7/32",
        perms=(Perm("tcp", 22, 22, cidrs=("198.51.100.7/32",)),),
    ),
    Case(
        "benign-prefix-list-private",
        "tcp/22 from a prefix list holding 10.0.0.0/8",
        perms=(Perm("tcp", 22, 22, prefix_lists=("pl:private",)),),
        prefix_lists=(("pl:private", ("10.0.0.0/8",)),),
    ),
    Case("benign-icmp-world", "icmp from 0.0.0.0/0", perms=(Perm("icmp", -1, -1, cidrs=WORLD),)),
    Case(
        "benign-sg-reference-tcp22",
        "tcp/22 from another security group",
        perms=(Perm("tcp", 22, 22, groups=("sg:peer",)),),
    ),
    Case(
        "benign-egress-tcp22-world",
        "AuthorizeSecurityGroupEgress tcp/22 to 0.0.0.0/0",
        perms=(Perm("tcp", 22, 22, cidrs=WORLD),),
        egress=True,
    ),
)


def real_cases() -> list[Case]:
    return [
        Case(name=path.stem, note="real event (tests/events)", event_file=path.name)
        for path in sorted(EVENTS_DIR.glob("*.json"))
    ]


def all_cases() -> list[Case]:
    return [*real_cases(), *GENERATED]
