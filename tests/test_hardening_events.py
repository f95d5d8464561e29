"""Property tests: mutated real events never crash the parser or the decisions, and risk agrees with an oracle."""

from __future__ import annotations

import copy
import ipaddress
import itertools
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from conftest import ACCOUNT, REGION, World
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from remediator import cloudtrail
from remediator.effects import Aws
from remediator.events import SecurityGroupCall, Unreadable, read_call
from remediator.log import JsonFormatter
from remediator.model import (
    Action,
    GroupPolicy,
    GroupState,
    Mode,
    Outcome,
    PortRange,
    RuleEntry,
    Source,
    SourceKind,
)
from remediator.policy import decide
from remediator.remediate import plan_group, remediate, screen
from remediator.report import Finding, attributes, body, event_report, subject
from remediator.risk import OpenThresholds, PrefixListInfo, assess, normalize_protocol
from remediator.settings import settings_from

Json = Any
JsonPath = tuple[str | int, ...]

EVENTS_DIR = Path(__file__).parent / "events"
EVENTS: dict[str, Json] = {path.name: json.loads(path.read_text()) for path in sorted(EVENTS_DIR.glob("*.json"))}
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
        "::1/128",
        "::/128",
        "fc00::/7",
        "fe80::/10",
        "2001:db8::/32",
        "3fff::/20",
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


# --- Mutations of real events -----------------------------------------------------------------------------

ODD_CHARACTERS = [
    "\x00",
    "\ud800",  # a lone surrogate: json.loads gives one for the escape \ud800
    "\udfff",
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\ufeff",
    "\u0301",  # combining accent
    "\u0663",  # Arabic-Indic digit three
    "\U0001d7d8",  # mathematical double-struck zero
    "\n",
    "é",
    "好",
    "😀",
]
# Joined from single characters: st.text() never yields a lone surrogate, and json.loads can.
odd_character = st.characters() | st.sampled_from(ODD_CHARACTERS)
odd_text = st.lists(odd_character, max_size=12).map("".join)
some_odd_text = st.lists(odd_character, min_size=1, max_size=12).map("".join)
interesting_text = st.sampled_from(
    ["", " ", "0.0.0.0/0", "::/0", "-1", "22", "tcp", "all", "items", "sg-0123456789abcdef0", "pl-1234abcd", "null"]
)
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([-1, 0, 22, 3389, 65535, 65536])
    | st.floats()
    | odd_text
    | interesting_text
)
json_value = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(odd_text | interesting_text, children, max_size=3)
    ),
    max_leaves=6,
)


def walk(value: Json, path: JsonPath = ()) -> Iterator[tuple[JsonPath, Json]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from walk(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk(child, (*path, index))


def parent_of(root: Json, path: JsonPath) -> Json:
    node = root
    for part in path[:-1]:
        node = node[part]
    return node


def replaced(root: Json, path: JsonPath, value: Json) -> Json:
    if not path:
        return value
    parent_of(root, path)[path[-1]] = value
    return root


Mutation = Callable[[st.DrawFn, Json], Json]


def pick(draw: st.DrawFn, root: Json, accept: Callable[[JsonPath, Json], bool]) -> tuple[JsonPath, Json] | None:
    candidates = [(path, node) for path, node in walk(root) if accept(path, node)]
    return draw(st.sampled_from(candidates)) if candidates else None


def delete_key(draw: st.DrawFn, root: Json) -> Json:
    found = pick(draw, root, lambda path, _: bool(path))
    if found is not None:
        del parent_of(root, found[0])[found[0][-1]]
    return root


def retype(draw: st.DrawFn, root: Json) -> Json:
    found = pick(draw, root, lambda _path, _node: True)
    if found is None:
        return root
    return replaced(root, found[0], draw(json_value.filter(lambda new: type(new) is not type(found[1]))))


def truncate(draw: st.DrawFn, root: Json) -> Json:
    found = pick(draw, root, lambda _, node: isinstance(node, str) and bool(node))
    if found is None:
        return root
    path, text = found
    return replaced(root, path, text[: draw(st.integers(0, len(text) - 1))])


def duplicate(draw: st.DrawFn, root: Json) -> Json:
    found = pick(draw, root, lambda _, node: isinstance(node, list) and bool(node))
    if found is None:
        return root
    _, items = found
    item = items[draw(st.integers(0, len(items) - 1))]
    times = draw(st.integers(1, 5) | st.integers(50, 400))
    items.extend(copy.deepcopy(item) for _ in range(times))
    if times >= 50:
        event("a list item repeated 50-400 times")
    return root


def insert_unicode(draw: st.DrawFn, root: Json) -> Json:
    found = pick(draw, root, lambda _, node: isinstance(node, str))
    if found is not None:
        path, text = found
        at = draw(st.integers(0, len(text)))
        return replaced(root, path, text[:at] + draw(some_odd_text) + text[at:])
    return root


def rename_key(draw: st.DrawFn, root: Json) -> Json:
    found = pick(draw, root, lambda path, _: bool(path) and isinstance(path[-1], str))
    if found is not None:
        path, node = found
        parent = parent_of(root, path)
        del parent[path[-1]]
        parent[str(path[-1]) + draw(some_odd_text)] = node
    return root


def flip_number(draw: st.DrawFn, root: Json) -> Json:
    def numeric(_: JsonPath, node: Json) -> bool:
        if isinstance(node, bool):
            return False
        return isinstance(node, int | float) or (isinstance(node, str) and node.strip().lstrip("-").isdigit())

    found = pick(draw, root, numeric)
    if found is None:
        return root
    path, node = found
    # Only ASCII digits reach int(): the check above accepts any Unicode digit.
    if isinstance(node, str):
        return replaced(root, path, int(node) if node.strip().lstrip("-").isascii() else node + "0")
    return replaced(root, path, str(node))


def toggle_envelope(_: st.DrawFn, root: Json) -> Json:
    if isinstance(root, dict) and isinstance(root.get("detail"), dict):
        return root["detail"]
    return {"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": root}


MUTATIONS: dict[str, Mutation] = {
    "delete a key": delete_key,
    "change a type": retype,
    "truncate a string": truncate,
    "duplicate list items": duplicate,
    "insert unicode": insert_unicode,
    "rename a key": rename_key,
    "number to string and back": flip_number,
    "wrap or unwrap the envelope": toggle_envelope,
}


@st.composite
def mutated(draw: st.DrawFn, event: Json, max_mutations: int = 5) -> tuple[Json, tuple[str, ...]]:
    data = copy.deepcopy(event)
    names = draw(st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=max_mutations))
    for name in names:
        data = MUTATIONS[name](draw, data)
    return data, tuple(names)


@st.composite
def mutated_real_events(draw: st.DrawFn) -> tuple[str, Json, tuple[str, ...]]:
    name = draw(st.sampled_from(sorted(EVENTS)))
    data, mutations = draw(mutated(EVENTS[name]))
    return name, data, mutations


# --- (a) Pure level: whatever the event, no exception, and text that can be sent ------------------------

PREFIX_LISTS = {
    "pl-00000000000000001": PrefixListInfo(prefix_list_id="pl-1", aws_managed=False, cidrs=("0.0.0.0/0",)),
    "pl-00000000000000002": PrefixListInfo(prefix_list_id="pl-2", aws_managed=True, cidrs=()),
}
POLICIES = [
    GroupPolicy(mode=mode, allowed_sources=allowed, expires_at=None, notes=())
    for mode in Mode
    for allowed in (
        (),
        (Source(kind=SourceKind.IPV4, value="198.51.100.0/24"), Source(kind=SourceKind.IPV6, value="2001:db8::/48")),
        (Source(kind=SourceKind.PREFIX_LIST, value="pl-00000000000000009"),),
        (Source(kind=SourceKind.IPV4, value="0.0.0.0/1"),),
    )
]


def sendable(text: str) -> None:
    """What goes to SNS, CloudWatch Logs or an EC2 parameter must be valid UTF-8 (no lone surrogate)."""
    text.encode("utf-8")


def log_line(message: str, **fields: Any) -> str:
    record = logging.LogRecord("remediator", logging.INFO, __file__, 0, message, None, None)
    record.fields = fields
    return JsonFormatter().format(record)


def exercise(call: SecurityGroupCall) -> None:
    """Everything the engine does with a read call short of AWS: screen, assess, decide, report, log."""
    reason = screen(call)
    if reason is not None:
        sendable(log_line("ignored", event_id=call.event_id, reason=reason))
    for identifier in (call.group_id, call.group_name, *call.modified_rule_ids):
        if identifier is not None:
            sendable(identifier)
    findings = []
    for entry in call.entries:
        # Each may go to EC2: the rule id to revoke, the description onto a narrowed rule.
        for text in (entry.source.value, entry.description, entry.rule_id, entry.ports_text()):
            sendable(text or "")
        risk = assess(entry, DEFAULTS.risky_ports, THRESHOLDS, PREFIX_LISTS)
        for policy in POLICIES:
            decision = decide(entry, policy, THRESHOLDS, PREFIX_LISTS)
            assert not (decision.narrow_to and decision.action != Action.NARROW)
        if risk is not None:
            decision = decide(entry, POLICIES[0], THRESHOLDS, {})
            findings.append(
                Finding(entry=entry, risk=risk.reason, decision=decision, outcome=Outcome.REVOKED, details=())
            )
    group = GroupState(
        group_id=call.group_id or "sg-x", group_name=call.group_name or "", vpc_id=None, tags={}, ingress=()
    )
    report = event_report(call, group, tuple(findings[:3]), dry_run=False)
    for text in (subject(report), body(report), *attributes(report).values()):
        sendable(text)
    sendable(log_line("decision", event_id=call.event_id, notes=[f.risk for f in findings]))


ELASTIC = "elastic-AuthorizeSecurityGroupIngress-cli-tcp22-ruleset-arn.json"


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=mutated_real_events())
# Found by this property: a lone surrogate (json.loads reads the escape \ud800 as one) in any text the remediator
# sends on could not be encoded: by botocore when a group id, by SNS after the revoke, by the log line.
@example(
    case=(
        ELASTIC,
        {**EVENTS[ELASTIC], "awsRegion": "\ud800us-east-1"},
        ("insert unicode",),
    )
)
def test_a_mutated_real_event_is_read_or_refused_and_never_crashes_a_decision(
    case: tuple[str, Json, tuple[str, ...]],
) -> None:
    _name, data, mutations = case
    for name in mutations:
        event(f"mutation: {name}")
    call = read_call(data)
    assert isinstance(call, SecurityGroupCall | Unreadable)
    if isinstance(call, Unreadable):
        event("refused as unreadable")
        sendable(log_line("ignored", event_id="unknown", reason=call.reason))
        return
    exercise(call)


@settings(max_examples=60, deadline=None)
@given(data=json_value)
def test_any_json_value_at_all_is_read_or_refused(data: Json) -> None:
    call = read_call(data)
    assert isinstance(call, SecurityGroupCall | Unreadable)
    if isinstance(call, SecurityGroupCall):
        exercise(call)


def test_a_call_with_thousands_of_entries_is_read_in_linear_time() -> None:
    # Found by the "duplicate list items" mutation: the request's entries were each compared with every entry
    # of the rule set, so 2,000 of each took minutes, past the Lambda's timeout.
    record = copy.deepcopy(EVENTS[cloudtrail.RULE_SET_TEMPLATE])
    detail = record["detail"]
    detail["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"]["items"] = [
        {"cidrIp": f"10.{i // 256}.{i % 256}.0/24"} for i in range(2000)
    ]
    [rule] = detail["responseElements"]["securityGroupRuleSet"]["items"]
    detail["responseElements"]["securityGroupRuleSet"]["items"] = [
        {**rule, "securityGroupRuleId": f"sgr-{i:017x}", "cidrIpv4": f"11.{i // 256}.{i % 256}.0/24"}
        for i in range(2000)
    ]
    started = time.monotonic()
    call = read_call(record)
    elapsed = time.monotonic() - started
    assert isinstance(call, SecurityGroupCall)
    assert len(call.entries) == 4000
    assert elapsed < 10, f"{elapsed:.1f} s"


# --- (a) Decision level: assess and decide agree with the oracle --------------------------------------------


@st.composite
def ipv4_cidrs(draw: st.DrawFn) -> str:
    special = st.sampled_from(
        [
            "0.0.0.0/0",
            "0.0.0.0/1",
            "128.0.0.0/1",
            "0.0.0.0/8",
            "10.0.0.0/8",
            "10.0.0.0/7",
            "8.0.0.0/7",
            "8.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "203.0.113.0/24",
            "192.0.0.0/8",
            "192.0.2.0/24",
            "1.2.3.4/32",
            "0.0.0.0/0 ",
            " 128.0.0.0/1",
            "10.1.2.3/8",
        ]
    )
    prefix = draw(st.integers(0, 10) | st.integers(0, 32))
    address = ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))
    spelled = f"{address}/{prefix}"
    return draw(special | st.just(spelled))


@st.composite
def ipv6_cidrs(draw: st.DrawFn) -> str:
    special = st.sampled_from(
        [
            "::/0",
            "::/1",
            "8000::/1",
            "2000::/3",
            "2001:db8::/32",
            "2001:db8::/31",
            "fc00::/7",
            "fe80::/10",
            "fc00::/6",
            "3fff::/20",
            "3fff::/19",
            "2a00:1450::/32",
            "2a00:1450::/33",
            "::1/128",
            "::/128",
            "::ffff:0:0/96",
            "2001:db8::1/32",
        ]
    )
    prefix = draw(st.integers(0, 34) | st.integers(0, 128))
    address = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
    return draw(special | st.just(f"{address}/{prefix}"))


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

sources = st.one_of(
    st.builds(Source, kind=st.just(SourceKind.IPV4), value=ipv4_cidrs()),
    st.builds(Source, kind=st.just(SourceKind.IPV6), value=ipv6_cidrs()),
    st.builds(Source, kind=st.just(SourceKind.PREFIX_LIST), value=st.sampled_from([*OWN_LISTS, "pl-0unknown"])),
    st.builds(Source, kind=st.just(SourceKind.SECURITY_GROUP), value=st.just("sg-0123456789abcdef0")),
    st.builds(Source, kind=st.sampled_from([SourceKind.IPV4, SourceKind.IPV6]), value=odd_text | interesting_text),
)
raw_protocols = st.sampled_from(
    ["tcp", "TCP", " udp", "6", "17", "-1", "all", "icmp", "1", "58", "icmpv6", "50", "47", "", "tcp6"]
)
# Biased towards the risky port and the missing one, so that a fair share of entries is risky.
ports = (
    st.just(22) | st.none() | st.sampled_from([-1, 0, 21, 23, 3388, 3389, 3390, 65535, 65536]) | st.integers(-5, 70000)
)


PROBE: dict[str, Any] = {"protocol": "tcp", "from_port": 22, "to_port": 22, "description": None, "rule_id": None}


@dataclass(frozen=True)
class Entry:
    """A generated entry as the wire spells it, and the RuleEntry the code reads it as."""

    raw_protocol: str
    entry: RuleEntry


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    raw = draw(raw_protocols)
    entry = RuleEntry(
        # As every reader of the wire does: events.py and effects.py both normalize.
        protocol=normalize_protocol(raw),
        from_port=draw(ports),
        to_port=draw(ports),
        source=draw(sources),
        description=None,
        rule_id=None,
    )
    return Entry(raw_protocol=raw, entry=entry)


@settings(max_examples=3000, deadline=None)
@given(generated=entries())
# As wide as the threshold, and wholly "this network": not open.
@example(generated=Entry("tcp", RuleEntry(**PROBE, source=Source(kind=SourceKind.IPV4, value="0.0.0.0/8"))))
def test_assess_agrees_with_the_oracle(generated: Entry) -> None:
    entry = generated.entry
    risk = assess(entry, DEFAULTS.risky_ports, THRESHOLDS, OWN_LISTS)
    expected = oracle_risky(
        generated.raw_protocol, entry.from_port, entry.to_port, entry.source.kind, entry.source.value, OWN_LISTS
    )
    event("risky" if expected else "not risky")
    assert (risk is not None) == expected, (entry, risk)
    if risk is not None:
        assert all(port in (PortRange(first=22, last=22), PortRange(first=3389, last=3389)) for port in risk.ports)


# --- (a) Decision level: a group's tags decide what happens to a risky entry ------------------------------

MODE_TAG, ALLOWED_TAG, EXPIRES_TAG = "remediator:mode", "remediator:allowed-cidrs", "remediator:expires"
ORACLE_PREFIX_LIST = re.compile(r"pl-[0-9a-f]{8,17}")

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


class PrefixListReader:
    """The one AWS call planning makes (the allowed prefix lists of a narrowing group), answered from OWN_LISTS."""

    def prefix_lists(self, prefix_list_ids: Iterator[str] | set[str]) -> dict[str, PrefixListInfo]:
        return {pl: OWN_LISTS[pl] for pl in prefix_list_ids if pl in OWN_LISTS}


@settings(max_examples=1500, deadline=None)
@given(
    generated=st.lists(entries(), min_size=1, max_size=6),
    tags=tag_sets,
    default_mode=st.sampled_from(["revoke", "narrow", "notify", "ignore"]),
    default_allowed=st.sampled_from(["", "192.0.2.0/24", "192.0.2.0/24 2001:db8:1::/48"]),
)
@example(
    generated=[Entry("tcp", RuleEntry(**PROBE, source=Source(kind=SourceKind.IPV4, value="0.0.0.0/0")))],
    tags={MODE_TAG: "ignore", EXPIRES_TAG: "2026-13-01"},
    default_mode="revoke",
    default_allowed="",
)
def test_planning_decides_on_exactly_the_risky_entries_as_the_tags_say(
    generated: list[Entry], tags: dict[str, str], default_mode: str, default_allowed: str
) -> None:
    env = {"REMEDIATOR_DEFAULT_MODE": default_mode, "REMEDIATOR_ALLOWED_CIDRS": default_allowed}
    configured = settings_from(env)
    group = GroupState(
        group_id="sg-1", group_name="web", vpc_id=None, tags=tags, ingress=tuple(g.entry for g in generated)
    )
    plans = plan_group(
        group,
        group.ingress,
        settings=configured,
        aws=cast(Aws, PrefixListReader()),
        now=NOW,
        prefix_lists=dict(OWN_LISTS),
    )
    risky = [
        g.entry
        for g in generated
        if oracle_risky(
            g.raw_protocol, g.entry.from_port, g.entry.to_port, g.entry.source.kind, g.entry.source.value, OWN_LISTS
        )
    ]
    # Never an action on an entry that is not risky, and none left out.
    assert [plan.entry for plan in plans] == risky
    for plan in plans:
        action, targets = oracle_decision(tags, default_mode, oracle_sources(default_allowed) or [], plan.entry)
        assert (plan.decision.action, [s.value for s in plan.decision.narrow_to]) == (action, targets), plan
        # Whatever the tags say, narrowing never lets the internet back in.
        assert not any(oracle_untrusted(source.value, OWN_LISTS) for source in plan.decision.narrow_to)
        event(f"decided: {plan.decision.action.value}")


# --- (b) On embedded AWS: the invariant after every generated case ---------------------------------------

Rule = tuple[str, int | None, int | None, str]  # protocol, from, to, source: as World.ingress spells a rule

KINDS_BY_PLACEHOLDER = {"{open}": "open", "{office}": "office", "{aws}": "aws", "{peer}": "peer"}
MOTO_V4 = ["0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "64.0.0.0/2", "8.0.0.0/8", "10.0.0.0/8", "0.0.0.0/8"]
MOTO_V4 += ["172.16.0.0/12", "100.64.0.0/10", "198.51.100.0/24", "1.2.3.4/32", "9.0.0.0/9"]
MOTO_V6 = ["::/0", "8000::/1", "2000::/3", "2a00:1450::/32", "2a00:1450::/33", "fc00::/7", "2001:db8::/32"]
MOTO_V6 += ["2001:db8:1::/48"]
MOTO_PORTS: list[tuple[str, int | None, int | None]] = [
    ("tcp", 22, 22),
    ("tcp", 3389, 3389),
    ("tcp", 0, 65535),
    ("tcp", 443, 443),
    ("tcp", 23, 3388),
    ("tcp", 3388, 3390),
    ("udp", 20, 30),
    ("udp", 53, 53),
    ("-1", None, None),
    ("icmp", -1, -1),
]
MOTO_ALLOWED = ["", "198.51.100.0/24", "203.0.113.7 2001:db8::/48", "2001:db8::/48", "0.0.0.0/1", "nonsense"]
MOTO_ALLOWED += ["{office}", "{open}", "198.51.100.0/24 {office}", "{aws}"]


@st.composite
def moto_rules(draw: st.DrawFn) -> Rule:
    protocol, first, last = draw(st.sampled_from(MOTO_PORTS))
    kind = draw(st.sampled_from(["v4", "v4", "v6", "list", "group"]))
    if kind == "v4":
        source = draw(st.sampled_from(MOTO_V4))
    elif kind == "v6" and protocol != "icmp":
        source = draw(st.sampled_from(MOTO_V6))
    elif kind == "list":
        source = draw(st.sampled_from(["{open}", "{office}", "{aws}"]))
    else:
        source = "{peer}"
    return (protocol, first, last, source)


@dataclass(frozen=True)
class Case:
    """A group's rules before the call, the rules the call adds, the group's tags, settings, and event shape."""

    existing: list[Rule]
    added: list[Rule]
    tags: dict[str, str]
    env: dict[str, str]
    shape: str


@st.composite
def cases(draw: st.DrawFn) -> Case:
    rules = draw(st.lists(moto_rules(), min_size=1, max_size=8, unique=True))
    split = draw(st.integers(0, len(rules) - 1))
    tags = draw(tag_sets)
    if ALLOWED_TAG in tags:
        tags[ALLOWED_TAG] = draw(st.sampled_from(MOTO_ALLOWED))
    env = {
        "REMEDIATOR_DEFAULT_MODE": draw(st.sampled_from(["revoke", "narrow", "notify"])),
        "REMEDIATOR_ALLOWED_CIDRS": draw(st.sampled_from(["", "192.0.2.0/24"])),
        "REMEDIATOR_DRY_RUN": draw(st.sampled_from(["false", "false", "false", "true"])),
    }
    shape = draw(st.sampled_from(["rule-set", "rule-set", "as-moto-answers", "old-format"]))
    return Case(existing=rules[:split], added=rules[split:], tags=tags, env=env, shape=shape)


@dataclass
class Embedded:
    """One embedded account for many examples: a world, its prefix lists, and fresh names."""

    world: World
    ids: dict[str, str]
    lists: dict[str, PrefixListInfo]
    serial: Iterator[int]

    def real(self, text: str) -> str:
        for placeholder, kind in KINDS_BY_PLACEHOLDER.items():
            text = text.replace(placeholder, self.ids[kind])
        return text


def embedded() -> Embedded:
    """Called inside mock_aws: the conftest World, plus prefix lists open, closed and AWS-managed."""
    ec2 = boto3.client("ec2", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    topic_arn = sns.create_topic(Name="remediator")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    world = World(ec2=ec2, sns=sns, sqs=sqs, vpc_id=vpc_id, topic_arn=topic_arn, queue_url=queue_url)
    lists: dict[str, PrefixListInfo] = {}
    ids: dict[str, str] = {}
    for kind, cidrs in (("open", ["0.0.0.0/0", "198.51.100.0/24"]), ("office", ["198.51.100.0/24"])):
        made = ec2.create_managed_prefix_list(
            PrefixListName=kind, MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": c} for c in cidrs]
        )["PrefixList"]["PrefixListId"]
        ids[kind] = made
        lists[made] = PrefixListInfo(prefix_list_id=made, aws_managed=False, cidrs=tuple(cidrs))
    owned_by_aws = [p for p in ec2.describe_managed_prefix_lists()["PrefixLists"] if p["OwnerId"] == "AWS"]
    ids["aws"] = owned_by_aws[0]["PrefixListId"]
    lists[ids["aws"]] = PrefixListInfo(prefix_list_id=ids["aws"], aws_managed=True, cidrs=())
    ids["peer"] = world.group("peer")
    return Embedded(world=world, ids=ids, lists=lists, serial=itertools.count())


def permissions_of(rules: list[Rule]) -> list[dict[str, Any]]:
    """Rules as the IpPermissions of one call, one element per protocol and ports as the console sends them."""
    grouped: dict[tuple[str, int | None, int | None], dict[str, Any]] = {}
    for protocol, first, last, source in rules:
        permission = grouped.setdefault(
            (protocol, first, last),
            {"IpProtocol": protocol, **({} if first is None else {"FromPort": first, "ToPort": last})},
        )
        if source.startswith("pl-"):
            permission.setdefault("PrefixListIds", []).append({"PrefixListId": source})
        elif source.startswith("sg-"):
            permission.setdefault("UserIdGroupPairs", []).append({"GroupId": source})
        elif ":" in source:
            permission.setdefault("Ipv6Ranges", []).append({"CidrIpv6": source, "Description": "ops é"})
        else:
            permission.setdefault("IpRanges", []).append({"CidrIp": source, "Description": "ops"})
    return list(grouped.values())


def rule_ids(world: World, group_id: str) -> set[str]:
    described = world.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return {rule["SecurityGroupRuleId"] for rule in described["SecurityGroupRules"]}


def make_call(world: World, group_id: str, rules: list[Rule], shape: str) -> dict[str, Any]:
    """Make the call on embedded AWS; its CloudTrail event with all, some (as moto answers) or no rule ids."""
    permissions = permissions_of(rules)
    if shape == "as-moto-answers":
        return world.open_event(group_id, permissions)
    if shape == "old-format":
        return world.open_event(group_id, permissions, rule_ids=False, template=cloudtrail.OLD_FORMAT_TEMPLATE)
    known = rule_ids(world, group_id)
    world.authorize(group_id, permissions)
    described = world.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    added = [rule for rule in described["SecurityGroupRules"] if rule["SecurityGroupRuleId"] not in known]
    return cloudtrail.authorize_event(
        cloudtrail.load_event(cloudtrail.RULE_SET_TEMPLATE),
        group_id=group_id,
        permissions=permissions,
        rules=added,
        account=ACCOUNT,
        region=REGION,
    )


def as_entry(rule: Rule) -> RuleEntry:
    protocol, first, last, source = rule
    kind = (
        SourceKind.PREFIX_LIST
        if source.startswith("pl-")
        else SourceKind.SECURITY_GROUP
        if source.startswith("sg-")
        else SourceKind.IPV6
        if ":" in source
        else SourceKind.IPV4
    )
    return RuleEntry(
        protocol=protocol,
        from_port=first,
        to_port=last,
        source=Source(kind=kind, value=source),
        description=None,
        rule_id=None,
    )


def oracle_risky_rule(rule: Rule, lists: Mapping[str, PrefixListInfo]) -> bool:
    entry = as_entry(rule)
    return oracle_risky(rule[0], rule[1], rule[2], entry.source.kind, rule[3], lists)


def expected_rules(case: Case, before: set[Rule], added: list[Rule], lists: Mapping[str, PrefixListInfo]) -> set[Rule]:
    """Before, minus the risky added rules the policy closes, plus the narrowed ones: from the oracle alone."""
    if case.env["REMEDIATOR_DRY_RUN"] == "true":
        return set(before)
    default_allowed = oracle_sources(case.env["REMEDIATOR_ALLOWED_CIDRS"]) or []
    after = set(before)
    for rule in added:
        if not oracle_risky_rule(rule, lists):
            continue
        action, targets = oracle_decision(
            case.tags, case.env["REMEDIATOR_DEFAULT_MODE"], default_allowed, as_entry(rule), lists
        )
        if action in (Action.REVOKE, Action.NARROW):
            after.discard(rule)
            after.update((rule[0], rule[1], rule[2], target) for target in targets)
    return after


def meaning(call: SecurityGroupCall | Unreadable) -> object:
    """What the remediator acts on: the call's name, outcome, group and the set of entries it added."""
    if isinstance(call, Unreadable) or screen(call) is not None:
        return None
    entries = frozenset((entry.content_key(), entry.rule_id) for entry in call.entries)
    return (call.event_name, call.group_id, call.group_name, entries, frozenset(call.modified_rule_ids))


@pytest.fixture
def account() -> Iterator[Embedded]:
    """One embedded account shared by the examples (a fresh one per example costs about a second)."""
    with mock_aws():
        yield embedded()


@settings(
    max_examples=300,
    deadline=None,
    # Shared on purpose: each example makes groups of its own in it.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(case=cases(), data=st.data())
def test_the_invariant_holds_on_embedded_aws_after_every_generated_case(
    account: Embedded, case: Case, data: st.DataObject
) -> None:
    world = account.world
    tags = {key: account.real(value) for key, value in case.tags.items()}
    case = Case(case.existing, case.added, tags, case.env, case.shape)
    existing = [(*rule[:3], account.real(rule[3])) for rule in case.existing]
    added = [(*rule[:3], account.real(rule[3])) for rule in case.added]
    group_id = world.group(f"g{next(account.serial)}", tags)
    if existing:
        world.authorize(group_id, permissions_of(existing))
    peer, peer_rules, peer_egress = (
        account.ids["peer"],
        world.ingress(account.ids["peer"]),
        world.egress(account.ids["peer"]),
    )
    call_event = make_call(world, group_id, added, case.shape)
    before, egress = world.ingress(group_id), world.egress(group_id)
    # Half the events are delivered as made; the others mutated, mostly where the call itself is described.
    where = data.draw(st.sampled_from(["as made", "anywhere", "requestParameters", "responseElements"]), label="mutate")
    delivered, mutations = call_event, tuple[str, ...]()
    if where == "anywhere":
        delivered, mutations = data.draw(mutated(call_event, max_mutations=3))
    elif where != "as made":
        delivered = copy.deepcopy(call_event)
        part, mutations = data.draw(mutated(delivered["detail"][where], max_mutations=3))
        delivered["detail"][where] = part
    for name in mutations:
        event(f"mutation: {name}")

    world.calls.clear()
    result = remediate(delivered, world.settings(**case.env), world.aws, NOW)

    after = world.ingress(group_id)
    assert world.egress(group_id) == egress
    assert (world.ingress(peer), world.egress(peer)) == (peer_rules, peer_egress)
    intended, received = meaning(read_call(call_event)), meaning(read_call(delivered))
    if received is None:
        event("refused: unreadable or not a call to act on")
        # Unreadable, or not a call to act on: nothing asked of AWS, nothing changed.
        assert after == before
        assert world.calls == []
        return
    if received == intended:
        event("read as the call was made: exact invariant")
        assert after == expected_rules(case, before, added, account.lists), result
        risky = [rule for rule in added if oracle_risky_rule(rule, account.lists)]
        assert len(result["findings"]) == len(risky), result
        return
    event("read as another call: safety invariant")
    # The mutated event says something else than the call did: what is removed is still risky and
    # what is added is still an allowed source, so nothing legitimate is lost whatever it says.
    assert {rule for rule in before - after if not oracle_risky_rule(rule, account.lists)} == set()
    allowed = set(oracle_sources(tags.get(ALLOWED_TAG, "")) or []) | set(
        oracle_sources(case.env["REMEDIATOR_ALLOWED_CIDRS"]) or []
    )
    assert {rule[3] for rule in after - before} <= allowed


@pytest.mark.parametrize("description", ["admin", None])
def test_a_rule_listed_twice_is_revoked_once_and_reported_once(world: World, description: str | None) -> None:
    # Found by the invariant with "duplicate list items" (and then "delete a key" on the copy's description): the
    # entry was planned, revoked and reported twice, its rule id twice in one RevokeSecurityGroupIngress.
    group_id = world.group()
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    event = world.open_event(group_id, [ssh], rule_ids=False, template=cloudtrail.OLD_FORMAT_TEMPLATE)
    items = event["detail"]["requestParameters"]["ipPermissions"]["items"]
    items.append(copy.deepcopy(items[0]))
    if description is not None:
        items[1]["ipRanges"]["items"][0]["description"] = description
    world.calls.clear()
    result = remediate(event, world.settings(), world.aws, NOW)
    assert world.ingress(group_id) == set()
    assert [finding["outcome"] for finding in result["findings"]] == ["revoked"]
    assert world.calls.count("RevokeSecurityGroupIngress") == 1
    assert world.messages()[0]["body"].count("tcp/22 from 0.0.0.0/0") == 1


def test_a_lone_surrogate_in_the_user_agent_still_closes_the_hole_and_notifies(world: World) -> None:
    # Found by the pure property: the notification's body could not be encoded after the revoke, so the
    # handler raised, and every retry raised again.
    group_id = world.group()
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    event = world.open_event(group_id, [ssh])
    event["detail"]["userAgent"] = "aws-cli/2 \ud800"
    event["detail"]["awsRegion"] = "\udfff"
    result = remediate(event, world.settings(), world.aws, NOW)
    assert world.ingress(group_id) == set()
    assert result["notified"] is True
    assert "aws-cli/2 \ufffd" in world.messages()[0]["body"]


def test_a_lone_surrogate_in_the_group_id_is_ignored_without_an_error(world: World) -> None:
    group_id = world.group()
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    event = world.open_event(group_id, [ssh])
    event["detail"]["requestParameters"]["groupId"] = group_id + "\ud800"
    result = remediate(event, world.settings(), world.aws, NOW)
    assert result["status"] == "ignored"
    assert "no longer exists" in result["reason"]
