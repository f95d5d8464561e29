"""What invokes the remediator: the CloudTrail rule on the default bus and the scheduled sweep."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.event_pattern import CLOUDTRAIL_PATTERN

# How long EventBridge keeps retrying to hand an event to Lambda (throttling, service errors).
TARGET_MAX_EVENT_AGE = Duration.hours(24)


class Triggers(Construct):
    """Two rules targeting the function; events EventBridge cannot deliver go to the dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        sweep_schedule: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.cloudtrail_rule = events.Rule(
            self,
            "CloudTrailRule",
            description="Successful security-group ingress changes reported by CloudTrail",
            event_pattern=events.EventPattern(
                source=CLOUDTRAIL_PATTERN["source"],
                detail_type=CLOUDTRAIL_PATTERN["detail-type"],
                detail=CLOUDTRAIL_PATTERN["detail"],
            ),
            targets=[self._target(function, dead_letter_queue)],
        )
        # The sweep catches what no event reported: rules opened before deployment, or events lost.
        self.sweep_rule = (
            events.Rule(
                self,
                "SweepRule",
                description="Scheduled sweep of every security group of the region",
                schedule=events.Schedule.expression(sweep_schedule),
                targets=[self._target(function, dead_letter_queue)],
            )
            if sweep_schedule
            else None
        )

    @staticmethod
    def _target(function: lambda_.IFunction, dead_letter_queue: sqs.IQueue) -> targets.LambdaFunction:
        # The default input: the function receives the event as EventBridge matched it.
        return targets.LambdaFunction(
            function,
            dead_letter_queue=dead_letter_queue,
            max_event_age=TARGET_MAX_EVENT_AGE,
        )
