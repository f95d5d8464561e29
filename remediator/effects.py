"""Every AWS call of the remediator, each declaring the IAM permissions it needs."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from remediator.model import GroupState, RuleEntry, Source, SourceKind
from remediator.permissions import PERMISSIONS
from remediator.risk import PrefixListInfo, normalize_protocol
from remediator.state import ITEM_LIFETIME, KEY_ATTRIBUTE, REOPEN_WINDOW, TTL_ATTRIBUTE, epoch

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import (
        IpPermissionOutputTypeDef,
        IpPermissionTypeDef,
        IpRangeTypeDef,
        Ipv6RangeTypeDef,
        NetworkInterfaceTypeDef,
        PrefixListIdTypeDef,
        SecurityGroupRuleTypeDef,
    )
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_securityhub import SecurityHubClient
    from mypy_boto3_sns import SNSClient

P = ParamSpec("P")
R = TypeVar("R")

# Botocore retries throttling and 5xx itself; what still fails is raised for Lambda's own retries.
CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS = 5, 20
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
)
GROUP_GONE = {"InvalidGroup.NotFound", "InvalidGroupId.NotFound", "InvalidGroupId.Malformed"}
RULE_GONE = {"InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound"}
# A rule id the event gave that AWS cannot use: the rule may still be there, to be found by its content.
RULE_ID_UNUSABLE = {"InvalidSecurityGroupRuleId.NotFound", "InvalidSecurityGroupRuleId.Malformed"}
DUPLICATE = "InvalidPermission.Duplicate"
PREFIX_LIST_GONE = {"InvalidPrefixListID.NotFound", "InvalidPrefixListId.NotFound", "InvalidPrefixListID.Malformed"}

DECLARED_OPERATIONS: dict[str, tuple[str, ...]] = {}


def requires(*operations: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Declare the AWS operations a method calls, each of which must have its IAM permission declared."""
    for operation in operations:
        if operation not in PERMISSIONS:
            raise LookupError(f"{operation} has no entry in remediator.permissions.PERMISSIONS")

    def declare(method: Callable[P, R]) -> Callable[P, R]:
        DECLARED_OPERATIONS[method.__qualname__] = operations
        return method

    return declare


def error_code(error: ClientError) -> str:
    """The error code AWS answered with."""
    return str(error.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeResult:
    """Which rule ids a revoke removed, and which were already gone."""

    revoked: tuple[str, ...]
    already_gone: tuple[str, ...]


# The source lists of a permission in a group listing, in the order their entries are given: each with the key
# that holds a source's value.
LISTED_SOURCES = (("IpRanges", "CidrIp"), ("Ipv6Ranges", "CidrIpv6"), ("PrefixListIds", "PrefixListId"))
# The kind of source each such key holds (UserIdGroupPairs' GroupId: another group).
KIND_OF_KEY = {
    "CidrIp": SourceKind.IPV4,
    "CidrIpv6": SourceKind.IPV6,
    "PrefixListId": SourceKind.PREFIX_LIST,
    "GroupId": SourceKind.SECURITY_GROUP,
}


@functools.lru_cache(maxsize=4096)
def listed_source(kind: SourceKind, value: str) -> Source:
    """One Source per kind and value: a region's thousands of rules share a few sources (fewer objects to make)."""
    return Source(kind=kind, value=value)


def entries_of_permission(permission: IpPermissionOutputTypeDef) -> list[RuleEntry]:
    """The entries of one IpPermissions element of a group listing, one per source."""
    protocol, from_port, to_port = permission.get("IpProtocol"), permission.get("FromPort"), permission.get("ToPort")
    # Read as plain mappings: the key of a source's value differs from one list to the next.
    listing = cast("Mapping[str, Any]", permission)
    entries: list[RuleEntry] = []
    for key, field in LISTED_SOURCES:
        for listed in listing.get(key, ()):
            entries.append(
                listed_entry((protocol, from_port, to_port, field, listed[field], listed.get("Description")))
            )
    for pair in permission.get("UserIdGroupPairs", ()):
        group = pair.get("GroupId", "unknown")
        entries.append(listed_entry((protocol, from_port, to_port, "GroupId", group, pair.get("Description"))))
    return entries


# Keyed by strings and numbers alone, which hash without a call into Python (an enum member's hash is a Python call).
@functools.lru_cache(maxsize=16384)
def listed_entry(listed: tuple[str | None, int | None, int | None, str, str, str | None]) -> RuleEntry:
    """One RuleEntry per content of a group listing (no rule id there): a region's rules repeat a few contents."""
    protocol, from_port, to_port, key, value, description = listed
    return RuleEntry(
        protocol=normalize_protocol(protocol),
        from_port=from_port,
        to_port=to_port,
        source=listed_source(KIND_OF_KEY[key], value),
        description=description,
        rule_id=None,
    )


def group_state(group: Mapping[str, Any]) -> GroupState:
    """A group of DescribeSecurityGroups as a GroupState."""
    ingress: list[RuleEntry] = []
    for permission in group.get("IpPermissions", ()):
        ingress += entries_of_permission(permission)
    tags = group.get("Tags")
    return GroupState(
        group_id=group["GroupId"],
        group_name=group.get("GroupName", ""),
        vpc_id=group.get("VpcId"),
        tags={tag["Key"]: tag["Value"] for tag in tags} if tags else {},
        ingress=tuple(ingress),
    )


def rule_entry(rule: SecurityGroupRuleTypeDef) -> RuleEntry:
    """A rule of DescribeSecurityGroupRules as a RuleEntry, with its rule id."""
    referenced = rule.get("ReferencedGroupInfo", {}).get("GroupId")
    if "CidrIpv4" in rule:
        source = Source(kind=SourceKind.IPV4, value=rule["CidrIpv4"])
    elif "CidrIpv6" in rule:
        source = Source(kind=SourceKind.IPV6, value=rule["CidrIpv6"])
    elif "PrefixListId" in rule:
        source = Source(kind=SourceKind.PREFIX_LIST, value=rule["PrefixListId"])
    else:
        source = Source(kind=SourceKind.SECURITY_GROUP, value=referenced or "unknown")
    return RuleEntry(
        protocol=normalize_protocol(rule.get("IpProtocol")),
        from_port=rule.get("FromPort"),
        to_port=rule.get("ToPort"),
        source=source,
        description=rule.get("Description"),
        rule_id=rule.get("SecurityGroupRuleId"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface:
    """A network interface that uses a security group: its id, the instance it is attached to, its description."""

    interface_id: str
    instance_id: str | None
    description: str


def interface_of(interface: NetworkInterfaceTypeDef) -> Interface:
    """A network interface of DescribeNetworkInterfaces as an Interface."""
    return Interface(
        interface_id=interface.get("NetworkInterfaceId", "unknown"),
        instance_id=interface.get("Attachment", {}).get("InstanceId"),
        description=interface.get("Description", ""),
    )


def content_entry(entry: RuleEntry) -> RuleEntry:
    """The entry as a revoke by content matches it: protocol, ports and source (no description, no id)."""
    if entry.description is None and entry.rule_id is None:
        return entry
    return RuleEntry(
        protocol=entry.protocol,
        from_port=entry.from_port,
        to_port=entry.to_port,
        source=entry.source,
        description=None,
        rule_id=None,
    )


def permission_for(entry: RuleEntry, source: Source) -> IpPermissionTypeDef:
    """The IpPermissions element that grants the entry's protocol and ports from another source."""
    permission: IpPermissionTypeDef = {"IpProtocol": entry.protocol}
    if entry.protocol != "-1" and entry.from_port is not None and entry.to_port is not None:
        permission["FromPort"] = entry.from_port
        permission["ToPort"] = entry.to_port
    if source.kind == SourceKind.IPV4:
        ipv4: IpRangeTypeDef = {"CidrIp": source.value}
        permission["IpRanges"] = [ipv4]
    elif source.kind == SourceKind.IPV6:
        ipv6: Ipv6RangeTypeDef = {"CidrIpv6": source.value}
        permission["Ipv6Ranges"] = [ipv6]
    else:
        listed: PrefixListIdTypeDef = {"PrefixListId": source.value}
        permission["PrefixListIds"] = [listed]
    if entry.description:
        # The replacement keeps the description of the rule it replaces.
        for described in (
            *permission.get("IpRanges", []),
            *permission.get("Ipv6Ranges", []),
            *permission.get("PrefixListIds", []),
        ):
            described["Description"] = entry.description
    return permission


class Aws:
    """The remediator's AWS calls, on clients made from the standard credential chain and endpoint settings."""

    def __init__(
        self,
        ec2: EC2Client,
        sns: SNSClient | None = None,
        *,
        securityhub: SecurityHubClient | None = None,
        events: EventBridgeClient | None = None,
        dynamodb: DynamoDBClient | None = None,
        session: botocore.session.Session | None = None,
        sns_region: str | None = None,
    ) -> None:
        """The clients not given are made on first use, in the EC2 client's region (SNS: in `sns_region` if given).

        So a deployment that never uses one pays nothing for it, and the first event's revoke waits for no client
        but EC2's; `session` defaults to the standard credential chain and endpoint settings (AWS_ENDPOINT_URL
        included).
        """
        self.ec2 = ec2
        self._sns = sns
        self._sns_region = sns_region
        self._securityhub = securityhub
        self._events = events
        self._dynamodb = dynamodb
        self._session = session

    def client_beside_ec2(self, service: str) -> Any:
        """A client of `service` in the EC2 client's region, with the same retries and timeouts."""
        session = self._session or botocore.session.get_session()
        return session.create_client(service, region_name=self.ec2.meta.region_name, config=CLIENT_CONFIG)

    @property
    def sns(self) -> SNSClient:
        """The SNS client, made on first use: after the revoke, in the topic's region (SNS publishes only there)."""
        if self._sns is None:
            session = self._session or botocore.session.get_session()
            region = self._sns_region or self.ec2.meta.region_name
            self._sns = cast("SNSClient", session.create_client("sns", region_name=region, config=CLIENT_CONFIG))
        return self._sns

    @property
    def securityhub(self) -> SecurityHubClient:
        """The Security Hub client, made on first use."""
        if self._securityhub is None:
            self._securityhub = cast("SecurityHubClient", self.client_beside_ec2("securityhub"))
        return self._securityhub

    @property
    def events(self) -> EventBridgeClient:
        """The EventBridge client, made on first use."""
        if self._events is None:
            self._events = cast("EventBridgeClient", self.client_beside_ec2("events"))
        return self._events

    @property
    def dynamodb(self) -> DynamoDBClient:
        """The DynamoDB client (of the state table), made on first use: after the revoke, never before."""
        if self._dynamodb is None:
            self._dynamodb = cast("DynamoDBClient", self.client_beside_ec2("dynamodb"))
        return self._dynamodb

    @classmethod
    def from_environment(cls, region: str | None = None, *, topic_arn: str | None = None) -> Aws:
        """Clients from the standard credential chain, endpoint settings and region (or `region`).

        SNS publishes only to a topic of the client's own region: with `topic_arn` (a central topic, say) the
        SNS client is made in the topic's region.
        """
        # botocore alone, not boto3: boto3's import pulls in s3transfer, a cold-start cost for nothing here.
        # The session still follows the standard credential chain, AWS_ENDPOINT_URL and the region settings.
        session = botocore.session.get_session()
        return cls(
            ec2=cast("EC2Client", session.create_client("ec2", region_name=region, config=CLIENT_CONFIG)),
            session=session,
            sns_region=topic_region(topic_arn),
        )

    @requires("DescribeSecurityGroups")
    def describe_group(self, group_id: str | None, group_name: str | None) -> GroupState | None:
        """The group as it is now, or None when it does not exist (any more)."""
        try:
            if group_id:
                found = self.ec2.describe_security_groups(GroupIds=[group_id])
            elif group_name:
                # A name identifies a group only in the default VPC, as in the call that named it.
                found = self.ec2.describe_security_groups(GroupNames=[group_name])
            else:
                return None
        except ClientError as error:
            if error_code(error) in GROUP_GONE:
                return None
            raise
        groups = found.get("SecurityGroups", [])
        return group_state(groups[0]) if groups else None

    @requires("DescribeSecurityGroups")
    def groups_by_id(self, group_ids: Iterable[str]) -> dict[str, GroupState]:
        """The groups that exist among `group_ids`, described in one call (one per group if one of them is gone)."""
        wanted = sorted(set(group_ids))
        if not wanted:
            return {}
        try:
            found = self.ec2.describe_security_groups(GroupIds=wanted).get("SecurityGroups", [])
        except ClientError as error:
            if error_code(error) not in GROUP_GONE or len(wanted) == 1:
                if error_code(error) in GROUP_GONE:
                    return {}
                raise
            # One id of the batch is gone (or malformed) and AWS answers nothing for the others: ask one by one.
            return {group_id: group for one in wanted for group_id, group in self.groups_by_id([one]).items()}
        return {group["GroupId"]: group_state(group) for group in found}

    @requires("DescribeSecurityGroups")
    def iter_groups(self) -> Iterator[GroupState]:
        """Every security group of the region, a page of up to 1000 per call."""
        paginator = self.ec2.get_paginator("describe_security_groups")
        for page in paginator.paginate(PaginationConfig={"PageSize": self.GROUPS_PER_PAGE}):
            for group in page.get("SecurityGroups", []):
                yield group_state(group)

    @requires("DescribeSecurityGroupRules")
    def ingress_rules(self, group_id: str) -> tuple[RuleEntry, ...]:
        """The group's ingress rules with their rule ids."""
        return self.ingress_rules_of([group_id])[group_id]

    @requires("DescribeNetworkInterfaces")
    def interfaces_by_group(self) -> dict[str, tuple[Interface, ...]]:
        """The network interfaces of the region by the groups they use (a group without any is not a key)."""
        found: dict[str, list[Interface]] = {}
        paginator = self.ec2.get_paginator("describe_network_interfaces")
        for page in paginator.paginate(PaginationConfig={"PageSize": 1000}):
            for interface in page.get("NetworkInterfaces", []):
                for group in interface.get("Groups", []):
                    if "GroupId" in group:
                        found.setdefault(group["GroupId"], []).append(interface_of(interface))
        return {group_id: tuple(interfaces) for group_id, interfaces in found.items()}

    @requires("DescribeNetworkInterfaces")
    def interfaces_using(self, group_id: str) -> tuple[Interface, ...]:
        """The network interfaces that use the group: one paged describe filtered by its id."""
        paginator = self.ec2.get_paginator("describe_network_interfaces")
        pages = paginator.paginate(
            Filters=[{"Name": "group-id", "Values": [group_id]}], PaginationConfig={"PageSize": 1000}
        )
        return tuple(interface_of(interface) for page in pages for interface in page.get("NetworkInterfaces", []))

    @requires("DescribeManagedPrefixLists", "GetManagedPrefixListEntries")
    def prefix_lists(self, prefix_list_ids: Iterable[str]) -> dict[str, PrefixListInfo]:
        """Owner and entries of each prefix list that exists; AWS-managed lists are not read further."""
        wanted = sorted(set(prefix_list_ids))
        if not wanted:
            return {}
        try:
            described = self.ec2.describe_managed_prefix_lists(PrefixListIds=wanted).get("PrefixLists", [])
        except ClientError as error:
            if error_code(error) not in PREFIX_LIST_GONE:
                raise
            described = [found for one in wanted for found in self.describe_one_prefix_list(one)]
        infos: dict[str, PrefixListInfo] = {}
        for prefix_list in described:
            list_id = prefix_list["PrefixListId"]
            aws_managed = prefix_list.get("OwnerId") == "AWS"
            cidrs: tuple[str, ...] = ()
            if not aws_managed:
                paginator = self.ec2.get_paginator("get_managed_prefix_list_entries")
                cidrs = tuple(
                    entry["Cidr"]
                    for page in paginator.paginate(PrefixListId=list_id)
                    for entry in page.get("Entries", [])
                    if "Cidr" in entry
                )
            infos[list_id] = PrefixListInfo(prefix_list_id=list_id, aws_managed=aws_managed, cidrs=cidrs)
        return infos

    @requires("DescribeManagedPrefixLists")
    def describe_one_prefix_list(self, prefix_list_id: str) -> list[Any]:
        """The prefix list described alone ([] when it does not exist)."""
        try:
            return list(self.ec2.describe_managed_prefix_lists(PrefixListIds=[prefix_list_id]).get("PrefixLists", []))
        except ClientError as error:
            if error_code(error) in PREFIX_LIST_GONE:
                return []
            raise

    @requires("GetManagedPrefixListAssociations")
    def prefix_list_associations(self, prefix_list_id: str, *, owner: str | None = None) -> tuple[str, ...]:
        """The security groups that reference the prefix list, read page by page; () when the list is gone.

        With `owner` (an account id), the groups of other accounts (a list shared through RAM) are left out.
        """
        paginator = self.ec2.get_paginator("get_managed_prefix_list_associations")
        found: list[str] = []
        try:
            # 255 is the most MaxResults takes (the API's model gives 5 to 255).
            for page in paginator.paginate(PrefixListId=prefix_list_id, PaginationConfig={"PageSize": 255}):
                for association in page.get("PrefixListAssociations", []):
                    resource, resource_owner = association.get("ResourceId", ""), association.get("ResourceOwner")
                    # An association names no resource type: a group's id starts sg-, a route table's rtb-.
                    if resource.startswith("sg-") and (owner is None or resource_owner in (None, owner)):
                        found.append(resource)
        except ClientError as error:
            if error_code(error) in PREFIX_LIST_GONE:
                return ()
            raise
        return tuple(dict.fromkeys(found))

    @requires("RevokeSecurityGroupIngress")
    def revoke(self, group_id: str, rule_ids: tuple[str, ...]) -> RevokeResult:
        """Revoke ingress rules by id; rules (or a group) already gone count as done."""
        if not rule_ids:
            return RevokeResult(revoked=(), already_gone=())
        try:
            self.ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=list(rule_ids))
        except ClientError as error:
            code = error_code(error)
            if code in GROUP_GONE:
                return RevokeResult(revoked=(), already_gone=rule_ids)
            if code not in RULE_GONE | RULE_ID_UNUSABLE:
                raise
            if len(rule_ids) == 1:
                return RevokeResult(revoked=(), already_gone=rule_ids)
            # One id of the batch is gone and the call removed none: revoke the others one by one.
            results = [self.revoke(group_id, (rule_id,)) for rule_id in rule_ids]
            return RevokeResult(
                revoked=tuple(r for result in results for r in result.revoked),
                already_gone=tuple(r for result in results for r in result.already_gone),
            )
        return RevokeResult(revoked=rule_ids, already_gone=())

    @requires("RevokeSecurityGroupIngress")
    def revoke_entries(self, group_id: str, entries: Iterable[RuleEntry]) -> None:
        """Revoke ingress rules by their content (IpPermissions), in one call: for rules whose id did not work."""
        permissions = [permission_for(entry, entry.source) for entry in entries]
        for permission in permissions:
            # A revoke by content matches protocol, ports and source; a description is not part of the match.
            for listed in (
                *permission.get("IpRanges", []),
                *permission.get("Ipv6Ranges", []),
                *permission.get("PrefixListIds", []),
            ):
                listed.pop("Description", None)
        if not permissions:
            return
        try:
            self.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        except ClientError as error:
            if error_code(error) not in GROUP_GONE | RULE_GONE:
                raise

    @requires("RevokeSecurityGroupIngress")
    def revoke_entries_reporting(self, group_id: str, entries: Sequence[RuleEntry]) -> frozenset[int]:
        """Revoke ingress rules by their content in one call; the indexes of `entries` that were not there.

        For rules read from a group listing, which gives no rule ids: no describe of the rules is needed first.
        """
        if not entries:
            return frozenset()
        permissions: list[IpPermissionTypeDef] = []
        for entry in dict.fromkeys(content_entry(entry) for entry in entries):
            permissions.append(permission_for(entry, entry.source))
        try:
            response = self.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        except ClientError as error:
            code = error_code(error)
            if code in GROUP_GONE:
                return frozenset(range(len(entries)))
            if code not in RULE_GONE:
                raise
            if len(permissions) == 1:
                return frozenset(range(len(entries)))
            # One rule of the call is gone and AWS refused the call: revoke the others one at a time.
            return frozenset(
                index for index, entry in enumerate(entries) if self.revoke_entries_reporting(group_id, [entry])
            )
        # A VPC group's revoke answers success and lists the rules it did not find.
        unknown = {
            listed.content_key()
            for permission in response.get("UnknownIpPermissions", [])
            for listed in entries_of_permission(permission)
        }
        return frozenset(index for index, entry in enumerate(entries) if entry.content_key() in unknown)

    @requires("AuthorizeSecurityGroupIngress")
    def authorize(self, group_id: str, entry: RuleEntry, source: Source) -> str | None:
        """Let the entry's protocol and ports in from the source; None when done, else why not."""
        try:
            self.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission_for(entry, source)])
        except ClientError as error:
            code = error_code(error)
            if code == DUPLICATE:
                return None
            return f"{code}: {error.response.get('Error', {}).get('Message', '')}".strip()
        return None

    @requires("Publish")
    def publish(
        self,
        topic_arn: str,
        subject: str,
        body: str,
        attributes: Mapping[str, str],
        *,
        per_protocol: Mapping[str, str] | None = None,
    ) -> str:
        """Send one notification; returns its message id.

        With `per_protocol` ({"https": ...}) the message has one text per protocol (MessageStructure json), `body`
        being the `default` that SNS requires and sends to every other protocol.
        """
        attribute_values: dict[str, Any] = {
            key: {"DataType": "String", "StringValue": value} for key, value in attributes.items() if value
        }
        if not per_protocol:
            response = self.sns.publish(
                TopicArn=topic_arn, Subject=subject, Message=body, MessageAttributes=attribute_values
            )
        else:
            response = self.sns.publish(
                TopicArn=topic_arn,
                Subject=subject,
                Message=structured_message(body, per_protocol),
                MessageStructure="json",
                MessageAttributes=attribute_values,
            )
        return response.get("MessageId", "")

    @requires("BatchImportFindings")
    def import_findings(self, findings: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        """Create or update findings in Security Hub, 100 a call; the ids it refused, each with why."""
        refused: dict[str, str] = {}
        for start in range(0, len(findings), self.FINDINGS_PER_CALL):
            chunk = cast("Any", list(findings[start : start + self.FINDINGS_PER_CALL]))
            response = self.securityhub.batch_import_findings(Findings=chunk)
            for failed in response.get("FailedFindings", []):
                refused[failed.get("Id", "")] = f"{failed.get('ErrorCode', '')}: {failed.get('ErrorMessage', '')}"
        return refused

    @requires("BatchUpdateFindings")
    def resolve_findings(self, finding_ids: Sequence[str], product_arn: str, note: Mapping[str, str]) -> dict[str, str]:
        """Set the workflow of findings to RESOLVED with a note, 100 a call; the ids not processed, each with why."""
        unprocessed: dict[str, str] = {}
        for start in range(0, len(finding_ids), self.FINDINGS_PER_CALL):
            chunk = finding_ids[start : start + self.FINDINGS_PER_CALL]
            response = self.securityhub.batch_update_findings(
                FindingIdentifiers=[{"Id": finding_id, "ProductArn": product_arn} for finding_id in chunk],
                Workflow={"Status": "RESOLVED"},
                Note={"Text": note["Text"], "UpdatedBy": note["UpdatedBy"]},
            )
            for failed in response.get("UnprocessedFindings", []):
                finding_id = failed.get("FindingIdentifier", {}).get("Id", "")
                unprocessed[finding_id] = f"{failed.get('ErrorCode', '')}: {failed.get('ErrorMessage', '')}"
        return unprocessed

    @requires("GetFindings")
    def findings_matching(self, filters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The findings that match the GetFindings filters, by id, read in pages of 100."""
        found: dict[str, dict[str, Any]] = {}
        paginator = self.securityhub.get_paginator("get_findings")
        pages = paginator.paginate(Filters=cast("Any", filters), PaginationConfig={"PageSize": self.FINDINGS_PER_CALL})
        for page in pages:
            for finding in page.get("Findings", []):
                found[finding["Id"]] = cast("dict[str, Any]", finding)
        return found

    @requires("PutEvents")
    def put_event(self, source: str, detail_type: str, detail: str, resources: Sequence[str]) -> str | None:
        """Put one event on the account's default event bus; None when EventBridge took it, else why not."""
        response = self.events.put_events(
            Entries=[{"Source": source, "DetailType": detail_type, "Detail": detail, "Resources": list(resources)}]
        )
        if not response.get("FailedEntryCount"):
            return None
        entry = (response.get("Entries") or [{}])[0]
        return f"{entry.get('ErrorCode', 'unknown error')}: {entry.get('ErrorMessage', '')}".strip()

    @requires("UpdateItem")
    def count_opening(
        self, table: str, key: str, now: datetime, *, principal: str | None, user_agent: str | None
    ) -> int:
        """Record one opening of a rule; returns the openings in its window, this one included (1: the first).

        One conditional UpdateItem while the window lasts; once it has ended, a second call starts a new window.
        """
        names = {"#key": KEY_ATTRIBUTE, "#ttl": TTL_ATTRIBUTE}
        values: dict[str, Any] = {
            ":one": {"N": "1"},
            ":now": {"N": str(epoch(now))},
            ":ttl": {"N": str(epoch(now + ITEM_LIFETIME))},
            ":by": {"S": principal or "unknown"},
            ":agent": {"S": user_agent or "unknown"},
        }
        common = "last_by = :by, last_agent = :agent, #ttl = :ttl"
        try:
            response = self.dynamodb.update_item(
                TableName=table,
                Key={KEY_ATTRIBUTE: {"S": key}},
                UpdateExpression=f"ADD openings :one SET window_start = if_not_exists(window_start, :now), {common}",
                ConditionExpression="attribute_not_exists(#key) OR window_start > :cutoff",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**values, ":cutoff": {"N": str(epoch(now - REOPEN_WINDOW))}},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            # The window has ended: this opening is the first of a new one.
            response = self.dynamodb.update_item(
                TableName=table,
                Key={KEY_ATTRIBUTE: {"S": key}},
                UpdateExpression=f"SET openings = :one, window_start = :now, {common}",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )
        return int(response.get("Attributes", {}).get("openings", {}).get("N", "1"))

    @requires("UpdateItem")
    def first_notice(self, table: str, key: str, now: datetime) -> bool:
        """Record a notice under `key`; True if it is the first (none recorded yet), False if one was."""
        try:
            self.dynamodb.update_item(
                TableName=table,
                Key={KEY_ATTRIBUTE: {"S": key}},
                UpdateExpression="SET #ttl = :ttl",
                ConditionExpression="attribute_not_exists(#key)",
                ExpressionAttributeNames={"#key": KEY_ATTRIBUTE, "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":ttl": {"N": str(epoch(now + ITEM_LIFETIME))}},
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # Security Hub takes at most 100 findings in one BatchImportFindings or BatchUpdateFindings, and returns at most
    # 100 in one page of GetFindings.
    FINDINGS_PER_CALL = 100

    # The most DescribeSecurityGroups returns in one page.
    GROUPS_PER_PAGE = 1000

    # EC2 takes at most 200 filter values in one call: beyond, it answers FilterLimitExceeded ("The maximum number
    # of filter values specified on a single call is 200"). The API reference gives no figure; the error does.
    GROUP_IDS_PER_RULES_CALL = 200

    @requires("DescribeSecurityGroupRules")
    def ingress_rules_of(self, group_ids: Iterable[str]) -> dict[str, tuple[RuleEntry, ...]]:
        """Each group's ingress rules with their rule ids: one paged describe per 200 groups, not one per group.

        Every group asked for is a key; a group without ingress rules, or gone, has none.
        """
        wanted = list(dict.fromkeys(group_ids))
        found: dict[str, list[RuleEntry]] = {group_id: [] for group_id in wanted}
        paginator = self.ec2.get_paginator("describe_security_group_rules")
        for start in range(0, len(wanted), self.GROUP_IDS_PER_RULES_CALL):
            chunk = wanted[start : start + self.GROUP_IDS_PER_RULES_CALL]
            for page in paginator.paginate(Filters=[{"Name": "group-id", "Values": chunk}]):
                for rule in page.get("SecurityGroupRules", []):
                    group_id = rule.get("GroupId")
                    if not rule.get("IsEgress") and group_id in found:
                        found[group_id].append(rule_entry(rule))
        return {group_id: tuple(rules) for group_id, rules in found.items()}


def structured_message(body: str, per_protocol: Mapping[str, str]) -> str:
    """The Message of a publish with MessageStructure json: `default` (required by SNS) and one text per protocol."""
    return json.dumps({"default": body, **per_protocol}, ensure_ascii=False)


@functools.cache
def default_aws(topic_arn: str | None = None) -> Aws:
    """One set of clients per process (and topic), reused by warm invocations."""
    return Aws.from_environment(topic_arn=topic_arn)


def topic_region(topic_arn: str | None) -> str | None:
    """The region of an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), or None."""
    parts = topic_arn.split(":") if topic_arn else []
    return parts[3] if len(parts) >= 6 and parts[2] == "sns" and parts[3] else None
