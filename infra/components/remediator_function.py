"""The remediator Lambda: its least-privilege role, log group, and an asynchronous dead-letter queue."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import lambda_code
from infra.components.state_table import StateTable
from infra.iam import remediator_statements, wildcard_acknowledgments
from infra.settings import Settings

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
HANDLER = "remediator.handler.handler"
# The sweep pages through every group and rule of the region: with 10,000 groups, minutes rather than seconds.
TIMEOUT = Duration.minutes(5)
# CPU comes with memory: 512 MB keeps the cold start and a large sweep's parsing quick.
MEMORY_MB = 512
RETRY_ATTEMPTS = 2
# Bursts (a `terraform apply` or an attacker's script opening hundreds of rules in seconds), measured by
# `python -m bench.burst` (bench/RESULTS.md, "Bursts"). EC2 lets RevokeSecurityGroupIngress through 50 at once,
# then 5 a second, per account and Region ("Request token bucket sizes and refill rates" in
# https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html): 2,000 holes take at least 390 s to close,
# whatever the settings. Without reserved concurrency, Lambda ran ~270 copies that throttled one another: in the
# quarter-scale model (500 events in 15 s, every delay scaled), 73 of the 500 events failed all three attempts and
# went to the dead-letter queue with their rules open. With at most 10 copies and botocore's standard retries as
# deployed, all 500 closed, none dead-lettered (17 events needed Lambda's third attempt); with adaptive retries too,
# none needed it, and at full size (2,000 in 60 s) all 2,000 closed, none dead-lettered, the last 394 s after the
# burst began.
# Reserving 10 needs an account concurrency quota of at least 110 (Lambda keeps 100 unreserved); the sweep shares
# the 10.
RESERVED_CONCURRENCY = 10
# The events beyond the 10 copies wait in Lambda's queue (throttled asynchronous invocations are retried, not
# failed) for as long as the drain takes, so the maximum event age must outlast it: 6 hours, Lambda's largest. With
# 60 s (its smallest), 293 of the 500 events of the same burst expired into the dead-letter queue.
MAX_EVENT_AGE = Duration.hours(6)
LOG_RETENTION = logs.RetentionDays.ONE_YEAR


class RemediatorFunction(Construct):
    """The Lambda that receives the CloudTrail events and the sweep, with what it runs with."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        topic_arn: str,
        code: lambda_.Code | None = None,
        role_name: str | None = None,
    ) -> None:
        """`code` defaults to the asset built here; `role_name` to a generated name (a member's is fixed)."""
        super().__init__(scope, construct_id)
        # Explicit, so that the retention is set and the role can be scoped to this group alone.
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION)
        # Events whose invocation failed after all retries land here, so that none is lost.
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        # What the function remembers between invocations (re-opened rules, the day's notices of a group).
        self.state = StateTable(self, "State")
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            role_name=role_name,
            description="sg-remediator: the calls remediator/permissions.py declares, and its own logs",
        )
        enabled = settings.enabled_settings()
        table_arn = self.state.table.table_arn
        for statement in remediator_statements(
            Stack.of(self), topic_arn=topic_arn, state_table_arn=table_arn, enabled=enabled
        ):
            self.role.add_to_policy(statement)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="OwnLogGroup",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="Closes risky security-group ingress rules reported by CloudTrail or found by the sweep",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=code if code is not None else lambda_code(runtime=RUNTIME, architecture=ARCHITECTURE),
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            role=self.role,
            log_group=self.log_group,
            environment=settings.lambda_environment(topic_arn=topic_arn, state_table=self.state.table.table_name),
            reserved_concurrent_executions=RESERVED_CONCURRENCY,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )
        Validations.of(self.dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is the dead-letter queue (the Lambda's on-failure destination and the "
                "rules' target DLQ); a dead-letter queue of its own would only move the same messages.",
            )
        )
        Validations.of(self.role).acknowledge(
            *wildcard_acknowledgments(Stack.of(self), topic_arn=topic_arn, state_table_arn=table_arn, enabled=enabled)
        )
