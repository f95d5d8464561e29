"""The remediator stacks: compose the constructs of one region; each construct builds its own resources.

`RemediatorStack` is what `make deploy` deploys to one account and region. `MemberStack` is the same function,
triggers and alarms composed for the members of an organisation (docs/organization.md): its code comes from the
organisation's asset bucket of its region, it publishes to a central topic, and its template needs no bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, BootstraplessSynthesizer, Environment, Fn, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.components.alarms import Alarms
from infra.components.dashboard import Dashboard
from infra.components.notifications import AlarmNotifications, Notifications
from infra.components.remediator_function import RemediatorFunction
from infra.components.triggers import Triggers
from infra.iam import nag_text
from infra.settings import Settings

DESCRIPTION = "sg-remediator: closes risky security-group ingress rules the moment they are opened"


class RemediatorStack(Stack):
    """Everything sg-remediator deploys to one account and region."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env, description=DESCRIPTION)
        self.notifications = Notifications(self, "Notifications", emails=settings.notification_emails)
        self.remediator = RemediatorFunction(
            self, "Remediator", settings=settings, topic_arn=self.notifications.topic.topic_arn
        )
        self.notifications.allow_publishing(self.remediator.role)
        self.triggers, self.alarms, self.dashboard = compose(
            self,
            settings=settings,
            remediator=self.remediator,
            alarm_topic=self.notifications.topic,
            dashboard=settings.dashboard,
            covered_only_once=False,
        )


def compose(
    scope: Construct,
    *,
    settings: Settings,
    remediator: RemediatorFunction,
    alarm_topic: sns.ITopic,
    dashboard: bool,
    covered_only_once: bool,
) -> tuple[Triggers, Alarms, Dashboard | None]:
    """What invokes the function, the alarms on it (notifying `alarm_topic`), and its dashboard if wanted."""
    triggers = Triggers(
        scope,
        "Triggers",
        function=remediator.function,
        dead_letter_queue=remediator.dead_letter_queue,
        sweep_schedule=settings.sweep_schedule,
        archive_retention_days=settings.archive_retention_days,
    )
    alarms = Alarms(
        scope,
        "Alarms",
        function=remediator.function,
        dead_letter_queue=remediator.dead_letter_queue,
        topic=alarm_topic,
        rules=triggers.rules,
        covered_only_once=covered_only_once,
    )
    board = (
        Dashboard(scope, "Dashboard", function=remediator.function, dead_letter_queue=remediator.dead_letter_queue)
        if dashboard
        else None
    )
    return triggers, alarms, board


@dataclass(frozen=True)
class TopicLocation:
    """The SNS topic members publish to: its name, account and region (and partition, when given as an ARN)."""

    name: str
    account: str
    region: str
    # None: the member's own partition (the organisation's topic is in the organisation's partition).
    partition: str | None = None

    @classmethod
    def of_arn(cls, arn: str) -> TopicLocation:
        """The location of an SNS topic ARN (arn:<partition>:sns:<region>:<account>:<name>)."""
        _, partition, _, region, account, name = arn.split(":", 5)
        return cls(name=name, account=account, region=region, partition=partition)

    def arn(self, stack: Stack) -> str:
        """The topic's ARN, as `stack`'s template spells it."""
        if self.partition is not None:
            return f"arn:{self.partition}:sns:{self.region}:{self.account}:{self.name}"
        return stack.format_arn(service="sns", region=self.region, account=self.account, resource=self.name)


@dataclass(frozen=True)
class MemberCode:
    """Where a member finds the function's code: a bucket name per region and one content-hashed key."""

    # With ${AWS::Region}, for Fn::Sub in the member: each stack instance reads the bucket of its own region.
    bucket_name_template: str
    key: str


class MemberStack(Stack):
    """What the organisation's StackSet deploys to every member account and region.

    The same constructs as RemediatorStack, but: the code comes from the organisation's asset bucket of the
    member's region (a StackSet instance cannot read the management account's CDK asset bucket); notifications go
    to the central topic (`topic`), and the alarms to a small topic of their own (CloudWatch alarms publish to a
    topic of their own region, docs/organization.md); the role has a fixed name, which the central topic's policy
    lets in; the alarms no other alarm covers, and a dashboard only if `settings.member_dashboard`. Synthesized
    without bootstrap (no asset parameters) and without the CDK metadata resource, for CloudFormation StackSets.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        topic: TopicLocation,
        code: MemberCode,
        role_name_prefix: str,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=DESCRIPTION,
            synthesizer=BootstraplessSynthesizer(),
            # The AWS::CDK::Metadata resource breaks StackSets in some regions (AWS's Automated Security Response
            # leaves it out of its member stacks for that reason).
            analytics_reporting=False,
        )
        self.settings, self.topic_location, self.code_location = settings, topic, code
        self.topic_arn = topic.arn(self)
        bucket = s3.Bucket.from_bucket_name(self, "CodeBucket", Fn.sub(code.bucket_name_template))
        # The key names the package's content hash, so a new package is a new key, which updates the function.
        Validations.of(bucket).acknowledge(
            Acknowledgment(
                id="Annotation::@aws-cdk/aws-lambda:codeFromBucketObjectVersionNotSpecified",
                reason="The object key is the package's content hash (infra.components.asset_bucket.object_key), "
                "so a changed package is a new key and CloudFormation updates the function without a version.",
            )
        )
        self.remediator = RemediatorFunction(
            self,
            "Remediator",
            settings=settings,
            topic_arn=self.topic_arn,
            code=lambda_.Code.from_bucket(bucket, code.key),
            # One role per region of an account (IAM names are global): the central topic's policy matches it.
            role_name=Fn.join("", [role_name_prefix, self.region]),
        )
        self._allow_topic_key(topic)
        self.alarm_notifications = AlarmNotifications(self, "AlarmNotifications", emails=settings.notification_emails)
        self.triggers, self.alarms, self.dashboard = compose(
            self,
            settings=settings,
            remediator=self.remediator,
            alarm_topic=self.alarm_notifications.topic,
            dashboard=settings.member_dashboard,
            covered_only_once=True,
        )

    def _allow_topic_key(self, topic: TopicLocation) -> None:
        """Let the role use the key of the central topic, only through SNS in the topic's region.

        SNS encrypts with the publisher's permissions, and a key of another account takes both its key policy and
        the caller's own IAM policy (KMS Developer Guide, "Allowing users in other accounts to use a KMS key").
        The key's id is not known here, so any key of the topic's account and region, only through SNS there.
        """
        key_arn = self.format_arn(
            service="kms", region=topic.region, account=topic.account, resource="key", resource_name="*"
        )
        self.remediator.role.add_to_policy(
            iam.PolicyStatement(
                sid="NotificationTopicKeyThroughSns",
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=[key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{topic.region}.amazonaws.com"}},
            )
        )
        Validations.of(self.remediator.role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{nag_text(self.resolve(key_arn))}]",
                reason="The central topic's key id is not known to the member template; the statement allows "
                "any key of the topic's account and region, and only as SNS uses it for a publish there "
                "(kms:ViaService), and the key policy admits only the organisation's remediator roles.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                reason="SNS asks KMS for GenerateDataKey (the action the SNS Developer Guide names as "
                "kms:GenerateDataKey* for publishers to an encrypted topic), only through SNS in the topic's region.",
            ),
        )
