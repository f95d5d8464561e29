"""A trusted principal's calls (an approved pipeline) are judged in notify mode unless the group's tag says not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import World

from remediator.remediate import remediate
from remediator.settings import SettingsError, settings_from

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
PIPELINE = "arn:aws:sts::123456789012:assumed-role/infra-pipeline/1733043600"
TRUSTED = {"REMEDIATOR_TRUSTED_PRINCIPALS": "arn:aws:iam::123456789012:role/infra-*"}


def opened_by(world: World, group_id: str, principal: str) -> dict[str, Any]:
    event = world.open_event(group_id, [SSH_WORLD])
    event["detail"]["userIdentity"]["arn"] = principal
    return event


def test_a_trusted_pipelines_rule_is_left_open_and_the_notification_says_it_was_trusted(world: World) -> None:
    group_id = world.group()

    result = remediate(opened_by(world, group_id, PIPELINE), world.settings(**TRUSTED), world.aws, NOW)

    assert world.ingress(group_id) == {("tcp", 22, 22, "0.0.0.0/0")}
    assert [(f["mode"], f["outcome"]) for f in result["findings"]] == [("notify", "notified")]
    (message,) = world.messages()
    assert f"the caller {PIPELINE} is a trusted principal" in message["body"]
    assert "REMEDIATOR_TRUSTED_PRINCIPALS arn:aws:iam::123456789012:role/infra-*" in message["body"]


def test_anyone_else_is_judged_by_the_default_mode(world: World) -> None:
    group_id = world.group()
    stranger = "arn:aws:iam::123456789012:user/mallory"

    result = remediate(opened_by(world, group_id, stranger), world.settings(**TRUSTED), world.aws, NOW)

    assert world.ingress(group_id) == set()
    assert [f["outcome"] for f in result["findings"]] == ["revoked"]
    (message,) = world.messages()
    assert "trusted" not in message["body"]


def test_the_groups_own_tag_wins_over_the_trust(world: World) -> None:
    group_id = world.group(tags={"remediator:mode": "revoke"})

    result = remediate(opened_by(world, group_id, PIPELINE), world.settings(**TRUSTED), world.aws, NOW)

    assert world.ingress(group_id) == set()
    assert [f["outcome"] for f in result["findings"]] == ["revoked"]


def test_trust_is_off_by_default(world: World) -> None:
    group_id = world.group()

    remediate(opened_by(world, group_id, PIPELINE), world.settings(), world.aws, NOW)

    assert world.ingress(group_id) == set()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("infra-pipeline", "REMEDIATOR_TRUSTED_PRINCIPALS: 'infra-pipeline' is not an ARN pattern"),
        ("arn:*:*:*:*:*", "REMEDIATOR_TRUSTED_PRINCIPALS: 'arn:*:*:*:*:*' would trust every principal"),
    ],
)
def test_a_pattern_that_is_no_arn_or_trusts_everyone_is_refused(value: str, error: str) -> None:
    with pytest.raises(SettingsError, match=error.replace("*", r"\*")):
        settings_from({"REMEDIATOR_TRUSTED_PRINCIPALS": value})
