"""The oracle of the property tests: an independent, deliberately plain reading of the risk and policy rules."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from hypothesis import strategies as st

from remediator.model import (
    Action,
    RuleEntry,
    SourceKind,
)
from remediator.risk import OpenThresholds, PrefixListInfo
from remediator.settings import settings_from

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
DEFAULTS = settings_from({})
THRESHOLDS = OpenThresholds(ipv4=8, ipv6=32)

# --- The oracle: an independent, deliberately plain reading of the risk rule ------------------------------

# The non-public space of the issue, spelled out again rather than imported from the code under test.
ORACLE_NON_PUBLIC = [
    ipaddress.ip_network(cidr)
    for cidr in (
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
        "2001:db8::/32",
        "3fff::/20",
        "ff00::/8",
    )
]
ORACLE_TRAFFIC = {"tcp", "6", "udp", "17", "-1", "all"}
ORACLE_RISKY_PORTS = (22, 3389)


def oracle_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        # An interface's network is the CIDR with its host bits cleared, as AWS stores it.
        return ipaddress.ip_interface(text.strip()).network
    except ValueError:
        return None


def oracle_open(text: str) -> bool:
    """Wide enough, and its first and last addresses are not both inside one non-public block."""
    network = oracle_network(text)
    if network is None:
        return False
    widest = 8 if network.version == 4 else 32
    if network.prefixlen > widest:
        return False
    first, last = network.network_address, network.broadcast_address
    return not any(block.version == network.version and first in block and last in block for block in ORACLE_NON_PUBLIC)


def oracle_ports_risky(raw_protocol: str, from_port: int | None, to_port: int | None) -> bool:
    protocol = raw_protocol.strip().lower()
    # All traffic, or ports left out, or -1..-1: every port (what is not known is assumed open).
    if protocol in {"-1", "all"} or from_port is None or to_port is None or (from_port, to_port) == (-1, -1):
        return True
    if not 0 <= from_port <= to_port <= 65535:
        return False
    return any(port in range(from_port, to_port + 1) for port in ORACLE_RISKY_PORTS)


def oracle_risky(
    raw_protocol: str,
    from_port: int | None,
    to_port: int | None,
    kind: SourceKind,
    value: str,
    prefix_lists: Mapping[str, PrefixListInfo],
) -> bool:
    if raw_protocol.strip().lower() not in ORACLE_TRAFFIC or not oracle_ports_risky(raw_protocol, from_port, to_port):
        return False
    if kind in (SourceKind.IPV4, SourceKind.IPV6):
        return oracle_open(value)
    if kind == SourceKind.PREFIX_LIST:
        info = prefix_lists.get(value)
        return info is not None and not info.aws_managed and any(oracle_open(cidr) for cidr in info.cidrs)
    return False


OWN_LISTS = {
    "pl-0aaaaaaaaaaaaaaa1": PrefixListInfo(
        prefix_list_id="pl-0aaaaaaaaaaaaaaa1", aws_managed=False, cidrs=("0.0.0.0/0",)
    ),
    "pl-0aaaaaaaaaaaaaaa2": PrefixListInfo(
        prefix_list_id="pl-0aaaaaaaaaaaaaaa2", aws_managed=False, cidrs=("198.51.100.0/24", "10.0.0.0/8")
    ),
    "pl-0aaaaaaaaaaaaaaa3": PrefixListInfo(prefix_list_id="pl-0aaaaaaaaaaaaaaa3", aws_managed=True, cidrs=()),
    "pl-0aaaaaaaaaaaaaaa4": PrefixListInfo(
        prefix_list_id="pl-0aaaaaaaaaaaaaaa4", aws_managed=False, cidrs=("::/0", "not a cidr")
    ),
}

MODE_TAG, ALLOWED_TAG, EXPIRES_TAG = "remediator:mode", "remediator:allowed-cidrs", "remediator:expires"
ORACLE_PREFIX_LIST = re.compile(r"pl-[0-9a-f]{8,17}")


def oracle_exception_holds(raw: str | None) -> bool:
    """No expiry: it holds; a date: through that day (UTC); a time: until then; anything else: it does not."""
    if raw is None:
        return True
    text = raw.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            last_day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).date()
        except ValueError:
            return False
        return NOW.date() <= last_day
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    ends = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return ends > NOW


def oracle_sources(raw: str) -> list[str] | None:
    """The values of a source list, or None if any part is neither a CIDR nor a prefix-list id."""
    values = []
    for part in raw.replace(",", " ").split():
        if ORACLE_PREFIX_LIST.fullmatch(part):
            values.append(part)
        elif (network := oracle_network(part)) is not None:
            values.append(str(network))
        else:
            return None
    return list(dict.fromkeys(values))


def oracle_untrusted(value: str, lists: Mapping[str, PrefixListInfo]) -> bool:
    """An allowed source that is itself open, or a prefix list that cannot be read, is no place to narrow to."""
    if ORACLE_PREFIX_LIST.fullmatch(value):
        info = lists.get(value)
        return info is None or (not info.aws_managed and any(oracle_open(cidr) for cidr in info.cidrs))
    return oracle_open(value)


def oracle_decision(
    tags: Mapping[str, str],
    default_mode: str,
    default_allowed: list[str],
    entry: RuleEntry,
    lists: Mapping[str, PrefixListInfo] = OWN_LISTS,
) -> tuple[Action, list[str]]:
    mode, allowed = default_mode, default_allowed
    if (MODE_TAG in tags or ALLOWED_TAG in tags) and oracle_exception_holds(tags.get(EXPIRES_TAG)):
        spelled = tags.get(MODE_TAG, "").strip().lower()
        mode = spelled if spelled in {"revoke", "narrow", "notify", "ignore"} else default_mode
        if tags.get(ALLOWED_TAG, "").strip():
            allowed = oracle_sources(tags[ALLOWED_TAG]) or []
    if mode != "narrow":
        return Action(mode), []
    if any(oracle_untrusted(value, lists) for value in allowed):
        return Action.REVOKE, []
    if entry.source.kind == SourceKind.PREFIX_LIST:
        targets = allowed
    else:
        version = 4 if entry.source.kind == SourceKind.IPV4 else 6
        targets = [
            value
            for value in allowed
            if ORACLE_PREFIX_LIST.fullmatch(value) or ipaddress.ip_network(value).version == version
        ]
    return (Action.NARROW, targets) if targets else (Action.REVOKE, [])


tag_sets = st.fixed_dictionaries(
    {},
    optional={
        MODE_TAG: st.sampled_from(["revoke", "narrow", "notify", "ignore", " Narrow ", "IGNORE", "ignroe", ""]),
        ALLOWED_TAG: st.sampled_from(
            [
                "",
                " ",
                "198.51.100.0/24",
                "203.0.113.7 2001:db8::/48",
                "2001:db8::/48",
                "0.0.0.0/1",
                "nonsense",
                "198.51.100.0/24,,  pl-0aaaaaaaaaaaaaaa2",
                "pl-0aaaaaaaaaaaaaaa1",
                "pl-0bbbbbbbbbbbbbbb9",
                "10.0.0.0/8 ::/0",
                "pl-0aaaaaaaaaaaaaaa3",
                "192.0.2.1",
            ]
        ),
        EXPIRES_TAG: st.sampled_from(
            [
                "2999-01-01",
                "2020-01-31",
                "2026-01-15",
                "2026-01-14",
                "garbage",
                "",
                "2999-01-01T00:00:00Z",
                "2026-01-15T11:59:59Z",
                "2026-01-15T12:00:01+00:00",
                "2026-01-15T13:00:00+02:00",
                "2026-13-01",
            ]
        ),
        "Name": st.just("web"),
    },
)
