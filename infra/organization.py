"""Organisation mode: the StackSet of the member stack, the asset bucket of each target region, the central topic.

`add_organization_stacks` adds, instead of the regional stacks:

- `SgRemediatorAssets-<region>` for each target region: the bucket the members of that region read the code from;
- `SgRemediatorOrg` in the CLI's region: the service-managed StackSet of `MemberStack` (its template inline), and
  the central notification topic unless `notification_topic_arn` names one.

The member template is synthesized in an app of its own (its stack is no deployment of this app); its names are
fixed patterns, so that it needs nothing but its own region: the bucket `sg-remediator-assets-<account>-<region>`,
the role `sg-remediator-function-<region>`, the topic `sg-remediator-notifications` of the deploying account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_cloudformation as cloudformation
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra.bundling import lambda_asset
from infra.components.asset_bucket import AssetBucket
from infra.components.notifications import CentralNotifications
from infra.components.remediator_function import ARCHITECTURE, RUNTIME
from infra.settings import ContextError, Settings
from infra.stack import MemberCode, MemberStack, TopicLocation

ORG_STACK_NAME = "SgRemediatorOrg"
ASSETS_STACK_PREFIX = "SgRemediatorAssets"
MEMBER_STACK_NAME = "SgRemediatorMember"
# The context key of CDK's construct-path metadata (aws-cdk-lib cx-api PATH_METADATA_ENABLE_CONTEXT, not exported
# to Python): the CLI turns it on; the member template goes without.
PATH_METADATA_ENABLE_CONTEXT = "aws:cdk:enable-path-metadata"
# Where, in the app's cloud assembly, the member's own assembly goes (no deployment of this app refers to it).
MEMBER_ASSEMBLY = "member-assembly"
STACK_SET_NAME = "sg-remediator"
ASSET_BUCKET_PREFIX = "sg-remediator-assets"
MEMBER_ROLE_PREFIX = "sg-remediator-function-"
CENTRAL_TOPIC_NAME = "sg-remediator-notifications"
# CreateStackSet's TemplateBody: "a maximum length of 51,200 bytes" (AWS CloudFormation API Reference).
TEMPLATE_BODY_LIMIT = 51_200
# Resource properties that give an IAM resource a name of its own: the template then needs CAPABILITY_NAMED_IAM.
NAMED_IAM = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
}


def asset_bucket_name(account: str, region: str) -> str:
    """The bucket of `region` that holds the code, in the account that deploys the organisation stacks."""
    return f"{ASSET_BUCKET_PREFIX}-{account}-{region}"


def member_role_arn_pattern(partition: str) -> str:
    """Every member's remediator role, in any account: what the central topic and its key let in."""
    return f"arn:{partition}:iam::*:role/{MEMBER_ROLE_PREFIX}*"


class AssetsStack(Stack):
    """The asset bucket of one target region, with the Lambda package the members of that region run."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, env: Environment) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description="sg-remediator: the Lambda package the organisation's member stacks of this region run",
        )
        asset = lambda_asset(self, "Code", runtime=RUNTIME, architecture=ARCHITECTURE)
        self.assets = AssetBucket(
            self,
            "Assets",
            bucket_name=asset_bucket_name(str(env.account), str(env.region)),
            org_id=settings.org_id,
            asset=asset,
        )
        self.object_key = self.assets.object_key


@dataclass(frozen=True)
class MemberTemplate:
    """The member stack, synthesized in an app of its own, and its template."""

    stack: MemberStack
    template: dict[str, Any]

    @property
    def body(self) -> str:
        """The template as StackSets takes it: compact JSON."""
        return json.dumps(self.template, separators=(",", ":"))

    @property
    def capabilities(self) -> list[str]:
        """CAPABILITY_NAMED_IAM if an IAM resource has a name of its own, else CAPABILITY_IAM."""
        named = any(
            NAMED_IAM.get(resource["Type"]) in resource.get("Properties", {})
            for resource in self.template["Resources"].values()
        )
        return ["CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM"]


def member_template(
    context: dict[str, Any], *, settings: Settings, topic: TopicLocation, code: MemberCode, outdir: Path
) -> MemberTemplate:
    """Synthesize the member stack in an app of its own (with the same feature flags and cdk-nag checks)."""
    # CDK's own keys (aws:cdk:...) are the CLI's settings for this app. The member's template has no construct paths
    # (post_cli_context: the CLI, which turns them on, hands its context to every App of the process).
    own = {key: value for key, value in context.items() if not key.startswith("aws:cdk:")}
    app = App(
        context=own,
        post_cli_context={PATH_METADATA_ENABLE_CONTEXT: False},
        outdir=str(outdir),
        analytics_reporting=False,
    )
    stack = MemberStack(
        app, MEMBER_STACK_NAME, settings=settings, topic=topic, code=code, role_name_prefix=MEMBER_ROLE_PREFIX
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    assembly = app.synth()
    template: dict[str, Any] = assembly.get_stack_by_name(stack.stack_name).template
    if len(json.dumps(template, separators=(",", ":")).encode()) > TEMPLATE_BODY_LIMIT:
        raise ValueError(f"the member template is over CloudFormation's TemplateBody limit of {TEMPLATE_BODY_LIMIT}")
    return MemberTemplate(stack=stack, template=template)


class OrganizationStack(Stack):
    """The StackSet of the member stack for the organisation's accounts, and the central topic if it is ours."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        member: MemberTemplate,
        env: Environment,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description="sg-remediator: the StackSet that deploys the remediator to the organisation's accounts",
        )
        self.member = member
        self.central = (
            None
            if settings.notification_topic_arn
            else CentralNotifications(
                self,
                "CentralNotifications",
                topic_name=CENTRAL_TOPIC_NAME,
                org_id=settings.org_id,
                role_arn_pattern=member_role_arn_pattern(self.partition),
                emails=settings.notification_emails,
            )
        )
        targets = cloudformation.CfnStackSet.DeploymentTargetsProperty(
            organizational_unit_ids=list(settings.org_units),
            # DIFFERENCE: every account of the OUs but these (the account-level opt-out).
            account_filter_type="DIFFERENCE" if settings.exclude_accounts else None,
            accounts=list(settings.exclude_accounts) or None,
        )
        self.stack_set = cloudformation.CfnStackSet(
            self,
            "StackSet",
            stack_set_name=STACK_SET_NAME,
            description="sg-remediator in every account of the organisation's target OUs and regions",
            permission_model="SERVICE_MANAGED",
            # New accounts of the OUs get it; an account that leaves them loses its stacks.
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            call_as=settings.call_as.value,
            capabilities=member.capabilities,
            # Operations queue instead of failing while another one runs.
            managed_execution={"Active": True},
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                region_concurrency_type=settings.region_concurrency.value,
                region_order=list(settings.regions),
                failure_tolerance_percentage=settings.failure_tolerance_percentage,
                max_concurrent_percentage=settings.max_concurrent_percentage,
            ),
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=targets, regions=list(settings.regions)
                )
            ],
            template_body=member.body,
        )
        if self.central is not None:
            # The members publish as soon as they run: the topic and its policies come first.
            self.stack_set.node.add_dependency(self.central)


@dataclass(frozen=True)
class OrganizationDeployment:
    """Everything organisation mode adds to the app, and the member template it deploys."""

    organization: OrganizationStack
    assets: list[AssetsStack]
    member: MemberTemplate

    @property
    def stacks(self) -> list[Stack]:
        """The stacks of the app, in deployment order."""
        return [*self.assets, self.organization]


def add_organization_stacks(
    app: App, *, settings: Settings, account: str | None, default_region: str | None
) -> OrganizationDeployment:
    """The asset stack of each target region and the organisation stack (in `default_region`), in `account`."""
    if not account or not default_region:
        raise ContextError(
            "cdk context org_units: organisation mode needs the account and region it deploys from (run the CLI "
            "with credentials of the management account, or of the delegated administrator)"
        )
    assets = [
        AssetsStack(
            app,
            f"{ASSETS_STACK_PREFIX}-{region}",
            settings=settings,
            env=Environment(account=account, region=region),
        )
        for region in settings.regions
    ]
    (key,) = {stack.object_key for stack in assets}
    topic = (
        TopicLocation.of_arn(settings.notification_topic_arn)
        if settings.notification_topic_arn
        else TopicLocation(name=CENTRAL_TOPIC_NAME, account=account, region=default_region)
    )
    code = MemberCode(bucket_name_template=asset_bucket_name(account, "${AWS::Region}"), key=key)
    member = member_template(
        app.node.get_all_context(),
        settings=settings,
        topic=topic,
        code=code,
        outdir=Path(app.outdir) / MEMBER_ASSEMBLY,
    )
    organization = OrganizationStack(
        app, ORG_STACK_NAME, settings=settings, member=member, env=Environment(account=account, region=default_region)
    )
    for stack in assets:
        # The code must be in every region's bucket before a member is created there.
        organization.add_dependency(stack)
    return OrganizationDeployment(organization=organization, assets=assets, member=member)
