"""The CloudTrail event at the boundary, read field by field: an unreadable part is skipped and named, never fatal."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import MISSING, dataclass, field
from typing import Any, TypeVar

from pydantic_core import SchemaValidator, ValidationError, core_schema

from remediator.event_names import MODIFY_RULES, SCHEDULED_DETAIL_TYPE
from remediator.model import RuleEntry, Source, SourceKind
from remediator.risk import normalize_protocol

W = TypeVar("W")
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


def sendable_text(value: str) -> str:
    """Text as it can be sent on to AWS and the log: each lone surrogate replaced by U+FFFD."""
    return LONE_SURROGATE.sub("\ufffd", value)


# How each field of a wire item is read: pydantic's validators (pydantic-core, the engine of pydantic v2) in lax
# mode, numbers read as text. Its schemas are used directly, not through BaseModel: importing pydantic's model
# layer and building a model took more of the cold start than every module of the remediator together.
TEXT = core_schema.no_info_after_validator_function(sendable_text, core_schema.str_schema(coerce_numbers_to_str=True))
OPTIONAL_TEXT = core_schema.nullable_schema(TEXT)
OPTIONAL_PORT = core_schema.nullable_schema(core_schema.int_schema())
FLAG = core_schema.bool_schema()
OPTIONAL_OBJECT = core_schema.nullable_schema(
    core_schema.dict_schema(core_schema.str_schema(), core_schema.any_schema())
)


def wire(*keys: str, schema: core_schema.CoreSchema, default: object = MISSING) -> Any:
    """A field of a wire item: the keys CloudTrail gives it under (the first found is read) and how it is read."""
    return field(default=default, metadata={"keys": keys, "schema": schema})


# The validator of each wire item read so far.
VALIDATORS: dict[type[Any], SchemaValidator] = {}


def validator_of(cls: type[Any]) -> SchemaValidator:
    """The validator of a wire item, built on its first use: an event builds only those it reads."""
    if cls in VALIDATORS:
        return VALIDATORS[cls]
    fields = {
        item.name: core_schema.typed_dict_field(
            item.metadata["schema"],
            required=item.default is MISSING,
            validation_alias=[[key] for key in item.metadata["keys"]],
        )
        for item in dataclasses.fields(cls)
    }
    # Unknown keys are ignored: CloudTrail adds fields, and an item is read for the ones the remediator uses.
    validator = SchemaValidator(core_schema.typed_dict_schema(fields, extra_behavior="ignore", cls_name=cls.__name__))
    VALIDATORS[cls] = validator
    return validator


@dataclass(frozen=True, slots=True, kw_only=True)
class WireSource:
    """One source of a permission of the request: a CIDR, a prefix list or a group, by the key its list uses.

    One item for the four lists (ipRanges, ipv6Ranges, prefixListIds, groups).
    """

    cidr_ip: str | None = wire("cidrIp", schema=OPTIONAL_TEXT, default=None)
    cidr_ipv6: str | None = wire("cidrIpv6", schema=OPTIONAL_TEXT, default=None)
    prefix_list_id: str | None = wire("prefixListId", schema=OPTIONAL_TEXT, default=None)
    group_id: str | None = wire("groupId", schema=OPTIONAL_TEXT, default=None)
    group_name: str | None = wire("groupName", schema=OPTIONAL_TEXT, default=None)
    description: str | None = wire("description", schema=OPTIONAL_TEXT, default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class WirePorts:
    """The protocol and ports of one permission of the request."""

    ip_protocol: str = wire("ipProtocol", schema=TEXT)
    from_port: int | None = wire("fromPort", schema=OPTIONAL_PORT, default=None)
    to_port: int | None = wire("toPort", schema=OPTIONAL_PORT, default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class WireModifiedRule:
    """One rule of a ModifySecurityGroupRules request: its id is what the call changed."""

    rule_id: str = wire("SecurityGroupRuleId", "securityGroupRuleId", schema=TEXT)


@dataclass(frozen=True, slots=True, kw_only=True)
class WireRuleSetItem:
    """One rule of `responseElements.securityGroupRuleSet`: AWS's own account of what the call added."""

    rule_id: str = wire("securityGroupRuleId", schema=TEXT)
    group_id: str | None = wire("groupId", schema=OPTIONAL_TEXT, default=None)
    is_egress: bool = wire("isEgress", schema=FLAG, default=False)
    ip_protocol: str = wire("ipProtocol", schema=TEXT)
    from_port: int | None = wire("fromPort", schema=OPTIONAL_PORT, default=None)
    to_port: int | None = wire("toPort", schema=OPTIONAL_PORT, default=None)
    cidr_ipv4: str | None = wire("cidrIpv4", schema=OPTIONAL_TEXT, default=None)
    cidr_ipv6: str | None = wire("cidrIpv6", schema=OPTIONAL_TEXT, default=None)
    prefix_list_id: str | None = wire("prefixListId", schema=OPTIONAL_TEXT, default=None)
    # Only its groupId is read, so a plain object.
    referenced_group: dict[str, Any] | None = wire("referencedGroupInfo", schema=OPTIONAL_OBJECT, default=None)
    description: str | None = wire("description", schema=OPTIONAL_TEXT, default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who made the call, as CloudTrail tells it (no credentials: the access key id is left out)."""

    principal_arn: str | None
    source_ip: str | None
    user_agent: str | None
    event_time: str | None
    # The AWS service that made the call on the principal's behalf (CloudFormation, say), if one did.
    invoked_by: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityGroupCall:
    """A security-group API call read from CloudTrail: the group and the ingress entries it added.

    `skipped` names each part that could not be read (and was left out); `group_note` says where the
    record named two groups. `complete` is whether every entry the call added was read.
    """

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
    skipped: tuple[str, ...] = ()
    group_note: str | None = None
    # A region or account that is not one (redacted, say): taken as unknown, so the remediator's own is used.
    place_notes: tuple[str, ...] = ()
    # The region as the record gives it, a region name or not (`region` is None when it is not one).
    stated_region: str | None = None

    @property
    def complete(self) -> bool:
        """Whether the record gave every entry the call added: nothing skipped, and something to act on."""
        found = self.modified_rule_ids if self.event_name == MODIFY_RULES else self.entries
        return not self.skipped and bool(found)


@dataclass(frozen=True, slots=True, kw_only=True)
class Unreadable:
    """An event that is not a security-group call this remediator can read, and why."""

    reason: str


def first_error(error: ValidationError) -> str:
    """The first of pydantic's errors on one line: where, and what is wrong."""
    detail = error.errors()[0]
    where = ".".join(str(part) for part in detail["loc"]) or "value"
    return f"{where}: {detail['msg']}"


class Reader:
    """Reads parts of one record, each on its own; what cannot be read is noted with where it was."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def skip(self, where: str, why: str) -> None:
        """Note a part left out."""
        self.skipped.append(f"{where}: {why}; skipped")

    def item(self, cls: type[W], data: object, where: str) -> W | None:
        """One wire item read from `data`, or None (noted) when it cannot be."""
        try:
            return cls(**validator_of(cls).validate_python(data))
        except ValidationError as error:
            self.skip(where, first_error(error))
            return None

    def items(self, data: object, where: str) -> list[tuple[str, object]]:
        """The elements of a CloudTrail list ({"items": [...]}, a list, one object, none), each with its place."""
        value = unwrap_items(data)
        if isinstance(value, list | tuple):
            return [(f"{where}[{index}]", item) for index, item in enumerate(value)]
        self.skip(where, f"a JSON {type(value).__name__} where a list was expected")
        return []


def text(value: object) -> str | None:
    """A field that is not needed to decide: its text, or None (shown as unknown) when it is not text."""
    if isinstance(value, str):
        return sendable_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def source_of(cidr_v4: str | None, cidr_v6: str | None, prefix_list: str | None, group: str | None) -> Source:
    """The source of a rule-set item: the one of its source fields that is set."""
    if cidr_v4 is not None:
        return Source(kind=SourceKind.IPV4, value=cidr_v4)
    if cidr_v6 is not None:
        return Source(kind=SourceKind.IPV6, value=cidr_v6)
    if prefix_list is not None:
        return Source(kind=SourceKind.PREFIX_LIST, value=prefix_list)
    return Source(kind=SourceKind.SECURITY_GROUP, value=group or "unknown")


def rule_set_of(response: object, reader: Reader) -> list[WireRuleSetItem]:
    """The readable ingress and egress items of the rule set, each read on its own."""
    if not isinstance(response, dict):
        if response is not None:
            reader.skip("responseElements", f"a JSON {type(response).__name__}, not an object")
        return []
    if "securityGroupRuleSet" not in response:
        return []
    where = "responseElements.securityGroupRuleSet"
    found = (
        reader.item(WireRuleSetItem, item, place)
        for place, item in reader.items(response["securityGroupRuleSet"], where)
    )
    return [item for item in found if item is not None]


def entries_from_rule_set(items: list[WireRuleSetItem]) -> list[RuleEntry]:
    """The ingress entries of the rule set, with their rule ids."""
    return [
        RuleEntry(
            protocol=normalize_protocol(item.ip_protocol),
            from_port=item.from_port,
            to_port=item.to_port,
            source=source_of(
                item.cidr_ipv4,
                item.cidr_ipv6,
                item.prefix_list_id,
                text(item.referenced_group.get("groupId")) if item.referenced_group else None,
            ),
            description=item.description,
            rule_id=item.rule_id,
        )
        for item in items
        if not item.is_egress
    ]


# Each list of a permission, the kind of its sources, and the key that must give each source's value.
SOURCE_LISTS: tuple[tuple[str, SourceKind, str], ...] = (
    ("ipRanges", SourceKind.IPV4, "cidrIp"),
    ("ipv6Ranges", SourceKind.IPV6, "cidrIpv6"),
    ("prefixListIds", SourceKind.PREFIX_LIST, "prefixListId"),
    ("groups", SourceKind.SECURITY_GROUP, "groupId or groupName"),
)


def source_value(item: WireSource, kind: SourceKind) -> str | None:
    """The source a request's source item names in its list, or None when that key is missing."""
    if kind == SourceKind.IPV4:
        return item.cidr_ip
    if kind == SourceKind.IPV6:
        return item.cidr_ipv6
    if kind == SourceKind.PREFIX_LIST:
        return item.prefix_list_id
    return item.group_id or item.group_name


def entries_of_permission(permission: object, where: str, reader: Reader) -> list[RuleEntry]:
    """The entries of one permission of the request: its ports, then each of its sources on its own."""
    if not isinstance(permission, dict):
        reader.skip(where, f"a JSON {type(permission).__name__}, not a permission")
        return []
    ports = reader.item(WirePorts, permission, where)
    if ports is None:
        return []
    entries: list[RuleEntry] = []
    for key, kind, wanted in SOURCE_LISTS:
        if key not in permission:
            continue
        for place, item in reader.items(permission[key], f"{where}.{key}"):
            source = reader.item(WireSource, item, place)
            if source is None:
                continue
            value = source_value(source, kind)
            if value is None:
                reader.skip(place, f"no {wanted}")
                continue
            entries.append(
                RuleEntry(
                    protocol=normalize_protocol(ports.ip_protocol),
                    from_port=ports.from_port,
                    to_port=ports.to_port,
                    source=Source(kind=kind, value=value),
                    description=source.description,
                    rule_id=None,
                )
            )
    return entries


def entries_from_request(request: dict[str, Any], reader: Reader) -> list[RuleEntry]:
    """The ingress entries of the request: each permission read on its own, and the legacy flat form."""
    entries: list[RuleEntry] = []
    if request and "ipPermissions" not in request and request.get("cidrIp") is None and "groupId" not in request:
        reader.skip("requestParameters", "neither ipPermissions nor a group, so not the request of this call")
    if "ipPermissions" in request:
        for place, permission in reader.items(request["ipPermissions"], "requestParameters.ipPermissions"):
            entries += entries_of_permission(permission, place, reader)
    # The legacy flat form: one IPv4 source given beside the group, with no ipPermissions.
    if request.get("cidrIp") is not None and request.get("ipProtocol") is not None:
        flat = {"ipRanges": {"items": [{"cidrIp": request["cidrIp"]}]}}
        flat |= {key: request[key] for key in ("ipProtocol", "fromPort", "toPort") if key in request}
        entries += entries_of_permission(flat, "requestParameters (flat form)", reader)
    return entries


def modified_rule_ids(request: dict[str, Any], reader: Reader) -> tuple[str | None, tuple[str, ...]]:
    """The group and the rule ids of a ModifySecurityGroupRules request, each rule read on its own."""
    modify = request.get("ModifySecurityGroupRulesRequest", request.get("modifySecurityGroupRulesRequest"))
    if modify is None:
        return None, ()
    where = "requestParameters.ModifySecurityGroupRulesRequest"
    if not isinstance(modify, dict):
        reader.skip(where, f"a JSON {type(modify).__name__}, not an object")
        return None, ()
    group_id = text(modify.get("GroupId", modify.get("groupId")))
    rules = modify.get("SecurityGroupRule", modify.get("securityGroupRule"))
    found = (
        reader.item(WireModifiedRule, item, place) for place, item in reader.items(rules, f"{where}.SecurityGroupRule")
    )
    return group_id, tuple(rule.rule_id for rule in found if rule is not None)


def group_of(
    request: dict[str, Any], modify_group: str | None, rule_set: list[WireRuleSetItem]
) -> tuple[str | None, str | None, str | None]:
    """The group the call changed, wherever the record gives it: (id, name, a note where two places disagree).

    The rule set is AWS's answer, so it wins over the request where they name different groups.
    """
    requested = text(request.get("groupId")) or modify_group
    name = text(request.get("groupName"))
    answered = next((item.group_id for item in rule_set if item.group_id), None)
    if answered and requested and answered != requested:
        note = (
            f"the request names group {requested} but AWS's answer (the rule set) names {answered}: "
            f"{answered} was checked"
        )
        return answered, None, note
    return answered or requested, name, None


# What AWS region names and account ids look like: anything else (a redacted "...") names no place at all.
REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
ACCOUNT_ID = re.compile(r"\d{12}")


def place_of(value: str | None, pattern: re.Pattern[str], what: str, notes: list[str]) -> str | None:
    """The region or account the record gives, or None (with a note) when it is not one."""
    if value is None or pattern.fullmatch(value):
        return value
    notes.append(f"the event's {what} {value!r} is not one, so it was taken as this remediator's own")
    return None


def cloudtrail_record(event: object) -> tuple[dict[str, Any], dict[str, Any]] | Unreadable:
    """The bare CloudTrail record of an EventBridge envelope and the envelope ({} for a bare record)."""
    if not isinstance(event, dict):
        return Unreadable(reason=f"the event is a JSON {type(event).__name__}, not an object")
    if isinstance(event.get("detail"), dict):
        return event["detail"], event
    if "eventName" in event:
        return event, {}
    return Unreadable(reason="neither an EventBridge envelope nor a CloudTrail record (no detail, no eventName)")


def read_call(event: object) -> SecurityGroupCall | Unreadable:
    """Read a security-group call from an EventBridge envelope or a bare CloudTrail record, part by part."""
    found = cloudtrail_record(event)
    if isinstance(found, Unreadable):
        return found
    record, envelope = found
    event_name = text(record.get("eventName"))
    if not event_name:
        return Unreadable(reason="the CloudTrail record has no readable eventName, so it names no call")
    reader = Reader()
    request = record.get("requestParameters")
    if not isinstance(request, dict):
        if request is not None:
            reader.skip("requestParameters", f"a JSON {type(request).__name__}, not an object")
        request = {}
    rule_set = rule_set_of(record.get("responseElements"), reader)
    modify_group, rule_ids = modified_rule_ids(request, reader)
    # The request is read too, so that a rule set that lacks an entry (truncated, or partial) misses nothing.
    # One entry per rule, the rule set's (with its id) first: a rule listed twice is reported and revoked once.
    # Keyed by content, not scanned per entry, so that a call of a thousand entries is read in linear time.
    unique: dict[tuple[object, ...], RuleEntry] = {}
    for entry in (*entries_from_rule_set(rule_set), *entries_from_request(request, reader)):
        unique.setdefault(entry.content_key(), entry)
    group_id, group_name, group_note = group_of(request, modify_group, rule_set)
    identity = record.get("userIdentity")
    identity = identity if isinstance(identity, dict) else {}
    error_code = record.get("errorCode")
    place_notes: list[str] = []
    stated_region = text(record.get("awsRegion")) or text(envelope.get("region"))
    return SecurityGroupCall(
        event_id=text(record.get("eventID")) or text(envelope.get("id")) or "unknown",
        event_name=event_name,
        # Any errorCode at all means the call failed (a value of an odd type included): it changed nothing.
        error_code=None if error_code in (None, "") else (text(error_code) or "an unreadable error code"),
        # The resource owner: recipientAccountId, not the caller's account, which may be another one.
        account=place_of(
            text(record.get("recipientAccountId")) or text(envelope.get("account")), ACCOUNT_ID, "account", place_notes
        ),
        region=place_of(
            text(record.get("awsRegion")) or text(envelope.get("region")), REGION_NAME, "region", place_notes
        ),
        actor=Actor(
            principal_arn=text(identity.get("arn")),
            source_ip=text(record.get("sourceIPAddress")),
            user_agent=text(record.get("userAgent")),
            event_time=text(record.get("eventTime")) or text(envelope.get("time")),
            invoked_by=text(identity.get("invokedBy")),
        ),
        group_id=group_id,
        group_name=group_name,
        entries=tuple(unique.values()),
        modified_rule_ids=rule_ids,
        skipped=tuple(reader.skipped),
        group_note=group_note,
        place_notes=tuple(place_notes),
        stated_region=stated_region,
    )


def event_name_of(event: object) -> str | None:
    """The eventName of an EventBridge envelope or a bare CloudTrail record, without reading anything else."""
    found = cloudtrail_record(event)
    return None if isinstance(found, Unreadable) else text(found[0].get("eventName"))


def is_scheduled(event: object) -> bool:
    """Whether the event is the stack's scheduled sweep trigger rather than a CloudTrail call."""
    return (
        isinstance(event, dict)
        and event.get("detail-type") == SCHEDULED_DETAIL_TYPE
        and event.get("source") == "aws.events"
    )
