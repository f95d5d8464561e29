"""What invokes the remediator: the CloudTrail rule on the default bus and the scheduled sweep, and the archive."""

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
# The bus CloudTrail delivers to: the only one the rule and the archive can listen on.
DEFAULT_BUS = "default"


def cloudtrail_event_pattern() -> events.EventPattern:
    """CLOUDTRAIL_PATTERN as CDK takes it: the rule and the archive share it, so they see the same events."""
    return events.EventPattern(
        source=CLOUDTRAIL_PATTERN["source"],
        detail_type=CLOUDTRAIL_PATTERN["detail-type"],
        detail=CLOUDTRAIL_PATTERN["detail"],
    )


# The archive keeps every event the CloudTrail rule matches, so that the events a failed deployment or a bug
# let through can be replayed to the rule once it works again.
class Triggers(Construct):
    """Two rules targeting the function (undeliverable events go to the dead-letter queue), and the archive."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        sweep_schedule: str,
        archive_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.cloudtrail_rule = events.Rule(
            self,
            "CloudTrailRule",
            description="Successful security-group ingress changes reported by CloudTrail",
            event_pattern=cloudtrail_event_pattern(),
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
        # Always a finite retention: EventBridge reads 0 as "keep forever", which the settings refuse.
        if archive_retention_days < 1:
            raise ValueError(f"archive retention must be at least one day, not {archive_retention_days}")
        self.archive = events.Archive(
            self,
            "CloudTrailArchive",
            description="Events of the CloudTrail rule, kept for replay",
            source_event_bus=events.EventBus.from_event_bus_name(self, "DefaultBus", DEFAULT_BUS),
            event_pattern=cloudtrail_event_pattern(),
            retention=Duration.days(archive_retention_days),
        )

    @property
    def rules(self) -> dict[str, events.Rule]:
        """The rules that target the function, by construct id (the sweep's only while it is scheduled)."""
        rules = [self.cloudtrail_rule] if self.sweep_rule is None else [self.cloudtrail_rule, self.sweep_rule]
        return {rule.node.id: rule for rule in rules}

    @staticmethod
    def _target(function: lambda_.IFunction, dead_letter_queue: sqs.IQueue) -> targets.LambdaFunction:
        # The default input: the function receives the event as EventBridge matched it.
        return targets.LambdaFunction(
            function,
            dead_letter_queue=dead_letter_queue,
            max_event_age=TARGET_MAX_EVENT_AGE,
        )
