"""Property tests of planning: assess and the tag policy agree with an independent oracle."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from mutations import interesting_text, odd_text
from oracle import (
    DEFAULTS,
    EXPIRES_TAG,
    MODE_TAG,
    NOW,
    OWN_LISTS,
    THRESHOLDS,
    oracle_decision,
    oracle_risky,
    oracle_sources,
    oracle_untrusted,
    tag_sets,
)

from remediator.engine import Criteria, plan_group
from remediator.model import (
    GroupState,
    PortRange,
    RuleEntry,
    Source,
    SourceKind,
)
from remediator.risk import assess, normalize_protocol
from remediator.settings import settings_from

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
        criteria=Criteria.of(configured),
        now=NOW,
        prefix_lists=OWN_LISTS,
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
