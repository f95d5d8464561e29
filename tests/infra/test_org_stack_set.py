"""Organisation mode: the StackSet of the member stack, its targets and preferences, and the member template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from org_support import (
    CUSTOM_CONTEXT,
    EXCLUDED,
    HOME_REGION,
    MANAGEMENT_ACCOUNT,
    OTHER_TOPIC,
    OU,
    REGIONS,
    ROOT,
    OrgSynthesized,
    Place,
    body_of,
    concrete,
    custom_synthesized,
    org_synthesized,
)
from stack_support import cdk_context, synthesized_once

from infra.organization import (
    ASSETS_STACK_PREFIX,
    MEMBER_ROLE_PREFIX,
    ORG_STACK_NAME,
    STACK_SET_NAME,
    TEMPLATE_BODY_LIMIT,
    member_template,
)

MEMBER = Place(account="444444444444", region="us-east-1")


@pytest.fixture(scope="module")
def org() -> OrgSynthesized:
    return org_synthesized()


@pytest.fixture(scope="module")
def custom() -> OrgSynthesized:
    return custom_synthesized()


def member_function(synthesized: OrgSynthesized) -> dict[str, Any]:
    properties: dict[str, Any] = synthesized.only("member", "AWS::Lambda::Function")["Properties"]
    return properties


def test_org_units_replace_the_regional_stacks_by_the_organisation_and_asset_stacks(org: OrgSynthesized) -> None:
    assert set(org.templates) == {ORG_STACK_NAME, *(f"{ASSETS_STACK_PREFIX}-{region}" for region in REGIONS)}
    assert (org.organization.account, org.organization.region) == (MANAGEMENT_ACCOUNT, HOME_REGION)
    assert {(stack.account, stack.region) for stack in org.assets} == {(MANAGEMENT_ACCOUNT, r) for r in REGIONS}
    # The code is in every region's bucket before the StackSet creates a member there.
    assert {dependency.stack_name for dependency in org.organization.dependencies} == {
        stack.stack_name for stack in org.assets
    }
    # The member stack is a template inside the StackSet, not a stack of the app's assembly.
    manifest = json.loads((Path(org.app.outdir) / "manifest.json").read_text())
    stacks = {
        name for name, artifact in manifest["artifacts"].items() if artifact["type"] == "aws:cloudformation:stack"
    }
    assert stacks == set(org.templates)


def test_the_stack_set_is_service_managed_and_follows_accounts_in_and_out_of_the_org_units(
    org: OrgSynthesized,
) -> None:
    stack_set = org.stack_set
    assert stack_set["StackSetName"] == STACK_SET_NAME
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
    assert stack_set["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert stack_set["ManagedExecution"] == {"Active": True}
    assert stack_set["CallAs"] == "SELF"


def test_targets_are_the_org_units_but_the_excluded_accounts_in_every_region(org: OrgSynthesized) -> None:
    (group,) = org.stack_set["StackInstancesGroup"]
    assert group["DeploymentTargets"] == {
        "OrganizationalUnitIds": [OU, ROOT],
        "AccountFilterType": "DIFFERENCE",
        "Accounts": [EXCLUDED],
    }
    assert group["Regions"] == list(REGIONS)


def test_without_excluded_accounts_the_targets_are_the_whole_org_units(custom: OrgSynthesized) -> None:
    (group,) = custom.stack_set["StackInstancesGroup"]
    assert group["DeploymentTargets"] == {"OrganizationalUnitIds": [OU]}
    assert group["Regions"] == CUSTOM_CONTEXT["regions"]


def test_the_rollout_defaults_to_one_region_after_the_other_stopping_at_the_first_failure(
    org: OrgSynthesized,
) -> None:
    assert org.stack_set["OperationPreferences"] == {
        "RegionConcurrencyType": "SEQUENTIAL",
        "RegionOrder": list(REGIONS),
        "FailureTolerancePercentage": 0,
        "MaxConcurrentPercentage": 25,
    }


def test_call_as_and_the_rollout_preferences_come_from_context(custom: OrgSynthesized) -> None:
    assert custom.stack_set["CallAs"] == "DELEGATED_ADMIN"
    assert custom.stack_set["OperationPreferences"] == {
        "RegionConcurrencyType": "PARALLEL",
        "RegionOrder": CUSTOM_CONTEXT["regions"],
        "FailureTolerancePercentage": 10,
        "MaxConcurrentPercentage": 50,
    }


def test_the_member_role_has_a_fixed_name_so_the_stack_set_acknowledges_named_iam(org: OrgSynthesized) -> None:
    role = org.only("member", "AWS::IAM::Role")["Properties"]
    resources = org.member.template["Resources"]
    assert concrete(role["RoleName"], MEMBER, resources) == f"{MEMBER_ROLE_PREFIX}us-east-1"
    assert org.stack_set["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    # Without a named IAM resource, CAPABILITY_IAM would do.
    unnamed = json.loads(json.dumps(org.member.template))
    for resource in unnamed["Resources"].values():
        resource.get("Properties", {}).pop("RoleName", None)
    assert type(org.member)(stack=org.member.stack, template=unnamed).capabilities == ["CAPABILITY_IAM"]


def test_the_template_body_is_the_member_template_within_cloudformations_limit(org: OrgSynthesized) -> None:
    body = org.stack_set["TemplateBody"]
    assert body_of(org.stack_set) == org.member.template
    assert len(body.encode()) <= TEMPLATE_BODY_LIMIT
    # Room to grow: a third of the limit left.
    assert len(body.encode()) < TEMPLATE_BODY_LIMIT * 2 / 3


def test_the_member_template_has_no_cdk_metadata_and_needs_no_bootstrap(org: OrgSynthesized) -> None:
    template = org.member.template
    assert org.resources("member", "AWS::CDK::Metadata") == {}
    assert "CDKMetadataAvailable" not in template.get("Conditions", {})
    # No asset or BootstrapVersion parameter, no bootstrap check, no construct paths.
    assert "Parameters" not in template
    assert "Rules" not in template
    assert "aws:cdk:path" not in json.dumps(template)
    # The regional stack, for comparison, has its CDK bootstrap parameter.
    assert "BootstrapVersion" in synthesized_once().template.to_json()["Parameters"]


def test_the_member_runs_the_package_the_regional_stack_builds_from_its_own_regions_bucket(
    org: OrgSynthesized,
) -> None:
    code = member_function(org)["Code"]
    assert code["S3Bucket"] == {"Fn::Sub": f"sg-remediator-assets-{MANAGEMENT_ACCOUNT}-${{AWS::Region}}"}
    resources = org.member.template["Resources"]
    assert concrete(code["S3Bucket"], MEMBER, resources) == f"sg-remediator-assets-{MANAGEMENT_ACCOUNT}-us-east-1"
    # The same content-hashed zip as the regional stack's function, and what each region's bucket receives.
    (regional,) = synthesized_once().resources("AWS::Lambda::Function").values()
    assert code["S3Key"] == regional["Properties"]["Code"]["S3Key"]
    assert code["S3Key"].endswith(".zip")
    assert len(code["S3Key"].removesuffix(".zip")) == 64
    for name in (f"{ASSETS_STACK_PREFIX}-{region}" for region in REGIONS):
        deployment = org.only(name, "Custom::CDKBucketDeployment")["Properties"]
        assert deployment["SourceObjectKeys"] == [code["S3Key"]]
        assert (deployment["Extract"], deployment["Prune"]) == (False, False)


def test_the_members_settings_are_the_contexts_and_dry_run_reaches_every_member(
    org: OrgSynthesized, custom: OrgSynthesized
) -> None:
    assert member_function(org)["Environment"]["Variables"]["REMEDIATOR_DRY_RUN"] == "false"
    variables = member_function(custom)["Environment"]["Variables"]
    assert variables["REMEDIATOR_DRY_RUN"] == "true"
    assert variables["REMEDIATOR_DEFAULT_MODE"] == "revoke"
    # Through the one template of the StackSet: every account and region runs these.
    body = body_of(custom.stack_set)
    (function,) = [r for r in body["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert function["Properties"]["Environment"]["Variables"]["REMEDIATOR_DRY_RUN"] == "true"


def test_members_hold_no_key_and_publish_to_the_central_topic(org: OrgSynthesized) -> None:
    assert org.resources("member", "AWS::KMS::Key") == {}
    variables = member_function(org)["Environment"]["Variables"]
    resources = org.member.template["Resources"]
    central = f"arn:aws:sns:{HOME_REGION}:{MANAGEMENT_ACCOUNT}:sg-remediator-notifications"
    assert concrete(variables["REMEDIATOR_TOPIC_ARN"], MEMBER, resources) == central
    # The organisation stack's topic has exactly that name.
    topic = org.only(ORG_STACK_NAME, "AWS::SNS::Topic")["Properties"]
    assert topic["TopicName"] == "sg-remediator-notifications"
    assert "KmsMasterKeyId" in topic


def test_a_given_topic_replaces_the_central_one(custom: OrgSynthesized) -> None:
    assert custom.resources(ORG_STACK_NAME, "AWS::SNS::Topic") == {}
    assert custom.resources(ORG_STACK_NAME, "AWS::KMS::Key") == {}
    assert member_function(custom)["Environment"]["Variables"]["REMEDIATOR_TOPIC_ARN"] == OTHER_TOPIC


def test_member_alarms_notify_a_topic_of_their_own_account_without_a_key(org: OrgSynthesized) -> None:
    (topic_id,) = org.resources("member", "AWS::SNS::Topic")
    topic = org.member.template["Resources"][topic_id]["Properties"]
    assert "KmsMasterKeyId" not in topic
    alarms = org.resources("member", "AWS::CloudWatch::Alarm")
    assert alarms
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    # Alarm notifications reach the same addresses as the central topic's.
    (subscription,) = org.resources("member", "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Endpoint"] == "secops@example.com"
    assert subscription["Properties"]["TopicArn"] == {"Ref": topic_id}


def test_members_alarm_only_what_no_other_alarm_covers(org: OrgSynthesized) -> None:
    names = {alarm["Properties"]["MetricName"] for alarm in org.resources("member", "AWS::CloudWatch::Alarm").values()}
    # Every event that fails for good reaches the dead-letter queue, so its depth covers FailedEvents and the
    # rules' FailedInvocations; Throttles warns before anything fails, a refused event reaches no queue.
    assert names == {"ApproximateNumberOfMessagesVisible", "Throttles", "EventsRefused"}
    regional = {a["Properties"]["MetricName"] for a in synthesized_once().resources("AWS::CloudWatch::Alarm").values()}
    assert names < regional


def test_the_member_dashboard_is_off_unless_the_context_asks(org: OrgSynthesized, custom: OrgSynthesized) -> None:
    assert org.resources("member", "AWS::CloudWatch::Dashboard") == {}
    assert len(custom.resources("member", "AWS::CloudWatch::Dashboard")) == 1
    # The regional key does not reach members: cdk.json's dashboard=true is for `make deploy`.
    assert synthesized_once().resources("AWS::CloudWatch::Dashboard")


def test_the_member_template_stays_without_construct_paths_when_the_cli_asks_for_them(
    org: OrgSynthesized, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The CLI hands every App of the process its context, with path metadata on, through CDK_CONTEXT_JSON.
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"aws:cdk:enable-path-metadata": True}))
    member = member_template(
        cdk_context(),
        settings=org.member.stack.settings,
        topic=org.member.stack.topic_location,
        code=org.member.stack.code_location,
        outdir=tmp_path,
    )
    assert "aws:cdk:path" not in json.dumps(member.template)
    assert member.template == org.member.template
