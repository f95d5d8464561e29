"""The synthesized template: rule, function, async settings, topic, and a role that is the enabled PERMISSIONS."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Match
from stack_support import Synthesized, synthesize, synthesized_once

from infra.event_pattern import CLOUDTRAIL_PATTERN
from infra.iam import nag_text, remediator_statements
from infra.settings import Settings
from remediator.event_names import DELIVERED_EVENTS
from remediator.permissions import PERMISSIONS, Permission, ResourceKind, enabled_permissions


@pytest.fixture(scope="module")
def synthesized() -> Synthesized:
    return synthesized_once()


def only(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, sorted(resources)
    ((logical_id, resource),) = resources.items()
    return logical_id, resource


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def rules(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return synthesized.resources("AWS::Events::Rule")


def cloudtrail_rule(synthesized: Synthesized) -> dict[str, Any]:
    (rule,) = [r for r in rules(synthesized).values() if "EventPattern" in r["Properties"]]
    return rule


def test_rule_pattern_is_successful_ingress_changes_on_the_default_bus(synthesized: Synthesized) -> None:
    properties = cloudtrail_rule(synthesized)["Properties"]
    assert properties["EventPattern"] == {
        "source": ["aws.ec2"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            # Every call the function acts on (tests/infra/test_stack_event_pattern.py names them one by one).
            "eventName": list(DELIVERED_EVENTS),
            "errorCode": [{"exists": False}],
        },
    }
    assert properties["EventPattern"] == CLOUDTRAIL_PATTERN
    # No EventBusName: the default bus, the only one CloudTrail delivers to.
    assert "EventBusName" not in properties
    assert properties["State"] == "ENABLED"


def test_function_runtime_architecture_and_limits(synthesized: Synthesized) -> None:
    _, function = only(synthesized.resources("AWS::Lambda::Function"))
    properties = function["Properties"]
    assert properties["Runtime"] == "python3.14"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == "remediator.handler.handler"
    assert properties["Timeout"] == 300
    assert 256 <= properties["MemorySize"] <= 512
    # A burst of events queues behind ten copies instead of exhausting EC2's revoke bucket (bench/burst.py).
    assert properties["ReservedConcurrentExecutions"] == 10


def test_function_environment_is_the_settings_and_the_topic(synthesized: Synthesized) -> None:
    topic_id = synthesized.logical_id(synthesized.stack.notifications.topic)
    synthesized.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": {
                    "REMEDIATOR_DEFAULT_MODE": "revoke",
                    "REMEDIATOR_ALLOWED_CIDRS": "",
                    "REMEDIATOR_RISKY_PORTS": "22,3389",
                    "REMEDIATOR_TOPIC_ARN": {"Ref": topic_id},
                    "REMEDIATOR_DRY_RUN": "false",
                    "REMEDIATOR_IPV4_OPEN_PREFIX": "8",
                    "REMEDIATOR_IPV6_OPEN_PREFIX": "32",
                    "REMEDIATOR_SWEEP_MODE": "notify",
                }
            }
        },
    )


def test_async_invocation_retries_then_dead_letter_queue(synthesized: Synthesized) -> None:
    queue_id = synthesized.logical_id(synthesized.stack.remediator.dead_letter_queue)
    _, config = only(synthesized.resources("AWS::Lambda::EventInvokeConfig"))
    assert config["Properties"]["MaximumRetryAttempts"] == 2
    assert config["Properties"]["MaximumEventAgeInSeconds"] == 6 * 3600
    assert config["Properties"]["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}
    }


def test_dead_letter_queue_is_encrypted_and_tls_only(synthesized: Synthesized) -> None:
    _, queue = only(synthesized.resources("AWS::SQS::Queue"))
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    synthesized.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sqs:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_both_rules_target_the_function_with_the_dead_letter_queue(synthesized: Synthesized) -> None:
    function_id = synthesized.logical_id(synthesized.stack.remediator.function)
    queue_id = synthesized.logical_id(synthesized.stack.remediator.dead_letter_queue)
    assert len(rules(synthesized)) == 2
    for rule in rules(synthesized).values():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
        # The default input: the function dispatches on the event EventBridge matched.
        assert not {"Input", "InputPath", "InputTransformer"} & set(target)


def test_sweep_schedule_defaults_to_daily(synthesized: Synthesized) -> None:
    (sweep,) = [r for r in rules(synthesized).values() if "ScheduleExpression" in r["Properties"]]
    assert sweep["Properties"]["ScheduleExpression"] == "rate(1 day)"


def test_empty_sweep_schedule_disables_the_sweep(tmp_path: Any) -> None:
    synthesized = synthesize(tmp_path, sweep_schedule="", sweep_mode="revoke")
    assert synthesized.stack.triggers.sweep_rule is None
    (rule,) = rules(synthesized).values()
    assert "EventPattern" in rule["Properties"]
    synthesized.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"REMEDIATOR_SWEEP_MODE": "revoke"})}},
    )


def test_log_group_is_explicit_with_retention(synthesized: Synthesized) -> None:
    log_group_id, log_group = only(synthesized.resources("AWS::Logs::LogGroup"))
    assert log_group["Properties"]["RetentionInDays"] >= 30
    _, function = only(synthesized.resources("AWS::Lambda::Function"))
    assert function["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": log_group_id}


def test_topic_is_encrypted_with_a_key_cloudwatch_and_the_role_may_use(synthesized: Synthesized) -> None:
    key_id, key = only(synthesized.resources("AWS::KMS::Key"))
    role_id = synthesized.logical_id(synthesized.stack.remediator.role)
    assert key["Properties"]["EnableKeyRotation"] is True
    _, topic = only(synthesized.resources("AWS::SNS::Topic"))
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    by_principal = {nag_text(next(iter(s["Principal"].values()))): s for s in statements}
    cloudwatch = by_principal["cloudwatch.amazonaws.com"]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    remediator = by_principal[f"<{role_id}.Arn>"]
    assert set(remediator["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert nag_text(remediator["Condition"]["StringEquals"]["kms:ViaService"]) == "sns.<AWS::Region>.amazonaws.com"
    synthesized.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_email_subscriptions_come_from_context(tmp_path: Any) -> None:
    synthesized = synthesize(tmp_path, notification_emails=["ops@example.com", "sec@example.org"])
    subscriptions = synthesized.resources("AWS::SNS::Subscription").values()
    assert sorted((s["Properties"]["Protocol"], s["Properties"]["Endpoint"]) for s in subscriptions) == [
        ("email", "ops@example.com"),
        ("email", "sec@example.org"),
    ]


def expected_resource(permission: Permission, topic_id: str, table_id: str) -> str:
    # Written out here rather than taken from infra.iam, so that the test checks the mapping too.
    return {
        ResourceKind.ANY: "*",
        ResourceKind.SECURITY_GROUP: "arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:security-group/*",
        ResourceKind.PREFIX_LIST: "arn:<AWS::Partition>:ec2:<AWS::Region>:*:prefix-list/*",
        ResourceKind.TOPIC: f"<{topic_id}>",
        ResourceKind.SECURITY_HUB_PRODUCT: (
            "arn:<AWS::Partition>:securityhub:<AWS::Region>:<AWS::AccountId>:product/<AWS::AccountId>/default"
        ),
        ResourceKind.SECURITY_HUB: "arn:<AWS::Partition>:securityhub:<AWS::Region>:<AWS::AccountId>:hub/default",
        ResourceKind.DEFAULT_EVENT_BUS: "arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:event-bus/default",
        ResourceKind.STATE_TABLE: f"<{table_id}.Arn>",
    }[permission.resource]


def role_grants(synthesized: Synthesized) -> set[tuple[str, str]]:
    """Every (action, resource) the role's policies allow, resources spelled as nag_text spells them."""
    role_id = synthesized.logical_id(synthesized.stack.remediator.role)
    _, role = only(synthesized.resources("AWS::IAM::Role"))
    # Nothing granted outside the policies below: no managed policies, no inline policies.
    assert not role["Properties"].get("ManagedPolicyArns")
    assert not role["Properties"].get("Policies")
    grants = set()
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"].get("Roles", []):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}, statement
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    grants.add((action, nag_text(resource)))
    return grants


def test_role_is_exactly_the_enabled_permissions_plus_own_logs_and_dead_letter_queue(synthesized: Synthesized) -> None:
    topic_id = synthesized.logical_id(synthesized.stack.notifications.topic)
    log_group_id = synthesized.logical_id(synthesized.stack.remediator.log_group)
    queue_id = synthesized.logical_id(synthesized.stack.remediator.dead_letter_queue)
    table_id = synthesized.logical_id(synthesized.stack.remediator.state.table)
    # The default settings: outcome_events on, security_hub off.
    enabled = Settings().enabled_settings()
    assert enabled == {"outcome_events"}
    expected = {(p.action, expected_resource(p, topic_id, table_id)) for p in enabled_permissions(enabled).values()}
    expected |= {(action, f"<{log_group_id}.Arn>") for action in ("logs:CreateLogStream", "logs:PutLogEvents")}
    # What CDK grants for the on-failure destination (SendMessage, and the two reads it needs).
    expected |= {
        (action, f"<{queue_id}.Arn>") for action in ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
    }
    assert role_grants(synthesized) == expected


def test_role_follows_a_permission_added_to_permissions() -> None:
    stack = Stack()
    added = {
        **PERMISSIONS,
        "ModifySecurityGroupRules": Permission("ec2:ModifySecurityGroupRules", ResourceKind.SECURITY_GROUP),
    }
    everything = {"security_hub", "outcome_events"}
    statements = {
        s.sid: s.to_statement_json()
        for s in remediator_statements(
            stack, topic_arn="arn:topic", state_table_arn="arn:table", enabled=everything, permissions=added
        )
    }
    assert "ec2:ModifySecurityGroupRules" in statements["SecurityGroups"]["Action"]
    all_actions = {a for s in statements.values() for a in as_list(s["Action"])}
    assert all_actions == {p.action for p in added.values()}


def test_a_permission_whose_setting_is_off_is_left_out_of_the_role() -> None:
    stack = Stack()
    statements = remediator_statements(stack, topic_arn="arn:topic", state_table_arn="arn:table", enabled=())
    actions = {a for s in statements for a in as_list(s.to_statement_json()["Action"])}
    assert actions == {p.action for p in PERMISSIONS.values() if p.enabled_by is None}
