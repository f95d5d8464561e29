"""`scan` as a tool for pipelines: exit statuses, output formats checked against their schemas, filters, order."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, REGION, World

from remediator.cli import scan as scan_command
from remediator.cli.main import main
from remediator.effects import Aws
from remediator.inventory import Inventory, scan_region
from remediator.settings import current_settings

SSH_WORLD: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
RDP_WIDE: dict[str, Any] = {
    "IpProtocol": "tcp",
    "FromPort": 3389,
    "ToPort": 3389,
    "IpRanges": [{"CidrIp": "0.0.0.0/1"}],
}
HTTPS_WORLD: dict[str, Any] = {
    "IpProtocol": "tcp",
    "FromPort": 443,
    "ToPort": 443,
    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
}
ASFF_REQUIRED = (
    "AwsAccountId",
    "CreatedAt",
    "Description",
    "GeneratorId",
    "Id",
    "ProductArn",
    "Resources",
    "SchemaVersion",
    "Severity",
    "Title",
    "Types",
    "UpdatedAt",
)
OCSF_REQUIRED = (
    "activity_id",
    "category_uid",
    "class_uid",
    "finding_info",
    "metadata",
    "severity_id",
    "time",
    "type_uid",
)
JSON_ROW_FIELDS = {
    "account",
    "region",
    "group_id",
    "group_name",
    "vpc_id",
    "rule_id",
    "protocol",
    "ports",
    "source",
    "attached",
    "severity",
    "mode",
    "action",
    "would",
    "narrow_to",
    "expires",
    "risk",
    "notes",
}


class Groups:
    """An attached group open to the world, an unattached one open to a /1, an opted-out one, a clean one."""

    def __init__(self, world: World) -> None:
        subnet = world.ec2.create_subnet(VpcId=world.vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        self.attached = world.group("attached")
        world.authorize(self.attached, [SSH_WORLD])
        world.ec2.create_network_interface(SubnetId=subnet, Groups=[self.attached])
        self.spare = world.group("spare")
        world.authorize(self.spare, [RDP_WIDE])
        self.expires = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
        self.opted_out = world.group("vendor", {"remediator:mode": "ignore", "remediator:expires": self.expires})
        world.authorize(self.opted_out, [SSH_WORLD])
        self.clean = world.group("web")
        world.authorize(self.clean, [HTTPS_WORLD])


@pytest.fixture
def groups(world: World) -> Groups:
    return Groups(world)


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["scan", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_exit_status_is_1_with_risky_rules_0_without_and_0_with_fail_on_none(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.authorize(world.group("web"), [HTTPS_WORLD])
    assert scan(capsys)[0] == 0
    world.authorize(world.group("admin"), [SSH_WORLD])
    assert scan(capsys)[0] == 1
    assert scan(capsys, "--fail-on", "none")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--region", "EU_WEST"], "'EU_WEST' is not an AWS region name: give one like eu-west-1"),
        (["--region", "eu-west-1,nowhere"], "'nowhere' is not an AWS region name"),
        (["--format", "xml"], "invalid choice: 'xml'"),
        (["--fail-on", "sometimes"], "invalid choice: 'sometimes'"),
    ],
)
def test_bad_usage_is_exit_2_with_a_one_line_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["scan", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_scan_that_could_not_complete_is_exit_3_and_never_says_0_risky_rules(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def denied(aws: Aws, *args: Any, **kwargs: Any) -> Inventory:
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeSecurityGroups")

    monkeypatch.setattr(scan_command, "scan_region", denied)
    status, out, err = scan(capsys)
    assert status == 3
    assert "0 risky rules" not in out
    assert out.strip().startswith("scan incomplete: eu-west-1 could not be read")
    assert err.startswith(f"error: {REGION}: AWS said:")


def test_rows_are_ordered_by_exposure_attached_groups_first(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = scan(capsys, "--format", "json")
    rows = json.loads(out)["rows"]
    assert rows[0]["group_id"] == groups.attached
    assert [row["attached"] for row in rows] == sorted((row["attached"] for row in rows), reverse=True)


def test_the_json_output_has_its_schema_and_every_field_of_each_row(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = scan(capsys, "--format", "json")
    data = json.loads(out)
    assert (data["schema"], data["schema_version"], data["complete"]) == ("sg-remediator/scan", 1, True)
    assert {row["group_id"] for row in data["rows"]} == {groups.attached, groups.spare, groups.opted_out}
    for row in data["rows"]:
        assert set(row) == JSON_ROW_FIELDS
        assert row["account"] == ACCOUNT
        assert row["rule_id"].startswith("sgr-")
    vendor = next(row for row in data["rows"] if row["group_id"] == groups.opted_out)
    assert vendor["expires"] == groups.expires
    assert vendor["mode"] == "ignore"
    severities = {row["group_id"]: row["severity"] for row in data["rows"]}
    assert severities[groups.attached] == "HIGH"
    assert severities[groups.spare] == "MEDIUM"


def test_the_csv_output_has_a_header_and_one_line_per_row(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = scan(capsys, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3
    assert set(rows[0]) == JSON_ROW_FIELDS
    assert rows[0]["group_id"] == groups.attached
    assert rows[0]["attached"] == "True"


def test_the_asff_output_has_every_attribute_security_hub_requires(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = scan(capsys, "--format", "asff")
    findings = json.loads(out)
    assert len(findings) == 3
    for finding in findings:
        assert all(finding.get(key) for key in ASFF_REQUIRED), [key for key in ASFF_REQUIRED if not finding.get(key)]
        assert finding["SchemaVersion"] == "2018-10-08"
        assert finding["ProductArn"] == f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
        assert finding["Types"] == [
            "Software and Configuration Checks/AWS Security Best Practices/Network Reachability"
        ]
        assert finding["Severity"]["Label"] in ("HIGH", "MEDIUM", "LOW")
        [resource] = finding["Resources"]
        assert resource["Type"] == "AwsEc2SecurityGroup"
        assert resource["Id"].startswith(f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-")
        assert len(finding["Title"]) <= 256
        assert len(finding["Description"]) <= 1024
        datetime.fromisoformat(finding["CreatedAt"].replace("Z", "+00:00"))
    # A second scan gives the same ids: Security Hub updates the findings instead of adding new ones.
    again = json.loads(scan(capsys, "--format", "asff")[1])
    assert sorted(f["Id"] for f in again) == sorted(f["Id"] for f in findings)


def test_the_asff_output_is_imported_by_security_hub_on_embedded_aws(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3  # noqa: PLC0415

    findings = json.loads(scan(capsys, "--format", "asff")[1])
    securityhub = boto3.client("securityhub", region_name=REGION)
    imported = securityhub.batch_import_findings(Findings=findings)
    assert (imported["SuccessCount"], imported["FailedCount"]) == (3, 0)


def test_the_ocsf_output_is_a_detection_finding_with_its_required_attributes(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = scan(capsys, "--format", "ocsf")
    findings = json.loads(out)
    assert len(findings) == 3
    for finding in findings:
        assert all(key in finding for key in OCSF_REQUIRED)
        assert (finding["class_uid"], finding["category_uid"], finding["type_uid"]) == (2004, 2, 200401)
        assert finding["finding_info"]["uid"]
        assert finding["finding_info"]["title"]
        assert finding["metadata"]["product"]["name"] == "sg-remediator"
        assert finding["metadata"]["version"]
        assert finding["severity_id"] in (2, 3, 4)


def test_filters_keep_only_the_groups_asked_for(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    def group_ids(*args: str) -> set[str]:
        return {row["group_id"] for row in json.loads(scan(capsys, "--format", "json", *args)[1])["rows"]}

    assert group_ids("--group-id", groups.spare) == {groups.spare}
    assert group_ids("--attached-only") == {groups.attached}
    assert group_ids("--vpc-id", world.vpc_id) == {groups.attached, groups.spare, groups.opted_out}
    assert group_ids("--vpc-id", "vpc-00000000000000000") == set()
    assert scan(capsys, "--vpc-id", "vpc-00000000000000000")[0] == 0, "nothing risky among the groups asked for"


def test_all_regions_scans_each_enabled_region(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.authorize(world.group("web"), [SSH_WORLD])
    _, out, _ = scan(capsys, "--all-regions", "--format", "json")
    data = json.loads(out)
    regions = [region["region"] for region in data["regions"]]
    assert REGION in regions
    assert "us-east-1" in regions
    assert len(regions) > 10
    assert [row["region"] for row in data["rows"]] == [REGION]


def test_the_table_fits_120_columns_and_shows_the_expiry(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    world.authorize(world.group("x" * 200), [SSH_WORLD])
    _, out, _ = scan(capsys)
    rows = [line for line in out.splitlines() if not line.startswith("    note:")]
    assert max(len(line) for line in rows) <= 120
    assert f"ignore (until {groups.expires})" in out


def test_the_progress_line_counts_groups_in_good_english() -> None:
    stream = io.StringIO()
    bar = scan_command.ProgressBar(stream, REGION, interval=0)
    bar.update(1)
    assert "1 security group read" in stream.getvalue()
    bar.update(2)
    assert "2 security groups read" in stream.getvalue()


def test_a_region_scan_uses_the_shared_inventory(world: World) -> None:
    # The command adds rule ids to what the sweep's scan finds; the scan itself stays read-only.
    world.authorize(world.group("web"), [SSH_WORLD])
    inventory = scan_region(world.aws, world.settings(), datetime.now(UTC))
    rows = scan_command.scan_rows(inventory, world.aws, ACCOUNT)
    assert [row.rule_id is not None for row in rows] == [True]
    assert "RevokeSecurityGroupIngress" not in world.calls


SSH_INTERNAL: dict[str, Any] = {
    "IpProtocol": "tcp",
    "FromPort": 22,
    "ToPort": 22,
    "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
}
RDP_VPC: dict[str, Any] = {
    "IpProtocol": "tcp",
    "FromPort": 3389,
    "ToPort": 3389,
    "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
}
SSH_SUBNET: dict[str, Any] = {
    "IpProtocol": "tcp",
    "FromPort": 22,
    "ToPort": 22,
    "IpRanges": [{"CidrIp": "10.1.0.0/17"}],
}


def test_only_advisory_findings_leave_the_exit_status_0_and_are_listed_only_with_advisory(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    jump = world.group("jump")
    world.authorize(jump, [SSH_INTERNAL, SSH_SUBNET])

    status, out, err = scan(capsys)
    assert status == 0
    assert "10.0.0.0/8" not in out
    assert out.strip().startswith("0 risky rules in 0 of ")
    assert err == (
        "note: 1 advisory finding (risky ports open to a broad internal range) not shown; --advisory lists them\n"
    )

    status, out, err = scan(capsys, "--advisory")
    assert status == 0
    assert err == ""
    lines = out.strip().splitlines()
    assert lines[0] == "Advisory: risky ports open to a broad internal range, not acted on"
    [row] = [line for line in lines if line.startswith(jump)]
    assert "tcp/22" in row
    assert "10.0.0.0/8" in row
    assert row.endswith("advisory: not acted on")
    assert "10.1.0.0/17" not in out
    assert lines[-1].endswith("; 1 advisory finding (broad internal sources, not acted on)")
    assert "RevokeSecurityGroupIngress" not in world.calls


def test_the_advisory_prefix_setting_narrows_what_counts_and_a_bad_one_is_a_one_line_error(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.authorize(world.group("jump"), [SSH_INTERNAL, RDP_VPC])

    monkeypatch.setenv("REMEDIATOR_ADVISORY_PREFIX", "8")
    _, out, _ = scan(capsys, "--advisory", "--format", "json")
    assert [(row["ports"], row["source"]) for row in json.loads(out)["advisory"]] == [("tcp/22", "10.0.0.0/8")]

    monkeypatch.setenv("REMEDIATOR_ADVISORY_PREFIX", "33")
    current_settings.cache_clear()
    status, out, err = scan(capsys, "--advisory")
    assert status == 2
    assert out == ""
    assert err == "error: REMEDIATOR_ADVISORY_PREFIX: '33' is not a prefix length from 0 to 32\n"


def test_the_json_output_lists_advisory_findings_apart_with_every_field_and_the_exit_status_of_the_risky_rows(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    jump = world.group("jump", {"remediator:mode": "revoke"})
    world.authorize(jump, [SSH_INTERNAL])

    status, out, _ = scan(capsys, "--format", "json")
    plain = json.loads(out)
    assert status == 1
    assert "advisory" not in plain
    assert "advisory_rules" not in plain["summary"]

    status, out, _ = scan(capsys, "--format", "json", "--advisory")
    data = json.loads(out)
    assert status == 1
    assert data["rows"] == plain["rows"]
    [advisory] = data["advisory"]
    assert set(advisory) == JSON_ROW_FIELDS
    assert advisory["group_id"] == jump
    assert advisory["rule_id"].startswith("sgr-")
    assert (advisory["ports"], advisory["source"], advisory["severity"]) == ("tcp/22", "10.0.0.0/8", "LOW")
    assert (advisory["mode"], advisory["action"], advisory["would"]) == ("revoke", "none", "advisory: not acted on")
    assert "non-public address space" in advisory["risk"]
    assert data["summary"]["advisory_rules"] == 1
    assert data["summary"]["risky_rules"] == 3


def test_advisory_rows_follow_the_risky_ones_in_csv_and_are_left_out_of_asff_and_ocsf_with_a_note(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    world.authorize(world.group("jump"), [SSH_INTERNAL])

    _, out, _ = scan(capsys, "--format", "csv", "--advisory")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["severity"] for row in rows] == ["HIGH", "HIGH", "MEDIUM", "LOW"]
    assert rows[-1]["would"] == "advisory: not acted on"

    for output_format in ("asff", "ocsf"):
        status, out, err = scan(capsys, "--format", output_format, "--advisory")
        assert status == 1
        assert len(json.loads(out)) == 3
        assert err == (
            f"note: 1 advisory finding (risky ports open to a broad internal range) left out of {output_format}, "
            "which holds failed checks only; --format json or csv lists them\n"
        )


def test_advisory_with_org_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = scan(capsys, "--advisory", "--org", "--role-name", "scan")
    assert status == 2
    assert err == "error: --advisory is not supported with --org yet: scan each account with --advisory\n"
