"""A region's copy of the Lambda package that every account of the organisation may read (StackSet members).

A StackSet instance cannot read the management account's CDK asset bucket (its policy is the account's own), so
each target region gets a bucket with a fixed name, readable by the principals of the organisation only, and a
BucketDeployment copies the asset the regional stack builds into it under its content-hashed name.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct

from infra.iam import nag_text

# Server access logs are kept this long: long enough to see which accounts fetched the code during a rollout.
ACCESS_LOG_RETENTION = Duration.days(365)


class AssetBucket(Construct):
    """The bucket of one region, its access-log bucket, and the copy of `asset` into it."""

    def __init__(
        self, scope: Construct, construct_id: str, *, bucket_name: str, org_id: str, asset: s3_assets.Asset
    ) -> None:
        super().__init__(scope, construct_id)
        # SSE-S3 (a KMS key would need a cross-account key policy for the Lambda service of every member);
        # server access logs take SSE-S3 only, too.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=ACCESS_LOG_RETENTION)],
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(self.access_logs).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="This bucket receives the server access logs of the asset bucket; logging the log bucket "
                "into itself would log every delivery of its own logs, and into a third bucket only moves the "
                "same finding there.",
            )
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="asset-bucket/",
            # Member stacks read their code from it; it outlives this stack rather than break them.
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Any principal of the organisation (a member's StackSet execution role creates the function, and the
        # Lambda service fetches the code with its permissions); nobody outside it.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrganizationReadsTheCode",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects("*")],
                conditions={"StringEquals": {"aws:PrincipalOrgID": org_id}},
            )
        )
        # extract=False copies the zip as it is, under its own file name; prune=False keeps the previous package
        # for the stack instances a rollout has not reached yet.
        self.deployment = s3_deployment.BucketDeployment(
            self,
            "Deployment",
            sources=[s3_deployment.Source.bucket(asset.bucket, asset.s3_object_key)],
            destination_bucket=self.bucket,
            extract=False,
            prune=False,
            retain_on_delete=True,
        )
        self.object_key = object_key(asset)
        acknowledge_bucket_deployment(self.deployment, source=asset, destination=self.bucket)


def object_key(asset: s3_assets.Asset) -> str:
    """The key BucketDeployment (extract=False) gives the asset's zip: its file name, `<asset hash>.zip`."""
    if Token.is_unresolved(asset.s3_object_key):
        raise ValueError("the asset's object key is only known at deployment; the member template needs it now")
    return PurePosixPath(asset.s3_object_key).name


# What cdk-nag finds in BucketDeployment's own function and role (aws-cdk-lib's construct; their code is not ours).
DEPLOYMENT_FINDINGS = {
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]": (
        "The role of aws-cdk-lib's BucketDeployment function, which CDK creates with the managed policy for its "
        "log writes; the function runs only while CloudFormation deploys the asset."
    ),
    "AwsSolutions-IAM5[Action::s3:GetObject*]": (
        "BucketDeployment reads the asset from the CDK asset bucket of this account and region, with the "
        "object-level wildcard actions aws-cdk-lib grants for a copy."
    ),
    "AwsSolutions-IAM5[Action::s3:GetBucket*]": (
        "BucketDeployment reads the bucket location and settings of the source and destination, as "
        "aws-cdk-lib grants them for a copy between the two buckets of this stack."
    ),
    "AwsSolutions-IAM5[Action::s3:List*]": (
        "BucketDeployment lists the source and destination buckets to copy the asset, as aws-cdk-lib grants it; "
        "both buckets belong to this account and region."
    ),
    "AwsSolutions-IAM5[Action::s3:DeleteObject*]": (
        "aws-cdk-lib grants BucketDeployment delete on its destination for pruning; this deployment sets "
        "prune to false and retain_on_delete to true, so it deletes nothing."
    ),
    "AwsSolutions-IAM5[Action::s3:Abort*]": (
        "BucketDeployment may abort its own multipart upload of the asset into the destination bucket, as "
        "aws-cdk-lib grants it for a copy."
    ),
    "AwsSolutions-L1": (
        "The runtime of aws-cdk-lib's BucketDeployment function is chosen by aws-cdk-lib, not by this app; it "
        "runs only during deployments of this stack, to copy the asset."
    ),
}
OBJECTS_REASON = (
    "BucketDeployment copies any object of the source (the CDK asset bucket of this account and region) into "
    "the destination (the asset bucket): aws-cdk-lib grants its role the objects of both buckets."
)
# The construct id aws-cdk-lib gives the stack's one BucketDeployment function (a singleton, by this uuid).
DEPLOYMENT_FUNCTION_PREFIX = "Custom::CDKBucketDeployment"


def acknowledge_bucket_deployment(
    deployment: s3_deployment.BucketDeployment, *, source: s3_assets.Asset, destination: s3.IBucket
) -> None:
    """Acknowledge, on the stack's BucketDeployment function and role only, what cdk-nag reports of them."""
    stack = Stack.of(deployment)
    (function,) = [child for child in stack.node.children if child.node.id.startswith(DEPLOYMENT_FUNCTION_PREFIX)]
    objects = [
        f"arn:{stack.partition}:s3:::{source.s3_bucket_name}/*",
        destination.arn_for_objects("*"),
    ]
    Validations.of(function).acknowledge(
        *(Acknowledgment(id=rule, reason=reason) for rule, reason in DEPLOYMENT_FINDINGS.items()),
        *(
            Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{nag_text(stack.resolve(arn))}]", reason=OBJECTS_REASON)
            for arn in objects
        ),
    )
