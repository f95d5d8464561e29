"""The remediator's role: no wider than what the code calls."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.iam import nag_text
from remediator.permissions import PERMISSIONS, enabled_permissions

NOW = datetime.now(UTC)
REPO = Path(__file__).resolve().parent.parent
EVENTS_DIR = Path(__file__).parent / "events"
ACCESS_KEY = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
HTTPS_WORLD = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}

# --- The role: no wider than what the code calls -------------------------------------------------------------

READ_ONLY = re.compile(r"^(ec2:Describe\w+|ec2:Get\w+)$")
# What the Lambda needs beyond the remediator's own calls: its log stream, and its dead-letter queue.
BASICS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "sqs:SendMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Template:
    """The synthesized stack's resources, and the logical ids of the role, topic, log group and queue."""

    resources: dict[str, dict[str, Any]]
    role: str
    topic: str
    log_group: str
    queue: str

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.resources.items() if value["Type"] == resource_type}

    def role_statements(self) -> list[dict[str, Any]]:
        statements = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": self.role} in policy["Properties"].get("Roles", []):
                statements += policy["Properties"]["PolicyDocument"]["Statement"]
        return statements


def synthesized_template(tmp_path_factory: pytest.TempPathFactory, **context: Any) -> Template:
    """The stack as app.py synthesizes it with these context settings, through tests/infra/stack_support.py."""
    pytest.importorskip("aws_cdk")
    # Loaded from its file: it sits beside the CDK tests, on their import path only.
    stack_support = sys.modules.get("stack_support")
    if stack_support is None:
        path = Path(__file__).parent / "stack_support.py"
        spec = importlib.util.spec_from_file_location("stack_support", path)
        assert spec is not None
        assert spec.loader is not None
        stack_support = importlib.util.module_from_spec(spec)
        # Its dataclasses look their module up while being defined.
        sys.modules["stack_support"] = stack_support
        spec.loader.exec_module(stack_support)
    synthesized = stack_support.synthesize(tmp_path_factory.mktemp("cdk.out"), **context)
    stack = synthesized.stack
    return Template(
        resources=synthesized.template.to_json()["Resources"],
        role=synthesized.logical_id(stack.remediator.role),
        topic=synthesized.logical_id(stack.notifications.topic),
        log_group=synthesized.logical_id(stack.remediator.log_group),
        queue=synthesized.logical_id(stack.remediator.dead_letter_queue),
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The stack with the default settings (security_hub off, outcome_events on)."""
    return synthesized_template(tmp_path_factory)


@pytest.fixture(scope="module")
def everything_on(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The stack with every setting that turns calls on, on."""
    return synthesized_template(tmp_path_factory, security_hub=True, outcome_events=True)


@pytest.fixture(scope="module")
def everything_off(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The stack with every setting that turns calls on, off."""
    return synthesized_template(tmp_path_factory, security_hub=False, outcome_events=False)


def test_the_infra_role_grants_exactly_the_declared_actions_and_the_lambda_basics(template: Template) -> None:
    _, role = next(iter(template.of_type("AWS::IAM::Role").items()))
    assert not role["Properties"].get("ManagedPolicyArns")
    assert not role["Properties"].get("Policies")
    actions = {action for s in template.role_statements() for action in as_list(s["Action"])}
    declared = {permission.action for permission in enabled_permissions({"outcome_events"}).values()}
    assert declared <= actions
    assert actions - declared <= BASICS, actions - declared
    assert all("*" not in action for action in actions), actions
    assert all(
        s["Effect"] == "Allow" and "NotAction" not in s and "NotResource" not in s for s in template.role_statements()
    )


def test_the_infra_role_scopes_every_action_that_can_change_anything(template: Template) -> None:
    security_groups = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":ec2:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":security-group/*",
            ],
        ]
    }
    for statement in template.role_statements():
        resources = as_list(statement["Resource"])
        for action in as_list(statement["Action"]):
            if "*" in resources:
                # Only calls that read (and X-Ray, which has no resources) may be granted on every resource.
                assert READ_ONLY.match(action) or action.startswith("xray:"), action
            if action in ("ec2:RevokeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupIngress"):
                assert resources == [security_groups], statement
            if action == "sns:Publish":
                assert resources == [{"Ref": template.topic}], statement
            if action.startswith("logs:"):
                assert resources == [{"Fn::GetAtt": [template.log_group, "Arn"]}], statement
            if action.startswith("sqs:"):
                assert resources == [{"Fn::GetAtt": [template.queue, "Arn"]}], statement


def test_the_infra_role_is_assumed_by_lambda_alone_and_uses_the_key_only_through_sns(template: Template) -> None:
    _, role = next(iter(template.of_type("AWS::IAM::Role").items()))
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Action": "sts:AssumeRole",
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
    }
    granted_to_role = [
        statement
        for resource in template.resources.values()
        for document in (resource["Properties"].get("KeyPolicy"), resource["Properties"].get("PolicyDocument"))
        if isinstance(document, Mapping) and resource["Type"] != "AWS::IAM::Policy"
        for statement in document["Statement"]
        if json.dumps(template.role) in json.dumps(statement.get("Principal", {}))
    ]
    # A resource policy (the key's) names the role only to let SNS encrypt what it publishes.
    assert granted_to_role
    for statement in granted_to_role:
        assert set(as_list(statement["Action"])) <= {"kms:Decrypt", "kms:GenerateDataKey*"}
        assert "kms:ViaService" in statement["Condition"]["StringEquals"]


# --- The calls a setting turns on: granted with the setting only, on the account's own resources -----------------

SECURITY_HUB_ACTIONS = {"securityhub:BatchImportFindings", "securityhub:BatchUpdateFindings", "securityhub:GetFindings"}
OWN_PRODUCT = "arn:<AWS::Partition>:securityhub:<AWS::Region>:<AWS::AccountId>:product/<AWS::AccountId>/default"
OWN_HUB = "arn:<AWS::Partition>:securityhub:<AWS::Region>:<AWS::AccountId>:hub/default"
DEFAULT_BUS = "arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:event-bus/default"


def grants(template: Template) -> set[tuple[str, str]]:
    """Each (action, resource) of the role, resources spelled as cdk-nag spells them."""
    return {
        (action, nag_text(resource))
        for statement in template.role_statements()
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }


def test_with_security_hub_on_the_role_imports_findings_of_its_own_product_and_updates_them_on_its_own_hub(
    everything_on: Template,
) -> None:
    granted = grants(everything_on)
    assert {grant for grant in granted if grant[0].startswith("securityhub:")} == {
        ("securityhub:BatchImportFindings", OWN_PRODUCT),
        ("securityhub:BatchUpdateFindings", OWN_HUB),
        ("securityhub:GetFindings", OWN_HUB),
    }
    assert ("events:PutEvents", DEFAULT_BUS) in granted


def test_with_security_hub_off_the_role_has_no_security_hub_action(
    template: Template, everything_off: Template
) -> None:
    for off in (template, everything_off):
        assert not {action for action, _ in grants(off)} & SECURITY_HUB_ACTIONS


def test_with_outcome_events_on_the_role_puts_events_on_the_default_bus_only(template: Template) -> None:
    assert {grant for grant in grants(template) if grant[0].startswith("events:")} == {
        ("events:PutEvents", DEFAULT_BUS)
    }


def test_with_outcome_events_off_the_role_cannot_put_events(everything_off: Template) -> None:
    assert not [action for action, _ in grants(everything_off) if action.startswith("events:")]


def test_the_role_is_exactly_the_permissions_its_settings_enable(
    template: Template, everything_on: Template, everything_off: Template
) -> None:
    for synthesized, enabled in (
        (template, {"outcome_events"}),
        (everything_on, {"security_hub", "outcome_events"}),
        (everything_off, set()),
    ):
        actions = {action for action, _ in grants(synthesized)} - BASICS
        assert actions == {p.action for p in enabled_permissions(enabled).values()}
    assert {p.action for p in PERMISSIONS.values()} == {action for action, _ in grants(everything_on)} - BASICS
