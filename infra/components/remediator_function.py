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
from infra.iam import remediator_statements, wildcard_acknowledgments
from infra.settings import Settings

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
HANDLER = "remediator.handler.handler"
# The sweep pages through every group and rule of the region: with 10,000 groups, minutes rather than seconds.
TIMEOUT = Duration.minutes(5)
# CPU comes with memory: 512 MB keeps pydantic's cold start and a large sweep's parsing quick.
MEMORY_MB = 512
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.hours(6)
LOG_RETENTION = logs.RetentionDays.ONE_YEAR


class RemediatorFunction(Construct):
    """The Lambda that receives the CloudTrail events and the sweep, with what it runs with."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, topic_arn: str) -> None:
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
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="sg-remediator: the calls remediator/permissions.py declares, and its own logs",
        )
        for statement in remediator_statements(Stack.of(self), topic_arn=topic_arn):
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
            code=lambda_code(runtime=RUNTIME, architecture=ARCHITECTURE),
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            role=self.role,
            log_group=self.log_group,
            environment=settings.lambda_environment(topic_arn=topic_arn),
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
        Validations.of(self.role).acknowledge(*wildcard_acknowledgments(Stack.of(self), topic_arn=topic_arn))
