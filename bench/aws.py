"""The moto account both tools run against: groups, rules as flat tuples, events built from real calls.

Everything here uses only boto3, the standard library and the stdlib-only event builder of remediator.cli, since it
runs in our venv and in c7n's.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import boto3
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from remediator.cli import cloudtrail
from remediator.event_names import AUTHORIZE_INGRESS

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "tests" / "events"
WORK = ROOT / "bench" / ".work"
TOPIC_NAME = "sg-remediator-bench"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}"
REDACTED = "..."


def use_fake_credentials(endpoint: str | None = None) -> None:
    """Credentials and region for moto, the same for both tools; an endpoint sends every client to a moto server."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint


class ApiMeter:
    """Counts and times every AWS call at botocore's level (BaseClient._make_api_call), whichever tool makes it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.ns = 0
        # Time inside the calls by operation (service:Operation), for the figures that split it.
        self.ns_by_operation: dict[str, int] = {}
        self.active = True

    def install(self) -> ApiMeter:
        original: Callable[..., Any] = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, on purpose
        meter = self

        def metered(client: BaseClient, operation_name: str, api_params: Mapping[str, Any]) -> Any:
            if not meter.active:
                return original(client, operation_name, api_params)
            start = time.perf_counter_ns()
            try:
                return original(client, operation_name, api_params)
            finally:
                spent = time.perf_counter_ns() - start
                name = f"{client.meta.service_model.service_name}:{operation_name}"
                meter.ns += spent
                meter.ns_by_operation[name] = meter.ns_by_operation.get(name, 0) + spent
                meter.calls.append(name)

        setattr(BaseClient, "_make_api_call", metered)  # noqa: B010 - a private method, patched on purpose
        return self

    def reset(self) -> None:
        self.calls = []
        self.ns = 0
        self.ns_by_operation = {}


PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1", "-1": "-1"}


def protocol_name(raw: object) -> str:
    text = str(raw).strip().lower()
    return PROTOCOL_NAMES.get(text, text)


class Rule(NamedTuple):
    """One security-group rule, flattened: one source per rule, as the console and the rule ids see them."""

    direction: str  # "in" or "out"
    protocol: str  # tcp, udp, icmp, -1 ...
    from_port: int | None
    to_port: int | None
    kind: str  # cidr4, cidr6, pl, sg
    source: str

    def text(self) -> str:
        if self.protocol == "-1":
            ports = "all"
        elif self.from_port == self.to_port:
            ports = f"{self.protocol}/{self.from_port}"
        else:
            ports = f"{self.protocol}/{self.from_port}-{self.to_port}"
        arrow = "from" if self.direction == "in" else "to"
        return f"{'' if self.direction == 'in' else 'egress '}{ports} {arrow} {self.source}"

    def to_json(self) -> list[Any]:
        return list(self)

    @classmethod
    def from_json(cls, raw: Sequence[Any]) -> Rule:
        return cls(*raw)


def canonical_cidr(cidr: str) -> str:
    return str(ipaddress.ip_network(cidr.strip(), strict=False))


@dataclass(frozen=True)
class Perm:
    """One IpPermissions element, written with symbolic references ("pl:name", "sg:name") resolved at set-up."""

    protocol: str
    from_port: int | None = None
    to_port: int | None = None
    cidrs: tuple[str, ...] = ()
    cidrs_v6: tuple[str, ...] = ()
    prefix_lists: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def resolved(self, refs: Mapping[str, str]) -> Perm:
        return replace(
            self,
            prefix_lists=tuple(refs.get(p, p) for p in self.prefix_lists),
            groups=tuple(refs.get(g, g) for g in self.groups),
        )

    def ports(self) -> dict[str, int]:
        if self.protocol == "-1" or self.from_port is None or self.to_port is None:
            return {}
        return {"FromPort": self.from_port, "ToPort": self.to_port}

    def boto(self) -> dict[str, Any]:
        permission: dict[str, Any] = {"IpProtocol": self.protocol, **self.ports()}
        if self.cidrs:
            permission["IpRanges"] = [{"CidrIp": c} for c in self.cidrs]
        if self.cidrs_v6:
            permission["Ipv6Ranges"] = [{"CidrIpv6": c} for c in self.cidrs_v6]
        if self.prefix_lists:
            permission["PrefixListIds"] = [{"PrefixListId": p} for p in self.prefix_lists]
        if self.groups:
            permission["UserIdGroupPairs"] = [{"GroupId": g} for g in self.groups]
        return permission

    def rules(self, direction: str = "in") -> list[Rule]:
        protocol = protocol_name(self.protocol)
        low = None if protocol == "-1" else self.from_port
        high = None if protocol == "-1" else self.to_port
        sources = [
            *(("cidr4", canonical_cidr(c)) for c in self.cidrs),
            *(("cidr6", canonical_cidr(c)) for c in self.cidrs_v6),
            *(("pl", p) for p in self.prefix_lists),
            *(("sg", g) for g in self.groups),
        ]
        return [Rule(direction, protocol, low, high, kind, value) for kind, value in sources]


def rules_of_permissions(permissions: Iterable[Mapping[str, Any]], direction: str) -> list[Rule]:
    """Flatten DescribeSecurityGroups' IpPermissions (or IpPermissionsEgress) into rules."""
    flat: list[Rule] = []
    for p in permissions:
        perm = Perm(
            protocol=str(p.get("IpProtocol", "-1")),
            from_port=p.get("FromPort"),
            to_port=p.get("ToPort"),
            cidrs=tuple(r["CidrIp"] for r in p.get("IpRanges", [])),
            cidrs_v6=tuple(r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])),
            prefix_lists=tuple(r["PrefixListId"] for r in p.get("PrefixListIds", [])),
            groups=tuple(r.get("GroupId", "?") for r in p.get("UserIdGroupPairs", [])),
        )
        flat.extend(perm.rules(direction))
    return flat


def rule_of_group_rule(rule: Mapping[str, Any]) -> Rule:
    """Flatten one DescribeSecurityGroupRules item."""
    protocol = protocol_name(rule.get("IpProtocol", "-1"))
    if "CidrIpv4" in rule:
        kind, source = "cidr4", canonical_cidr(rule["CidrIpv4"])
    elif "CidrIpv6" in rule:
        kind, source = "cidr6", canonical_cidr(rule["CidrIpv6"])
    elif "PrefixListId" in rule:
        kind, source = "pl", rule["PrefixListId"]
    else:
        kind, source = "sg", rule.get("ReferencedGroupInfo", {}).get("GroupId", "?")
    low = None if protocol == "-1" else rule.get("FromPort")
    high = None if protocol == "-1" else rule.get("ToPort")
    return Rule("out" if rule.get("IsEgress") else "in", protocol, low, high, kind, source)


def perm_of_rule(rule: Rule) -> dict[str, Any]:
    perm = Perm(
        protocol=rule.protocol,
        from_port=rule.from_port,
        to_port=rule.to_port,
        cidrs=(rule.source,) if rule.kind == "cidr4" else (),
        cidrs_v6=(rule.source,) if rule.kind == "cidr6" else (),
        prefix_lists=(rule.source,) if rule.kind == "pl" else (),
        groups=(rule.source,) if rule.kind == "sg" else (),
    )
    return perm.boto()


@dataclass
class Account:
    """The moto account: a default VPC, groups made with legitimate rules, rules opened by real calls."""

    ec2: Any = field(default_factory=lambda: boto3.client("ec2", region_name=REGION))
    vpc_id: str = ""
    made: int = 0

    def __post_init__(self) -> None:
        vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        self.vpc_id = vpcs[0]["VpcId"] if vpcs else self.ec2.create_vpc(CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]

    def new_group(self, label: str, tags: Mapping[str, str] | None = None) -> str:
        self.made += 1
        request: dict[str, Any] = {
            "GroupName": f"bench-{label}-{self.made}",
            "Description": f"bench {label}",
            "VpcId": self.vpc_id,
        }
        if tags:
            request["TagSpecifications"] = [
                {"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ]
        return str(self.ec2.create_security_group(**request)["GroupId"])

    def new_prefix_list(self, label: str, cidrs: Sequence[str]) -> str:
        self.made += 1
        family = "IPv6" if ":" in cidrs[0] else "IPv4"
        created = self.ec2.create_managed_prefix_list(
            PrefixListName=f"bench-{label}-{self.made}",
            MaxEntries=max(len(cidrs), 1) + 2,
            AddressFamily=family,
            Entries=[{"Cidr": c} for c in cidrs],
        )
        return str(created["PrefixList"]["PrefixListId"])

    def group_rules(self, group_id: str) -> list[dict[str, Any]]:
        found = self.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
        return list(found["SecurityGroupRules"])

    def rules(self, group_id: str) -> list[Rule]:
        """The group's rules as DescribeSecurityGroups shows them now, flattened."""
        groups = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        if not groups:
            return []
        group = groups[0]
        return [
            *rules_of_permissions(group.get("IpPermissions", []), "in"),
            *rules_of_permissions(group.get("IpPermissionsEgress", []), "out"),
        ]

    def authorize(self, group_id: str, perms: Sequence[Perm], egress: bool = False) -> list[dict[str, Any]]:
        """Open the permissions with one real call; returns the rules it created, ids included.

        moto's AuthorizeSecurityGroupIngress response lists only the last permission's rules, so the created rules
        are taken as the difference of DescribeSecurityGroupRules around the call (AWS returns them all).
        """
        before = {r["SecurityGroupRuleId"] for r in self.group_rules(group_id)}
        call = self.ec2.authorize_security_group_egress if egress else self.ec2.authorize_security_group_ingress
        call(GroupId=group_id, IpPermissions=[p.boto() for p in perms])
        return [r for r in self.group_rules(group_id) if r["SecurityGroupRuleId"] not in before]

    def revoke_rules(self, group_id: str, rules: Iterable[Rule]) -> None:
        """Take rules away again (bench bookkeeping, never timed); a rule already gone is fine."""
        for rule in rules:
            call = (
                self.ec2.revoke_security_group_ingress
                if rule.direction == "in"
                else self.ec2.revoke_security_group_egress
            )
            try:
                call(GroupId=group_id, IpPermissions=[perm_of_rule(rule)])
            except ClientError as error:
                if "NotFound" not in str(error.response.get("Error", {}).get("Code", "")):
                    raise


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return data


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_event(
    *,
    group_id: str,
    perms: Sequence[Perm],
    created: Sequence[Mapping[str, Any]],
    event_name: str = AUTHORIZE_INGRESS,
    ruleset: bool = True,
) -> dict[str, Any]:
    """An EventBridge "AWS API Call via CloudTrail" event for a real call, by the package's one event builder."""
    return cloudtrail.authorize_event(
        cloudtrail.load_template(cloudtrail.RULE_SET_TEMPLATE),
        group_id=group_id,
        permissions=[perm.boto() for perm in perms],
        rules=created if ruleset else None,
        account=ACCOUNT,
        region=REGION,
        event_name=event_name,
    )


def build_modify_event(*, group_id: str, rule_id: str, perm: Perm) -> dict[str, Any]:
    """A ModifySecurityGroupRules event (no public real record exists; shape from the EC2 API reference)."""
    nested: dict[str, Any] = {"IpProtocol": perm.protocol, **perm.ports()}
    if perm.cidrs:
        nested["CidrIpv4"] = perm.cidrs[0]
    elif perm.cidrs_v6:
        nested["CidrIpv6"] = perm.cidrs_v6[0]
    return cloudtrail.modify_event(
        cloudtrail.load_template(cloudtrail.MODIFY_TEMPLATE),
        group_id=group_id,
        updates=[{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": nested}],
        account=ACCOUNT,
        region=REGION,
    )


# ---- replaying the real events of tests/events/ on a moto group --------------------------------------------


def record_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudTrail record of an envelope, or the raw record itself."""
    detail = event.get("detail")
    return dict(detail) if isinstance(detail, Mapping) else dict(event)


def _items(value: object) -> list[dict[str, Any]]:
    if isinstance(value, Mapping):
        items = value.get("items", [])
        return [dict(i) for i in items] if isinstance(items, list) else []
    if isinstance(value, list):
        return [dict(i) for i in value if isinstance(i, Mapping)]
    return []


def _port(value: object) -> int | None:
    if value is None or value == "":
        return None
    return int(str(value))


def perms_of_record(record: Mapping[str, Any]) -> list[Perm]:
    """The permissions an Authorize* call asked for: ipPermissions.items, or the legacy flat parameters."""
    request = record.get("requestParameters") or {}
    perms: list[Perm] = []
    for item in _items(request.get("ipPermissions")):
        perms.append(
            Perm(
                protocol=protocol_name(item.get("ipProtocol", "-1")),
                from_port=_port(item.get("fromPort")),
                to_port=_port(item.get("toPort")),
                cidrs=tuple(canonical_cidr(r["cidrIp"]) for r in _items(item.get("ipRanges"))),
                cidrs_v6=tuple(canonical_cidr(r["cidrIpv6"]) for r in _items(item.get("ipv6Ranges"))),
                prefix_lists=tuple(r["prefixListId"] for r in _items(item.get("prefixListIds"))),
                groups=tuple(r["groupId"] for r in _items(item.get("groups"))),
            )
        )
    if not perms and request.get("cidrIp"):
        perms.append(
            Perm(
                protocol=protocol_name(request.get("ipProtocol", "-1")),
                from_port=_port(request.get("fromPort")),
                to_port=_port(request.get("toPort")),
                cidrs=(canonical_cidr(str(request["cidrIp"])),),
            )
        )
    return perms


def replay_event(
    original: Mapping[str, Any],
    *,
    group_id: str,
    refs: Mapping[str, str],
    created: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The real event pointed at the moto group: its ids, region and account replaced, its shape kept.

    Only values are replaced: the group id, referenced group ids, rule ids in securityGroupRuleSet, CIDRs put in
    canonical form (Stratus anonymised 0.0.0.0/0 into 208.236.235.254/0), and a real-looking account and region
    (values redacted to "..." stay so). A raw record is wrapped in the EventBridge envelope Lambda receives.
    """
    event = copy.deepcopy(dict(original))
    if "detail" not in event:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.ec2",
            "account": ACCOUNT,
            "time": now_text(),
            "region": REGION,
            "resources": [],
            "detail": event,
        }
    for key, value in (("account", ACCOUNT), ("region", REGION)):
        if isinstance(event.get(key), str) and event[key] != REDACTED:
            event[key] = value
    detail = event["detail"]
    for key, value in (("awsRegion", REGION), ("recipientAccountId", ACCOUNT)):
        if isinstance(detail.get(key), str) and detail[key] != REDACTED:
            detail[key] = value
    request = detail.get("requestParameters") or {}
    if "groupId" in request:
        request["groupId"] = group_id
    if "cidrIp" in request:
        request["cidrIp"] = canonical_cidr(str(request["cidrIp"]))
    permissions = request.get("ipPermissions")
    listed = permissions.get("items", []) if isinstance(permissions, Mapping) else []
    for item in listed if isinstance(listed, list) else []:
        for r in (item.get("ipRanges") or {}).get("items", []):
            r["cidrIp"] = canonical_cidr(r["cidrIp"])
        for r in (item.get("ipv6Ranges") or {}).get("items", []):
            r["cidrIpv6"] = canonical_cidr(r["cidrIpv6"])
        for r in (item.get("groups") or {}).get("items", []):
            r["groupId"] = refs.get(r["groupId"], r["groupId"])
    response = detail.get("responseElements")
    if isinstance(response, dict):
        if detail.get("eventName") == "CreateSecurityGroup" and "groupId" in response:
            response["groupId"] = group_id
        ruleset = response.get("securityGroupRuleSet")
        if isinstance(ruleset, Mapping):
            old = _items(ruleset)
            with_arn = any("securityGroupRuleArn" in i for i in old)
            response["securityGroupRuleSet"] = {
                "items": [
                    cloudtrail.cloudtrail_rule(r, arn_in=(REGION, ACCOUNT) if with_arn else None) for r in created
                ]
            }
    return event
