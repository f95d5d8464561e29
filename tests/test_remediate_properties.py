"""Property tests of the event path on embedded AWS: the invariant after every generated case, and what it found."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from conftest import ACCOUNT, REGION, World
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from mutations import mutated
from oracle import (
    ALLOWED_TAG,
    NOW,
    oracle_decision,
    oracle_risky,
    oracle_sources,
    tag_sets,
)

from remediator.cli import cloudtrail
from remediator.events import SecurityGroupCall, Unreadable, read_call
from remediator.model import (
    Action,
    RuleEntry,
    Source,
    SourceKind,
)
from remediator.remediate import not_ours, remediate
from remediator.risk import PrefixListInfo

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
        cloudtrail.load_template(cloudtrail.RULE_SET_TEMPLATE),
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
    if isinstance(call, Unreadable) or not_ours(call) is not None:
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
    if result["status"] == "refused":
        event("refused: another region or account, or no readable group")
        # Refused: a warning and a notification, and nothing changed.
        assert after == before
        assert set(world.calls) <= {"Publish"}
        return
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
        delivered_call = read_call(delivered)
        if isinstance(delivered_call, SecurityGroupCall) and not delivered_call.complete:
            # Read in part: the group's other risky rules were checked too, and only reported (the sweep mode
            # is notify), so the rules are exactly as above and each extra finding was left open.
            extra = result["findings"][len(risky) :]
            assert all(finding["outcome"] in ("notified", "ignored") for finding in extra), result
        else:
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
    event["detail"]["sourceIPAddress"] = "\udfff"
    result = remediate(event, world.settings(), world.aws, NOW)
    assert world.ingress(group_id) == set()
    assert result["notified"] is True
    assert "aws-cli/2 \ufffd" in world.messages()[0]["body"]


def test_a_lone_surrogate_in_the_group_id_is_ignored_without_an_error(world: World) -> None:
    group_id = world.group()
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    event = world.open_event(group_id, [ssh])
    event["detail"]["requestParameters"]["groupId"] = group_id + "\ud800"
    del event["detail"]["responseElements"]["securityGroupRuleSet"]
    result = remediate(event, world.settings(), world.aws, NOW)
    assert result["status"] == "ignored"
    assert "no longer exists" in result["reason"]


def test_a_lone_surrogate_in_the_requests_group_id_gives_way_to_the_rule_sets_group(world: World) -> None:
    group_id = world.group()
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    event = world.open_event(group_id, [ssh])
    event["detail"]["requestParameters"]["groupId"] = group_id + "\ud800"
    result = remediate(event, world.settings(), world.aws, NOW)
    assert result["status"] == "remediated"
    assert world.ingress(group_id) == set()
    assert any("AWS's answer (the rule set)" in note for note in result["notes"])
