"""Every service the stack points at the notification topic can publish to it: topic policy and key policy together.

A small evaluator of the policy grammar the stack uses (Allow and Deny; StringEquals, ArnLike and Bool
conditions) decides each publisher's requests as AWS would for principals of the stack's own account:
sns:Publish needs an Allow in the topic policy or the principal's own policies; each KMS call SNS makes on
the publisher's behalf needs the key policy to allow it, directly or by delegating to the account's IAM
policies; any matching Deny refuses. Anything else in a policy (NotAction, another operator) stops the test.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import pytest
from stack_support import Synthesized, synthesized_once

PARTITION = "aws"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
CLOUDWATCH = "cloudwatch.amazonaws.com"
# What SNS asks KMS for when a message is published to an encrypted topic.
KMS_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
ALARM_ACTIONS = ("AlarmActions", "OKActions", "InsufficientDataActions")
# Resource types that mention the topic without publishing to it.
NOT_PUBLISHERS = {"AWS::IAM::Policy", "AWS::SNS::TopicPolicy", "AWS::SNS::Subscription"}


class UnsupportedPolicyError(ValueError):
    """A policy uses grammar this evaluator does not implement: extend it rather than guess."""


# The template, with its CloudFormation references made concrete for one account and region.


def physical_ref(resource_type: str, logical_id: str) -> str:
    """What Ref returns for a resource of the stack, with its logical id standing in for the generated name."""
    if resource_type == "AWS::SNS::Topic":
        return f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{logical_id}"
    return logical_id


def physical_arn(resource_type: str, logical_id: str) -> str:
    """What Fn::GetAtt Arn returns for the resource types whose ARN the policies use."""
    arns = {
        "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{logical_id}",
        "AWS::KMS::Key": f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{logical_id}",
        "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{logical_id}",
        "AWS::Logs::LogGroup": f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{logical_id}:*",
        "AWS::DynamoDB::Table": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{logical_id}",
    }
    if resource_type not in arns:
        raise UnsupportedPolicyError(f"no ARN known for {resource_type}")
    return arns[resource_type]


@dataclass(frozen=True)
class Deployed:
    """The template's resources, with references resolved as CloudFormation would in ACCOUNT and REGION."""

    resources: Mapping[str, Mapping[str, Any]]

    def resolve(self, value: Any) -> Any:
        """`value` with every Ref, Fn::GetAtt (Arn) and Fn::Join replaced by its string."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, Mapping):
            return value
        if set(value) == {"Ref"}:
            pseudo = {"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
            name = value["Ref"]
            return pseudo[name] if name in pseudo else physical_ref(self.resources[name]["Type"], name)
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute != "Arn":
                raise UnsupportedPolicyError(f"Fn::GetAtt {attribute}")
            return physical_arn(self.resources[logical_id]["Type"], logical_id)
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return str(separator).join(str(self.resolve(part)) for part in parts)
        return {key: self.resolve(item) for key, item in value.items()}

    def of_type(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        """The resources of one type, by logical id."""
        return {lid: r for lid, r in self.resources.items() if r["Type"] == resource_type}


# The evaluator.


@dataclass(frozen=True)
class Request:
    """One API call as IAM sees it: who, what, on which resource, with which request context."""

    principal: tuple[str, str]  # ("AWS", an IAM ARN) or ("Service", a service principal)
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


class Match(enum.Enum):
    """How a statement's Principal covers the request's principal."""

    NONE = enum.auto()
    DIRECT = enum.auto()
    # The account itself (its root): the resource policy delegates to the account's IAM policies.
    ACCOUNT = enum.auto()


def as_list(value: Any) -> list[Any]:
    """A policy element that may be one value or a list, as a list."""
    return value if isinstance(value, list) else [value]


def principal_match(principal: Any, request: Request) -> Match:
    """How a statement's Principal element covers the request's principal."""
    if principal == "*":
        return Match.DIRECT
    if not isinstance(principal, Mapping) or not set(principal) <= {"AWS", "Service"}:
        raise UnsupportedPolicyError(f"Principal {principal!r}")
    kind, name = request.principal
    best = Match.NONE
    for entry in as_list(principal.get(kind, [])):
        if entry in ("*", name):
            return Match.DIRECT
        if kind == "AWS" and entry in (ACCOUNT, f"arn:{PARTITION}:iam::{ACCOUNT}:root"):
            best = Match.ACCOUNT
    return best


def condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool:
    """One key of one operator: any listed value may match; a key the request lacks matches nothing."""
    # Condition key names are case-insensitive; values are not (Bool's true/false aside).
    actual = {name.lower(): value for name, value in context.items()}.get(key.lower())
    if operator not in ("StringEquals", "ArnLike", "Bool"):
        raise UnsupportedPolicyError(f"condition operator {operator}")
    if actual is None:
        return False
    values = [str(value) for value in as_list(expected)]
    if operator == "StringEquals":
        return actual in values
    if operator == "ArnLike":
        return any(fnmatchcase(actual, value) for value in values)
    return actual.lower() in [value.lower() for value in values]


def applies(statement: Mapping[str, Any], request: Request) -> Match:
    """Whether the statement covers the request (and through which principal match), conditions included."""
    unsupported = set(statement) - {"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}
    if unsupported:
        raise UnsupportedPolicyError(f"statement elements {sorted(unsupported)}")
    # An identity policy's statement has no Principal: it is the principal's own.
    match = principal_match(statement["Principal"], request) if "Principal" in statement else Match.DIRECT
    if match is Match.NONE:
        return match
    if not any(fnmatchcase(request.action.lower(), action.lower()) for action in as_list(statement["Action"])):
        return Match.NONE
    if not any(fnmatchcase(request.resource, resource) for resource in as_list(statement["Resource"])):
        return Match.NONE
    for operator, keys in statement.get("Condition", {}).items():
        for key, expected in keys.items():
            if not condition_holds(operator, key, expected, request.context):
                return Match.NONE
    return match


def allowed(
    request: Request,
    *,
    resource_policy: list[Mapping[str, Any]],
    identity_policy: list[Mapping[str, Any]],
    key_policy: bool = False,
) -> bool:
    """The decision for a principal of the resource's own account.

    Any Deny that applies refuses. Otherwise an Allow of the resource policy naming the principal grants,
    and so does one of its identity policy, except for a KMS key: the key policy must allow the request
    itself, or delegate to the account (its root) so that the identity policy can.
    """
    resource_matches = [(s["Effect"], applies(s, request)) for s in resource_policy]
    identity_matches = [(s["Effect"], applies(s, request)) for s in identity_policy]
    if any(effect == "Deny" and match is not Match.NONE for effect, match in resource_matches + identity_matches):
        return False
    resource_allows = {match for effect, match in resource_matches if effect == "Allow"}
    identity_allows = any(effect == "Allow" and match is not Match.NONE for effect, match in identity_matches)
    if Match.DIRECT in resource_allows:
        return True
    if key_policy:
        return Match.ACCOUNT in resource_allows and identity_allows
    return identity_allows


# The publishers the stack points at its topics, read from the template.


@dataclass(frozen=True)
class Topic:
    """A topic of the stack with the policies that decide who may publish to it."""

    logical_id: str
    arn: str
    policy: list[Mapping[str, Any]]
    key_arn: str | None
    key_policy: list[Mapping[str, Any]]


@dataclass(frozen=True)
class Publisher:
    """A service the stack points at a topic, with the requests publishing makes and its own policies."""

    name: str
    publish: Request
    kms: tuple[Request, ...]
    identity_policy: list[Mapping[str, Any]]


def topics(deployed: Deployed) -> list[Topic]:
    """The stack's topics, each with its topic policy and the policy of the key that encrypts it."""
    found = []
    for logical_id, topic in deployed.of_type("AWS::SNS::Topic").items():
        policies = [
            deployed.resolve(p["Properties"]["PolicyDocument"])["Statement"]
            for p in deployed.of_type("AWS::SNS::TopicPolicy").values()
            if {"Ref": logical_id} in p["Properties"]["Topics"]
        ]
        if len(policies) != 1:
            raise UnsupportedPolicyError(f"{logical_id}: {len(policies)} topic policies (SNS's default not modelled)")
        key = topic["Properties"].get("KmsMasterKeyId")
        key_arn = deployed.resolve(key) if key else None
        key_policy: list[Mapping[str, Any]] = []
        if key:
            key_policy = deployed.resolve(deployed.resources[key["Fn::GetAtt"][0]]["Properties"]["KeyPolicy"])[
                "Statement"
            ]
        found.append(Topic(logical_id, deployed.resolve({"Ref": logical_id}), policies[0], key_arn, key_policy))
    return found


def mentions(value: Any, logical_id: str) -> bool:
    """Whether a Ref to the resource appears anywhere in `value`."""
    if isinstance(value, Mapping):
        return value == {"Ref": logical_id} or any(mentions(item, logical_id) for item in value.values())
    if isinstance(value, list):
        return any(mentions(item, logical_id) for item in value)
    return False


def role_policy(deployed: Deployed, role_id: str) -> list[Mapping[str, Any]]:
    """Every identity-based statement of a role: its inline policies and the policies attached to it."""
    role = deployed.resources[role_id]["Properties"]
    if role.get("ManagedPolicyArns"):
        raise UnsupportedPolicyError(f"{role_id}: managed policies")
    documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
    documents += [
        p["Properties"]["PolicyDocument"]
        for p in deployed.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"].get("Roles", [])
    ]
    return [statement for document in documents for statement in deployed.resolve(document)["Statement"]]


def cloudwatch_alarm(alarm_id: str, topic: Topic, *, account: str = ACCOUNT) -> Publisher:
    """An alarm notifying the topic: CloudWatch publishes, for the alarm; SNS uses the key for CloudWatch."""
    alarm_arn = f"arn:{PARTITION}:cloudwatch:{REGION}:{account}:alarm:{alarm_id}"
    context = {"aws:SourceAccount": account, "aws:SourceArn": alarm_arn, "aws:SecureTransport": "true"}
    service = ("Service", CLOUDWATCH)
    return Publisher(
        name=f"alarm {alarm_id}",
        publish=Request(service, "sns:Publish", topic.arn, context),
        # No AWS page documents a context key of the KMS requests SNS makes for CloudWatch: none is assumed.
        kms=tuple(Request(service, action, topic.key_arn) for action in KMS_ACTIONS if topic.key_arn),
        identity_policy=[],
    )


def function_role(deployed: Deployed, function_id: str, topic: Topic) -> Publisher:
    """A function given the topic: its role publishes; SNS uses the key with the role's credentials."""
    role_id = deployed.resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    principal = ("AWS", physical_arn("AWS::IAM::Role", role_id))
    kms_context = {"kms:ViaService": f"sns.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT}
    return Publisher(
        name=f"function {function_id} (role {role_id})",
        publish=Request(principal, "sns:Publish", topic.arn, {"aws:SecureTransport": "true"}),
        kms=tuple(Request(principal, action, topic.key_arn, kms_context) for action in KMS_ACTIONS if topic.key_arn),
        identity_policy=role_policy(deployed, role_id),
    )


def publishers(deployed: Deployed, topic: Topic) -> Iterator[Publisher]:
    """Every resource that points a service at the topic; a kind this test cannot evaluate stops it."""
    for logical_id, resource in deployed.resources.items():
        properties = resource.get("Properties", {})
        if not mentions(properties, topic.logical_id) or resource["Type"] in NOT_PUBLISHERS:
            continue
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            yield cloudwatch_alarm(logical_id, topic)
        elif resource["Type"] == "AWS::Lambda::Function":
            yield function_role(deployed, logical_id, topic)
        else:
            raise UnsupportedPolicyError(f"{resource['Type']} {logical_id} points at the topic: how does it publish?")


def refusals(topic: Topic, publisher: Publisher) -> list[str]:
    """Which of the publisher's requests the topic's policies refuse, as readable lines."""
    refused = []
    if not allowed(publisher.publish, resource_policy=topic.policy, identity_policy=publisher.identity_policy):
        refused.append(f"{publisher.name}: sns:Publish refused by the topic policy and its own policy")
    for request in publisher.kms:
        if not allowed(request, resource_policy=topic.key_policy, identity_policy=[], key_policy=True):
            refused.append(f"{publisher.name}: {request.action} refused by the key policy")
    return refused


@pytest.fixture(scope="module")
def synthesized() -> Synthesized:
    """The app as app.py builds it."""
    return synthesized_once()


@pytest.fixture(scope="module")
def deployed(synthesized: Synthesized) -> Deployed:
    """Its template, references resolvable."""
    return Deployed(synthesized.template.to_json()["Resources"])


@pytest.fixture(scope="module")
def topic(deployed: Deployed) -> Topic:
    """The stack's one topic."""
    (only,) = topics(deployed)
    return only


def test_every_service_the_stack_points_at_the_topic_can_publish_to_it(deployed: Deployed, topic: Topic) -> None:
    found = list(publishers(deployed, topic))
    refused = [line for publisher in found for line in refusals(topic, publisher)]
    assert refused == []
    # Not vacuous: every alarm and the function are among the publishers, each with its KMS calls.
    alarms = set(deployed.of_type("AWS::CloudWatch::Alarm"))
    assert {p.name for p in found} >= {f"alarm {alarm_id}" for alarm_id in alarms}
    assert any(p.name.startswith("function ") for p in found)
    assert all(len(p.kms) == len(KMS_ACTIONS) for p in found)


def test_every_alarm_notifies_the_topic_when_it_goes_off(deployed: Deployed, topic: Topic) -> None:
    alarms = deployed.of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 5
    for logical_id, alarm in alarms.items():
        assert deployed.resolve(alarm["Properties"]["AlarmActions"]) == [topic.arn], logical_id


def test_without_the_cloudwatch_statement_no_alarm_could_publish(topic: Topic, deployed: Deployed) -> None:
    # The template before it: the policy enforce_ssl writes holds only a Deny, and replaces SNS's default.
    only_ssl = dataclasses.replace(topic, policy=[s for s in topic.policy if s["Effect"] == "Deny"])
    assert only_ssl.policy
    failing = [line for p in publishers(deployed, only_ssl) for line in refusals(only_ssl, p)]
    assert failing
    assert all(line.startswith("alarm ") and "sns:Publish" in line for line in failing)


def test_only_alarms_of_the_stack_account_and_region_may_publish(topic: Topic) -> None:
    assert not refusals(topic, cloudwatch_alarm("Mine", topic))
    other_account = cloudwatch_alarm("Theirs", topic, account=OTHER_ACCOUNT)
    assert refusals(topic, other_account)
    other_region = Request(
        ("Service", CLOUDWATCH),
        "sns:Publish",
        topic.arn,
        {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:x"},
    )
    assert not allowed(other_region, resource_policy=topic.policy, identity_policy=[])
    # Without the keys CloudWatch sends, the statement grants nothing.
    bare = Request(("Service", CLOUDWATCH), "sns:Publish", topic.arn)
    assert not allowed(bare, resource_policy=topic.policy, identity_policy=[])
    # Another service is not CloudWatch.
    events = Request(("Service", "events.amazonaws.com"), "sns:Publish", topic.arn, other_account.publish.context)
    assert not allowed(events, resource_policy=topic.policy, identity_policy=[])


def test_publishing_without_tls_is_refused_even_to_the_function(deployed: Deployed, topic: Topic) -> None:
    (function_id,) = deployed.of_type("AWS::Lambda::Function")
    role = function_role(deployed, function_id, topic)
    assert not refusals(topic, role)
    plain = Request(role.publish.principal, "sns:Publish", topic.arn, {"aws:SecureTransport": "false"})
    assert not allowed(plain, resource_policy=topic.policy, identity_policy=role.identity_policy)
    # Without its identity policy, nothing in the topic policy lets the role publish.
    assert not allowed(role.publish, resource_policy=topic.policy, identity_policy=[])


def test_the_function_may_use_the_key_only_through_sns(deployed: Deployed, topic: Topic) -> None:
    (function_id,) = deployed.of_type("AWS::Lambda::Function")
    role = function_role(deployed, function_id, topic)
    assert topic.key_arn
    direct = Request(role.publish.principal, "kms:Decrypt", topic.key_arn, {"kms:CallerAccount": ACCOUNT})
    assert not allowed(direct, resource_policy=topic.key_policy, identity_policy=role.identity_policy, key_policy=True)
    for action in ("kms:Encrypt", "kms:ScheduleKeyDeletion"):
        request = Request(role.publish.principal, action, topic.key_arn, role.kms[0].context)
        assert not allowed(request, resource_policy=topic.key_policy, identity_policy=[], key_policy=True), action


def test_a_key_policy_condition_cloudwatch_does_not_send_would_drop_the_alarms(topic: Topic) -> None:
    # Why the key policy's CloudWatch statement has no aws:SourceArn, unlike the topic policy's.
    condition = {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"}}
    (statement,) = [s for s in topic.key_policy if s.get("Principal") == {"Service": CLOUDWATCH}]
    assert "Condition" not in statement
    conditioned = [{**s, "Condition": condition} if s is statement else s for s in topic.key_policy]
    dropped = dataclasses.replace(topic, key_policy=conditioned)
    assert refusals(dropped, cloudwatch_alarm("Any", dropped)) == [
        "alarm Any: kms:GenerateDataKey refused by the key policy",
        "alarm Any: kms:Decrypt refused by the key policy",
    ]


def test_the_topic_policy_is_the_ssl_deny_and_the_cloudwatch_allow(topic: Topic) -> None:
    by_sid = {statement["Sid"]: statement for statement in topic.policy}
    assert by_sid == {
        "AllowPublishThroughSSLOnly": {
            "Sid": "AllowPublishThroughSSLOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": topic.arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        "AllowCloudWatchAlarmsToPublish": {
            "Sid": "AllowCloudWatchAlarmsToPublish",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDWATCH},
            "Action": "sns:Publish",
            "Resource": topic.arn,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:{PARTITION}:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"},
            },
        },
    }


def test_the_key_policy_is_the_account_cloudwatch_and_the_function_through_sns(
    deployed: Deployed, topic: Topic
) -> None:
    (role_id,) = deployed.of_type("AWS::IAM::Role")
    statements = {statement.get("Sid", "account"): statement for statement in topic.key_policy}
    assert statements == {
        # CDK's default: the account administers the key through IAM.
        "account": {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{PARTITION}:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        # As AWS documents it for alarms on an encrypted topic: no condition.
        "AllowCloudWatchAlarmsToPublish": {
            "Sid": "AllowCloudWatchAlarmsToPublish",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDWATCH},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        },
        "AllowRemediatorToPublishThroughSns": {
            "Sid": "AllowRemediatorToPublishThroughSns",
            "Effect": "Allow",
            "Principal": {"AWS": physical_arn("AWS::IAM::Role", role_id)},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}},
        },
    }


# The evaluator itself, on small policies.


def test_the_evaluator_follows_allow_deny_and_delegation_to_the_account() -> None:
    request = Request(("AWS", f"arn:aws:iam::{ACCOUNT}:role/r"), "sns:Publish", "arn:t")
    allow = {"Effect": "Allow", "Principal": {"AWS": request.principal[1]}, "Action": "SNS:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": "arn:t"}
    own = {"Effect": "Allow", "Action": "sns:Publish", "Resource": "arn:t"}
    root = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "*", "Resource": "*"}
    assert allowed(request, resource_policy=[allow], identity_policy=[])
    assert not allowed(request, resource_policy=[allow, deny], identity_policy=[])
    assert not allowed(request, resource_policy=[], identity_policy=[])
    assert allowed(request, resource_policy=[], identity_policy=[own])
    assert not allowed(request, resource_policy=[], identity_policy=[own], key_policy=True)
    assert allowed(request, resource_policy=[root], identity_policy=[own], key_policy=True)
    assert not allowed(request, resource_policy=[root], identity_policy=[], key_policy=True)
    service = Request(("Service", CLOUDWATCH), "sns:Publish", "arn:t")
    assert not allowed(service, resource_policy=[root], identity_policy=[])


def test_the_evaluator_conditions_need_every_key_and_match_values_exactly() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": [CLOUDWATCH]},
        "Action": ["sns:Publish"],
        "Resource": ["arn:t"],
        "Condition": {"StringEquals": {"aws:SourceAccount": [ACCOUNT, "1"]}, "ArnLike": {"aws:SourceArn": "arn:a:*"}},
    }

    def decide(**context: str) -> bool:
        """Whether the statement alone allows CloudWatch's publish with this request context."""
        request = Request(("Service", CLOUDWATCH), "sns:Publish", "arn:t", context)
        return allowed(request, resource_policy=[statement], identity_policy=[])

    assert decide(**{"aws:SourceAccount": ACCOUNT, "AWS:SOURCEARN": "arn:a:x"})
    assert decide(**{"aws:SourceAccount": "1", "aws:SourceArn": "arn:a:"})
    assert not decide(**{"aws:SourceAccount": ACCOUNT})
    assert not decide(**{"aws:SourceAccount": OTHER_ACCOUNT, "aws:SourceArn": "arn:a:x"})
    assert not decide(**{"aws:SourceAccount": ACCOUNT, "aws:SourceArn": "arn:b:x"})
    ssl = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    principal = ("Service", CLOUDWATCH)
    # A request without the key: the Deny does not apply. Bool compares true and false without case.
    assert applies(ssl, Request(principal, "sns:Publish", "arn:t")) is Match.NONE
    assert applies(ssl, Request(principal, "sns:Publish", "arn:t", {"aws:SecureTransport": "true"})) is Match.NONE
    assert applies(ssl, Request(principal, "sns:Publish", "arn:t", {"aws:SecureTransport": "False"})) is Match.DIRECT


def test_the_evaluator_refuses_grammar_it_does_not_implement() -> None:
    request = Request(("Service", CLOUDWATCH), "sns:Publish", "arn:t", {"aws:SourceAccount": ACCOUNT})
    base = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
    with pytest.raises(UnsupportedPolicyError):
        applies({**base, "Condition": {"StringLike": {"aws:SourceAccount": "*"}}}, request)
    with pytest.raises(UnsupportedPolicyError):
        applies({**base, "NotAction": "sns:Subscribe"}, request)
    with pytest.raises(UnsupportedPolicyError):
        applies({**base, "Principal": {"Federated": "x"}}, request)
