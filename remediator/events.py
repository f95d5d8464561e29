"""The CloudTrail event at the boundary: wire models with CloudTrail's aliases, read into typed values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from remediator.model import RuleEntry, Source, SourceKind
from remediator.risk import normalize_protocol

AUTHORIZE_INGRESS = "AuthorizeSecurityGroupIngress"
MODIFY_RULES = "ModifySecurityGroupRules"
HANDLED_EVENTS = (AUTHORIZE_INGRESS, MODIFY_RULES)
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
SCHEDULED_DETAIL_TYPE = "Scheduled Event"

T = TypeVar("T")
# json.loads reads the escape \ud800 as a lone surrogate, which no UTF-8 encoder (botocore, the log) accepts.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def unwrap_items(value: object) -> object:
    """CloudTrail wraps lists as {"items": [...]}; an empty object or null means none; one object, one."""
    if value is None:
        return ()
    if isinstance(value, dict):
        if "items" in value:
            return value["items"] if value["items"] is not None else ()
        # An empty {} is CloudTrail's empty list; a non-empty object is a single element given bare.
        return (value,) if value else ()
    return value


Items = Annotated[tuple[T, ...], BeforeValidator(unwrap_items)]


class Wire(BaseModel):
    """Base of the CloudTrail wire models: immutable, unknown keys ignored, numbers read as text."""

    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True, populate_by_name=True)

    @field_validator("*", mode="after")
    @classmethod
    def sendable_text(cls, value: object) -> object:
        """Text as it can be sent on to AWS and the log: each lone surrogate replaced by U+FFFD."""
        return LONE_SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


class WireIpRange(Wire):
    cidr_ip: str = Field(alias="cidrIp")
    description: str | None = None


class WireIpv6Range(Wire):
    cidr_ipv6: str = Field(alias="cidrIpv6")
    description: str | None = None


class WirePrefixListId(Wire):
    prefix_list_id: str = Field(alias="prefixListId")
    description: str | None = None


class WireGroupPair(Wire):
    group_id: str | None = Field(default=None, alias="groupId")
    group_name: str | None = Field(default=None, alias="groupName")
    description: str | None = None


class WirePermission(Wire):
    ip_protocol: str = Field(alias="ipProtocol")
    from_port: int | None = Field(default=None, alias="fromPort")
    to_port: int | None = Field(default=None, alias="toPort")
    ip_ranges: Items[WireIpRange] = Field(default=(), alias="ipRanges")
    ipv6_ranges: Items[WireIpv6Range] = Field(default=(), alias="ipv6Ranges")
    prefix_list_ids: Items[WirePrefixListId] = Field(default=(), alias="prefixListIds")
    groups: Items[WireGroupPair] = Field(default=(), alias="groups")


class WireModifiedRule(Wire):
    rule_id: str = Field(validation_alias=AliasChoices("SecurityGroupRuleId", "securityGroupRuleId"))


class WireModifyRequest(Wire):
    group_id: str | None = Field(default=None, validation_alias=AliasChoices("GroupId", "groupId"))
    rules: Items[WireModifiedRule] = Field(
        default=(), validation_alias=AliasChoices("SecurityGroupRule", "securityGroupRule")
    )


class WireRequest(Wire):
    group_id: str | None = Field(default=None, alias="groupId")
    group_name: str | None = Field(default=None, alias="groupName")
    ip_permissions: Items[WirePermission] = Field(default=(), alias="ipPermissions")
    # The legacy flat form: one IPv4 source given beside the group, with no ipPermissions.
    cidr_ip: str | None = Field(default=None, alias="cidrIp")
    ip_protocol: str | None = Field(default=None, alias="ipProtocol")
    from_port: int | None = Field(default=None, alias="fromPort")
    to_port: int | None = Field(default=None, alias="toPort")
    modify: WireModifyRequest | None = Field(
        default=None,
        validation_alias=AliasChoices("ModifySecurityGroupRulesRequest", "modifySecurityGroupRulesRequest"),
    )


class WireReferencedGroup(Wire):
    group_id: str | None = Field(default=None, alias="groupId")


class WireRuleSetItem(Wire):
    rule_id: str = Field(alias="securityGroupRuleId")
    group_id: str | None = Field(default=None, alias="groupId")
    is_egress: bool = Field(default=False, alias="isEgress")
    ip_protocol: str = Field(alias="ipProtocol")
    from_port: int | None = Field(default=None, alias="fromPort")
    to_port: int | None = Field(default=None, alias="toPort")
    cidr_ipv4: str | None = Field(default=None, alias="cidrIpv4")
    cidr_ipv6: str | None = Field(default=None, alias="cidrIpv6")
    prefix_list_id: str | None = Field(default=None, alias="prefixListId")
    referenced_group: WireReferencedGroup | None = Field(default=None, alias="referencedGroupInfo")
    description: str | None = None


class WireResponse(Wire):
    rule_set: Items[WireRuleSetItem] = Field(default=(), alias="securityGroupRuleSet")


class WireIdentity(Wire):
    # Some log pipelines lower-case the keys of userIdentity.
    arn: str | None = None
    principal_type: str | None = Field(default=None, validation_alias=AliasChoices("type", "Type"))
    account_id: str | None = Field(default=None, validation_alias=AliasChoices("accountId", "accountid"))


class WireRecord(Wire):
    event_id: str | None = Field(default=None, alias="eventID")
    event_name: str = Field(alias="eventName")
    event_time: str | None = Field(default=None, alias="eventTime")
    region: str | None = Field(default=None, alias="awsRegion")
    source_ip: str | None = Field(default=None, alias="sourceIPAddress")
    user_agent: str | None = Field(default=None, alias="userAgent")
    error_code: str | None = Field(default=None, alias="errorCode")
    account: str | None = Field(default=None, alias="recipientAccountId")
    identity: WireIdentity | None = Field(default=None, alias="userIdentity")
    request: WireRequest | None = Field(default=None, alias="requestParameters")
    response: WireResponse | None = Field(default=None, alias="responseElements")


class WireEnvelope(Wire):
    event_id: str | None = Field(default=None, alias="id")
    detail_type: str | None = Field(default=None, alias="detail-type")
    source: str | None = None
    account: str | None = None
    region: str | None = None
    time: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who made the call, as CloudTrail tells it (no credentials: the access key id is left out)."""

    principal_arn: str | None
    source_ip: str | None
    user_agent: str | None
    event_time: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityGroupCall:
    """A security-group API call read from CloudTrail: the group and the ingress entries it added."""

    event_id: str
    event_name: str
    error_code: str | None
    account: str | None
    region: str | None
    actor: Actor
    group_id: str | None
    group_name: str | None
    entries: tuple[RuleEntry, ...]
    modified_rule_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Unreadable:
    """An event that is not a security-group call this remediator can read, and why."""

    reason: str


def source_of(cidr_v4: str | None, cidr_v6: str | None, prefix_list: str | None, group: str | None) -> Source:
    if cidr_v4 is not None:
        return Source(kind=SourceKind.IPV4, value=cidr_v4)
    if cidr_v6 is not None:
        return Source(kind=SourceKind.IPV6, value=cidr_v6)
    if prefix_list is not None:
        return Source(kind=SourceKind.PREFIX_LIST, value=prefix_list)
    return Source(kind=SourceKind.SECURITY_GROUP, value=group or "unknown")


def entries_from_rule_set(response: WireResponse) -> tuple[RuleEntry, ...]:
    return tuple(
        RuleEntry(
            protocol=normalize_protocol(item.ip_protocol),
            from_port=item.from_port,
            to_port=item.to_port,
            source=source_of(
                item.cidr_ipv4,
                item.cidr_ipv6,
                item.prefix_list_id,
                item.referenced_group.group_id if item.referenced_group else None,
            ),
            description=item.description,
            rule_id=item.rule_id,
        )
        for item in response.rule_set
        if not item.is_egress
    )


def entries_from_request(request: WireRequest) -> tuple[RuleEntry, ...]:
    entries: list[RuleEntry] = []
    for permission in request.ip_permissions:
        sources: list[tuple[Source, str | None]] = [
            *((Source(kind=SourceKind.IPV4, value=r.cidr_ip), r.description) for r in permission.ip_ranges),
            *((Source(kind=SourceKind.IPV6, value=r.cidr_ipv6), r.description) for r in permission.ipv6_ranges),
            *(
                (Source(kind=SourceKind.PREFIX_LIST, value=p.prefix_list_id), p.description)
                for p in permission.prefix_list_ids
            ),
            *(
                (Source(kind=SourceKind.SECURITY_GROUP, value=g.group_id or g.group_name or "unknown"), g.description)
                for g in permission.groups
            ),
        ]
        protocol = normalize_protocol(permission.ip_protocol)
        entries.extend(
            RuleEntry(
                protocol=protocol,
                from_port=permission.from_port,
                to_port=permission.to_port,
                source=source,
                description=description,
                rule_id=None,
            )
            for source, description in sources
        )
    if request.cidr_ip is not None and request.ip_protocol is not None:
        entries.append(
            RuleEntry(
                protocol=normalize_protocol(request.ip_protocol),
                from_port=request.from_port,
                to_port=request.to_port,
                source=Source(kind=SourceKind.IPV4, value=request.cidr_ip),
                description=None,
                rule_id=None,
            )
        )
    return tuple(entries)


def first_error(error: ValidationError) -> str:
    detail = error.errors()[0]
    where = ".".join(str(part) for part in detail["loc"]) or "event"
    return f"{where}: {detail['msg']}"


def cloudtrail_record(event: object) -> tuple[dict[str, Any], WireEnvelope | None] | Unreadable:
    """The bare CloudTrail record of an EventBridge envelope, or the event itself if it is one."""
    if not isinstance(event, dict):
        return Unreadable(reason=f"the event is a JSON {type(event).__name__}, not an object")
    if isinstance(event.get("detail"), dict):
        try:
            envelope = WireEnvelope.model_validate(event)
        except ValidationError as error:
            return Unreadable(reason=f"malformed EventBridge envelope: {first_error(error)}")
        return event["detail"], envelope
    if "eventName" in event:
        return event, None
    return Unreadable(reason="neither an EventBridge envelope nor a CloudTrail record (no detail, no eventName)")


def read_call(event: object) -> SecurityGroupCall | Unreadable:
    """Read a security-group call from an EventBridge envelope or a bare CloudTrail record."""
    found = cloudtrail_record(event)
    if isinstance(found, Unreadable):
        return found
    record_data, envelope = found
    try:
        record = WireRecord.model_validate(record_data)
    except ValidationError as error:
        return Unreadable(reason=f"malformed CloudTrail record: {first_error(error)}")
    request = record.request or WireRequest()
    response = record.response or WireResponse()
    # The request is read too, so that a rule set that lacks an entry (truncated, or partial) misses nothing.
    # One entry per rule, the rule set's (with its id) first: a rule listed twice is reported and revoked once.
    # Keyed by content, not scanned per entry, so that a call of a thousand entries is read in linear time.
    unique: dict[tuple[object, ...], RuleEntry] = {}
    for entry in (*entries_from_rule_set(response), *entries_from_request(request)):
        unique.setdefault(entry.content_key(), entry)
    entries = tuple(unique.values())
    modify = request.modify
    identity = record.identity
    return SecurityGroupCall(
        event_id=record.event_id or (envelope.event_id if envelope else None) or "unknown",
        event_name=record.event_name,
        error_code=record.error_code,
        account=record.account
        or (envelope.account if envelope else None)
        or (identity.account_id if identity else None),
        region=record.region or (envelope.region if envelope else None),
        actor=Actor(
            principal_arn=identity.arn if identity else None,
            source_ip=record.source_ip,
            user_agent=record.user_agent,
            event_time=record.event_time or (envelope.time if envelope else None),
        ),
        group_id=request.group_id or (modify.group_id if modify else None),
        group_name=request.group_name,
        entries=entries,
        modified_rule_ids=tuple(rule.rule_id for rule in modify.rules) if modify else (),
    )


def is_scheduled(event: object) -> bool:
    """Whether the event is the stack's scheduled sweep trigger rather than a CloudTrail call."""
    return (
        isinstance(event, dict)
        and event.get("detail-type") == SCHEDULED_DETAIL_TYPE
        and event.get("source") == "aws.events"
    )
