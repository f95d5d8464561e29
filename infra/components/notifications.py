"""The notification topics: SNS encrypted with a customer managed KMS key, TLS only, email subscriptions.

A stack of its own account has `Notifications`; a member of an organisation publishes to a central topic and keeps
only `AlarmNotifications` for its alarms; the organisation stack holds `CentralNotifications`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, ArnFormat, Duration, RemovalPolicy, Stack, Validations
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
        # CloudWatch is documented to send those keys, the topic policy (allow_alarms_to_publish); the key
        # encrypts nothing else.
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
        allow_alarms_to_publish(self.topic)
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


def allow_alarms_to_publish(topic: sns.Topic) -> None:
    """Let CloudWatch alarms of the topic's own account and region publish to it.

    enforce_ssl gives a topic a policy of its own, which replaces SNS's default policy: without this statement
    nothing lets CloudWatch publish. Only alarms of this account and region: aws:SourceArn is the alarm's ARN, as
    the "Allow_Publish_Alarms" statement of https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger
    scopes it, and aws:SourceAccount its account (both global keys an AWS service sets when it acts for a resource).
    """
    stack = Stack.of(topic)
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
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


# Why a member's alarm topic has no encryption: the text of its cdk-nag acknowledgment (docs/organization.md).
UNENCRYPTED_ALARM_TOPIC = (
    "CloudWatch alarms can publish to an encrypted topic only if its key is customer managed (SNS Developer Guide, "
    "Enable compatibility between event sources from AWS services and encrypted topics; the AWS managed "
    "alias/aws/sns key policy cannot be changed), and such a key costs USD 1 per month in every member account and "
    "region; alarm messages carry an alarm's name, metric and state, no secret, and the topic takes TLS only."
)


class AlarmNotifications(Construct):
    """A member's topic for its own alarms only: CloudWatch alarms publish to a topic of their account and region.

    The remediator itself publishes to the central topic; this one carries only the alarms' state changes, so
    it is not encrypted (UNENCRYPTED_ALARM_TOPIC says why) and needs no key of its own.
    """

    def __init__(self, scope: Construct, construct_id: str, *, emails: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", display_name="sg-remediator alarms", enforce_ssl=True)
        allow_alarms_to_publish(self.topic)
        self.subscriptions = [self.topic.add_subscription(subscriptions.EmailSubscription(email)) for email in emails]
        Validations.of(self.topic).acknowledge(Acknowledgment(id="AwsSolutions-SNS2", reason=UNENCRYPTED_ALARM_TOPIC))


class CentralNotifications(Construct):
    """The organisation's one notification topic, which the remediator roles of its member accounts publish to.

    Encrypted with a customer managed key; both the topic policy and the key policy let in exactly the principals
    of the organisation (aws:PrincipalOrgID) whose ARN is a remediator role (`role_arn_pattern`), and the key only
    through SNS in the topic's region (kms:ViaService), as SNS uses the key with the publisher's permissions.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic_name: str,
        org_id: str,
        role_arn_pattern: str,
        emails: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description="sg-remediator central notifications (SNS topic encryption)",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowOrganizationRemediatorsThroughSns",
                principals=[iam.AnyPrincipal()],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "aws:PrincipalOrgID": org_id,
                        "kms:ViaService": f"sns.{stack.region}.amazonaws.com",
                    },
                    "ArnLike": {"aws:PrincipalArn": role_arn_pattern},
                },
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=topic_name,
            display_name="sg-remediator",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowOrganizationRemediatorsToPublish",
                principals=[iam.AnyPrincipal()],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:PrincipalOrgID": org_id},
                    "ArnLike": {"aws:PrincipalArn": role_arn_pattern},
                },
            )
        )
        self.subscriptions = [self.topic.add_subscription(subscriptions.EmailSubscription(email)) for email in emails]
