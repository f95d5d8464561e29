"""Tests of reading CloudTrail events: every real event in tests/events, and malformed ones."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from remediator.events import SecurityGroupCall, Unreadable, is_scheduled, read_call

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
        ({"detail": {}}, "malformed CloudTrail record: eventName: Field required"),
        ({"eventName": "AuthorizeSecurityGroupIngress", "requestParameters": []}, "requestParameters"),
        (
            {
                "eventName": "AuthorizeSecurityGroupIngress",
                "requestParameters": {"ipPermissions": {"items": [{"fromPort": 22}]}},
            },
            "ipProtocol: Field required",
        ),
        (
            {
                "eventName": "AuthorizeSecurityGroupIngress",
                "requestParameters": {"ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": "twenty-two"}]}},
            },
            "fromPort",
        ),
    ],
)
def test_an_unreadable_event_gives_a_one_line_reason(event: object, reason: str) -> None:
    call = read_call(event)
    assert isinstance(call, Unreadable)
    assert reason in call.reason
    assert "\n" not in call.reason


def test_the_scheduled_sweep_event_is_told_apart() -> None:
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert is_scheduled(scheduled)
    assert not is_scheduled(load("nuvibit-AuthorizeSecurityGroupIngress-console-tcp0-65535-world-ruleset.json"))
