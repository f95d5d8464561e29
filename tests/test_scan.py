"""The scan of existing rules, on embedded AWS and through the command line, in process and against a moto server."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from conftest import REGION, World
from moto.server import ThreadedMotoServer

from remediator import inventory, risk
from remediator.cli import scan as scan_command
from remediator.cli.main import main
from remediator.effects import Aws, group_state
from remediator.engine import Criteria
from remediator.inventory import Inventory, Judge, rows_of, scan_region, summary_line
from remediator.model import RuleEntry, Source, SourceKind
from remediator.risk import PrefixListInfo
from remediator.settings import settings_from

NOW = datetime.now(UTC)
ROOT = Path(__file__).resolve().parent.parent
SSH_WORLD: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
RDP_WORLD_V6: dict[str, Any] = {
    "IpProtocol": "tcp",
    "FromPort": 3389,
    "ToPort": 3389,
    "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
}
HTTPS_WORLD: dict[str, Any] = {
    "IpProtocol": "tcp",
    "FromPort": 443,
    "ToPort": 443,
    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
}
SSH_OFFICE: dict[str, Any] = {
    "IpProtocol": "tcp",
    "FromPort": 22,
    "ToPort": 22,
    "IpRanges": [{"CidrIp": "203.0.113.0/24"}],
}


class Account:
    """Groups of every kind the scan must tell apart, in the world's VPC."""

    def __init__(self, world: World) -> None:
        self.world = world
        subnet = world.ec2.create_subnet(VpcId=world.vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        self.open_list = world.ec2.create_managed_prefix_list(
            PrefixListName="anyone", MaxEntries=2, AddressFamily="IPv4", Entries=[{"Cidr": "0.0.0.0/0"}]
        )["PrefixList"]["PrefixListId"]
        self.aws_list = next(
            p["PrefixListId"] for p in world.ec2.describe_managed_prefix_lists()["PrefixLists"] if p["OwnerId"] == "AWS"
        )
        self.attached = world.group("attached")
        world.authorize(self.attached, [SSH_WORLD, HTTPS_WORLD])
        world.ec2.create_network_interface(SubnetId=subnet, Groups=[self.attached])
        self.unattached = world.group("spare")
        world.authorize(self.unattached, [SSH_WORLD, RDP_WORLD_V6])
        self.narrow = world.group(
            "narrow", {"remediator:mode": "narrow", "remediator:allowed-cidrs": "198.51.100.0/24"}
        )
        world.authorize(self.narrow, [SSH_WORLD])
        self.notify = world.group("watched", {"remediator:mode": "notify"})
        world.authorize(self.notify, [SSH_WORLD])
        self.opted_out = world.group("bastion", {"remediator:mode": "ignore", "remediator:expires": "2099-12-31"})
        world.authorize(self.opted_out, [SSH_WORLD])
        self.expired = world.group("expired", {"remediator:mode": "ignore", "remediator:expires": "2001-01-01"})
        world.authorize(self.expired, [SSH_WORLD])
        self.bad_tag = world.group("typo", {"remediator:mode": "revokee"})
        world.authorize(self.bad_tag, [SSH_WORLD])
        self.listed = world.group("listed")
        world.authorize(
            self.listed,
            [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "PrefixListIds": [{"PrefixListId": self.open_list}],
                },
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": self.aws_list}]},
            ],
        )
        self.clean = world.group("clean")
        world.authorize(self.clean, [HTTPS_WORLD, SSH_OFFICE])
        self.ids = [
            self.attached,
            self.unattached,
            self.narrow,
            self.notify,
            self.opted_out,
            self.expired,
            self.bad_tag,
            self.listed,
            self.clean,
        ]

    def rules(self) -> dict[str, set[tuple[str, int | None, int | None, str]]]:
        return {group_id: self.world.ingress(group_id) for group_id in self.ids}


@pytest.fixture
def account(world: World) -> Account:
    return Account(world)


def scan(world: World, **env: str) -> Inventory:
    world.calls.clear()
    return scan_region(world.aws, world.settings(**env), NOW)


def test_every_risky_rule_is_listed_once_with_what_would_happen_to_it(world: World, account: Account) -> None:
    rows = rows_of(scan(world))

    found = {(row.group_id, row.ports, row.source): row.would for row in rows}
    assert found == {
        (account.attached, "tcp/22", "0.0.0.0/0"): "revoke",
        (account.unattached, "tcp/22", "0.0.0.0/0"): "revoke",
        (account.unattached, "tcp/3389", "::/0"): "revoke",
        (account.narrow, "tcp/22", "0.0.0.0/0"): "narrow to 198.51.100.0/24",
        (account.notify, "tcp/22", "0.0.0.0/0"): "notify",
        (account.opted_out, "tcp/22", "0.0.0.0/0"): "ignored until 2099-12-31",
        (account.expired, "tcp/22", "0.0.0.0/0"): "revoke",
        (account.bad_tag, "tcp/22", "0.0.0.0/0"): "revoke",
        (account.listed, "tcp/22", account.open_list): "revoke",
    }
    assert [row.group_id for row in rows] == sorted(row.group_id for row in rows)


def test_each_row_names_the_group_its_vpc_its_attachment_and_mode(world: World, account: Account) -> None:
    rows = {row.group_id: row for row in rows_of(scan(world))}

    assert rows[account.attached].attached is True
    assert rows[account.unattached].attached is False
    assert rows[account.opted_out].attached is False
    assert rows[account.narrow].group_name == "narrow"
    assert rows[account.narrow].vpc_id == world.vpc_id
    assert rows[account.narrow].mode == "narrow"
    assert rows[account.opted_out].mode == "ignore"
    assert "whole internet" in rows[account.attached].risk
    assert f"prefix list {account.open_list} contains 0.0.0.0/0" in rows[account.listed].risk


def test_expired_exceptions_and_bad_tags_are_explained_in_the_notes(world: World, account: Account) -> None:
    rows = {row.group_id: row for row in rows_of(scan(world))}

    assert rows[account.expired].notes == (
        "the exception expired on 2001-01-01 (remediator:expires), so the default policy applies",
    )
    assert "'revokee' is not one of" in rows[account.bad_tag].notes[0]
    assert rows[account.opted_out].notes == ()


def test_the_tag_policy_follows_the_deployed_default_mode(world: World, account: Account) -> None:
    rows = {row.group_id: row for row in rows_of(scan(world, REMEDIATOR_DEFAULT_MODE="notify"))}

    assert rows[account.attached].would == "notify"
    assert rows[account.expired].would == "notify"
    assert rows[account.narrow].would == "narrow to 198.51.100.0/24"


def test_the_summary_line_counts_rules_by_action(world: World, account: Account) -> None:
    inventory = scan(world)

    line = summary_line(rows_of(inventory), inventory.groups_scanned)

    # The world's VPC and the default VPC each bring a default group: 9 + 2 groups.
    assert (
        line == "9 risky rules in 8 of 11 groups (7 attached to no interface): 6 revoke, 1 narrow, 1 notify, 1 ignored"
    )


def test_the_scan_only_reads_one_page_of_each_kind_and_changes_nothing(world: World, account: Account) -> None:
    before = account.rules()

    scan(world)

    assert account.rules() == before
    # One page of groups, each referenced prefix list read once (entries only for the customer's list), one page
    # of network interfaces: no call per group.
    assert world.calls == [
        "DescribeSecurityGroups",
        "DescribeManagedPrefixLists",
        "GetManagedPrefixListEntries",
        "DescribeNetworkInterfaces",
    ]
    assert all(call.startswith(("Describe", "Get")) for call in world.calls)


def test_a_region_without_risky_rules_costs_one_call(world: World) -> None:
    world.authorize(world.group("web"), [HTTPS_WORLD, SSH_OFFICE])

    inventory = scan(world)

    assert inventory.findings == ()
    assert world.calls == ["DescribeSecurityGroups"]


def test_the_calls_grow_with_pages_not_groups_on_moto(world: World) -> None:
    for number in range(60):
        world.authorize(world.group(f"g{number}"), [SSH_WORLD])

    inventory = scan(world)

    assert inventory.groups_scanned == 62
    assert len(inventory.findings) == 60
    # Moto returns every group in one page whatever MaxResults says, so this shows no page boundary; the page
    # size and the following of NextToken are shown with a stubbed client below.
    assert world.calls.count("DescribeSecurityGroups") <= math.ceil(62 / 1000)
    assert world.calls == ["DescribeSecurityGroups", "DescribeNetworkInterfaces"]


def group_page(first: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "GroupId": f"sg-{number:017x}",
            "GroupName": f"g{number}",
            "VpcId": "vpc-00000000000000001",
            "IpPermissions": [SSH_WORLD] if number % 2 else [],
        }
        for number in range(first, first + count)
    ]


def test_groups_are_read_in_pages_of_1000_following_every_next_token() -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    aws = Aws(ec2=ec2, sns=boto3.client("sns", region_name=REGION))
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_security_groups",
            {"SecurityGroups": group_page(0, 1000), "NextToken": "page-2"},
            {"MaxResults": 1000},
        )
        stub.add_response(
            "describe_security_groups",
            {"SecurityGroups": group_page(1000, 500)},
            {"MaxResults": 1000, "NextToken": "page-2"},
        )
        stub.add_response(
            "describe_network_interfaces",
            {"NetworkInterfaces": [{"Groups": [{"GroupId": f"sg-{1:017x}"}]}]},
            {"MaxResults": 1000},
        )
        inventory = scan_region(aws, settings_from({}), NOW)
        stub.assert_no_pending_responses()

    assert inventory.groups_scanned == 1500
    assert len(inventory.findings) == 750
    assert [f.attached for f in inventory.findings[:2]] == [True, False]


def test_progress_is_reported_as_groups_are_read(world: World, account: Account) -> None:
    seen: list[int] = []
    scan_region(world.aws, world.settings(), NOW, progress=seen.append)
    assert seen == list(range(1, 12))


def test_the_progress_bar_redraws_one_line_and_clears_it() -> None:
    stream = io.StringIO()
    bar = scan_command.ProgressBar(stream, "eu-west-1", interval=0)
    bar.update(1000)
    bar.update(2000)
    bar.close()
    text = stream.getvalue()
    assert "\reu-west-1: 1,000 security groups read" in text
    assert "\reu-west-1: 2,000 security groups read" in text
    assert "\n" not in text
    assert text.endswith("\r")


def test_the_command_prints_a_table_and_the_summary(
    world: World, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan"]) == 1, "risky rules found: exit 1 (--fail-on risky, the default)"

    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["GROUP", "NAME", "ATTACHED", "RULE", "SOURCE", "MODE", "WOULD"]
    assert max(len(line) for line in lines if not line.startswith("    note:")) <= 120
    assert lines[-1].startswith("9 risky rules in 8 of 11 groups")
    [spare_ssh] = [line for line in lines if account.unattached in line and "tcp/22" in line]
    assert spare_ssh.split()[:4] == [
        account.unattached,
        "spare",
        "no",
        "tcp/22",
    ]
    assert spare_ssh.split()[4:6] == ["0.0.0.0/0", "revoke"]
    assert "    note: the exception expired on 2001-01-01" in out
    # Stderr is not a terminal here: no progress bar.
    assert err == ""


def test_json_output_has_every_row_and_the_summary(
    world: World, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "--json", "--default-mode", "notify", "--fail-on", "none"]) == 0

    data = json.loads(capsys.readouterr().out)
    assert data["regions"] == [{"region": REGION, "groups_scanned": 11, "error": None}]
    assert len(data["rows"]) == 9
    narrow = next(row for row in data["rows"] if row["group_id"] == account.narrow)
    assert narrow["narrow_to"] == ["198.51.100.0/24"]
    assert narrow["action"] == "narrow"
    assert data["summary"] == {
        "groups_scanned": 11,
        "risky_rules": 9,
        "groups_with_risky_rules": 8,
        "unattached_groups": 7,
        "by_action": {"revoke": 0, "narrow": 1, "notify": 7, "ignored": 1},
    }


def test_each_region_given_is_scanned(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.authorize(world.group("web"), [SSH_WORLD])
    other: Any = boto3.client("ec2", region_name="us-east-1")
    vpc = other.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    far = other.create_security_group(GroupName="far", Description="far", VpcId=vpc)["GroupId"]
    other.authorize_security_group_ingress(GroupId=far, IpPermissions=[RDP_WORLD_V6])

    assert main(["scan", "--json", "--region", f"{REGION},us-east-1"]) == 1

    data = json.loads(capsys.readouterr().out)
    assert [r["region"] for r in data["regions"]] == [REGION, "us-east-1"]
    assert {(row["region"], row["ports"]) for row in data["rows"]} == {(REGION, "tcp/22"), ("us-east-1", "tcp/3389")}


def test_a_failing_region_is_one_error_line_and_the_others_are_still_listed(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.authorize(world.group("web"), [SSH_WORLD])

    def scan_or_fail(aws: Aws, *args: Any, **kwargs: Any) -> Inventory:
        if aws.ec2.meta.region_name == "ap-south-2":
            raise ClientError(
                {"Error": {"Code": "AuthFailure", "Message": "AWS was not able to validate\nthe credentials"}},
                "DescribeSecurityGroups",
            )
        return scan_region(aws, *args, **kwargs)

    monkeypatch.setattr(scan_command, "scan_region", scan_or_fail)

    assert main(["scan", "--region", "ap-south-2", "--region", REGION]) == 3, "a region failed: incomplete"

    out, err = capsys.readouterr()
    [error] = err.splitlines()
    assert error.startswith("error: ap-south-2: AWS said: An error occurred (AuthFailure)")
    assert out.splitlines()[-1].startswith("1 risky rule in 1 of 3 groups")

    assert main(["scan", "--json", "--region", "ap-south-2", "--region", REGION]) == 3
    regions = json.loads(capsys.readouterr().out)["regions"]
    assert [(r["region"], r["groups_scanned"], r["error"] is None) for r in regions] == [
        ("ap-south-2", None, False),
        (REGION, 3, True),
    ]


def test_without_a_region_the_command_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    assert main(["scan"]) == 2
    assert (
        capsys.readouterr().err
        == "error: no region given: pass --region or --all-regions, or set AWS_REGION or the profile's region\n"
    )


@pytest.fixture
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_the_command_scans_a_moto_server_on_loopback_in_a_subprocess_without_changing_it(moto_server: str) -> None:
    groups: dict[str, str] = {}
    for region, permission in ((REGION, SSH_WORLD), ("us-east-1", RDP_WORLD_V6)):
        ec2: Any = boto3.client("ec2", region_name=region, endpoint_url=moto_server)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        groups[region] = ec2.create_security_group(GroupName="open", Description="open", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=groups[region], IpPermissions=[permission])
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }

    text = subprocess.run(
        [sys.executable, "-m", "remediator", "scan", "--region", REGION, "--region", "us-east-1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    as_json = subprocess.run(
        [sys.executable, "-m", "remediator", "scan", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (text.returncode, as_json.returncode) == (1, 1), text.stderr + as_json.stderr

    assert text.stderr == ""
    assert groups[REGION] in text.stdout
    assert groups["us-east-1"] in text.stdout
    assert text.stdout.splitlines()[0].split()[0] == "REGION"
    assert text.stdout.splitlines()[-1].startswith("2 risky rules in 2 of")
    data = json.loads(as_json.stdout)
    assert [(row["region"], row["group_id"], row["would"]) for row in data["rows"]] == [
        (REGION, groups[REGION], "revoke")
    ]
    # Read-only: the rule the scan reported as one to revoke is still there.
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_server)
    [group] = ec2.describe_security_groups(GroupIds=[groups[REGION]])["SecurityGroups"]
    assert group["IpPermissions"][0]["IpRanges"][0]["CidrIp"] == "0.0.0.0/0"


def test_the_scan_says_a_rule_would_be_revoked_never_that_it_was(world: World) -> None:
    wide = world.group("wide", {"remediator:mode": "narrow", "remediator:allowed-cidrs": "0.0.0.0/1"})
    v6_only = world.group("v4only", {"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24"})
    misspelt = world.group("misspelt", {"Remediator:Mode": "ignore"})
    world.authorize(wide, [SSH_WORLD])
    world.authorize(v6_only, [RDP_WORLD_V6])
    world.authorize(misspelt, [SSH_WORLD])

    rows = {row.group_id: row for row in rows_of(scan(world))}

    assert rows[wide].notes == (
        "the allowed source 0.0.0.0/1 is itself open (or unreadable), so it would be revoked instead of narrowed",
    )
    assert rows[v6_only].notes == ("no allowed IPv6 source to narrow to, so it would be revoked instead of narrowed",)
    assert rows[misspelt].notes == ("the tag 'Remediator:Mode' is not read: tag keys are exact, use remediator:mode",)
    assert rows[misspelt].would == "revoke"
    assert not any("was revoked" in note for row in rows.values() for note in row.notes)


JUDGED = [
    # protocol, from, to, kind, value: (risky, advisory)
    (("tcp", 22, 22, SourceKind.IPV4, "0.0.0.0/0"), (True, False)),
    (("tcp", 22, 22, SourceKind.IPV4, "10.0.0.0/8"), (False, True)),
    (("tcp", 22, 22, SourceKind.IPV4, "10.1.2.0/24"), (False, False)),
    (("tcp", 443, 443, SourceKind.IPV4, "0.0.0.0/0"), (False, False)),
    (("-1", None, None, SourceKind.IPV6, "::/0"), (True, False)),
    (("tcp", 3389, 3389, SourceKind.IPV6, "fd00::/8"), (False, True)),
    (("tcp", 22, 22, SourceKind.PREFIX_LIST, "pl-0123456789abcdef0"), (True, False)),
    (("tcp", 22, 22, SourceKind.PREFIX_LIST, "pl-00000000000000000"), (False, False)),
    (("tcp", 22, 22, SourceKind.SECURITY_GROUP, "sg-0123456789abcdef0"), (False, False)),
]


@pytest.mark.parametrize(("content", "expected"), JUDGED)
def test_the_scans_judge_gives_each_entry_the_verdicts_of_assess_and_assess_advisory(
    content: tuple[str, int | None, int | None, SourceKind, str], expected: tuple[bool, bool]
) -> None:
    protocol, first, last, kind, value = content
    entry = RuleEntry(
        protocol=protocol,
        from_port=first,
        to_port=last,
        source=Source(kind=kind, value=value),
        description=None,
        rule_id=None,
    )
    criteria = Criteria.of(settings_from({}))
    open_list = PrefixListInfo(prefix_list_id="pl-0123456789abcdef0", aws_managed=False, cidrs=("0.0.0.0/0",))
    judge = Judge(criteria=criteria, prefix_lists={open_list.prefix_list_id: open_list}, advisory_prefix=16)

    risky, advisory = judge.verdict(entry)

    assert (risky, advisory is not None) == expected


def test_the_scans_judge_judges_a_content_shared_by_many_groups_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[RuleEntry] = []
    real = risk.assess

    def counted(entry: RuleEntry, *args: Any) -> Any:
        calls.append(entry)
        return real(entry, *args)

    monkeypatch.setattr(inventory, "assess", counted)
    listed = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    groups = [group_state({"GroupId": f"sg-{n:017x}", "IpPermissions": [listed]}) for n in range(50)]
    judge = Judge(criteria=Criteria.of(settings_from({})), prefix_lists={}, advisory_prefix=16)

    verdicts = {judge.verdict(entry)[0] for group in groups for entry in group.ingress}

    assert verdicts == {True}
    assert len(calls) == 1
