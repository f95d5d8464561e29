"""`scan --org` on moto: an organization of four accounts, each scanned through the read-only role of the docs."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import moto.ec2.models.availability_zones_and_regions as moto_regions
import moto.sts.models as moto_sts
import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, REGION, World
from moto import mock_aws
from moto.iam.models import get_account_id_from, iam_backends
from moto.organizations.exceptions import AWSOrganizationsNotInUseException
from moto.organizations.models import OrganizationsBackend
from moto.sts.exceptions import STSClientError

from remediator.cli import org as org_command
from remediator.cli.main import main
from remediator.inventory import scan_region
from remediator.permissions import PERMISSIONS

# moto serializes the AccessDenied the AssumeRole check below raises, with a warning that STS's model has no such shape.
pytestmark = pytest.mark.filterwarnings(r"ignore:Exception\(STSClientError\) with code AccessDenied:UserWarning")

ROLE = "sg-remediator-scan"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "organization.md"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
SSH_WORLD: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
SETUP_SESSION = "test-setup"
# moto's default role in the accounts create_account makes, trusting the management account.
ACCESS_ROLE = "OrganizationAccountAccessRole"


def scan_role_template() -> dict[str, Any]:
    """The read-only role's CloudFormation template, as docs/organization.md gives it."""
    blocks = re.findall(r"```json\n(.*?)\n```", DOCS.read_text(encoding="utf-8"), flags=re.DOTALL)
    (block,) = [text for text in blocks if f'"RoleName": "{ROLE}"' in text]
    template: dict[str, Any] = json.loads(block)
    return template


def role_statement(template: dict[str, Any]) -> dict[str, Any]:
    """The one statement of the role's one policy."""
    (policy,) = template["Resources"]["ScanRole"]["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    return dict(statement)


def trusted(role_arn: str, caller: str) -> bool:
    """Whether the role exists in its account and its trust policy names the caller's account (moto checks neither)."""
    account, name = role_arn.split(":")[4], role_arn.rsplit("/", maxsplit=1)[-1]
    role = next((role for role in iam_backends[account]["global"].roles.values() if role.name == name), None)
    if role is None:
        return False
    document = role.assume_role_policy_document
    policy = json.loads(document) if isinstance(document, str) else document
    principals = [statement.get("Principal", {}).get("AWS") for statement in policy["Statement"]]
    return f"arn:aws:iam::{caller}:root" in [
        p for each in principals for p in (each if isinstance(each, list) else [each])
    ]


@dataclass
class Org:
    """An organization on moto: this account manages it, three members, and the AssumeRole calls made."""

    org_id: str
    members: dict[str, str]
    assumed: list[tuple[str, str]] = field(default_factory=list)
    sessions: dict[str, boto3.session.Session] = field(default_factory=dict)

    def session(self, account: str) -> boto3.session.Session:
        """A session in a member account, through moto's OrganizationAccountAccessRole (one per account)."""
        if account not in self.sessions:
            self.sessions[account] = self.new_session(account)
        return self.sessions[account]

    def new_session(self, account: str) -> boto3.session.Session:
        if account == ACCOUNT:
            return boto3.session.Session(region_name=REGION)
        credentials = boto3.client("sts", region_name=REGION).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{ACCESS_ROLE}", RoleSessionName=SETUP_SESSION
        )["Credentials"]
        return boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )

    def deploy_scan_role(self, account: str) -> None:
        """The docs' template as a stack of the member account."""
        self.session(account).client("cloudformation").create_stack(
            StackName="sg-remediator-scan-role",
            TemplateBody=json.dumps(scan_role_template()),
            Capabilities=["CAPABILITY_NAMED_IAM"],
            Parameters=[
                {"ParameterKey": "ScanningAccountId", "ParameterValue": ACCOUNT},
                {"ParameterKey": "OrganizationId", "ParameterValue": self.org_id},
            ],
        )

    def risky_group(self, account: str, name: str, region: str = REGION) -> str:
        """A group of the account's default VPC open to the world on SSH."""
        ec2: Any = self.session(account).client("ec2", region_name=region)
        group_id = str(ec2.create_security_group(GroupName=name, Description=name)["GroupId"])
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[SSH_WORLD])
        return group_id

    def scan_roles_assumed(self) -> list[tuple[str, str]]:
        """The (role ARN, session name) of every AssumeRole call but the test's own."""
        return [call for call in self.assumed if call[1] != SETUP_SESSION]


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[Org]:
    # Every account and region moto opens would load its AMI catalogue, half a second each; the scan reads none.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        organizations = boto3.client("organizations", region_name=REGION)
        org_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
        members = {
            name: organizations.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"][
                "AccountId"
            ]
            for name in ("prod", "dev", "sandbox")
        }
        found = Org(org_id=org_id, members=members)
        original = moto_sts.STSBackend.assume_role

        def assume_role(backend: Any, *, role_session_name: str, role_arn: str, **kwargs: Any) -> Any:
            # AWS refuses a role that does not exist or does not trust the caller (AccessDenied); moto assumes any
            # ARN, so this checks the role and its trust policy's principal (not its aws:PrincipalOrgID condition).
            found.assumed.append((role_arn, role_session_name))
            if not trusted(role_arn, backend.account_id):
                raise STSClientError(
                    "AccessDenied",
                    f"User: arn:aws:iam::{backend.account_id}:user/scanner is not authorized to perform: "
                    f"sts:AssumeRole on resource: {role_arn}",
                )
            return original(backend, role_session_name=role_session_name, role_arn=role_arn, **kwargs)

        monkeypatch.setattr(moto_sts.STSBackend, "assume_role", assume_role)
        yield found


def scan_org(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["scan", "--org", "--role-name", ROLE, *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_every_active_account_is_scanned_and_each_row_names_its_own_account_in_every_format(
    org: Org, capsys: pytest.CaptureFixture[str]
) -> None:
    for account in org.members.values():
        org.deploy_scan_role(account)
    prod, dev, sandbox = (org.members[name] for name in ("prod", "dev", "sandbox"))
    expected = {
        (ACCOUNT, org.risky_group(ACCOUNT, "admin")),
        (prod, org.risky_group(prod, "bastion")),
        (dev, org.risky_group(dev, "jump")),
    }
    status, out, err = scan_org(capsys, "--region", REGION, "--format", "json")
    assert (status, err) == (1, "")
    data = json.loads(out)
    assert {(row["account"], row["group_id"]) for row in data["rows"]} == expected
    assert (data["complete"], data["organization_error"], data["summary"]["accounts"]) == (True, None, 4)
    accounts = {entry["account"]: entry for entry in data["accounts"]}
    assert list(accounts) == [ACCOUNT, *sorted((prod, dev, sandbox))], "this account first, then by id"
    assert accounts[ACCOUNT]["role_arn"] is None, "the scanning account is read with its own credentials"
    assert accounts[sandbox] == {
        "account": sandbox,
        "name": "sandbox",
        "role_arn": f"arn:aws:iam::{sandbox}:role/{ROLE}",
        "regions": 1,
        "groups_scanned": 1,
        "error": None,
    }
    assert {(region["account"], region["region"]) for region in data["regions"]} == {
        (account, REGION) for account in accounts
    }
    assert sorted(org.scan_roles_assumed()) == sorted(
        (f"arn:aws:iam::{account}:role/{ROLE}", "sg-remediator-scan") for account in (prod, dev, sandbox)
    )
    # The other formats carry each row's own account too.
    rows = list(csv.DictReader(io.StringIO(scan_org(capsys, "--region", REGION, "--format", "csv")[1])))
    assert {(row["account"], row["group_id"]) for row in rows} == expected
    findings = json.loads(scan_org(capsys, "--region", REGION, "--format", "asff")[1])
    assert sorted(finding["AwsAccountId"] for finding in findings) == sorted(account for account, _ in expected)
    for finding in findings:
        account = finding["AwsAccountId"]
        assert finding["ProductArn"] == f"arn:aws:securityhub:{REGION}:{account}:product/{account}/default"
    ocsf = json.loads(scan_org(capsys, "--region", REGION, "--format", "ocsf")[1])
    assert sorted(finding["cloud"]["account"]["uid"] for finding in ocsf) == sorted(account for account, _ in expected)


def test_a_member_whose_role_is_missing_is_reported_on_its_own_line_and_the_scan_exits_3(
    org: Org, capsys: pytest.CaptureFixture[str]
) -> None:
    prod, dev, sandbox = (org.members[name] for name in ("prod", "dev", "sandbox"))
    org.deploy_scan_role(prod)
    org.deploy_scan_role(dev)
    groups = [org.risky_group(ACCOUNT, "admin"), org.risky_group(prod, "bastion"), org.risky_group(dev, "jump")]
    status, out, err = scan_org(capsys, "--region", REGION)
    assert status == 3
    assert err.splitlines() == [
        f"error: account {sandbox}: role arn:aws:iam::{sandbox}:role/{ROLE} could not be assumed: AWS said: "
        "An error occurred (AccessDenied) when calling the AssumeRole operation: User: "
        f"arn:aws:iam::{ACCOUNT}:user/scanner is not authorized to perform: sts:AssumeRole on resource: "
        f"arn:aws:iam::{sandbox}:role/{ROLE}"
    ]
    assert all(group in out for group in groups), "the other accounts are still scanned and listed"
    assert f"account {prod} (prod)" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("4 accounts: 3 risky rules in 3 of ")
    assert last.endswith(f"(scan incomplete: account {sandbox} could not be read)")
    data = json.loads(scan_org(capsys, "--region", REGION, "--format", "json")[1])
    assert data["complete"] is False
    assert next(entry for entry in data["accounts"] if entry["account"] == sandbox)["error"].startswith(
        f"role arn:aws:iam::{sandbox}:role/{ROLE} could not be assumed: AWS said:"
    )


def test_a_region_that_fails_in_one_account_is_reported_and_the_rest_is_still_scanned(
    org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for account in org.members.values():
        org.deploy_scan_role(account)
    prod = org.members["prod"]
    kept = org.risky_group(prod, "bastion", "eu-west-1")

    def failing_in_one_place(aws: Any, *args: Any, **kwargs: Any) -> Any:
        # The account moto serves the client's credentials in (an assumed role's key names its account).
        account = get_account_id_from(aws.ec2._request_signer._credentials.access_key)
        if aws.ec2.meta.region_name == "eu-central-1" and account == prod:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeSecurityGroups")
        return scan_region(aws, *args, **kwargs)

    monkeypatch.setattr(org_command, "scan_region", failing_in_one_place)
    status, out, err = scan_org(capsys, "--region", "eu-west-1,eu-central-1", "--format", "json")
    assert status == 3
    assert err == (
        f"error: account {prod}, eu-central-1: AWS said: An error occurred (UnauthorizedOperation) when calling "
        "the DescribeSecurityGroups operation: no\n"
    )
    data = json.loads(out)
    assert [row["group_id"] for row in data["rows"]] == [kept]
    failed = [(r["account"], r["region"]) for r in data["regions"] if r["error"]]
    assert failed == [(prod, "eu-central-1")]
    assert len(data["regions"]) == 8, "four accounts, two regions each"


def test_suspended_accounts_are_skipped_and_the_account_list_is_read_page_by_page(
    org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(org_command, "ACCOUNTS_PER_PAGE", 1)
    prod, dev, sandbox = (org.members[name] for name in ("prod", "dev", "sandbox"))
    org.deploy_scan_role(prod)
    org.deploy_scan_role(dev)
    boto3.client("organizations", region_name=REGION).close_account(AccountId=sandbox)
    status, out, _ = scan_org(capsys, "--region", REGION, "--format", "json")
    assert status == 0, "the suspended account, which has no role, is not tried"
    assert [entry["account"] for entry in json.loads(out)["accounts"]] == [ACCOUNT, *sorted((prod, dev))]
    assert {arn.split(":")[4] for arn, _ in org.scan_roles_assumed()} == {prod, dev}


def test_an_account_outside_any_organization_is_still_scanned_and_the_scan_exits_3(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = OrganizationsBackend.list_accounts

    def list_accounts(backend: Any, **kwargs: Any) -> Any:
        # AWS answers AWSOrganizationsNotInUseException outside an organization; moto lists no account.
        if backend.org is None:
            raise AWSOrganizationsNotInUseException
        return listed(backend, **kwargs)

    monkeypatch.setattr(OrganizationsBackend, "list_accounts", list_accounts)
    group = world.group("admin")
    world.authorize(group, [SSH_WORLD])
    status, out, err = scan_org(capsys, "--region", REGION)
    assert status == 3
    assert err.startswith("error: the organization's accounts could not be listed: AWS said: An error occurred ")
    assert "AWSOrganizationsNotInUseException" in err
    assert group in out, "the scanning account itself is still scanned"
    last = out.strip().splitlines()[-1]
    assert last.startswith("1 account: 1 risky rule in 1 of ")
    assert last.endswith("(scan incomplete: (organization) could not be read)")


def test_each_account_is_scanned_in_the_regions_its_own_credentials_list_as_enabled(
    org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod, dev, sandbox = (org.members[name] for name in ("prod", "dev", "sandbox"))
    enabled = {
        ACCOUNT: ["eu-west-1", "us-east-1"],
        prod: ["ap-southeast-2", "eu-west-1"],
        dev: ["eu-central-1"],
        sandbox: ["sa-east-1", "us-west-2"],
    }
    real = moto_regions.RegionsAndZonesBackend.describe_regions

    def describe_regions(backend: Any, region_names: list[str] | None = None) -> list[Any]:
        # Each account has its own opt-in regions enabled: DescribeRegions lists only those.
        return [region for region in real(backend, region_names) if region.name in enabled[backend.account_id]]

    monkeypatch.setattr(moto_regions.RegionsAndZonesBackend, "describe_regions", describe_regions)
    for account in org.members.values():
        org.deploy_scan_role(account)
    far = org.risky_group(prod, "sydney", "ap-southeast-2")
    status, out, _ = scan_org(capsys, "--format", "json")
    assert status == 1
    data = json.loads(out)
    scanned: dict[str, list[str]] = {}
    for region in data["regions"]:
        scanned.setdefault(region["account"], []).append(region["region"])
    assert {account: sorted(regions) for account, regions in scanned.items()} == enabled
    assert [(row["account"], row["region"], row["group_id"]) for row in data["rows"]] == [(prod, "ap-southeast-2", far)]


def test_the_role_in_the_docs_allows_exactly_the_read_calls_the_scan_makes() -> None:
    template = scan_role_template()
    statement = role_statement(template)
    read = {
        permission.action
        for name, permission in PERMISSIONS.items()
        if name.startswith(("Describe", "Get")) and permission.action.startswith("ec2:")
    }
    # The groups that reference a prefix list are the function's question on a prefix-list edit; the scan reads
    # every group's rules instead.
    event_path_only = {"ec2:GetManagedPrefixListAssociations"}
    assert set(statement["Action"]) == read - event_path_only | {"ec2:DescribeRegions"}
    assert len(statement["Action"]) == len(set(statement["Action"]))
    assert set(statement["Action"]) == {f"ec2:{operation}" for operation in org_command.READ_OPERATIONS}
    assert (statement["Effect"], statement["Resource"]) == ("Allow", "*")
    role = template["Resources"]["ScanRole"]["Properties"]
    assert role["RoleName"] == ROLE
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ScanningAccountId}:root"}}
    assert trust["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}


def test_the_scan_makes_no_ec2_call_the_role_in_the_docs_does_not_allow(
    org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = org.members["prod"]
    for account in org.members.values():
        org.deploy_scan_role(account)
    # A rule from a prefix list of the account's own: the scan then reads the list and its entries too.
    ec2 = org.session(prod).client("ec2", region_name=REGION)
    prefix_list = ec2.create_managed_prefix_list(
        PrefixListName="partners", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "0.0.0.0/0"}]
    )["PrefixList"]["PrefixListId"]
    group = org.risky_group(prod, "partners")
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "PrefixListIds": [{"PrefixListId": prefix_list}]}
        ],
    )
    ec2.create_network_interface(SubnetId=ec2.describe_subnets()["Subnets"][0]["SubnetId"], Groups=[group])
    calls: set[tuple[str, str]] = set()
    made = boto3.session.Session.client

    def client(session: boto3.session.Session, *args: Any, **kwargs: Any) -> Any:
        new = made(session, *args, **kwargs)
        new.meta.events.register(
            "before-call", lambda model, **_: calls.add((model.service_model.service_name, model.name))
        )
        return new

    monkeypatch.setattr(boto3.session.Session, "client", client)
    enabled = {"eu-west-1"}
    real = moto_regions.RegionsAndZonesBackend.describe_regions
    monkeypatch.setattr(
        moto_regions.RegionsAndZonesBackend,
        "describe_regions",
        lambda backend, names=None: [region for region in real(backend, names) if region.name in enabled],
    )
    assert scan_org(capsys)[0] == 1
    allowed = {action.removeprefix("ec2:") for action in role_statement(scan_role_template())["Action"]}
    assert {name for service, name in calls if service == "ec2"} == allowed
    # What the scanning account itself needs besides: who it is, the accounts, the roles.
    assert {(service, name) for service, name in calls if service != "ec2"} == {
        ("sts", "GetCallerIdentity"),
        ("organizations", "ListAccounts"),
        ("sts", "AssumeRole"),
    }


def test_the_role_template_in_the_docs_passes_cfn_lint(tmp_path: Path) -> None:
    path = tmp_path / "scan-role.json"
    path.write_text(json.dumps(scan_role_template()))
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--regions", "us-east-1", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 4, 8), result.stdout + result.stderr  # 2: errors; 4: warnings; 8: informational
    assert [finding for finding in json.loads(result.stdout or "[]") if finding["Level"] == "Error"] == []


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_progress_line_counts_accounts_and_errors_get_lines_of_their_own(
    org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    org.deploy_scan_role(org.members["prod"])
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert scan_org(capsys, "--region", REGION, "--max-workers", "1")[0] == 3
    screen = terminal.getvalue()
    assert "4 of 4 accounts scanned" in screen
    lines = [line.split("\r")[-1] for line in screen.split("\n")]
    failed = [line for line in lines if line.startswith("error: account ")]
    assert len(failed) == 2, "dev and sandbox have no role"
    assert screen.endswith("\r"), "the progress line is cleared at the end"


def test_the_progress_line_counts_accounts_in_good_english() -> None:
    stream = io.StringIO()
    bar = org_command.AccountsBar(stream, 1)
    bar.advance()
    assert stream.getvalue().endswith("1 of 1 account scanned")
    bar = org_command.AccountsBar(stream, 40)
    bar.advance()
    assert stream.getvalue().endswith("1 of 40 accounts scanned")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role-name", ROLE], "--role-name is only used with --org"),
        (["--org"], "--org needs --role-name"),
        (["--max-workers", "4"], "--max-workers is only used with --org"),
    ],
)
def test_the_organisation_options_alone_are_a_usage_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-workers", "0"], "'0' is not a number of workers"),
        (["--role-name", "no such role"], "'no such role' is not an IAM role name"),
    ],
)
def test_a_bad_organisation_option_is_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["scan", "--org", "--role-name", ROLE, *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_python_dash_m_remediator_scan_org_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "remediator", "scan", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=DOCS.parents[1],
    )
    assert "--org" in result.stdout
    assert "--role-name ROLE" in result.stdout
    assert "--max-workers N" in result.stdout
