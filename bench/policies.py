"""The Cloud Custodian policies the benchmark runs, as data (c7n itself is imported only in c7n's venv)."""

from __future__ import annotations

from typing import Any

from bench.aws import TOPIC_ARN

AUTHORIZE_INGRESS = {
    "source": "ec2.amazonaws.com",
    "event": "AuthorizeSecurityGroupIngress",
    "ids": "requestParameters.groupId",
}
MODIFY_RULES = {
    "source": "ec2.amazonaws.com",
    "event": "ModifySecurityGroupRules",
    "ids": "requestParameters.ModifySecurityGroupRulesRequest.GroupId",
}
REMOVE_MATCHED = {"type": "remove-permissions", "ingress": "matched"}

# What issue 6 calls the equivalent policy: tcp/22 from 0.0.0.0/0, removed as soon as it is authorized.
EQUIVALENT: dict[str, Any] = {
    "name": "sg-remediator-bench",
    "resource": "aws.security-group",
    "mode": {"type": "cloudtrail", "events": [AUTHORIZE_INGRESS]},
    "filters": [{"type": "ingress", "Ports": [22], "Cidr": {"value": "0.0.0.0/0"}}],
    "actions": [REMOVE_MATCHED],
}

# The same, plus the notification our handler sends (c7n's notify action over SNS), for a like-for-like call count.
WITH_NOTIFY: dict[str, Any] = {
    **EQUIVALENT,
    "actions": [
        REMOVE_MATCHED,
        {
            "type": "notify",
            "to": ["security@example.com"],
            "subject": "security group rule removed",
            "violation_desc": "ingress open to the internet",
            "action_desc": "the rule was removed",
            "transport": {"type": "sns", "topic": TOPIC_ARN},
        },
    ],
}

# A fairer policy, as a careful c7n user would write it: both risky ports, IPv4 and IPv6 worlds, and rule edits.
FAIR: dict[str, Any] = {
    **EQUIVALENT,
    "mode": {"type": "cloudtrail", "events": [AUTHORIZE_INGRESS, MODIFY_RULES]},
    "filters": [
        {
            "or": [
                {"type": "ingress", "Ports": [22, 3389], "Cidr": {"value": "0.0.0.0/0"}},
                {"type": "ingress", "Ports": [22, 3389], "CidrV6": {"value": "::/0"}},
            ]
        }
    ],
}

POLICIES: dict[str, dict[str, Any]] = {"c7n": EQUIVALENT, "c7n-notify": WITH_NOTIFY, "c7n-fair": FAIR}
