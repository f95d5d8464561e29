"""The alarms that tell the notification topic when the remediator fails, refuses events or events pile up."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from remediator.metrics import NAMESPACE, Metric

PERIOD = Duration.minutes(5)
EVENTS_NAMESPACE = "AWS/Events"


# The function emits each of its metrics twice: once with the dimension Mode (remediator.metrics
# MODE_DIMENSION) and once with no dimension at all. An alarm watches exactly one series, so the alarms and
# the dashboard use the dimensionless total rather than one Mode's series or a SEARCH expression over all.
def events_refused(*, period: Duration = PERIOD) -> cloudwatch.Metric:
    """The function's own EventsRefused count, the series without dimensions."""
    return metric_of(Metric.EVENTS_REFUSED, period=period)


def metric_of(metric: Metric, *, period: Duration = PERIOD) -> cloudwatch.Metric:
    """One of the function's metrics (namespace remediator.metrics.NAMESPACE), the total without dimensions."""
    return cloudwatch.Metric(
        namespace=NAMESPACE, metric_name=metric.value, statistic=cloudwatch.Stats.SUM, period=period
    )


def failed_invocations(rule: events.IRule, *, period: Duration = PERIOD) -> cloudwatch.Metric:
    """EventBridge's count of the rule's invocations that failed for good (retries exhausted or too old)."""
    return cloudwatch.Metric(
        namespace=EVENTS_NAMESPACE,
        metric_name="FailedInvocations",
        dimensions_map={"RuleName": rule.rule_name},
        statistic=cloudwatch.Stats.SUM,
        period=period,
    )


# AsyncEventsDropped, in Lambda's documentation (https://docs.aws.amazon.com/lambda/latest/dg/
# monitoring-metrics-types.html, "Asynchronous invocation metrics"): "the number of events that are dropped
# without successfully executing the function. If you configure a dead-letter queue (DLQ) or OnFailure
# destination, then events are sent there before they're dropped", whether for errors after the last retry,
# the maximum event age, or throttling: one count per event, when it goes to the on-failure destination.
# Errors counts every attempt (three per failing event with two retries); the dead-letter queue's
# NumberOfMessagesSent also counts what the rules' targets send to that shared queue, not this function alone.
def events_dropped(function: lambda_.IFunction, *, period: Duration = PERIOD) -> cloudwatch.Metric:
    """Lambda's AsyncEventsDropped of the function: each asynchronous event that finally failed, once."""
    return function.metric("AsyncEventsDropped", statistic=cloudwatch.Stats.SUM, period=period)


class Alarms(Construct):
    """Failed events, failed rule invocations, throttles, refused events and dead letters; all notify the topic.

    `covered_only_once` (a member of an organisation, where each alarm is paid in every account and region) leaves
    out the alarms another one already covers: every event that fails for good, whether the function dropped it
    (FailedEvents) or EventBridge could not invoke it (the rules' FailedInvocations), is sent to the one dead-letter
    queue, so DeadLetters goes off for each of them too. What stays: DeadLetters, Throttles (the early warning,
    before anything fails) and EventsRefused (a refused event reaches no queue).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        topic: sns.ITopic,
        rules: Mapping[str, events.IRule],
        covered_only_once: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.failed_events = (
            None
            if covered_only_once
            else self._alarm(
                "FailedEvents",
                "An event the sg-remediator Lambda could not handle after all retries; a risky rule may still be open.",
                events_dropped(function),
            )
        )
        self.failed_invocations = {
            name: self._alarm(
                f"{name}FailedInvocations",
                f"EventBridge could not invoke the sg-remediator Lambda for the rule {name}; the event went to "
                "the dead-letter queue and a risky rule may still be open.",
                failed_invocations(rule),
            )
            for name, rule in ({} if covered_only_once else rules).items()
        }
        self.throttles = self._alarm(
            "Throttles",
            "The sg-remediator Lambda was throttled; its events wait and retry, rules stay open meanwhile.",
            function.metric_throttles(statistic=cloudwatch.Stats.SUM, period=PERIOD),
        )
        self.events_refused = self._alarm(
            "EventsRefused",
            "The sg-remediator Lambda refused an event; the rules that event reported were not checked.",
            events_refused(),
        )
        self.dead_letters = self._alarm(
            "DeadLetters",
            "Events the sg-remediator could not handle are waiting in its dead-letter queue.",
            dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM
            ),
        )
        for alarm in self.all:
            alarm.add_alarm_action(actions.SnsAction(topic))

    @property
    def all(self) -> list[cloudwatch.Alarm]:
        """Every alarm of the construct."""
        return [
            *([] if self.failed_events is None else [self.failed_events]),
            *self.failed_invocations.values(),
            self.throttles,
            self.events_refused,
            self.dead_letters,
        ]

    def _alarm(self, construct_id: str, description: str, metric: cloudwatch.IMetric) -> cloudwatch.Alarm:
        # Any count above zero in one period; no data means nothing happened, not an unknown state.
        return cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
