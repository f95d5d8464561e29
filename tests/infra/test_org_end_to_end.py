"""The organisation rollout on moto, end to end: the synthesized StackSet in four accounts of two OUs, two regions.

The central topic comes from the synthesized organisation stack, the stack instances from the synthesized member
template; then a rule opened to the world in one member is closed there by the remediator running as that member's
function role, and its notification reaches a queue subscribed to the central topic in the management account.
What moto cannot do is said where it matters, and in docs/organization.md ("What only a real organization can prove").
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import moto.cloudformation.parsing as moto_parsing
import pytest
from moto import mock_aws
from moto.events.models import Archive, Rule
from org_support import HOME_REGION, MANAGEMENT_ACCOUNT, REGIONS, body_of, org_synthesized

from infra.organization import CENTRAL_TOPIC_NAME, MEMBER_ROLE_PREFIX, ORG_STACK_NAME, STACK_SET_NAME
from remediator.cli import cloudtrail
from remediator.effects import Aws
from remediator.event_names import DELIVERED_EVENTS
from remediator.handler import home_of
from remediator.remediate import remediate
from remediator.settings import settings_from

REPO_ROOT = Path(__file__).resolve().parents[2]
OUS = {"workloads": ("prod", "staging"), "sandbox": ("dev", "research")}
# The resource types of the templates that moto's CloudFormation skips (with a warning) instead of creating: the
# test cannot check these resources, and a new type moto skips would pass unnoticed, so the list is pinned.
MOTO_SKIPS = {
    "AWS::CloudFormation::StackSet",  # created below with the StackSet API, from the resource's own properties
    "AWS::SNS::TopicPolicy",  # so neither the central topic's policy nor the alarm topic's is created or checked
    "AWS::SNS::Subscription",  # the email subscriptions
    "AWS::SQS::QueuePolicy",  # the dead-letter queue's policy
    "AWS::Lambda::EventInvokeConfig",  # the function's retries and failure destination
    "AWS::CloudWatch::Alarm",  # the member's three alarms
}
SSH_WORLD: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
ARCHIVE_NAME_LIMIT = 48


def session_of(credentials: dict[str, Any], region: str = HOME_REGION) -> boto3.session.Session:
    """A session with the credentials AssumeRole returned."""
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def role_credentials(role_arn: str, region: str = HOME_REGION) -> dict[str, Any]:
    """The role's temporary credentials (moto assumes any role ARN; the account is the ARN's)."""
    sts = boto3.client("sts", region_name=region)
    return dict(sts.assume_role(RoleArn=role_arn, RoleSessionName="end-to-end")["Credentials"])


def assumed(role_arn: str, region: str = HOME_REGION) -> boto3.session.Session:
    """A session as the role."""
    return session_of(role_credentials(role_arn, region), region)


def package(region: str) -> bytes:
    """A Lambda package of the remediator (its code, without the dependencies the asset adds), marked per region."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((REPO_ROOT / "remediator").rglob("*.py")):
            relative = path.relative_to(REPO_ROOT)
            if "cli" not in relative.parts:
                archive.write(path, relative.as_posix())
        archive.writestr("REGION", region)
    return buffer.getvalue()


def code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256 of a package: the base64 of its SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass
class Rollout:
    """The organization after the rollout: its accounts, the central topic and the queue subscribed to it."""

    management: boto3.session.Session
    members: dict[str, str]
    ous: dict[str, str]
    topic_arn: str
    queue_url: str
    packages: dict[str, bytes]
    skipped: set[str]

    def member(self, account: str, region: str = HOME_REGION) -> boto3.session.Session:
        """A session in a member account, as the management account reaches it (OrganizationAccountAccessRole)."""
        return assumed(f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", region)

    def function(self, account: str, region: str) -> dict[str, Any]:
        """The one Lambda function of the account and region."""
        (function,) = self.member(account, region).client("lambda").list_functions()["Functions"]
        return dict(function)

    def messages(self) -> list[dict[str, Any]]:
        """What the central topic delivered to the management account's queue."""
        sqs = self.management.client("sqs")
        batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        return [json.loads(message["Body"]) for message in batch.get("Messages", [])]


def shim_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three gaps of moto that AWS does not have: two of its CloudFormation for AWS::Events::Archive, one of rules."""
    generated = moto_parsing.generate_resource_name

    def resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        # CloudFormation fits the names it generates to the type's limit (ArchiveName: 48 characters); moto does
        # so for a few types only, and its name for the archive is too long for its own create_archive.
        name = generated(resource_type, stack_name, logical_id)
        if resource_type == "AWS::Events::Archive" and len(name) > ARCHIVE_NAME_LIMIT:
            prefix, suffix = name.rsplit("-", 1)
            name = f"{prefix[: ARCHIVE_NAME_LIMIT - len(suffix) - 1]}-{suffix}"
        return name

    monkeypatch.setattr(moto_parsing, "generate_resource_name", resource_name)
    created = Archive.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def archive(cls: type[Archive], name: str, cloudformation_json: Any, *args: Any, **kwargs: Any) -> Archive:
        # A template gives EventPattern as a JSON object; moto's archive parses it as a string.
        properties = cloudformation_json["Properties"]
        if isinstance(properties.get("EventPattern"), dict):
            properties["EventPattern"] = json.dumps(properties["EventPattern"])
        return created(cls, name, cloudformation_json, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Archive, "create_from_cloudformation_json", classmethod(archive))
    delivered = Rule.send_to_targets

    def send_to_targets(rule: Rule, *args: Any, **kwargs: Any) -> None:
        # A scheduled rule has no event pattern and gets only its schedule; moto matches its empty pattern against
        # every event put on the bus (the remediator's outcome event), then cannot deliver to a Lambda target.
        if rule.scheduled_expression and not rule.event_pattern.get_pattern():
            return
        delivered(rule, *args, **kwargs)

    monkeypatch.setattr(Rule, "send_to_targets", send_to_targets)


@pytest.fixture
def rollout(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rollout]:
    synthesized = org_synthesized()
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    shim_moto(monkeypatch)
    with mock_aws(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The management account of the synthesized templates (moto's own default account is another).
        management = assumed(f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/deployer")
        organizations = management.client("organizations")
        organizations.create_organization(FeatureSet="ALL")
        root = organizations.list_roots()["Roots"][0]["Id"]
        ous, members = {}, {}
        for ou_name, account_names in OUS.items():
            ou = organizations.create_organizational_unit(ParentId=root, Name=ou_name)["OrganizationalUnit"]["Id"]
            ous[ou_name] = ou
            for name in account_names:
                account = organizations.create_account(AccountName=name, Email=f"{name}@example.com")
                members[name] = account["CreateAccountStatus"]["AccountId"]
                organizations.move_account(AccountId=members[name], SourceParentId=root, DestinationParentId=ou)
        # The organisation stack, as `make deploy-org` deploys it: the central topic and its key (the CDK bootstrap
        # would have put the version parameter its template checks).
        management.client("ssm").put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String")
        cloudformation = management.client("cloudformation")
        cloudformation.create_stack(
            StackName=ORG_STACK_NAME,
            TemplateBody=json.dumps(synthesized.templates[ORG_STACK_NAME]),
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        (topic_arn,) = [
            resource["PhysicalResourceId"]
            for resource in cloudformation.list_stack_resources(StackName=ORG_STACK_NAME)["StackResourceSummaries"]
            if resource["ResourceType"] == "AWS::SNS::Topic"
        ]
        sqs = management.client("sqs")
        queue_url = sqs.create_queue(QueueName="secops")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        management.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        # The asset stacks: each region's bucket with the package under its content-hashed key. moto's Lambda reads
        # the object across accounts without the bucket policy (aws:PrincipalOrgID), which it does not evaluate.
        member_template = body_of(synthesized.stack_set)
        (function,) = [r for r in member_template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
        key = function["Properties"]["Code"]["S3Key"]
        packages = {region: package(region) for region in REGIONS}
        for region, data in packages.items():
            s3 = management.client("s3", region_name=region)
            bucket = f"sg-remediator-assets-{MANAGEMENT_ACCOUNT}-{region}"
            located = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            s3.create_bucket(Bucket=bucket, **located)
            s3.put_object(Bucket=bucket, Key=key, Body=data)
        # The StackSet resource, which moto's CloudFormation skips: the same calls with its own properties.
        stack_set = synthesized.stack_set
        cloudformation.create_stack_set(
            StackSetName=stack_set["StackSetName"],
            Description=stack_set["Description"],
            TemplateBody=stack_set["TemplateBody"],
            Capabilities=stack_set["Capabilities"],
            PermissionModel=stack_set["PermissionModel"],
            AutoDeployment=stack_set["AutoDeployment"],
            ManagedExecution=stack_set["ManagedExecution"],
            CallAs=stack_set["CallAs"],
        )
        (group,) = stack_set["StackInstancesGroup"]
        preferences = stack_set["OperationPreferences"]
        cloudformation.create_stack_instances(
            StackSetName=stack_set["StackSetName"],
            # The synthesized targets name OUs of another organization; these are moto's, in the same shape.
            DeploymentTargets={"OrganizationalUnitIds": list(ous.values())},
            Regions=group["Regions"],
            OperationPreferences={
                "RegionConcurrencyType": preferences["RegionConcurrencyType"],
                "RegionOrder": preferences["RegionOrder"],
                "FailureTolerancePercentage": preferences["FailureTolerancePercentage"],
                "MaxConcurrentPercentage": preferences["MaxConcurrentPercentage"],
            },
            CallAs=stack_set["CallAs"],
        )
        skipped = {
            str(warning.message).split()[3]
            for warning in caught
            if "not supported by moto's CloudFormation" in str(warning.message)
        }
        yield Rollout(
            management=management,
            members=members,
            ous=ous,
            topic_arn=topic_arn,
            queue_url=queue_url,
            packages=packages,
            skipped=skipped,
        )


def test_the_stack_set_has_an_instance_in_every_account_of_both_ous_in_both_regions(rollout: Rollout) -> None:
    cloudformation = rollout.management.client("cloudformation")
    summaries = cloudformation.list_stack_instances(StackSetName=STACK_SET_NAME)["Summaries"]
    expected = {(account, region) for account in rollout.members.values() for region in REGIONS}
    assert {(summary["Account"], summary["Region"]) for summary in summaries} == expected
    assert MANAGEMENT_ACCOUNT not in {summary["Account"] for summary in summaries}, "the management account is no OU's"
    for account, region in expected:
        instance = cloudformation.describe_stack_instance(
            StackSetName=STACK_SET_NAME, StackInstanceAccount=account, StackInstanceRegion=region
        )["StackInstance"]
        assert (instance["Status"], instance["StackInstanceStatus"]["DetailedStatus"]) == ("CURRENT", "SUCCEEDED")
        assert instance["StackId"].startswith(f"arn:aws:cloudformation:{region}:{account}:stack/")


def test_every_member_account_holds_the_function_its_cloudtrail_rule_and_its_role_in_each_region(
    rollout: Rollout,
) -> None:
    for account in rollout.members.values():
        for region in REGIONS:
            # moto keeps a service-managed instance's stack hidden from the member's DescribeStacks and
            # DescribeStackResources, so the resources are read from each service of the member account.
            session = rollout.member(account, region)
            function = rollout.function(account, region)
            role = f"{MEMBER_ROLE_PREFIX}{region}"
            assert function["Handler"] == "remediator.handler.handler"
            assert function["Role"] == f"arn:aws:iam::{account}:role/{role}"
            assert function["FunctionArn"].startswith(f"arn:aws:lambda:{region}:{account}:function:")
            # The code of the function is the package in its own region's bucket (Fn::Sub ${AWS::Region}).
            assert function["CodeSha256"] == code_sha256(rollout.packages[region])
            assert function["Environment"]["Variables"]["REMEDIATOR_TOPIC_ARN"] == rollout.topic_arn
            trust = session.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
            assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
            events = session.client("events")
            rules = {
                rule["Name"]: json.loads(rule["EventPattern"])
                for rule in events.list_rules()["Rules"]
                # The archive's own rule is EventBridge's (ManagedBy), not the stack's.
                if "EventPattern" in rule and not rule.get("ManagedBy")
            }
            (cloudtrail_rule,) = [
                name for name, pattern in rules.items() if pattern.get("detail-type") == ["AWS API Call via CloudTrail"]
            ]
            assert rules[cloudtrail_rule]["detail"]["eventName"] == list(DELIVERED_EVENTS)
            targets = events.list_targets_by_rule(Rule=cloudtrail_rule)["Targets"]
            assert [target["Arn"] for target in targets] == [function["FunctionArn"]]
    assert rollout.management.client("lambda").list_functions()["Functions"] == [], "no instance in the management"


def test_a_rule_opened_in_a_member_is_closed_there_and_reported_on_the_central_topic(
    rollout: Rollout, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A member's instance outside the central topic's region: the notification crosses accounts and regions.
    account, region = rollout.members["staging"], "us-east-1"
    assert region != HOME_REGION
    ec2: Any = rollout.member(account, region).client("ec2")
    group_id = ec2.create_security_group(GroupName="bastion", Description="bastion hosts")["GroupId"]
    rules = ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[SSH_WORLD])["SecurityGroupRules"]
    event = cloudtrail.authorize_event(
        cloudtrail.load_template(cloudtrail.RULE_SET_TEMPLATE),
        group_id=group_id,
        permissions=[SSH_WORLD],
        rules=rules,
        account=account,
        region=region,
    )
    function = rollout.function(account, region)
    # The function's own environment and credentials, as Lambda gives them: its role in its account (moto does not
    # check that the role trusts lambda.amazonaws.com, nor the central topic's policy and key, which it skipped).
    settings = settings_from(function["Environment"]["Variables"])
    role = role_credentials(function["Role"], region)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", role["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", role["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", role["SessionToken"])
    monkeypatch.setenv("AWS_REGION", region)
    aws = Aws.from_environment(region, topic_arn=settings.topic_arn)
    summary = remediate(
        event,
        settings,
        aws,
        datetime.now(UTC),
        home=home_of(SimpleNamespace(invoked_function_arn=function["FunctionArn"])),
    )
    assert summary["status"] == "remediated", summary
    (group,) = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert group["IpPermissions"] == [], "the rule is closed in the member account"
    (message,) = rollout.messages()
    assert (
        message["TopicArn"]
        == rollout.topic_arn
        == f"arn:aws:sns:{HOME_REGION}:{MANAGEMENT_ACCOUNT}:{CENTRAL_TOPIC_NAME}"
    )
    assert group_id in message["Subject"]
    assert f"Account:   {account}" in message["Message"]
    assert f"Region:    {region}" in message["Message"]
    assert message["MessageAttributes"]["group_id"]["Value"] == group_id


def test_moto_skips_only_the_resources_the_docs_say_it_cannot_check(rollout: Rollout) -> None:
    assert rollout.skipped <= MOTO_SKIPS, sorted(rollout.skipped - MOTO_SKIPS)
    assert "AWS::SNS::TopicPolicy" in rollout.skipped, "if moto creates topic policies now, check the central one"
