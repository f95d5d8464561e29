"""The fixed monthly cost of one account and region, from the billable resources of each synthesized template.

Idle means no security-group change: no invocation but the daily sweep, no notification, no custom metric (the
function writes metrics only for events), so what is left is what exists: keys, alarms, dashboards. AWS's
published prices (USD, us-east-1; docs/organization.md cites the pages):

- KMS: "Each AWS KMS key that you create in KMS costs $1/month" (https://aws.amazon.com/kms/pricing/);
- CloudWatch: a standard-resolution alarm USD 0.10 per alarm metric and month, a dashboard USD 3.00 a month
  beyond the 3 free per account (https://aws.amazon.com/cloudwatch/pricing/);
- EventBridge archive: per GB archived and stored (https://aws.amazon.com/eventbridge/pricing/); nothing idle;
- CloudWatch Logs, SQS, SNS, Lambda: per use; nothing idle but the sweep, within the free tiers;
- DynamoDB on demand (the state table): per request, and storage beyond the first 25 GB a month free
  (https://aws.amazon.com/dynamodb/pricing/on-demand/); its items live a day or two: nothing idle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from org_support import OrgSynthesized, custom_synthesized, org_synthesized
from stack_support import REPO_ROOT, synthesized_once

KMS_KEY = Decimal("1.00")
ALARM = Decimal("0.10")
DASHBOARD = Decimal("3.00")
CENTRAL_LIMIT = Decimal("0.50")


def alarm_metrics(alarm: Mapping[str, Any]) -> int:
    """An alarm is billed per metric it watches: one, or each metric of its metric math."""
    metrics = alarm["Properties"].get("Metrics")
    return 1 if metrics is None else sum(1 for metric in metrics if "MetricStat" in metric)


def monthly_cost(template: Mapping[str, Any]) -> Decimal:
    """The fixed monthly cost of one stack of `template` in one account and region, free tiers left out."""
    resources = template["Resources"].values()
    keys = sum(1 for r in resources if r["Type"] == "AWS::KMS::Key")
    alarms = sum(alarm_metrics(r) for r in resources if r["Type"] == "AWS::CloudWatch::Alarm")
    dashboards = sum(1 for r in resources if r["Type"] == "AWS::CloudWatch::Dashboard")
    return keys * KMS_KEY + alarms * ALARM + dashboards * DASHBOARD


@pytest.fixture(scope="module")
def org() -> OrgSynthesized:
    return org_synthesized()


def test_a_member_with_the_central_topic_costs_under_half_a_dollar_a_month_when_idle(org: OrgSynthesized) -> None:
    cost = monthly_cost(org.member.template)
    assert cost < CENTRAL_LIMIT
    assert cost == Decimal("0.30")


def test_a_stack_of_its_own_account_costs_its_key_alarms_and_dashboard() -> None:
    assert monthly_cost(synthesized_once().template.to_json()) == Decimal("4.60")


def test_the_member_dashboard_adds_its_price_to_every_account_and_region() -> None:
    assert monthly_cost(custom_synthesized().member.template) == Decimal("3.30")


def test_the_cost_counts_every_billable_resource_of_the_templates(org: OrgSynthesized) -> None:
    # Would a template gain a billable kind of resource, this table must learn its price.
    billable = {
        "AWS::KMS::Key",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::CloudWatch::CompositeAlarm",
    }
    free_when_idle = {
        "AWS::DynamoDB::Table",
        "AWS::Events::Archive",
        "AWS::Events::Rule",
        "AWS::IAM::Policy",
        "AWS::IAM::Role",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::Function",
        "AWS::Lambda::Permission",
        "AWS::Logs::LogGroup",
        "AWS::SNS::Subscription",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
    }
    for template in (org.member.template, synthesized_once().template.to_json(), custom_synthesized().member.template):
        kinds = {resource["Type"] for resource in template["Resources"].values()}
        assert kinds <= billable | free_when_idle, kinds - billable - free_when_idle
        assert "AWS::CloudWatch::CompositeAlarm" not in kinds


def test_the_documented_cost_table_is_the_computed_one(org: OrgSynthesized) -> None:
    documentation = (REPO_ROOT / "docs" / "organization.md").read_text()
    rows = {
        match["mode"]: Decimal(match["total"])
        for match in re.finditer(
            r"^\| (?P<mode>[^|]+?) \|.*\| \*\*USD (?P<total>\d+\.\d\d)\*\* \|$", documentation, re.M
        )
    }
    assert rows == {
        "Stack of its own account (`make deploy`)": monthly_cost(synthesized_once().template.to_json()),
        "Member, central topic (`make deploy-org`)": monthly_cost(org.member.template),
        "Member, central topic, `member_dashboard=true`": monthly_cost(custom_synthesized().member.template),
    }
