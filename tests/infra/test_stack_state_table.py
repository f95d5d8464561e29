"""The state table in the template: on demand, TTL on, the AWS-managed key, and only the function may update it."""

from __future__ import annotations

from typing import Any

import pytest
from stack_support import Synthesized, synthesized_once

from remediator.settings import variable_name
from remediator.state import KEY_ATTRIBUTE, TTL_ATTRIBUTE


@pytest.fixture(scope="module")
def synthesized() -> Synthesized:
    return synthesized_once()


@pytest.fixture(scope="module")
def table(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = synthesized.resources("AWS::DynamoDB::Table").items()
    return logical_id, resource["Properties"]


def test_the_table_is_billed_on_demand_with_one_string_key(table: tuple[str, dict[str, Any]]) -> None:
    _, properties = table
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}]
    assert "ProvisionedThroughput" not in properties


def test_every_item_expires_by_the_ttl_attribute_the_code_writes(table: tuple[str, dict[str, Any]]) -> None:
    _, properties = table
    assert properties["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_the_table_is_encrypted_with_the_aws_managed_key_not_one_of_our_own(table: tuple[str, dict[str, Any]]) -> None:
    # CloudFormation's AWS::DynamoDB::Table SSESpecification: SSEEnabled true without KMSMasterKeyId sets the
    # encryption type to KMS with the AWS managed key (aws/dynamodb); false or absent means an AWS owned key.
    _, properties = table
    assert properties["SSESpecification"] == {"SSEEnabled": True}


def test_point_in_time_recovery_is_off_for_a_day_of_counts(table: tuple[str, dict[str, Any]]) -> None:
    _, properties = table
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}


def test_the_function_is_told_the_table_and_may_only_update_its_items(
    table: tuple[str, dict[str, Any]], synthesized: Synthesized
) -> None:
    logical_id, _ = table
    (function,) = [
        f["Properties"]
        for f in synthesized.resources("AWS::Lambda::Function").values()
        if "Environment" in f.get("Properties", {})
    ]
    assert function["Environment"]["Variables"][variable_name("state_table")] == {"Ref": logical_id}
    statements = [
        statement
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(str(action).startswith("dynamodb:") for action in _actions(statement))
    ]
    assert statements == [
        {
            "Action": "dynamodb:UpdateItem",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [logical_id, "Arn"]},
            "Sid": "StateTable",
        }
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)
