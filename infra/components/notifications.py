"""The notification topic: SNS encrypted with a customer managed KMS key, TLS only, email subscriptions."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
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
        # The statement AWS documents for alarms on an encrypted topic, "Allow_CloudWatch_for_CMK" of
        # https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns (see also "Enable compatibility
        # between event sources from AWS services and encrypted topics" in
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html): no condition. That page's
        # optional condition is on an AWS Organization, which this stack does not assume, and no AWS page
        # found says the KMS requests SNS makes for CloudWatch carry aws:SourceArn or aws:SourceAccount; a
        # condition on a key a request lacks would drop every alarm, silently. The alarms are scoped where
        # CloudWatch is documented to send those keys, the topic policy below; the key encrypts nothing else.
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
        # enforce_ssl gives the topic a policy of its own, which replaces SNS's default policy: without this
        # statement nothing lets CloudWatch publish. Only alarms of this account and region: aws:SourceArn is
        # the alarm's ARN, as the "Allow_Publish_Alarms" statement of
        # https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger scopes it, and
        # aws:SourceAccount its account (both global keys an AWS service sets when it acts for a resource).
        stack = Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
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
