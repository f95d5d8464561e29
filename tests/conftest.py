"""Shared fixtures: fake credentials, and an embedded AWS account (moto) with a topic read through SQS."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from remediator.cli import cloudtrail
from remediator.effects import CLIENT_CONFIG, Aws
from remediator.settings import Settings, current_settings, settings_from
from remediator.state import KEY_ATTRIBUTE

EVENTS_DIR = Path(__file__).parent / "events"
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account


def load_event(name: str) -> dict[str, Any]:
    """A real event of tests/events, by file name."""
    data: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return data


def at_home(event: dict[str, Any]) -> dict[str, Any]:
    """The event as if made in the embedded account and region: the remediator refuses any other place's."""
    record = event["detail"] if isinstance(event.get("detail"), dict) else event
    record.update(awsRegion=REGION, recipientAccountId=ACCOUNT)
    if record is not event:
        event.update(region=REGION, account=ACCOUNT)
    return event


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test may reach a real endpoint: fake keys, a fixed region, no endpoint override, fresh settings."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    current_settings.cache_clear()
    yield
    current_settings.cache_clear()


@dataclass
class World:
    """One embedded AWS account: a VPC, a topic whose messages land in a queue, and counted remediator calls."""

    ec2: Any
    sns: Any
    sqs: Any
    vpc_id: str
    topic_arn: str
    queue_url: str
    calls: list[str] = field(default_factory=list)
    aws: Aws = field(init=False)

    def __post_init__(self) -> None:
        ec2 = boto3.client("ec2", region_name=REGION, config=CLIENT_CONFIG)
        sns = boto3.client("sns", region_name=REGION, config=CLIENT_CONFIG)
        securityhub = boto3.client("securityhub", region_name=REGION, config=CLIENT_CONFIG)
        events = boto3.client("events", region_name=REGION, config=CLIENT_CONFIG)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION, config=CLIENT_CONFIG)
        for client in (ec2, sns, securityhub, events, self.dynamodb):
            client.meta.events.register("before-call", self.count_call)
        self.aws = Aws(ec2=ec2, sns=sns, securityhub=securityhub, events=events, dynamodb=self.dynamodb)

    def count_call(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def state_table(self, name: str = "sg-remediator-state") -> str:
        """The stack's state table, made on embedded AWS as the stack makes it (one string key, on demand)."""
        self.dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        return name

    def settings(self, **env: str) -> Settings:
        return settings_from({"REMEDIATOR_TOPIC_ARN": self.topic_arn, **env})

    def group(self, name: str = "web", tags: Mapping[str, str] | None = None) -> str:
        spec = [{"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}]
        created = self.ec2.create_security_group(
            GroupName=name, Description=f"{name} servers", VpcId=self.vpc_id, TagSpecifications=spec if tags else []
        )
        return str(created["GroupId"])

    def authorize(self, group_id: str, permissions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        response = self.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=list(permissions))
        return list(response.get("SecurityGroupRules", []))

    def open_event(
        self,
        group_id: str,
        permissions: Sequence[Mapping[str, Any]],
        *,
        rule_ids: bool = True,
        template: str = cloudtrail.RULE_SET_TEMPLATE,
    ) -> dict[str, Any]:
        """Make the call on embedded AWS and return the CloudTrail event AWS would deliver for it."""
        rules = self.authorize(group_id, permissions)
        return cloudtrail.authorize_event(
            cloudtrail.load_template(template),
            group_id=group_id,
            permissions=permissions,
            rules=rules if rule_ids else None,
            account=ACCOUNT,
            region=REGION,
        )

    def modify_to_open_event(self, group_id: str, port: int, *, apply: bool = True) -> tuple[str, dict[str, Any]]:
        """Add tcp/`port` from a partner's /24, change it to 0.0.0.0/0 (unless `apply` is false), and return
        the rule id and the ModifySecurityGroupRules event that says it was changed."""
        closed = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "198.51.100.0/24"}]}
        [rule] = self.authorize(group_id, [closed])
        update = {
            "SecurityGroupRuleId": rule["SecurityGroupRuleId"],
            "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "CidrIpv4": "0.0.0.0/0"},
        }
        if apply:
            self.ec2.modify_security_group_rules(GroupId=group_id, SecurityGroupRules=[update])
        event = cloudtrail.modify_event(
            cloudtrail.load_template(cloudtrail.MODIFY_TEMPLATE),
            group_id=group_id,
            updates=[update],
            account=ACCOUNT,
            region=REGION,
        )
        return str(rule["SecurityGroupRuleId"]), event

    def ingress(self, group_id: str) -> set[tuple[str, int | None, int | None, str]]:
        """The group's ingress entries as (protocol, from, to, source) tuples."""
        group = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        found: set[tuple[str, int | None, int | None, str]] = set()
        for permission in group["IpPermissions"]:
            key = (permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort"))
            found.update((*key, r["CidrIp"]) for r in permission.get("IpRanges", []))
            found.update((*key, r["CidrIpv6"]) for r in permission.get("Ipv6Ranges", []))
            found.update((*key, p["PrefixListId"]) for p in permission.get("PrefixListIds", []))
            found.update((*key, g["GroupId"]) for g in permission.get("UserIdGroupPairs", []))
        return found

    def egress(self, group_id: str) -> list[Any]:
        return list(self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissionsEgress"])

    def messages(self) -> list[dict[str, Any]]:
        """The SNS messages published so far: subject, body and attributes."""
        received: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return received
            for message in batch:
                envelope = json.loads(message["Body"])
                received.append(
                    {
                        "subject": envelope.get("Subject"),
                        "body": envelope["Message"],
                        "attributes": {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()},
                    }
                )
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def with_batch_update_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's Security Hub as Security Hub behaves for what the remediator calls, within this test only.

    moto has no BatchUpdateFindings: it is added, storing the Workflow and the Note on the finding so that
    GetFindings returns them. moto's GetFindings ignores its filters: the EQUALS string filters the remediator
    sends are applied. And a finding is given what Security Hub gives it: its Region, Workflow NEW when created,
    and NEW again when its compliance goes from PASSED to FAILED (Security Hub's WorkflowUpdate reference).
    """
    from moto.securityhub import urls  # noqa: PLC0415  (moto is imported only where a test uses it)
    from moto.securityhub.models import SecurityHubBackend  # noqa: PLC0415
    from moto.securityhub.responses import SecurityHubResponse  # noqa: PLC0415

    def stored(backend: Any, finding_id: str, product: str) -> Any:
        return next((f for f in backend.findings if f.id == finding_id and f.data.get("ProductArn") == product), None)

    def batch_update_findings(self: Any) -> str:
        body = json.loads(self.body)
        processed, unprocessed = [], []
        for identifier in body.get("FindingIdentifiers", []):
            finding = stored(self.securityhub_backend, identifier["Id"], identifier["ProductArn"])
            if finding is None:
                unprocessed.append(
                    {"FindingIdentifier": identifier, "ErrorCode": "FindingNotFound", "ErrorMessage": "not found"}
                )
                continue
            if "Workflow" in body:
                finding.data["Workflow"] = {"Status": body["Workflow"]["Status"]}
                finding.data["WorkflowState"] = body["Workflow"]["Status"]
            if "Note" in body:
                finding.data["Note"] = {**body["Note"], "UpdatedAt": finding.data.get("UpdatedAt", "")}
            processed.append(identifier)
        return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})

    original_import = SecurityHubBackend.batch_import_findings

    def batch_import_findings(self: Any, findings: list[dict[str, Any]]) -> Any:
        before = {f.id: f.data.get("Compliance", {}).get("Status") for f in self.findings}
        result = original_import(self, findings)
        for finding in self.findings:
            finding.data.setdefault("Region", self.region_name)
            workflow = finding.data.setdefault("Workflow", {"Status": "NEW"})
            reopened = (
                before.get(finding.id) == "PASSED" and finding.data.get("Compliance", {}).get("Status") != "PASSED"
            )
            if reopened and workflow["Status"] in ("NOTIFIED", "RESOLVED"):
                finding.data["Workflow"] = {"Status": "NEW"}
        return result

    def value_of(finding: dict[str, Any], key: str) -> Any:
        return finding.get("Compliance", {}).get("Status") if key == "ComplianceStatus" else finding.get(key)

    original_get = SecurityHubResponse.get_findings

    def get_findings(self: Any) -> str:
        response = json.loads(original_get(self))
        for key, conditions in (self._get_param("Filters") or {}).items():
            wanted = {c["Value"] for c in conditions if c.get("Comparison") == "EQUALS"}
            response["Findings"] = [f for f in response["Findings"] if value_of(f, key) in wanted]
        return json.dumps(response)

    monkeypatch.setitem(urls.url_paths, "{0}/findings/batchupdate$", SecurityHubResponse.dispatch)
    monkeypatch.setattr(SecurityHubResponse, "batch_update_findings", batch_update_findings, raising=False)
    monkeypatch.setattr(SecurityHubResponse, "get_findings", get_findings)
    monkeypatch.setattr(SecurityHubBackend, "batch_import_findings", batch_import_findings)


@pytest.fixture
def security_hub(world: World, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Security Hub enabled in the embedded account, with BatchUpdateFindings (see with_batch_update_findings)."""
    with_batch_update_findings(monkeypatch)
    hub = boto3.client("securityhub", region_name=REGION)
    hub.enable_security_hub(EnableDefaultStandards=False)
    return hub


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        topic_arn = sns.create_topic(Name="remediator")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        yield World(ec2=ec2, sns=sns, sqs=sqs, vpc_id=vpc_id, topic_arn=topic_arn, queue_url=queue_url)
