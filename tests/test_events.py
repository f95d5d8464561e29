"""Tests of reading CloudTrail events: every real event in tests/events, and malformed ones."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from remediator.events import (
    Reader,
    SecurityGroupCall,
    Unreadable,
    WireModifiedRule,
    WirePorts,
    WireRuleSetItem,
    WireSource,
    is_scheduled,
    read_call,
)

EVENTS = Path(__file__).parent / "events"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def read(name: str) -> SecurityGroupCall:
    call = read_call(load(name))
    assert isinstance(call, SecurityGroupCall), call
    return call


def test_every_real_event_is_readable() -> None:
    names = sorted(path.name for path in EVENTS.glob("*.json"))
    assert len(names) >= 20
    for name in names:
        assert isinstance(read_call(load(name)), SecurityGroupCall), name


@pytest.mark.parametrize(
    ("name", "event_name", "error", "group", "entries"),
    [
        (
            "nuvibit-AuthorizeSecurityGroupIngress-console-tcp0-65535-world-ruleset.json",
            "AuthorizeSecurityGroupIngress",
            None,
            "sg-b15kasfs",
            [("tcp", 0, 65535, "0.0.0.0/0", "sgr-0c609eafsa2af10ea")],
        ),
        (
            "panther-AuthorizeSecurityGroupIngress-console-tcp443-cidr-0.0.0.0_16.json",
            "AuthorizeSecurityGroupIngress",
            None,
            "sg-04f0b44316f7d2471",
            [("tcp", 443, 443, "0.0.0.0/16", None)],
        ),
        (
            "panther-AuthorizeSecurityGroupIngress-console-UnauthorizedOperation.json",
            "AuthorizeSecurityGroupIngress",
            "UnauthorizedOperation",
            "sg-04f0b44316f7d2471",
            [("tcp", 443, 443, "0.0.0.0/16", None)],
        ),
        (
            "stratus-AuthorizeSecurityGroupIngress-flat-params-tcp22-ruleset.json",
            "AuthorizeSecurityGroupIngress",
            None,
            "sg-003dc7f1f1c686164",
            [("tcp", 22, 22, "208.236.235.254/0", "sgr-09b3e3d2ca1edf2a2")],
        ),
        (
            "reflex-AuthorizeSecurityGroupIngress-console-two-items-v4-v6-world.json",
            "AuthorizeSecurityGroupIngress",
            None,
            "sg-00000bd0bf00f0000",
            [("tcp", 55, 55, "0.0.0.0/0", None), ("tcp", 55, 55, "::/0", None)],
        ),
        (
            "streamalert-AuthorizeSecurityGroupIngress-all-traffic-world-v4-v6.json",
            "AuthorizeSecurityGroupIngress",
            None,
            "...",
            [("-1", None, None, "0.0.0.0/0", None), ("-1", None, None, "::/0", None)],
        ),
        (
            "kuali-AuthorizeSecurityGroupIngress-cfn-sourcegroup-ruleset.json",
            "AuthorizeSecurityGroupIngress",
            None,
            "sg-01f414f5313452cd1",
            [("tcp", 1521, 1521, "sg-0e4d6b8a99395a608", "sgr-052f232f61106d4c4")],
        ),
        (
            "elastic-AuthorizeSecurityGroupEgress-cli-instance-role-tcp4444-ruleset.json",
            "AuthorizeSecurityGroupEgress",
            None,
            "sg-038ccc3a1f7b05f42",
            # The rule set says isEgress: true, so only the request's permission is read.
            [("tcp", 4444, 4444, "73.21.4.36/32", None)],
        ),
    ],
)
def test_real_events_read_as_the_call_they_record(
    name: str, event_name: str, error: str | None, group: str, entries: list[tuple[object, ...]]
) -> None:
    call = read(name)
    assert call.event_name == event_name
    assert call.error_code == error
    assert call.group_id == group
    assert [(e.protocol, e.from_port, e.to_port, e.source.value, e.rule_id) for e in call.entries] == entries


def test_the_rule_set_of_the_new_response_format_gives_the_rule_ids() -> None:
    call = read("elastic-AuthorizeSecurityGroupIngress-cli-tcp22-ruleset-arn.json")
    assert [e.rule_id for e in call.entries] == ["sgr-027eb7c59241731e0"]


def test_the_actor_is_read_without_credentials() -> None:
    call = read("panther-AuthorizeSecurityGroupIngress-gosdk-tcp22-world.json")
    assert call.actor.principal_arn is not None
    assert call.actor.principal_arn.startswith("arn:aws:sts::")
    assert call.actor.user_agent is not None
    assert "aws-sdk-go" in call.actor.user_agent
    assert "accessKeyId" not in json.dumps(asdict(call.actor))


def test_a_group_given_by_name_is_kept_by_name() -> None:
    event = load("panther-AuthorizeSecurityGroupIngress-gosdk-tcp22-world.json")
    event["requestParameters"].pop("groupId")
    event["requestParameters"]["groupName"] = "default"
    call = read_call(event)
    assert isinstance(call, SecurityGroupCall)
    assert (call.group_id, call.group_name) == (None, "default")


def test_modify_security_group_rules_gives_the_modified_rule_ids() -> None:
    call = read("constructed-ModifySecurityGroupRules-console.json")
    assert call.event_name == "ModifySecurityGroupRules"
    assert call.group_id == "sg-b15kasfs"
    assert call.modified_rule_ids == ("sgr-0c609eafsa2af10ea",)


def test_modify_security_group_rules_with_a_list_of_rules() -> None:
    event = load("constructed-ModifySecurityGroupRules-console.json")
    request = event["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"]
    first = request["SecurityGroupRule"]
    request["SecurityGroupRule"] = [first, {**first, "tag": 2, "SecurityGroupRuleId": "sgr-0000000000000000b"}]
    call = read_call(event)
    assert isinstance(call, SecurityGroupCall)
    assert call.modified_rule_ids == ("sgr-0c609eafsa2af10ea", "sgr-0000000000000000b")


def test_the_envelope_fills_what_a_redacted_record_lacks() -> None:
    event = load("permiso-AuthorizeSecurityGroupIngress-launch-wizard-tcp22-world-ruleset-partial.json")
    call = read_call(
        {
            "id": "envelope-id",
            "detail-type": "AWS API Call via CloudTrail",
            "account": "111122223333",
            "region": "eu-west-1",
            "detail": event,
        }
    )
    assert isinstance(call, SecurityGroupCall)
    assert call.account == "111122223333"
    assert call.actor.principal_arn is None


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ([], "the event is a JSON list, not an object"),
        ("text", "the event is a JSON str, not an object"),
        ({}, "neither an EventBridge envelope nor a CloudTrail record"),
        ({"detail": "x"}, "neither an EventBridge envelope nor a CloudTrail record"),
        ({"detail": {}}, "no readable eventName"),
        ({"eventName": ["AuthorizeSecurityGroupIngress"]}, "no readable eventName"),
    ],
)
def test_only_an_event_that_names_no_call_is_unreadable(event: object, reason: str) -> None:
    call = read_call(event)
    assert isinstance(call, Unreadable)
    assert reason in call.reason
    assert "\n" not in call.reason


RULE_SET_EVENT = "nuvibit-AuthorizeSecurityGroupIngress-console-tcp0-65535-world-ruleset.json"
SSH_WORLD = ("tcp", 0, 65535, "0.0.0.0/0")


def content(call: SecurityGroupCall) -> set[tuple[str, int | None, int | None, str]]:
    return {(e.protocol, e.from_port, e.to_port, e.source.value) for e in call.entries}


# One field broken at a time; each still leaves the call, the group and one readable copy of the risky entry.
BROKEN_FIELDS: dict[str, tuple[Callable[[dict[str, Any]], None], str | None]] = {
    "userAgent a list": (lambda r: r.update(userAgent=["aws-cli"]), None),
    "userIdentity a string": (lambda r: r.update(userIdentity="root"), None),
    "sourceIPAddress an object": (lambda r: r.update(sourceIPAddress={"ip": "1.2.3.4"}), None),
    "eventTime a number": (lambda r: r.update(eventTime=None), None),
    "responseElements not an object": (lambda r: r.update(responseElements="ok"), "responseElements"),
    "an unrelated isEgress of maybe": (
        lambda r: r["responseElements"]["securityGroupRuleSet"]["items"].append(
            {**r["responseElements"]["securityGroupRuleSet"]["items"][0], "isEgress": "maybe", "toPort": 23}
        ),
        "securityGroupRuleSet[1]",
    ),
    "an icmp permission with fromPort echo beside tcp/22": (
        lambda r: r["requestParameters"]["ipPermissions"]["items"].insert(
            0, {"ipProtocol": "icmp", "fromPort": "echo", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}
        ),
        "requestParameters.ipPermissions[0]",
    ),
    "a source that is an object": (
        lambda r: r["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"]["items"].append({"cidrIp": {}}),
        "ipRanges[1]",
    ),
    "requestParameters missing (a trimmed record)": (lambda r: r.pop("requestParameters"), None),
    "ipPermissions a string": (lambda r: r["requestParameters"].update(ipPermissions="all"), "ipPermissions"),
}


@pytest.mark.parametrize("broken", BROKEN_FIELDS, ids=list(BROKEN_FIELDS))
def test_a_field_broken_in_a_real_record_still_gives_the_group_and_the_risky_entry(broken: str) -> None:
    event = load(RULE_SET_EVENT)
    record = event.get("detail", event)
    group_id = record["requestParameters"]["groupId"]
    breaking, named = BROKEN_FIELDS[broken]
    breaking(record)
    call = read_call(event)
    assert isinstance(call, SecurityGroupCall), call
    assert call.group_id == group_id
    assert SSH_WORLD in content(call)
    if named is None:
        assert call.skipped == ()
    else:
        assert any(named in note for note in call.skipped), call.skipped
        assert not call.complete


def every_place(value: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every key and list index of a JSON value, depth first."""
    places: list[tuple[str | int, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            places += [(*path, key), *every_place(child, (*path, key))]
    elif isinstance(value, list):
        for index, child in enumerate(value):
            places += [(*path, index), *every_place(child, (*path, index))]
    return places


def with_broken(record: dict[str, Any], place: tuple[str | int, ...]) -> dict[str, Any]:
    broken = copy.deepcopy(record)
    parent: Any = broken
    for step in place[:-1]:
        parent = parent[step]
    parent[place[-1]] = {"unexpected": ["type"]}
    return broken


@pytest.mark.parametrize("name", sorted(path.name for path in EVENTS.glob("*Ingress*.json")))
def test_each_field_of_each_real_record_broken_alone_is_read_or_named(name: str) -> None:
    event = load(name)
    record = event.get("detail", event)
    whole = read_call(record)
    assert isinstance(whole, SecurityGroupCall)
    for place in every_place(record):
        if place[0] == "eventName":
            continue
        call = read_call(with_broken(record, place))
        assert isinstance(call, SecurityGroupCall), place
        assert call.event_name == whole.event_name
        where = ".".join(str(step) for step in place)
        # A broken entry is left out and named; every other readable entry is still there.
        lost = content(whole) - content(call)
        if lost:
            assert call.skipped, (where, lost)
        if call.group_id != whole.group_id:
            assert place[0] in ("requestParameters", "responseElements"), where


def test_the_rule_set_names_the_group_when_the_request_is_missing() -> None:
    record = load(RULE_SET_EVENT)
    record = record.get("detail", record)
    group_id = record["requestParameters"]["groupId"]
    del record["requestParameters"]
    call = read_call(record)
    assert isinstance(call, SecurityGroupCall)
    assert call.group_id == group_id
    assert call.group_note is None


def test_where_request_and_rule_set_disagree_the_rule_set_wins_and_the_call_says_so() -> None:
    record = load(RULE_SET_EVENT)
    record = record.get("detail", record)
    answered = record["requestParameters"]["groupId"]
    record["requestParameters"]["groupId"] = "sg-0000000000000000f"
    call = read_call(record)
    assert isinstance(call, SecurityGroupCall)
    assert call.group_id == answered
    assert call.group_note is not None
    assert "sg-0000000000000000f" in call.group_note
    assert answered in call.group_note


def test_the_scheduled_sweep_event_is_told_apart() -> None:
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert is_scheduled(scheduled)
    assert not is_scheduled(load("nuvibit-AuthorizeSecurityGroupIngress-console-tcp0-65535-world-ruleset.json"))


@pytest.mark.parametrize(
    ("cls", "data", "read_as"),
    [
        # Numbers are read as text where text is wanted, and text as a number where a port is.
        (
            WirePorts,
            {"ipProtocol": 6, "fromPort": "22", "toPort": 22.0},
            WirePorts(ip_protocol="6", from_port=22, to_port=22),
        ),
        # Keys the remediator does not read are passed over; a key it reads and that is absent takes its default.
        (WireSource, {"cidrIp": "0.0.0.0/0", "tag": {"x": 1}}, WireSource(cidr_ip="0.0.0.0/0")),
        # A lone surrogate (json.loads reads "\\ud800" as one) becomes U+FFFD, which AWS and the log accept.
        (WireSource, {"description": "ssh \ud800"}, WireSource(description="ssh \ufffd")),
        # ModifySecurityGroupRules spells the rule id both ways in real records.
        (WireModifiedRule, {"securityGroupRuleId": "sgr-1"}, WireModifiedRule(rule_id="sgr-1")),
        (WireModifiedRule, {"SecurityGroupRuleId": "sgr-2"}, WireModifiedRule(rule_id="sgr-2")),
        (
            WireRuleSetItem,
            {"securityGroupRuleId": "sgr-3", "isEgress": "false", "ipProtocol": "-1", "referencedGroupInfo": None},
            WireRuleSetItem(rule_id="sgr-3", is_egress=False, ip_protocol="-1"),
        ),
    ],
)
def test_a_wire_item_is_read_by_its_cloudtrail_keys_leniently(cls: type[Any], data: object, read_as: object) -> None:
    reader = Reader()

    assert reader.item(cls, data, "item") == read_as
    assert reader.skipped == []


@pytest.mark.parametrize(
    ("cls", "data", "skipped"),
    [
        (WirePorts, {"fromPort": 22}, "item: ipProtocol: Field required; skipped"),
        (WirePorts, {"ipProtocol": "tcp", "fromPort": "ssh"}, "item: fromPort: Input should be a valid integer"),
        (WireSource, ["0.0.0.0/0"], "item: value: Input should be a valid dictionary; skipped"),
        (WireModifiedRule, {}, "item: SecurityGroupRuleId: Field required; skipped"),
        (
            WireRuleSetItem,
            {"securityGroupRuleId": "sgr-1", "ipProtocol": "tcp", "isEgress": "perhaps"},
            "item: isEgress: Input should be a valid boolean",
        ),
    ],
)
def test_a_wire_item_that_cannot_be_read_is_skipped_with_the_key_and_what_is_wrong(
    cls: type[Any], data: object, skipped: str
) -> None:
    reader = Reader()

    assert reader.item(cls, data, "item") is None
    [note] = reader.skipped
    assert note.startswith(skipped)
