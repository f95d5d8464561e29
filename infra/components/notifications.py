"""The notification topic: SNS encrypted with a customer managed KMS key, TLS only, email subscriptions."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class Notifications(Construct):
    """The topic the remediator and the alarms publish to, and the key that encrypts it."""

    def __init__(self, scope: Construct, construct_id: str, *, emails: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        # A customer managed key, not alias/aws/sns: only a key whose policy we write can let CloudWatch
        # alarms publish to the encrypted topic.
        self.key = kms.Key(
            self,
            "Key",
            description="sg-remediator notifications (SNS topic encryption)",
            enable_key_rotation=True,
            # Only messages in flight are encrypted with it; nothing to keep once the stack is gone.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        # CloudWatch publishes alarm notifications through SNS, which needs the key on the alarm's behalf.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="sg-remediator",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.subscriptions = [self.topic.add_subscription(subscriptions.EmailSubscription(email)) for email in emails]

    def allow_publishing(self, role: iam.IRole) -> None:
        """Let `role` publish to the encrypted topic: SNS uses the key with the publisher's permissions.

        Granted in the key policy, only through SNS, so that the role's own policy stays exactly what
        remediator.permissions declares.
        """
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowRemediatorToPublishThroughSns",
                principals=[iam.ArnPrincipal(role.role_arn)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{self.key.stack.region}.amazonaws.com"}},
            )
        )
