"""Scan and sweep at 100, 1,000 and 10,000 security groups on embedded AWS (moto): wall time and AWS calls.

Run it as `python -m bench.sweep_scaling [SIZE ...]`, or call `run_sweep_scaling()`. The groups are made through
moto's EC2 backend rather than its API: at 10,000 groups the API takes minutes (moto checks each new name against
every group), and only the remediator's calls are what is measured. Moto returns every group in one page whatever
MaxResults says, so `calls_paged_by_1000` adds the pages AWS would serve.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws
from moto.ec2.models import ec2_backends
from moto.ec2.responses.security_groups import parse_sg_attributes_from_dict

from remediator.effects import CLIENT_CONFIG, Aws
from remediator.inventory import scan_region
from remediator.settings import settings_from
from remediator.sweep import sweep

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
DEFAULT_SIZES = (100, 1000, 10000)
LAMBDA_TIMEOUT_SECONDS = 300
ATTACHED_INTERFACES = 10

SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
HTTPS_WORLD = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def ssh_from_list(prefix_list_id: str) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": prefix_list_id}]}


@contextlib.contextmanager
def embedded_aws() -> Iterator[None]:
    """Moto in process with fake credentials, whatever profile or endpoint the caller's environment names."""
    names = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.pop(name, None)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    try:
        with mock_aws():
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def permissions_for(number: int, open_list: str, closed_list: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The rules and tags of group `number`: one in ten has SSH open to the world, a few more by prefix list or
    under a tag policy, and every group has HTTPS open so that each has a rule to assess."""
    permissions: list[dict[str, Any]] = [HTTPS_WORLD]
    tags: dict[str, str] = {}
    if number % 10 == 0:
        permissions.append(SSH_WORLD)
    elif number % 50 == 1:
        permissions.append(ssh_from_list(open_list))
    elif number % 50 == 2:
        permissions.append(ssh_from_list(closed_list))
    elif number % 100 == 3:
        permissions.append(SSH_WORLD)
        tags = {"remediator:mode": "ignore", "remediator:expires": "2099-12-31"}
    elif number % 100 == 5:
        permissions.append(SSH_WORLD)
        tags = {"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24"}
    elif number % 100 == 7:
        permissions.append(SSH_WORLD)
        tags = {"remediator:mode": "notify"}
    return permissions, tags


def build_account(groups: int) -> str:
    """Make the groups, two customer prefix lists (one open), a few attached interfaces and a topic."""
    session = boto3.session.Session(region_name=REGION)
    ec2 = session.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    open_list, closed_list = (
        ec2.create_managed_prefix_list(
            PrefixListName=name, MaxEntries=2, AddressFamily="IPv4", Entries=[{"Cidr": cidr}]
        )["PrefixList"]["PrefixListId"]
        for name, cidr in (("anyone", "0.0.0.0/0"), ("office", "198.51.100.0/24"))
    )
    backend = ec2_backends[ACCOUNT][REGION]
    for number in range(groups):
        permissions, tags = permissions_for(number, open_list, closed_list)
        group = backend.create_security_group(f"g{number:05}", "bench", vpc_id=vpc_id, tags=tags, force=True)
        for permission in permissions:
            protocol, from_port, to_port, ip_ranges, source_groups, prefix_lists = parse_sg_attributes_from_dict(
                permission
            )
            backend.authorize_security_group_ingress(
                group.id,
                protocol,
                from_port,
                to_port,
                ip_ranges,
                source_groups=source_groups,
                prefix_list_ids=prefix_lists,
                vpc_id=vpc_id,
            )
        if number % max(1, groups // ATTACHED_INTERFACES) == 0:
            ec2.create_network_interface(SubnetId=subnet_id, Groups=[group.id])
    return str(session.client("sns").create_topic(Name="sg-remediator")["TopicArn"])


class CountedAws:
    """The remediator's clients with every AWS call counted by operation."""

    def __init__(self) -> None:
        ec2 = boto3.client("ec2", region_name=REGION, config=CLIENT_CONFIG)
        sns = boto3.client("sns", region_name=REGION, config=CLIENT_CONFIG)
        self.calls: Counter[str] = Counter()
        for client in (ec2, sns):
            client.meta.events.register("before-call", self.count)
        self.aws = Aws(ec2=ec2, sns=sns)

    def count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1


def measure(groups: int, phase: str, env: Mapping[str, str], setup_seconds: float) -> dict[str, Any]:
    counted = CountedAws()
    settings = settings_from(env)
    # The sweep logs a JSON line per finding to stdout, as in Lambda: the cost is kept, the lines are not.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        if phase == "scan":
            inventory = scan_region(counted.aws, settings, datetime.now(UTC))
            risky = sum(len(found.plans) for found in inventory.findings)
            outcome: dict[str, int] = {}
        else:
            result = sweep(settings, counted.aws, datetime.now(UTC))
            risky, outcome = result["risky_rules"], result["by_outcome"]
        seconds = time.perf_counter() - started
    calls = sum(counted.calls.values())
    pages = math.ceil((groups + 2) / 1000)  # the two default groups (default VPC and ours) come along
    return {
        "groups": groups,
        "phase": phase,
        "seconds": round(seconds, 3),
        "calls": calls,
        "calls_by_operation": dict(sorted(counted.calls.items())),
        "calls_paged_by_1000": calls - counted.calls["DescribeSecurityGroups"] + pages,
        "risky_rules": risky,
        "outcomes": outcome,
        "setup_seconds": round(setup_seconds, 3),
        "within_lambda_timeout": seconds < LAMBDA_TIMEOUT_SECONDS,
    }


def run_sweep_scaling(sizes: Sequence[int] = DEFAULT_SIZES) -> list[dict[str, Any]]:
    """Per size: the read-only scan, the default (notify) sweep, then a sweep that revokes by each group's policy."""
    rows: list[dict[str, Any]] = []
    for groups in sizes:
        with embedded_aws():
            started = time.perf_counter()
            topic_arn = build_account(groups)
            setup = time.perf_counter() - started
            base = {"REMEDIATOR_TOPIC_ARN": topic_arn}
            rows.append(measure(groups, "scan", base, setup))
            rows.append(measure(groups, "sweep-notify", base, setup))
            rows.append(measure(groups, "sweep-revoke", {**base, "REMEDIATOR_SWEEP_MODE": "revoke"}, setup))
    return rows


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    header = f"{'groups':>7}  {'phase':<13}  {'seconds':>8}  {'calls':>6}  {'paged':>6}  {'risky':>6}  operations"
    lines = [header]
    for row in rows:
        operations = ", ".join(f"{name} {count}" for name, count in row["calls_by_operation"].items())
        lines.append(
            f"{row['groups']:>7}  {row['phase']:<13}  {row['seconds']:>8.2f}  {row['calls']:>6}  "
            f"{row['calls_paged_by_1000']:>6}  {row['risky_rules']:>6}  {operations}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    chosen = tuple(int(arg) for arg in sys.argv[1:]) or DEFAULT_SIZES
    results = run_sweep_scaling(chosen)
    print(table(results))
    print(json.dumps(results, indent=2))
