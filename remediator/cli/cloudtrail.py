"""The one builder of CloudTrail events as AWS would deliver them for calls made on embedded AWS (demo, tests)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from remediator.event_names import AUTHORIZE_INGRESS, CLOUDTRAIL_DETAIL_TYPE, MODIFY_RULES

# Real events whose shapes the simulated ones copy (package data, copied from tests/events/, whose SOURCES.md
# gives where each came from): the new (rule set) and the old (`_return` only) response, and a modify call.
RULE_SET_TEMPLATE = "nuvibit-AuthorizeSecurityGroupIngress-console-tcp0-65535-world-ruleset.json"
OLD_FORMAT_TEMPLATE = "panther-AuthorizeSecurityGroupIngress-gosdk-tcp22-world.json"
MODIFY_TEMPLATE = "constructed-ModifySecurityGroupRules-console.json"

RANGE_KEYS = (
    ("IpRanges", "ipRanges", "CidrIp", "cidrIp"),
    ("Ipv6Ranges", "ipv6Ranges", "CidrIpv6", "cidrIpv6"),
    ("PrefixListIds", "prefixListIds", "PrefixListId", "prefixListId"),
)
RULE_KEYS = {
    "GroupId": "groupId",
    "GroupOwnerId": "groupOwnerId",
    "SecurityGroupRuleId": "securityGroupRuleId",
    "IsEgress": "isEgress",
    "IpProtocol": "ipProtocol",
    "FromPort": "fromPort",
    "ToPort": "toPort",
    "CidrIpv4": "cidrIpv4",
    "CidrIpv6": "cidrIpv6",
    "PrefixListId": "prefixListId",
    "Description": "description",
}


def load_template(name: str) -> dict[str, Any]:
    """One of the real events the builder copies, read from the package's templates."""
    data: dict[str, Any] = json.loads(resources.files(__package__).joinpath("templates", name).read_text("utf-8"))
    return data


def cloudtrail_permission(permission: Mapping[str, Any]) -> dict[str, Any]:
    """A boto3 IpPermissions element as CloudTrail's requestParameters spell it."""
    converted: dict[str, Any] = {"ipProtocol": permission["IpProtocol"], "groups": {}}
    for key in ("FromPort", "ToPort"):
        if key in permission:
            converted[key[0].lower() + key[1:]] = permission[key]
    for api_key, trail_key, api_field, trail_field in RANGE_KEYS:
        items = [
            {trail_field: item[api_field], **({"description": item["Description"]} if "Description" in item else {})}
            for item in permission.get(api_key, [])
        ]
        converted[trail_key] = {"items": items} if items else {}
    pairs = [
        {"groupId": pair["GroupId"], **({"description": pair["Description"]} if "Description" in pair else {})}
        for pair in permission.get("UserIdGroupPairs", [])
    ]
    converted["groups"] = {"items": pairs} if pairs else {}
    return converted


def cloudtrail_rule(rule: Mapping[str, Any], *, arn_in: tuple[str, str] | None = None) -> dict[str, Any]:
    """A boto3 SecurityGroupRule as CloudTrail's securityGroupRuleSet spells it.

    `arn_in` (region, account) adds the rule's ARN, as newer records carry it.
    """
    converted = {RULE_KEYS[key]: value for key, value in rule.items() if key in RULE_KEYS}
    if "ReferencedGroupInfo" in rule:
        info = rule["ReferencedGroupInfo"]
        converted["referencedGroupInfo"] = {
            "groupId": info.get("GroupId"),
            **({"userId": info["UserId"]} if "UserId" in info else {}),
        }
    if arn_in is not None:
        region, account = arn_in
        rule_id = rule["SecurityGroupRuleId"]
        converted["securityGroupRuleArn"] = f"arn:aws:ec2:{region}:{account}:security-group-rule/{rule_id}"
    return converted


def envelope(template: Mapping[str, Any], detail: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    """The EventBridge envelope around a record, copying the template's envelope when it has one."""
    wrapped: dict[str, Any] = (
        copy.deepcopy(dict(template)) if "detail" in template else {"version": "0", "resources": []}
    )
    wrapped.update(
        {
            "id": str(uuid.uuid4()),
            "detail-type": CLOUDTRAIL_DETAIL_TYPE,
            "source": "aws.ec2",
            "account": account,
            "time": detail["eventTime"],
            "region": region,
            "detail": detail,
        }
    )
    return wrapped


def fresh_detail(template: Mapping[str, Any], event_name: str, account: str, region: str) -> dict[str, Any]:
    """A copy of the template's detail with a new event id, the name, time now, region and account, and no error."""
    detail: dict[str, Any] = copy.deepcopy(dict(template.get("detail", template)))
    detail.update(
        {
            "eventID": str(uuid.uuid4()),
            "eventName": event_name,
            "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "awsRegion": region,
            "recipientAccountId": account,
        }
    )
    detail.pop("errorCode", None)
    detail.pop("errorMessage", None)
    return detail


def authorize_event(
    template: Mapping[str, Any],
    *,
    group_id: str,
    permissions: Sequence[Mapping[str, Any]],
    rules: Sequence[Mapping[str, Any]] | None,
    account: str,
    region: str,
    event_name: str = AUTHORIZE_INGRESS,
) -> dict[str, Any]:
    """The event of an AuthorizeSecurityGroupIngress call (or another call of that shape, by `event_name`).

    `rules` is the call's SecurityGroupRules, or None for the old response format that carries no rule ids.
    """
    detail = fresh_detail(template, event_name, account, region)
    detail["requestParameters"] = {
        "groupId": group_id,
        "ipPermissions": {"items": [cloudtrail_permission(p) for p in permissions]},
    }
    response: dict[str, Any] = {"requestId": str(uuid.uuid4()), "_return": True}
    if rules is not None:
        response["securityGroupRuleSet"] = {"items": [cloudtrail_rule(rule) for rule in rules]}
    detail["responseElements"] = response
    return envelope(template, detail, account, region)


def modify_event(
    template: Mapping[str, Any],
    *,
    group_id: str,
    updates: Sequence[Mapping[str, Any]],
    account: str,
    region: str,
) -> dict[str, Any]:
    """The event of a ModifySecurityGroupRules call with the boto3 SecurityGroupRules updates."""
    detail = fresh_detail(template, MODIFY_RULES, account, region)
    rules = [{"tag": index, **update} for index, update in enumerate(updates, start=1)]
    detail["requestParameters"] = {
        "ModifySecurityGroupRulesRequest": {
            "GroupId": group_id,
            "SecurityGroupRule": rules[0] if len(rules) == 1 else rules,
        }
    }
    detail["responseElements"] = {"ModifySecurityGroupRulesResponse": {"return": True}}
    return envelope(template, detail, account, region)
