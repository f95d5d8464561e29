"""Organisation mode: who may read the code buckets, publish to the central topic and use its key."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest
from org_support import (
    HOME_REGION,
    MANAGEMENT_ACCOUNT,
    ORG_ID,
    OTHER_TOPIC,
    REGIONS,
    OrgSynthesized,
    Place,
    concrete,
    custom_synthesized,
    org_synthesized,
)

from infra.organization import ASSETS_STACK_PREFIX, ORG_STACK_NAME

MEMBERS = [Place(account="444444444444", region=region) for region in REGIONS]


@pytest.fixture(scope="module")
def org() -> OrgSynthesized:
    return org_synthesized()


@pytest.fixture(scope="module")
def custom() -> OrgSynthesized:
    return custom_synthesized()


def statements(policy: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A policy's statements, from a resource's properties (PolicyDocument) or the statements themselves."""
    if isinstance(policy, list):
        return policy
    found: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return found


def allows(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [statement for statement in found if statement["Effect"] == "Allow"]


def asset_bucket(org: OrgSynthesized, region: str) -> tuple[str, dict[str, Any]]:
    name = f"{ASSETS_STACK_PREFIX}-{region}"
    buckets = org.resources(name, "AWS::S3::Bucket")
    ((logical_id, bucket),) = [(key, value) for key, value in buckets.items() if "BucketName" in value["Properties"]]
    return logical_id, bucket["Properties"]


def bucket_policy(org: OrgSynthesized, region: str, logical_id: str) -> list[dict[str, Any]]:
    name = f"{ASSETS_STACK_PREFIX}-{region}"
    (policy,) = [
        p["Properties"]
        for p in org.resources(name, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": logical_id}
    ]
    return statements(policy)


@pytest.mark.parametrize("region", REGIONS)
def test_each_regions_bucket_is_named_for_the_members_and_readable_by_the_organisation_only(
    org: OrgSynthesized, region: str
) -> None:
    logical_id, bucket = asset_bucket(org, region)
    assert bucket["BucketName"] == f"sg-remediator-assets-{MANAGEMENT_ACCOUNT}-{region}"
    found = bucket_policy(org, region, logical_id)
    (read,) = allows(found)
    assert read["Principal"] == {"AWS": "*"}
    assert read["Action"] == "s3:GetObject"
    assert read["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [logical_id, "Arn"]}, "/*"]]}
    assert read["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}
    # Nothing but TLS, for anyone.
    (deny,) = [s for s in found if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Action"] == "s3:*"


@pytest.mark.parametrize("region", REGIONS)
def test_each_regions_bucket_is_private_versioned_sse_s3_and_logged(org: OrgSynthesized, region: str) -> None:
    _, bucket = asset_bucket(org, region)
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    # SSE-S3: the Lambda service reads it for other accounts, which a KMS key would need a key policy for.
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    logs = bucket["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert logs in org.templates[f"{ASSETS_STACK_PREFIX}-{region}"]["Resources"]


def central_topic_policy(org: OrgSynthesized) -> list[dict[str, Any]]:
    (policy,) = org.resources(ORG_STACK_NAME, "AWS::SNS::TopicPolicy").values()
    return statements(policy["Properties"])


def member_role_arn(org: OrgSynthesized, place: Place) -> str:
    resources = org.member.template["Resources"]
    (role,) = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    return f"arn:aws:iam::{place.account}:role/{concrete(role['Properties']['RoleName'], place, resources)}"


def test_the_central_topic_lets_in_the_organisations_remediator_roles_and_nobody_else(org: OrgSynthesized) -> None:
    (publish,) = allows(central_topic_policy(org))
    assert publish["Principal"] == {"AWS": "*"}
    assert publish["Action"] == "sns:Publish"
    assert publish["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": ORG_ID}
    pattern = publish["Condition"]["ArnLike"]["aws:PrincipalArn"]
    assert pattern == "arn:aws:iam::*:role/sg-remediator-function-*"
    # The member's role of every region matches the pattern; another role of that account does not.
    for place in MEMBERS:
        assert fnmatchcase(member_role_arn(org, place), pattern)
    assert not fnmatchcase("arn:aws:iam::444444444444:role/Admin", pattern)
    (deny,) = [s for s in central_topic_policy(org) if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_central_key_serves_those_roles_only_through_sns_of_its_region(org: OrgSynthesized) -> None:
    (key,) = org.resources(ORG_STACK_NAME, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    found = statements(key["Properties"]["KeyPolicy"]["Statement"])
    (admin, through_sns) = allows(found)
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:root"}
    assert through_sns["Principal"] == {"AWS": "*"}
    assert sorted(through_sns["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert through_sns["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": ORG_ID, "kms:ViaService": f"sns.{HOME_REGION}.amazonaws.com"},
        "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/sg-remediator-function-*"},
    }
    (topic,) = org.resources(ORG_STACK_NAME, "AWS::SNS::Topic").values()
    (key_id,) = org.resources(ORG_STACK_NAME, "AWS::KMS::Key")
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def member_statements(synthesized: OrgSynthesized, place: Place) -> list[dict[str, Any]]:
    resources = synthesized.member.template["Resources"]
    (policy,) = [r for r in resources.values() if r["Type"] == "AWS::IAM::Policy"]
    resolved: list[dict[str, Any]] = concrete(statements(policy["Properties"]), place, resources)
    return resolved


def test_the_member_role_publishes_to_the_central_topic_and_uses_its_key_only_through_sns(
    org: OrgSynthesized,
) -> None:
    for place in MEMBERS:
        by_sid = {statement.get("Sid"): statement for statement in member_statements(org, place)}
        topic = f"arn:aws:sns:{HOME_REGION}:{MANAGEMENT_ACCOUNT}:sg-remediator-notifications"
        assert by_sid["NotificationTopic"]["Action"] == "sns:Publish"
        assert by_sid["NotificationTopic"]["Resource"] == topic
        key = by_sid["NotificationTopicKeyThroughSns"]
        assert sorted(key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
        assert key["Resource"] == f"arn:aws:kms:{HOME_REGION}:{MANAGEMENT_ACCOUNT}:key/*"
        assert key["Condition"] == {"StringEquals": {"kms:ViaService": f"sns.{HOME_REGION}.amazonaws.com"}}
        # Nothing else of KMS or SNS.
        others = [s for s in by_sid.values() if s is not key and s is not by_sid["NotificationTopic"]]
        actions = [a for s in others for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
        assert not [a for a in actions if a.startswith(("kms:", "sns:"))]


def test_with_a_given_topic_the_member_role_publishes_to_it_and_its_region_key(custom: OrgSynthesized) -> None:
    place = Place(account="444444444444", region="us-west-2")
    by_sid = {statement.get("Sid"): statement for statement in member_statements(custom, place)}
    assert by_sid["NotificationTopic"]["Resource"] == OTHER_TOPIC
    key = by_sid["NotificationTopicKeyThroughSns"]
    assert key["Resource"] == "arn:aws:kms:eu-central-1:333333333333:key/*"
    assert key["Condition"] == {"StringEquals": {"kms:ViaService": "sns.eu-central-1.amazonaws.com"}}


def test_the_alarm_topic_takes_only_its_own_accounts_alarms_over_tls(org: OrgSynthesized) -> None:
    place = MEMBERS[0]
    resources = org.member.template["Resources"]
    (policy,) = [r for r in resources.values() if r["Type"] == "AWS::SNS::TopicPolicy"]
    found: list[dict[str, Any]] = concrete(statements(policy["Properties"]), place, resources)
    (alarms,) = allows(found)
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Condition"] == {
        "StringEquals": {"aws:SourceAccount": place.account},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{place.region}:{place.account}:alarm:*"},
    }
    (deny,) = [s for s in found if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
