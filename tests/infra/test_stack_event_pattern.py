"""The rule's pattern, read from the template, against the real CloudTrail events of tests/events."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from stack_support import REPO_ROOT, Synthesized, synthesized_once

from infra.event_pattern import UnsupportedPatternError, matches
from remediator.event_names import DELIVERED_EVENTS

EVENTS = sorted((REPO_ROOT / "tests" / "events").glob("*.json"))
# The calls the function acts on: rules added, prefix lists edited, groups put to use.
HANDLED = {
    "AuthorizeSecurityGroupIngress",
    "ModifySecurityGroupRules",
    "ModifyManagedPrefixList",
    "RestoreManagedPrefixListVersion",
    "RunInstances",
    "CreateNetworkInterface",
    "ModifyNetworkInterfaceAttribute",
    "ModifyInstanceAttribute",
    "AssociateSecurityGroupVpc",
}


@pytest.fixture(scope="module")
def synthesized() -> Synthesized:
    return synthesized_once()


def envelope(detail: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event CloudTrail makes of a record."""
    return {
        "version": "0",
        "id": "6f4a6b0e-0000-4000-8000-000000000000",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2024-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def as_delivered(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge would see it.

    Raw CloudTrail records get the envelope CloudTrail gives them. The streamalert envelopes have their
    source and detail-type redacted to "..." (tests/events/SOURCES.md); their real values are those of
    every EC2 CloudTrail event, so they are re-wrapped too rather than counted as non-matching.
    """
    if "detail" not in event or event.get("source") == "...":
        return envelope(event.get("detail", event))
    return event


def should_match(detail: dict[str, Any]) -> bool:
    # "Without errorCode": the key absent. The Permiso records carry "errorCode": null, which EventBridge
    # counts as present: exists matches on the presence of a leaf, and null is a value a pattern can match.
    return detail.get("eventName") in HANDLED and "errorCode" not in detail


@pytest.fixture(scope="module")
def pattern(synthesized: Synthesized) -> dict[str, Any]:
    (rule,) = [r for r in synthesized.resources("AWS::Events::Rule").values() if "EventPattern" in r["Properties"]]
    found: dict[str, Any] = rule["Properties"]["EventPattern"]
    return found


def test_the_real_events_are_there_to_test_the_pattern_against() -> None:
    assert len(EVENTS) >= 20


def test_the_calls_the_rule_delivers_are_the_ones_the_function_acts_on() -> None:
    assert set(DELIVERED_EVENTS) == HANDLED


@pytest.mark.parametrize("name", sorted(HANDLED))
def test_each_delivered_call_has_a_recorded_event_the_pattern_matches(pattern: dict[str, Any], name: str) -> None:
    delivered = [
        path.stem
        for path in EVENTS
        if json.loads(path.read_text()).get("detail", json.loads(path.read_text())).get("eventName") == name
        and matches(pattern, as_delivered(json.loads(path.read_text())))
    ]
    assert delivered, f"no event of tests/events is a {name} the rule delivers"


@pytest.mark.parametrize("path", EVENTS, ids=[path.stem for path in EVENTS])
def test_the_pattern_matches_a_real_event_exactly_when_it_should(pattern: dict[str, Any], path: Path) -> None:
    event = as_delivered(json.loads(path.read_text()))
    assert matches(pattern, event) is should_match(event["detail"])


def test_the_real_events_exercise_both_outcomes(pattern: dict[str, Any]) -> None:
    outcomes = {path.stem: matches(pattern, as_delivered(json.loads(path.read_text()))) for path in EVENTS}
    assert outcomes["nuvibit-AuthorizeSecurityGroupIngress-console-tcp0-65535-world-ruleset"]
    assert outcomes["panther-AuthorizeSecurityGroupIngress-gosdk-tcp22-world"]
    assert outcomes["streamalert-AuthorizeSecurityGroupIngress-all-traffic-world-v4-v6"]
    # Failed calls, egress, group creation: never an invocation.
    assert not outcomes["panther-AuthorizeSecurityGroupIngress-console-UnauthorizedOperation"]
    assert not outcomes["panther-AuthorizeSecurityGroupIngress-console-RequestExpired"]
    assert not outcomes["elastic-AuthorizeSecurityGroupEgress-cli-instance-role-tcp4444-ruleset"]
    assert not outcomes["panther-AuthorizeSecurityGroupEgress-terraform-all-traffic-world-description"]
    assert not outcomes["reflex-CreateSecurityGroup-console"]
    assert not outcomes["panther-CreateSecurityGroup-terraform"]
    # errorCode present as null (a trimmed record): present, so no match.
    assert not outcomes["permiso-AuthorizeSecurityGroupIngress-launch-wizard-tcp22-world-ruleset-partial"]
    assert sum(outcomes.values()) >= 10


def modify_rules_event(**extra: Any) -> dict[str, Any]:
    """A ModifySecurityGroupRules record built from the EC2 API reference (no public real record exists)."""
    return envelope(
        {
            "eventVersion": "1.08",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "ModifySecurityGroupRules",
            "awsRegion": "us-east-1",
            "requestParameters": {
                "ModifySecurityGroupRulesRequest": {
                    "GroupId": "sg-0123456789abcdef0",
                    "SecurityGroupRule": {
                        "SecurityGroupRuleId": "sgr-0123456789abcdef0",
                        "SecurityGroupRule": {
                            "IpProtocol": "tcp",
                            "FromPort": 22,
                            "ToPort": 22,
                            "CidrIpv4": "0.0.0.0/0",
                        },
                    },
                }
            },
            "responseElements": {"ModifySecurityGroupRulesResponse": {"return": True}},
            **extra,
        }
    )


def test_the_pattern_matches_built_events_exactly_when_it_should(pattern: dict[str, Any]) -> None:
    assert matches(pattern, modify_rules_event())
    assert not matches(pattern, modify_rules_event(errorCode="Client.InvalidSecurityGroupRuleId.NotFound"))
    assert not matches(pattern, modify_rules_event(errorCode=None))
    wrong_source = modify_rules_event()
    wrong_source["source"] = "aws.ecs"
    assert not matches(pattern, wrong_source)
    wrong_type = modify_rules_event()
    wrong_type["detail-type"] = "AWS Service Event via CloudTrail"
    assert not matches(pattern, wrong_type)
    sweep = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert not matches(pattern, sweep)
    revoke = modify_rules_event()
    revoke["detail"]["eventName"] = "RevokeSecurityGroupIngress"
    assert not matches(pattern, revoke)


# The evaluator itself, on EventBridge's documented semantics.


def test_exists_false_matches_absent_leaf_only() -> None:
    pattern = {"detail": {"errorCode": [{"exists": False}]}}
    assert matches(pattern, {"detail": {}})
    assert not matches(pattern, {"detail": {"errorCode": "AccessDenied"}})
    assert not matches(pattern, {"detail": {"errorCode": ""}})
    # "Exists matching works on the presence or absence of a field": null is present.
    assert not matches(pattern, {"detail": {"errorCode": None}})
    # "Exists matching only works on leaf nodes": an object where the leaf would be does not exist.
    assert matches(pattern, {"detail": {"errorCode": {"code": "x"}}})
    # Without the enclosing object nothing inside it can match.
    assert not matches(pattern, {})


def test_exists_true_and_exact_values() -> None:
    assert matches({"a": [{"exists": True}]}, {"a": None})
    assert not matches({"a": [{"exists": True}]}, {})
    assert matches({"a": ["x", "y"]}, {"a": "y"})
    assert matches({"a": ["x"]}, {"a": ["z", "x"]})
    assert not matches({"a": ["x"]}, {"a": []})
    assert matches({"a": [None]}, {"a": None})
    assert not matches({"a": [""]}, {"a": None})
    assert matches({"a": [5]}, {"a": 5.0})
    assert not matches({"a": ["5"]}, {"a": 5})
    assert not matches({"a": [1]}, {"a": True})
    assert matches({"a": [True]}, {"a": True})


def test_an_event_matches_only_when_all_fields_match() -> None:
    pattern = {"source": ["aws.ec2"], "detail": {"eventName": ["X"]}}
    assert matches(pattern, {"source": "aws.ec2", "detail": {"eventName": "X"}})
    assert not matches(pattern, {"source": "aws.ec2", "detail": {"eventName": "Y"}})
    assert not matches(pattern, {"source": "aws.s3", "detail": {"eventName": "X"}})


def test_unsupported_syntax_is_refused_not_guessed() -> None:
    with pytest.raises(UnsupportedPatternError):
        matches({"a": [{"prefix": "x"}]}, {"a": "xy"})
    with pytest.raises(UnsupportedPatternError):
        matches({"a": "x"}, {"a": "x"})


def test_the_pattern_is_not_modified(pattern: dict[str, Any]) -> None:
    before = copy.deepcopy(pattern)
    matches(pattern, modify_rules_event())
    assert pattern == before
