"""The IAM permissions each AWS call of the remediator needs: the CDK role is built from this constant."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum


class ResourceKind(StrEnum):
    """What an IAM statement for a permission may be scoped to."""

    # Describe* and List* calls support no resource-level permissions, so they need "*".
    ANY = "*"
    SECURITY_GROUP = "security-group"
    PREFIX_LIST = "prefix-list"
    TOPIC = "topic"
    # The account's default product, arn:<partition>:securityhub:<region>:<account>:product/<account>/default: the
    # product under which an account imports its own findings (BatchImportFindings's resource type "product").
    SECURITY_HUB_PRODUCT = "security-hub-product"
    # The account's hub, arn:<partition>:securityhub:<region>:<account>:hub/default (resource type "hub").
    SECURITY_HUB = "security-hub"
    # The account's default event bus, arn:<partition>:events:<region>:<account>:event-bus/default.
    DEFAULT_EVENT_BUS = "default-event-bus"
    # The stack's own DynamoDB table of re-openings and notices (REMEDIATOR_STATE_TABLE).
    STATE_TABLE = "state-table"


@dataclass(frozen=True)
class Permission:
    """One IAM action, the kind of resource it acts on, and the setting that turns its call on (None: always on)."""

    action: str
    resource: ResourceKind
    # A field of remediator.settings.Variables (so also a CDK context key): the role grants the action only when
    # that setting is on.
    enabled_by: str | None = None


# Keyed by the botocore operation name, so that a test can check every call the code makes is declared.
PERMISSIONS: dict[str, Permission] = {
    "DescribeSecurityGroups": Permission("ec2:DescribeSecurityGroups", ResourceKind.ANY),
    "DescribeSecurityGroupRules": Permission("ec2:DescribeSecurityGroupRules", ResourceKind.ANY),
    "DescribeManagedPrefixLists": Permission("ec2:DescribeManagedPrefixLists", ResourceKind.ANY),
    "DescribeNetworkInterfaces": Permission("ec2:DescribeNetworkInterfaces", ResourceKind.ANY),
    "GetManagedPrefixListEntries": Permission("ec2:GetManagedPrefixListEntries", ResourceKind.PREFIX_LIST),
    "GetManagedPrefixListAssociations": Permission("ec2:GetManagedPrefixListAssociations", ResourceKind.PREFIX_LIST),
    "RevokeSecurityGroupIngress": Permission("ec2:RevokeSecurityGroupIngress", ResourceKind.SECURITY_GROUP),
    "AuthorizeSecurityGroupIngress": Permission("ec2:AuthorizeSecurityGroupIngress", ResourceKind.SECURITY_GROUP),
    "Publish": Permission("sns:Publish", ResourceKind.TOPIC),
    "BatchImportFindings": Permission(
        "securityhub:BatchImportFindings", ResourceKind.SECURITY_HUB_PRODUCT, enabled_by="security_hub"
    ),
    "BatchUpdateFindings": Permission(
        "securityhub:BatchUpdateFindings", ResourceKind.SECURITY_HUB, enabled_by="security_hub"
    ),
    "GetFindings": Permission("securityhub:GetFindings", ResourceKind.SECURITY_HUB, enabled_by="security_hub"),
    "PutEvents": Permission("events:PutEvents", ResourceKind.DEFAULT_EVENT_BUS, enabled_by="outcome_events"),
    "UpdateItem": Permission("dynamodb:UpdateItem", ResourceKind.STATE_TABLE),
}


def enabled_permissions(
    enabled: Collection[str], permissions: Mapping[str, Permission] = PERMISSIONS
) -> dict[str, Permission]:
    """The permissions the settings named in `enabled` need: those always on, and those the settings turn on."""
    return {
        operation: permission
        for operation, permission in permissions.items()
        if permission.enabled_by is None or permission.enabled_by in enabled
    }
