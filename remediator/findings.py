"""Risky rules as security findings: the AWS Security Finding Format (ASFF) that Security Hub imports."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = "2018-10-08"
GENERATOR_ID = "sg-remediator/risky-ingress"
FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices/Network Reachability"
# ASFF caps Title at 256 characters and Description at 1024.
TITLE_LIMIT, DESCRIPTION_LIMIT = 256, 1024
REMEDIATION = (
    "Remove the rule, or restrict its source to the addresses that need access (tag remediator:mode=narrow and "
    "remediator:allowed-cidrs to have sg-remediator do it), or reach the instances through AWS Systems Manager "
    "Session Manager or EC2 Instance Connect instead of an open SSH or RDP port."
)


class Severity(StrEnum):
    """How exposed a rule is: the world on a risky port, a wide public network, or an internal range (advisory)."""

    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleFinding:
    """The facts of one risky ingress rule, wherever it was found (scan, sweep, event)."""

    account: str
    region: str
    partition: str
    group_id: str
    group_name: str
    vpc_id: str | None
    rule_id: str | None
    protocol: str
    ports: str
    source: str
    risk: str
    severity: Severity
    mode: str
    would: str


def severity_of(source: str, *, advisory: bool = False) -> Severity:
    """HIGH for the whole internet (0.0.0.0/0, ::/0), MEDIUM for a wide public network, LOW when advisory."""
    if advisory:
        return Severity.LOW
    return Severity.HIGH if source.strip().endswith("/0") else Severity.MEDIUM


def finding_id(finding: RuleFinding) -> str:
    """A stable id per group and rule content: a re-run updates the same finding, never adds a second one."""
    content = "|".join((finding.group_id, finding.protocol, finding.ports, finding.source))
    digest = hashlib.sha256(content.encode()).hexdigest()[:20]
    return f"sg-remediator/{finding.region}/{finding.group_id}/{digest}"


def group_arn(finding: RuleFinding) -> str:
    """The security group's ARN."""
    return f"arn:{finding.partition}:ec2:{finding.region}:{finding.account}:security-group/{finding.group_id}"


def product_arn(partition: str, region: str, account: str) -> str:
    """The account's default product ARN, under which an account imports its own findings."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def asff_time(moment: datetime) -> str:
    """A moment as ASFF writes it: ISO-8601 in UTC, to the millisecond."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def asff(finding: RuleFinding, now: datetime, *, compliance: str = "FAILED") -> dict[str, Any]:
    """The finding in ASFF, with every attribute BatchImportFindings requires."""
    moment = asff_time(now)
    title = f"Security group {finding.group_id} lets {finding.ports} in from {finding.source}"
    description = (
        f"{finding.risk}. Group {finding.group_id} ({finding.group_name}): mode {finding.mode}; {finding.would}."
    )
    details: dict[str, Any] = {"GroupId": finding.group_id, "GroupName": finding.group_name}
    if finding.vpc_id:
        details["VpcId"] = finding.vpc_id
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(finding),
        "ProductArn": product_arn(finding.partition, finding.region, finding.account),
        "GeneratorId": GENERATOR_ID,
        "AwsAccountId": finding.account,
        "Types": [FINDING_TYPE],
        "CreatedAt": moment,
        "UpdatedAt": moment,
        "Severity": {"Label": finding.severity.value},
        "Title": title[:TITLE_LIMIT],
        "Description": description[:DESCRIPTION_LIMIT],
        "Remediation": {"Recommendation": {"Text": REMEDIATION}},
        "Resources": [
            {
                "Type": "AwsEc2SecurityGroup",
                "Id": group_arn(finding),
                "Partition": finding.partition,
                "Region": finding.region,
                "Details": {"AwsEc2SecurityGroup": details},
            }
        ],
        "Compliance": {"Status": compliance},
        "RecordState": "ACTIVE",
        "ProductFields": {
            "sg-remediator/RuleId": finding.rule_id or "unknown",
            "sg-remediator/Protocol": finding.protocol,
            "sg-remediator/Ports": finding.ports,
            "sg-remediator/Source": finding.source,
            "sg-remediator/Mode": finding.mode,
        },
    }


# ---- Security Hub: what the remediator imports and resolves (docs/integrations.md) -------------------------------

# ASFF caps a ProductFields value at 2048 characters; BatchUpdateFindings a Note's text at 512.
PRODUCT_FIELD_LIMIT, NOTE_LIMIT = 2048, 512
# BatchImportFindings, BatchUpdateFindings and a page of GetFindings each take at most 100 findings.
FINDINGS_PER_CALL = 100
NOTE_AUTHOR = "sg-remediator"
RESTORE_FIELD = "sg-remediator/RestoreCommand"
# The attributes of a finding that the remediator itself sets: a stored finding is imported again with these only.
PROVIDER_ATTRIBUTES = (
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "CreatedAt",
    "Title",
    "Description",
    "Remediation",
    "Resources",
    "ProductFields",
)


def partition_of(region: str) -> str:
    """The partition of a region's ARNs."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def hub_finding(
    finding: RuleFinding,
    now: datetime,
    *,
    closed: bool,
    restore: str | None = None,
    created_at: str | None = None,
) -> dict[str, Any]:
    """The finding as the remediator imports it: the provider's fields, PASSED once the rule is closed, else FAILED.

    Severity and Types go in FindingProviderFields too, the provider's own copy that a customer's
    BatchUpdateFindings cannot change; the workflow and notes are the customer's, never set here.
    """
    record = asff(finding, now, compliance="PASSED" if closed else "FAILED")
    record["FindingProviderFields"] = {"Severity": dict(record["Severity"]), "Types": list(record["Types"])}
    if created_at:
        record["CreatedAt"] = created_at
    if restore:
        record["ProductFields"][RESTORE_FIELD] = restore[:PRODUCT_FIELD_LIMIT]
    return record


def passed_again(stored: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A stored finding of the remediator's imported again as PASSED: its own attributes, its provider's severity."""
    record = {key: stored[key] for key in PROVIDER_ATTRIBUTES if key in stored}
    # Security Hub adds its own ProductFields (aws/securityhub/...); they are not the provider's to send.
    record["ProductFields"] = {
        key: value for key, value in stored.get("ProductFields", {}).items() if not key.startswith("aws/")
    }
    provider = stored.get("FindingProviderFields", {})
    severity = provider.get("Severity") or stored.get("Severity") or {"Label": Severity.MEDIUM.value}
    types = provider.get("Types") or stored.get("Types") or [FINDING_TYPE]
    return {
        **record,
        "Types": list(types),
        "Severity": {"Label": severity.get("Label", Severity.MEDIUM.value)},
        "FindingProviderFields": {"Severity": {"Label": severity.get("Label", Severity.MEDIUM.value)}, "Types": types},
        "UpdatedAt": asff_time(now),
        "Compliance": {"Status": "PASSED"},
        "RecordState": "ACTIVE",
    }


def open_findings_filters(product: str, region: str) -> dict[str, Any]:
    """GetFindings filters for the remediator's findings of a region that are still open: ACTIVE and FAILED."""

    def equals(value: str) -> list[dict[str, str]]:
        return [{"Value": value, "Comparison": "EQUALS"}]

    return {
        "ProductArn": equals(product),
        "GeneratorId": equals(GENERATOR_ID),
        "Region": equals(region),
        "RecordState": equals("ACTIVE"),
        "ComplianceStatus": equals("FAILED"),
    }


def note(text: str) -> dict[str, str]:
    """A BatchUpdateFindings note by the remediator, cut to what Security Hub takes."""
    return {"Text": text[:NOTE_LIMIT], "UpdatedBy": NOTE_AUTHOR}
