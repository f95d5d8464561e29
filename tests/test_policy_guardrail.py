"""The opt-out tags are guarded: the sample SCP of docs/opt-out-guardrail.md lets only the security team set them."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from remediator.model import Mode
from remediator.policy import ALLOWED_CIDRS_TAG, EXPIRES_TAG, MODE_TAG, policy_from_tags
from remediator.settings import settings_from

NOW = datetime.now(UTC)
REPO = Path(__file__).resolve().parent.parent
EVENTS_DIR = Path(__file__).parent / "events"
ACCESS_KEY = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
HTTPS_WORLD = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}

# --- The opt-out tags are guarded: the sample SCP ---------------------------------------------------------------

GUARDRAIL = REPO / "docs" / "opt-out-guardrail.md"
SECURITY_TEAM = "arn:aws:iam::111122223333:role/SecurityTeam-Admin"
DEVELOPER = "arn:aws:iam::111122223333:role/developer"
GROUP_ARN = "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0123456789abcdef0"


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policies_in_guardrail() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)```", GUARDRAIL.read_text(), flags=re.DOTALL)
    return [json.loads(block) for block in blocks]


def condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, Any]) -> bool:
    """The IAM condition operators the guardrail uses, read as the IAM reference defines them."""
    present = context.get(key)
    patterns = as_list(wanted)
    if operator == "Null":
        return (present is None or present == []) == (str(wanted).lower() == "true")
    if operator == "ForAnyValue:StringLike":
        return any(fnmatch.fnmatchcase(value, p) for value in present or [] for p in patterns)
    if operator == "ArnNotLike":
        return present is None or not any(fnmatch.fnmatchcase(present, p) for p in patterns)
    raise AssertionError(f"operator {operator} is not one this test can evaluate")


def denied(policy: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    for statement in as_list(policy["Statement"]):
        assert statement["Effect"] == "Deny"
        if not any(fnmatch.fnmatchcase(action, a) for a in as_list(statement["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in as_list(statement["Resource"])):
            continue
        if all(
            condition_holds(operator, key, wanted, context)
            for operator, block in statement.get("Condition", {}).items()
            for key, wanted in block.items()
        ):
            return True
    return False


def request(principal: str, tag_keys: list[str] | None) -> dict[str, Any]:
    context: dict[str, Any] = {"aws:PrincipalArn": principal}
    if tag_keys is not None:
        context["aws:TagKeys"] = tag_keys
    return context


def test_the_sample_scp_is_valid_json_with_the_documented_condition_keys() -> None:
    scp, *_ = policies_in_guardrail()
    assert scp["Version"] == "2012-10-17"
    text = json.dumps(scp)
    for needed in ('"ForAnyValue:StringLike"', '"aws:TagKeys"', '"remediator:*"', '"ArnNotLike"', '"aws:PrincipalArn"'):
        assert needed in text, needed
    actions = {action for statement in scp["Statement"] for action in as_list(statement["Action"])}
    assert {"ec2:CreateTags", "ec2:DeleteTags", "ec2:CreateSecurityGroup"} <= actions
    # An SCP is at most 5,120 characters, whitespace included unless the console minifies it.
    assert len(json.dumps(scp, separators=(",", ":"))) <= 5120


@pytest.mark.parametrize(
    ("action", "principal", "tag_keys", "expected"),
    [
        ("ec2:CreateTags", DEVELOPER, [MODE_TAG], True),
        ("ec2:CreateTags", DEVELOPER, ["Name", EXPIRES_TAG], True),
        ("ec2:CreateTags", DEVELOPER, ["Name", "team"], False),
        ("ec2:CreateTags", SECURITY_TEAM, [MODE_TAG, EXPIRES_TAG], False),
        # Removing the end of an exception would make it last for ever.
        ("ec2:DeleteTags", DEVELOPER, [EXPIRES_TAG], True),
        # DeleteTags without tags deletes them all, remediator:expires included.
        ("ec2:DeleteTags", DEVELOPER, None, True),
        ("ec2:DeleteTags", DEVELOPER, ["Name"], False),
        ("ec2:DeleteTags", SECURITY_TEAM, None, False),
        ("ec2:CreateSecurityGroup", DEVELOPER, [MODE_TAG], True),
        ("ec2:CreateSecurityGroup", DEVELOPER, ["Name"], False),
        ("ec2:CreateSecurityGroup", SECURITY_TEAM, [ALLOWED_CIDRS_TAG], False),
    ],
)
def test_the_sample_scp_lets_only_the_security_team_set_remediator_tags(
    action: str, principal: str, tag_keys: list[str] | None, expected: bool
) -> None:
    scp, *_ = policies_in_guardrail()
    assert denied(scp, action, GROUP_ARN, request(principal, tag_keys)) is expected


def test_the_sample_scp_leaves_other_resources_alone() -> None:
    scp, *_ = policies_in_guardrail()
    instance = "arn:aws:ec2:eu-west-1:111122223333:instance/i-0123456789abcdef0"
    assert not denied(scp, "ec2:CreateTags", instance, request(DEVELOPER, [MODE_TAG]))


def test_a_tag_the_scp_lets_through_is_one_the_remediator_does_not_read() -> None:
    # StringLike is case-sensitive, and so is the remediator's reading of its tags.
    scp, *_ = policies_in_guardrail()
    tags = {"Remediator:mode": "ignore", "REMEDIATOR:MODE": "ignore", " remediator:mode": "ignore"}
    assert not denied(scp, "ec2:CreateTags", GROUP_ARN, request(DEVELOPER, list(tags)))
    policy = policy_from_tags(tags, settings_from({}).default_policy(), NOW)
    assert policy.mode == Mode.REVOKE


def test_every_tag_the_remediator_reads_is_guarded() -> None:
    scp, *_ = policies_in_guardrail()
    for key in (MODE_TAG, ALLOWED_CIDRS_TAG, EXPIRES_TAG):
        assert denied(scp, "ec2:CreateTags", GROUP_ARN, request(DEVELOPER, [key])), key


def test_the_iam_variant_denies_the_same_requests_without_naming_principals() -> None:
    _, boundary = policies_in_guardrail()
    assert "aws:PrincipalArn" not in json.dumps(boundary)
    assert denied(boundary, "ec2:CreateTags", GROUP_ARN, request(DEVELOPER, [MODE_TAG]))
    assert denied(boundary, "ec2:DeleteTags", GROUP_ARN, request(DEVELOPER, None))
    assert not denied(boundary, "ec2:CreateTags", GROUP_ARN, request(DEVELOPER, ["Name"]))


def test_the_guardrail_document_names_the_keys_it_guards() -> None:
    text = GUARDRAIL.read_text()
    for key in (MODE_TAG, ALLOWED_CIDRS_TAG, EXPIRES_TAG):
        assert key in text
