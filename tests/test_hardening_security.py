"""The remediator's own security: no credentials in what it sends, a role no wider than its code, a guarded opt-out."""

from __future__ import annotations

import fnmatch
import importlib.util
import itertools
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediator import cloudtrail
from remediator.effects import DECLARED_OPERATIONS
from remediator.events import SecurityGroupCall, read_call
from remediator.model import Action, Decision, GroupState, Mode, Outcome
from remediator.permissions import PERMISSIONS, ResourceKind
from remediator.policy import ALLOWED_CIDRS_TAG, EXPIRES_TAG, MODE_TAG, policy_from_tags
from remediator.remediate import remediate
from remediator.report import Finding, attributes, body, event_report, subject
from remediator.settings import settings_from
from remediator.sweep import sweep

NOW = datetime.now(UTC)
REPO = Path(__file__).resolve().parent.parent
EVENTS_DIR = Path(__file__).parent / "events"
ACCESS_KEY = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
HTTPS_WORLD = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


# --- Notifications and logs carry no credentials ------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str

    def values(self) -> tuple[str, str, str]:
        return (self.access_key_id, self.secret_access_key, self.session_token)


credentials = st.builds(
    Credentials,
    access_key_id=st.from_regex(r"(AKIA|ASIA)[A-Z0-9]{16}", fullmatch=True),
    secret_access_key=st.from_regex(r"[A-Za-z0-9/+]{40}", fullmatch=True),
    session_token=st.from_regex(r"(FwoGZXIvYXdz|IQoJb3JpZ2luX2Vj)[A-Za-z0-9/+=]{60,120}", fullmatch=True),
)
PLACES = ("userIdentity", "sessionContext", "additionalEventData", "responseElements")


def with_credentials(event: dict[str, Any], secret: Credentials, places: set[str]) -> dict[str, Any]:
    """The event with the credentials wherever a CloudTrail record (or a careless pipeline) could carry them."""
    detail = event["detail"]
    identity = detail.setdefault("userIdentity", {})
    identity["accessKeyId"] = secret.access_key_id
    full = {
        "accessKeyId": secret.access_key_id,
        "secretAccessKey": secret.secret_access_key,
        "sessionToken": secret.session_token,
    }
    if "userIdentity" in places:
        identity.update(full)
    if "sessionContext" in places:
        identity.setdefault("sessionContext", {})["credentials"] = full
        identity["sessionContext"]["sessionToken"] = secret.session_token
    if "additionalEventData" in places:
        detail["additionalEventData"] = {"credentials": full, "x-amz-security-token": secret.session_token}
    if "responseElements" in places:
        detail.setdefault("responseElements", {})["credentials"] = full
    return event


SCENARIOS = ("revoke", "narrow", "narrow-to-unknown-list", "notify", "ignore", "dry-run", "clean", "unreadable")
QUIET = {"ignore", "clean", "unreadable"}
SERIAL = itertools.count()


def scenario_event(world: World, scenario: str) -> tuple[dict[str, Any], dict[str, str]]:
    tags = {
        "narrow": {MODE_TAG: "narrow", ALLOWED_CIDRS_TAG: "198.51.100.0/24"},
        "narrow-to-unknown-list": {MODE_TAG: "narrow", ALLOWED_CIDRS_TAG: "pl-00000000000000000"},
        "notify": {MODE_TAG: "notify"},
        "ignore": {MODE_TAG: "ignore"},
    }.get(scenario)
    group_id = world.group(f"{scenario}-{next(SERIAL)}", tags)
    event = world.open_event(group_id, [HTTPS_WORLD if scenario == "clean" else SSH_WORLD])
    if scenario == "unreadable":
        del event["detail"]["eventName"]
    return event, ({"REMEDIATOR_DRY_RUN": "true"} if scenario == "dry-run" else {})


@settings(
    max_examples=40,
    deadline=None,
    # The embedded account is shared on purpose: each example makes a group of its own.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(secret=credentials, places=st.sets(st.sampled_from(PLACES)), scenario=st.sampled_from(SCENARIOS))
def test_no_credential_of_the_event_reaches_a_notification_a_log_line_or_the_result(
    world: World, capsys: pytest.CaptureFixture[str], secret: Credentials, places: set[str], scenario: str
) -> None:
    event, env = scenario_event(world, scenario)
    capsys.readouterr()
    result = remediate(with_credentials(event, secret, places), world.settings(**env), world.aws, NOW)
    messages = world.messages()
    sent = [json.dumps(result), capsys.readouterr().out]
    for message in messages:
        sent += [message["subject"], message["body"], json.dumps(message["attributes"])]
    text = "\n".join(sent)
    assert not any(value in text for value in secret.values())
    # Not this event's key, nor any other (the template's own) that looks like one.
    assert ACCESS_KEY.search(text) is None
    # Each scenario that tells people did: the message above was checked, not skipped.
    assert bool(messages) == (scenario not in QUIET)


def events_with_keys() -> Iterator[str]:
    """The real events whose access key id looks like one (others have placeholders such as "1" or "...")."""
    for path in sorted(EVENTS_DIR.glob("*.json")):
        found = re.search(r'"accessKeyId": "([A-Z0-9]{12,})"', path.read_text())
        if found:
            yield path.name


@pytest.mark.parametrize("name", list(events_with_keys()))
def test_a_real_event_is_read_without_its_access_key(name: str) -> None:
    event = cloudtrail.load_event(name)
    record = event.get("detail", event)
    key = record.get("userIdentity", record.get("useridentity", {})).get("accessKeyId") or record.get(
        "userIdentity", {}
    ).get("accesskeyid")
    call = read_call(event)
    assert isinstance(call, SecurityGroupCall)
    group = GroupState(group_id="sg-1", group_name="web", vpc_id=None, tags={}, ingress=())
    decision = Decision(action=Action.REVOKE, mode=Mode.REVOKE, narrow_to=(), notes=())
    findings = tuple(
        Finding(entry=e, risk="risky", decision=decision, outcome=Outcome.REVOKED, details=()) for e in call.entries
    )
    report = event_report(call, group, findings, dry_run=False)
    # The whole call as read, not only what today's notification shows of it.
    everything = "\n".join(
        [json.dumps(asdict(call), default=str), subject(report), body(report), json.dumps(attributes(report))]
    )
    assert key
    assert key not in everything


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


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The stack as app.py synthesizes it, through the CDK tests' own helper (tests/infra/stack_support.py)."""
    pytest.importorskip("aws_cdk")
    # Loaded from its file: it sits beside the CDK tests, on their import path only.
    stack_support = sys.modules.get("stack_support")
    if stack_support is None:
        path = Path(__file__).parent / "infra" / "stack_support.py"
        spec = importlib.util.spec_from_file_location("stack_support", path)
        assert spec is not None
        assert spec.loader is not None
        stack_support = importlib.util.module_from_spec(spec)
        # Its dataclasses look their module up while being defined.
        sys.modules["stack_support"] = stack_support
        spec.loader.exec_module(stack_support)
    synthesized = stack_support.synthesize(tmp_path_factory.mktemp("cdk.out"))
    stack = synthesized.stack
    return Template(
        resources=synthesized.template.to_json()["Resources"],
        role=synthesized.logical_id(stack.remediator.role),
        topic=synthesized.logical_id(stack.notifications.topic),
        log_group=synthesized.logical_id(stack.remediator.log_group),
        queue=synthesized.logical_id(stack.remediator.dead_letter_queue),
    )


def test_the_infra_role_grants_exactly_the_declared_actions_and_the_lambda_basics(template: Template) -> None:
    _, role = next(iter(template.of_type("AWS::IAM::Role").items()))
    assert not role["Properties"].get("ManagedPolicyArns")
    assert not role["Properties"].get("Policies")
    actions = {action for s in template.role_statements() for action in as_list(s["Action"])}
    declared = {permission.action for permission in PERMISSIONS.values()}
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


def test_every_declared_permission_is_used_by_some_call_and_no_call_is_undeclared() -> None:
    used = {operation for operations in DECLARED_OPERATIONS.values() for operation in operations}
    assert used == set(PERMISSIONS)
    assert {p.resource for p in PERMISSIONS.values() if p.action.split(":")[1].startswith(("Revoke", "Authorize"))} == {
        ResourceKind.SECURITY_GROUP
    }


def test_what_the_remediator_calls_on_embedded_aws_is_all_declared(world: World) -> None:
    office = world.ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "198.51.100.0/24"}]
    )["PrefixList"]["PrefixListId"]
    group_id = world.group(tags={MODE_TAG: "narrow", ALLOWED_CIDRS_TAG: f"203.0.113.0/24 {office}"})
    event = world.open_event(group_id, [SSH_WORLD], rule_ids=False, template=cloudtrail.OLD_FORMAT_TEMPLATE)
    remediate(event, world.settings(), world.aws, NOW)
    event_path = set(world.calls)
    world.calls.clear()
    world.authorize(world.group("old"), [SSH_WORLD])
    sweep(world.settings(REMEDIATOR_SWEEP_MODE="revoke"), world.aws, NOW)
    assert event_path | set(world.calls) <= set(PERMISSIONS)
    assert {"RevokeSecurityGroupIngress", "AuthorizeSecurityGroupIngress", "Publish"} <= event_path


# --- The opt-out tags are guarded: the sample SCP ---------------------------------------------------------------

GUARDRAIL = REPO / "docs" / "opt-out-guardrail.md"
SECURITY_TEAM = "arn:aws:iam::111122223333:role/SecurityTeam-Admin"
DEVELOPER = "arn:aws:iam::111122223333:role/developer"
GROUP_ARN = "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0123456789abcdef0"


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
    policy = policy_from_tags(tags, settings_from({}), NOW)
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
