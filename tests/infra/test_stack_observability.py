"""What operations people see: each alarm with its metric, the dashboard (on or off by context), the event archive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from stack_support import Synthesized, synthesize, synthesized_once

from infra.components.triggers import Triggers
from infra.event_pattern import CLOUDTRAIL_PATTERN
from infra.iam import nag_text
from remediator.metrics import NAMESPACE, Metric

# Every alarm: any count above zero in one five-minute period, missing data is no news, the topic is told.
ALARM_SETTINGS = {
    "ComparisonOperator": "GreaterThanThreshold",
    "Threshold": 0,
    "EvaluationPeriods": 1,
    "Period": 300,
    "TreatMissingData": "notBreaching",
}


@pytest.fixture(scope="module")
def synthesized() -> Synthesized:
    """The app as app.py builds it, with cdk.json's context."""
    return synthesized_once()


@pytest.fixture(scope="module")
def without_extras(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """No dashboard, a week of archive, no sweep; as `cdk synth -c ...` hands the values over: strings."""
    return synthesize(
        tmp_path_factory.mktemp("cdk.out"), dashboard="false", archive_retention_days="7", sweep_schedule=""
    )


def alarms_by_metric(synthesized: Synthesized) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The alarms' properties by (namespace, metric, dimensions as JSON): one alarm per series."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for alarm in synthesized.resources("AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        dimensions = {d["Name"]: d["Value"] for d in properties.get("Dimensions", [])}
        series = (properties["Namespace"], properties["MetricName"], json.dumps(dimensions, sort_keys=True))
        assert series not in found, f"two alarms on {series}"
        found[series] = properties
    return found


def series(namespace: str, metric: str, **dimensions: Any) -> tuple[str, str, str]:
    """A metric series as alarms_by_metric keys it."""
    return namespace, metric, json.dumps(dimensions, sort_keys=True)


def expected_alarms(synthesized: Synthesized) -> dict[tuple[str, str, str], str]:
    """Each alarm the stack must have, with its statistic."""
    stack = synthesized.stack
    function = {"Ref": synthesized.logical_id(stack.remediator.function)}
    queue = {"Fn::GetAtt": [synthesized.logical_id(stack.remediator.dead_letter_queue), "QueueName"]}
    expected = {
        # Once per event that finally failed, not per attempt (infra.components.alarms.events_dropped).
        series("AWS/Lambda", "AsyncEventsDropped", FunctionName=function): "Sum",
        series("AWS/Lambda", "Throttles", FunctionName=function): "Sum",
        series("AWS/SQS", "ApproximateNumberOfMessagesVisible", QueueName=queue): "Maximum",
        # The function's own metric, the series it emits without dimensions.
        series(NAMESPACE, Metric.EVENTS_REFUSED.value): "Sum",
    }
    for rule in synthesized.resources("AWS::Events::Rule"):
        expected[series("AWS/Events", "FailedInvocations", RuleName={"Ref": rule})] = "Sum"
    return expected


def test_each_alarm_watches_its_metric_with_its_dimensions_and_statistic(synthesized: Synthesized) -> None:
    found = alarms_by_metric(synthesized)
    expected = expected_alarms(synthesized)
    assert set(found) == set(expected)
    for key, statistic in expected.items():
        assert found[key]["Statistic"] == statistic, key


def test_every_alarm_goes_off_above_zero_and_notifies_the_topic(synthesized: Synthesized) -> None:
    topic = {"Ref": synthesized.logical_id(synthesized.stack.notifications.topic)}
    alarms = synthesized.resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 6
    for logical_id, alarm in alarms.items():
        properties = alarm["Properties"]
        assert {key: properties[key] for key in ALARM_SETTINGS} == ALARM_SETTINGS, logical_id
        assert properties["AlarmActions"] == [topic], logical_id
    # Each says what went wrong, in words of its own.
    descriptions = [alarm["Properties"]["AlarmDescription"] for alarm in alarms.values()]
    assert len(set(descriptions)) == len(descriptions)


def test_function_errors_are_not_alarmed_per_attempt(synthesized: Synthesized) -> None:
    # Errors counts each of the three attempts of a failing event; AsyncEventsDropped counts the event once.
    metrics = {metric for _, metric, _ in alarms_by_metric(synthesized)}
    assert "Errors" not in metrics
    assert "AsyncEventsDropped" in metrics


def test_every_rule_targeting_the_function_has_a_failed_invocations_alarm(synthesized: Synthesized) -> None:
    rules = {json.dumps({"RuleName": {"Ref": rule}}) for rule in synthesized.resources("AWS::Events::Rule")}
    alarmed = {dims for namespace, metric, dims in alarms_by_metric(synthesized) if metric == "FailedInvocations"}
    assert len(rules) == 2
    assert alarmed == rules
    assert set(synthesized.stack.alarms.failed_invocations) == {"CloudTrailRule", "SweepRule"}


def test_without_the_sweep_only_the_cloudtrail_rule_is_alarmed(without_extras: Synthesized) -> None:
    (rule,) = without_extras.resources("AWS::Events::Rule")
    alarmed = [dims for _, metric, dims in alarms_by_metric(without_extras) if metric == "FailedInvocations"]
    assert alarmed == [json.dumps({"RuleName": {"Ref": rule}})]
    assert set(alarms_by_metric(without_extras)) == set(expected_alarms(without_extras))


def dashboard_body(synthesized: Synthesized) -> dict[str, Any]:
    """The dashboard's JSON, references spelled as nag_text spells them (<Id> for Ref, <Id.Attribute>)."""
    (dashboard,) = synthesized.resources("AWS::CloudWatch::Dashboard").values()
    parsed: dict[str, Any] = json.loads(nag_text(dashboard["Properties"]["DashboardBody"]))
    return parsed


def graphed(body: dict[str, Any]) -> set[tuple[str, ...]]:
    """Every series of the dashboard: namespace, metric, then dimension names and values, then the statistic."""
    found = set()
    for widget in body["widgets"]:
        for metric in widget["properties"]["metrics"]:
            options = metric[-1] if isinstance(metric[-1], dict) else {}
            names = [str(part) for part in metric if not isinstance(part, dict)]
            found.add((*names, options.get("stat", "Average")))
    return found


def test_dashboard_shows_the_remediator_metrics_the_function_and_the_queue(synthesized: Synthesized) -> None:
    function = f"<{synthesized.logical_id(synthesized.stack.remediator.function)}>"
    queue = f"<{synthesized.logical_id(synthesized.stack.remediator.dead_letter_queue)}.QueueName>"
    shown = graphed(dashboard_body(synthesized))
    own = {(NAMESPACE, metric, "Sum") for metric in ("RisksFound", "RulesRevoked", "RulesNarrowed", "RulesLeftOpen")}
    assert {(NAMESPACE, Metric.EVENTS_REFUSED.value, "Sum")} | own <= shown
    # The function's own metrics: the dimensionless series only (each is also emitted per Mode).
    assert {s for s in shown if s[0] == NAMESPACE} == own | {(NAMESPACE, "EventsRefused", "Sum")}
    assert {
        ("AWS/Lambda", "Errors", "FunctionName", function, "Sum"),
        ("AWS/Lambda", "Throttles", "FunctionName", function, "Sum"),
        ("AWS/Lambda", "AsyncEventsDropped", "FunctionName", function, "Sum"),
        ("AWS/Lambda", "Duration", "FunctionName", function, "Average"),
        ("AWS/Lambda", "Duration", "FunctionName", function, "Maximum"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, "Maximum"),
    } <= shown
    assert synthesized.stack.dashboard is not None


def test_dashboard_is_left_out_when_the_context_says_so(without_extras: Synthesized) -> None:
    assert without_extras.resources("AWS::CloudWatch::Dashboard") == {}
    assert without_extras.stack.dashboard is None
    # The alarms do not depend on it.
    assert len(without_extras.resources("AWS::CloudWatch::Alarm")) == 5


def test_archive_keeps_what_the_cloudtrail_rule_matches_for_thirty_days(synthesized: Synthesized) -> None:
    ((logical_id, archive),) = synthesized.resources("AWS::Events::Archive").items()
    assert logical_id == synthesized.logical_id(synthesized.stack.triggers.archive)
    properties = archive["Properties"]
    assert properties["EventPattern"] == CLOUDTRAIL_PATTERN
    (rule,) = [r for r in synthesized.resources("AWS::Events::Rule").values() if "EventPattern" in r["Properties"]]
    assert properties["EventPattern"] == rule["Properties"]["EventPattern"]
    assert properties["RetentionDays"] == 30
    # The default bus of the stack's account and region: the one CloudTrail delivers to.
    assert properties["SourceArn"] == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":events:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"},
             ":event-bus/default"],
        ]
    }  # fmt: skip


def test_archive_retention_comes_from_context(without_extras: Synthesized) -> None:
    (archive,) = without_extras.resources("AWS::Events::Archive").values()
    assert archive["Properties"]["RetentionDays"] == 7
    assert archive["Properties"]["EventPattern"] == CLOUDTRAIL_PATTERN


def test_archive_needs_a_finite_retention(tmp_path: Path) -> None:
    stack = Stack(App(outdir=str(tmp_path)), "Probe")
    function = lambda_.Function.from_function_name(stack, "F", "f")
    queue = sqs.Queue.from_queue_arn(stack, "Q", "arn:aws:sqs:eu-west-1:123456789012:q")
    with pytest.raises(ValueError, match="at least one day"):
        Triggers(stack, "T", function=function, dead_letter_queue=queue, sweep_schedule="", archive_retention_days=0)
