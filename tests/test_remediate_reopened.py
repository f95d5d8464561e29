"""A rule that keeps coming back: closed again each time, counted, and the notification says who is behind it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import World

from remediator.remediate import remediate

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
TERRAFORM = "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0"
PIPELINE = "arn:aws:sts::123456789012:assumed-role/infra-pipeline/1733043600"


def opened_by(world: World, group_id: str, user_agent: str, principal: str = PIPELINE) -> dict[str, Any]:
    """The rule opened on embedded AWS, and its event as CloudTrail tells it, made by `principal` with `user_agent`."""
    event = world.open_event(group_id, [SSH_WORLD])
    event["detail"].update(userAgent=user_agent)
    event["detail"]["userIdentity"]["arn"] = principal
    return event


def run(world: World, event: dict[str, Any], now: datetime = NOW, **env: str) -> dict[str, Any]:
    world.calls.clear()
    return remediate(event, world.settings(**env), world.aws, now)


def test_the_first_opening_is_closed_and_says_nothing_of_re_openings(world: World) -> None:
    table = world.state_table()
    group_id = world.group()

    result = run(world, opened_by(world, group_id, TERRAFORM), REMEDIATOR_STATE_TABLE=table)

    assert result["status"] == "remediated"
    assert world.ingress(group_id) == set()
    (message,) = world.messages()
    assert "re-opened" not in message["body"]


def test_each_re_opening_is_closed_again_and_counted_with_who_made_it(world: World) -> None:
    table = world.state_table()
    group_id = world.group()
    bodies = []
    for minutes in (0, 5, 10):
        result = run(
            world, opened_by(world, group_id, TERRAFORM), NOW + timedelta(minutes=minutes), REMEDIATOR_STATE_TABLE=table
        )
        # Never stop closing the hole: the third opening is revoked as the first was.
        assert [f["outcome"] for f in result["findings"]] == ["revoked"]
        assert world.ingress(group_id) == set()
        (message,) = world.messages()
        bodies.append(message["body"])

    assert "re-opened" not in bodies[0]
    assert f"re-opened 1 time in 24 h, last by {PIPELINE} ({TERRAFORM})" in bodies[1]
    assert f"re-opened 2 times in 24 h, last by {PIPELINE} ({TERRAFORM})" in bodies[2]
    assert "likely Terraform" in bodies[2]


def test_the_count_is_written_after_the_revoke_and_before_people_are_told(world: World) -> None:
    table = world.state_table()
    group_id = world.group()

    run(
        world,
        opened_by(world, group_id, "aws-cli/2.15.0"),
        REMEDIATOR_STATE_TABLE=table,
        REMEDIATOR_OUTCOME_EVENTS="false",
    )

    assert world.calls == [
        "DescribeSecurityGroups",
        "RevokeSecurityGroupIngress",
        "UpdateItem",
        "DescribeNetworkInterfaces",
        "Publish",
    ]


def test_a_re_opening_after_a_day_counts_as_a_first_opening(world: World) -> None:
    table = world.state_table()
    group_id = world.group()
    run(world, opened_by(world, group_id, "aws-cli/2.15.0"), NOW, REMEDIATOR_STATE_TABLE=table)
    world.messages()

    run(world, opened_by(world, group_id, "aws-cli/2.15.0"), NOW + timedelta(hours=25), REMEDIATOR_STATE_TABLE=table)

    (message,) = world.messages()
    assert "re-opened" not in message["body"]


def test_an_unavailable_table_still_closes_the_hole_and_says_the_count_is_unknown(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    group_id = world.group()

    result = run(world, opened_by(world, group_id, TERRAFORM), REMEDIATOR_STATE_TABLE="no-such-table")

    assert result["status"] == "remediated"
    assert world.ingress(group_id) == set()
    (message,) = world.messages()
    assert "whether this rule was opened before could not be read" in message["body"]
    warnings = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"re-openings not counted"' in line
    ]
    assert warnings
    assert warnings[0]["level"] == "WARNING"


def test_without_a_table_nothing_is_counted_or_said(world: World) -> None:
    group_id = world.group()

    run(world, opened_by(world, group_id, TERRAFORM))

    assert "UpdateItem" not in world.calls
    (message,) = world.messages()
    assert "re-opened" not in message["body"]
    assert "could not be read" not in message["body"]


def test_re_openings_are_a_metric_and_a_warning(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    table = world.state_table()
    group_id = world.group()
    run(world, opened_by(world, group_id, TERRAFORM), REMEDIATOR_STATE_TABLE=table)
    capsys.readouterr()

    run(world, opened_by(world, group_id, TERRAFORM), NOW + timedelta(minutes=1), REMEDIATOR_STATE_TABLE=table)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (metrics,) = [line for line in lines if "_aws" in line]
    assert metrics["RulesReopened"] == 1
    (warning,) = [line for line in lines if line.get("message") == "rule re-opened"]
    assert (warning["level"], warning["reopenings"], warning["principal"]) == ("WARNING", 1, PIPELINE)
