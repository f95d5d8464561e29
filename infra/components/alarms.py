"""The alarms that tell the notification topic when the remediator fails or events pile up undelivered."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

PERIOD = Duration.minutes(5)


class Alarms(Construct):
    """Lambda errors, and a dead-letter queue that is not empty; both notify the topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function_errors = cloudwatch.Alarm(
            self,
            "FunctionErrors",
            alarm_description="The sg-remediator Lambda failed; a risky rule may still be open.",
            metric=function.metric_errors(period=PERIOD, statistic=cloudwatch.Stats.SUM),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            # No invocation means no error, not an unknown state.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letters = cloudwatch.Alarm(
            self,
            "DeadLetters",
            alarm_description="Events the sg-remediator could not handle are waiting in its dead-letter queue.",
            metric=dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (self.function_errors, self.dead_letters):
            alarm.add_alarm_action(actions.SnsAction(topic))
