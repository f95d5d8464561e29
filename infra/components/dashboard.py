"""The CloudWatch dashboard: what the remediator found and did, and the health of its function and queue."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.components.alarms import PERIOD, events_dropped, metric_of
from remediator.metrics import Metric

# The function's metrics on the dashboard, in this order: what it found, then what it did about it.
OUTCOMES = (Metric.RISKS_FOUND, Metric.RULES_REVOKED, Metric.RULES_NARROWED, Metric.RULES_LEFT_OPEN)
WIDTH = 12


class Dashboard(Construct):
    """One dashboard per stack: the remediator's own metrics (dimensionless totals), Lambda, dead letters."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Risky rules found and what became of them",
                left=[metric_of(metric) for metric in OUTCOMES],
                width=WIDTH,
            ),
            cloudwatch.GraphWidget(
                title="Events refused",
                left=[metric_of(Metric.EVENTS_REFUSED)],
                width=WIDTH,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function errors, failed events and throttles",
                left=[
                    function.metric_errors(statistic=cloudwatch.Stats.SUM, period=PERIOD),
                    events_dropped(function),
                    function.metric_throttles(statistic=cloudwatch.Stats.SUM, period=PERIOD),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Function duration",
                left=[
                    function.metric_duration(statistic=cloudwatch.Stats.AVERAGE, period=PERIOD),
                    function.metric_duration(statistic=cloudwatch.Stats.MAXIMUM, period=PERIOD),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queue depth",
                left=[
                    dead_letter_queue.metric_approximate_number_of_messages_visible(
                        statistic=cloudwatch.Stats.MAXIMUM, period=PERIOD
                    )
                ],
                width=8,
            ),
        )
