"""The remediator's IAM statements, built from remediator.permissions.PERMISSIONS so the role follows the code."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from aws_cdk import Acknowledgment, ArnFormat, Stack
from aws_cdk import aws_iam as iam

from remediator.permissions import PERMISSIONS, Permission, ResourceKind, enabled_permissions

# One statement per resource kind; a Sid must be alphanumeric.
_SIDS = {
    ResourceKind.ANY: "NoResourceLevelPermissions",
    ResourceKind.SECURITY_GROUP: "SecurityGroups",
    ResourceKind.PREFIX_LIST: "PrefixLists",
    ResourceKind.TOPIC: "NotificationTopic",
    ResourceKind.SECURITY_HUB_PRODUCT: "SecurityHubOwnFindings",
    ResourceKind.SECURITY_HUB: "SecurityHub",
    ResourceKind.DEFAULT_EVENT_BUS: "DefaultEventBus",
    ResourceKind.STATE_TABLE: "StateTable",
}


# Why each kind scoped to a wildcard is as narrow as it can be: the text of the cdk-nag acknowledgment.
WILDCARD_REASONS = {
    ResourceKind.ANY: "Only calls that support no resource-level permissions (ec2:Describe*) are granted on "
    "'*'; remediator.permissions declares the resource kind of every call.",
    ResourceKind.SECURITY_GROUP: "The remediator must act on whichever security group of its account and "
    "region opens a risky rule, known only from the event.",
    ResourceKind.PREFIX_LIST: "A rule may reference any prefix list of the region, including ones shared "
    "from other accounts or owned by AWS, so their entries are read whatever the owner.",
}


def resource_arns(stack: Stack, *, topic_arn: str, state_table_arn: str) -> dict[ResourceKind, str]:
    """The IAM resource each kind of permission is scoped to, in `stack`'s partition, region and account."""
    return {
        # Describe* and List* calls support no resource-level permissions.
        ResourceKind.ANY: "*",
        ResourceKind.SECURITY_GROUP: stack.format_arn(
            service="ec2",
            resource="security-group",
            resource_name="*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        ),
        # Any owner: a rule may use a prefix list shared from another account or owned by AWS.
        ResourceKind.PREFIX_LIST: stack.format_arn(
            service="ec2",
            account="*",
            resource="prefix-list",
            resource_name="*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        ),
        ResourceKind.TOPIC: topic_arn,
        # The account's default product: an account imports its own findings under it.
        ResourceKind.SECURITY_HUB_PRODUCT: stack.format_arn(
            service="securityhub",
            resource="product",
            resource_name=f"{stack.account}/default",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        ),
        ResourceKind.SECURITY_HUB: stack.format_arn(
            service="securityhub", resource="hub", resource_name="default", arn_format=ArnFormat.SLASH_RESOURCE_NAME
        ),
        ResourceKind.DEFAULT_EVENT_BUS: stack.format_arn(
            service="events", resource="event-bus", resource_name="default", arn_format=ArnFormat.SLASH_RESOURCE_NAME
        ),
        ResourceKind.STATE_TABLE: state_table_arn,
    }


def remediator_statements(
    stack: Stack,
    *,
    topic_arn: str,
    state_table_arn: str,
    enabled: Collection[str],
    permissions: Mapping[str, Permission] = PERMISSIONS,
) -> list[iam.PolicyStatement]:
    """One statement per resource kind, granting exactly the actions `permissions` declares for it.

    A permission that a setting turns on (Permission.enabled_by) is granted only when that setting is in `enabled`.
    """
    permissions = enabled_permissions(enabled, permissions)
    arns = resource_arns(stack, topic_arn=topic_arn, state_table_arn=state_table_arn)
    missing = {permission.resource for permission in permissions.values()} - (set(arns) & set(_SIDS))
    if missing:
        raise ValueError(f"no IAM resource is defined for resource kinds {sorted(missing)}")
    statements = []
    for kind in ResourceKind:
        actions = sorted({p.action for p in permissions.values() if p.resource is kind})
        if actions:
            statements.append(iam.PolicyStatement(sid=_SIDS[kind], actions=actions, resources=[arns[kind]]))
    return statements


def wildcard_acknowledgments(
    stack: Stack,
    *,
    topic_arn: str,
    state_table_arn: str,
    enabled: Collection[str],
    permissions: Mapping[str, Permission] = PERMISSIONS,
) -> list[Acknowledgment]:
    """The cdk-nag IAM5 findings the remediator statements cause, each acknowledged with its reason."""
    permissions = enabled_permissions(enabled, permissions)
    arns = resource_arns(stack, topic_arn=topic_arn, state_table_arn=state_table_arn)
    used = {permission.resource for permission in permissions.values()}
    return [
        Acknowledgment(
            id=f"AwsSolutions-IAM5[Resource::{nag_text(stack.resolve(arns[kind]))}]",
            reason=WILDCARD_REASONS[kind],
        )
        for kind in ResourceKind
        if kind in used and kind in WILDCARD_REASONS
    ]


def nag_text(value: object) -> str:
    """A resolved CloudFormation value as cdk-nag spells it in a finding: Ref X as <X>, GetAtt as <L.A>."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(nag_text(part) for part in parts)
    raise ValueError(f"cannot spell {value!r} as cdk-nag does")
