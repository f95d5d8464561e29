"""The IAM permissions each AWS call of the remediator needs: the CDK role is built from this constant."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ResourceKind(StrEnum):
    """What an IAM statement for a permission may be scoped to."""

    # Describe* and List* calls support no resource-level permissions, so they need "*".
    ANY = "*"
    SECURITY_GROUP = "security-group"
    PREFIX_LIST = "prefix-list"
    TOPIC = "topic"


@dataclass(frozen=True)
class Permission:
    """One IAM action and the kind of resource it acts on."""

    action: str
    resource: ResourceKind


# Keyed by the botocore operation name, so that a test can check every call the code makes is declared.
PERMISSIONS: dict[str, Permission] = {
    "DescribeSecurityGroups": Permission("ec2:DescribeSecurityGroups", ResourceKind.ANY),
    "DescribeSecurityGroupRules": Permission("ec2:DescribeSecurityGroupRules", ResourceKind.ANY),
    "DescribeManagedPrefixLists": Permission("ec2:DescribeManagedPrefixLists", ResourceKind.ANY),
    "DescribeNetworkInterfaces": Permission("ec2:DescribeNetworkInterfaces", ResourceKind.ANY),
    "GetManagedPrefixListEntries": Permission("ec2:GetManagedPrefixListEntries", ResourceKind.PREFIX_LIST),
    "RevokeSecurityGroupIngress": Permission("ec2:RevokeSecurityGroupIngress", ResourceKind.SECURITY_GROUP),
    "AuthorizeSecurityGroupIngress": Permission("ec2:AuthorizeSecurityGroupIngress", ResourceKind.SECURITY_GROUP),
    "Publish": Permission("sns:Publish", ResourceKind.TOPIC),
}
