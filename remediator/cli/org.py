"""`scan --org`: the scan of every active account of an AWS Organization, through a read-only role in each.

The account the credentials belong to (usually the management account) lists the organization's accounts, is
scanned with its own credentials, and assumes `--role-name` in every other active account. Each account's regions
are its enabled ones (DescribeRegions with its own credentials) or the `--region` list; accounts and regions are
scanned by a bounded pool of threads. An account or region that fails is reported on its own line and makes the
scan incomplete (exit 3); the others are still scanned. The rows, formats and exit statuses are `scan`'s.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import boto3
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError
from botocore.loaders import Loader, create_loader

from remediator.cli import scan as single
from remediator.cli.output import aws_error_message, print_json
from remediator.effects import CLIENT_CONFIG, Aws
from remediator.inventory import Inventory, scan_region
from remediator.settings import Settings

DEFAULT_MAX_WORKERS = 8
SESSION_NAME = "sg-remediator-scan"
# ListAccounts returns at most 20 accounts a page (its MaxResults).
ACCOUNTS_PER_PAGE = 20
# IAM role names (and an optional path before them): letters, digits and +=,.@_- (IAM User Guide, IAM quotas).
ROLE_NAME = re.compile(r"([\w+=,.@-]+/)*[\w+=,.@-]{1,64}")
# The region STS and Organizations are called in when the profile names none.
FALLBACK_REGION = "us-east-1"
# What the scan reads in every account: what the role of docs/organization.md must allow (a test checks both).
READ_OPERATIONS = (
    "DescribeSecurityGroups",
    "DescribeSecurityGroupRules",
    "DescribeNetworkInterfaces",
    "DescribeManagedPrefixLists",
    "GetManagedPrefixListEntries",
    "DescribeRegions",
)
# Sessions are not thread-safe (clients are): the clients of a session shared by threads are made one at a time.
CLIENT_LOCK = threading.Lock()


def role_name(text: str) -> str:
    """An argparse type: an IAM role name (with its path, if any), else a usage error."""
    if not ROLE_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an IAM role name such as sg-remediator-scan")
    return text


def max_workers(text: str) -> int:
    """An argparse type: a number of threads, at least 1."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers (1 or more)")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--org`, `--role-name` and `--max-workers` to the `scan` parser."""
    parser.add_argument(
        "--org",
        action="store_true",
        help="scan every active account of the AWS Organization, each in every enabled region (or --region), "
        "assuming --role-name in each account but this one (docs/organization.md)",
    )
    parser.add_argument(
        "--role-name", type=role_name, metavar="ROLE", help="with --org: the read-only role of every member account"
    )
    parser.add_argument(
        "--max-workers",
        type=max_workers,
        metavar="N",
        help=f"with --org: accounts and regions scanned at once (default: {DEFAULT_MAX_WORKERS})",
    )


def usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the combination of the organisation options, or None."""
    if args.org and not args.role_name:
        return "--org needs --role-name: the read-only role to assume in every member account"
    if args.role_name and not args.org:
        return "--role-name is only used with --org"
    if args.max_workers is not None and not args.org:
        return "--max-workers is only used with --org"
    return None


def partition_of_arn(arn: str) -> str:
    """The partition of an ARN (arn:PARTITION:...)."""
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[1] else "aws"


def role_arn(partition: str, account: str, role: str) -> str:
    """The ARN of the scan's role in an account."""
    return f"arn:{partition}:iam::{account}:role/{role}"


@dataclass(frozen=True, slots=True)
class Target:
    """An account to scan: its id and name, and the role to assume in it (None: the caller's own credentials)."""

    account: str
    name: str
    role_arn: str | None


@dataclass(frozen=True, slots=True)
class Reached:
    """An account whose credentials and regions are known."""

    target: Target
    session: boto3.session.Session
    regions: list[str]
    sns: Any


class UnreachableError(Exception):
    """An account that could not be scanned at all: its role not assumed, or its regions not listed."""


@dataclass
class AccountScan:
    """What the scan of one account found, and what failed."""

    target: Target
    regions: list[str] = field(default_factory=list)
    inventories: list[Inventory] = field(default_factory=list)
    region_errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    left: int = 0

    @property
    def groups_scanned(self) -> int:
        """The groups read in the regions that were read."""
        return sum(inventory.groups_scanned for inventory in self.inventories)


def active_accounts(organizations: Any) -> list[dict[str, Any]]:
    """The organization's accounts that are ACTIVE, every page of ListAccounts."""
    paginator = organizations.get_paginator("list_accounts")
    accounts: list[dict[str, Any]] = []
    for page in paginator.paginate(PaginationConfig={"PageSize": ACCOUNTS_PER_PAGE}):
        for account in page.get("Accounts", []):
            # State replaces the deprecated Status; either says ACTIVE of an account that can be scanned.
            if (account.get("State") or account.get("Status")) == "ACTIVE":
                accounts.append(account)
    return accounts


def new_session(loader: Loader, **settings: Any) -> boto3.session.Session:
    """A session of its own (sessions are not thread-safe) that shares the service models parsed once in `loader`."""
    core = botocore.session.get_session()
    core.register_component("data_loader", loader)
    return boto3.session.Session(botocore_session=core, **settings)


def reach(
    target: Target,
    *,
    sts: Any,
    loader: Loader,
    profile: str | None,
    home_region: str,
    given: list[str],
    endpoint_url: str | None,
) -> Reached:
    """The account's own session (its own credentials, or the role assumed) and the regions to scan there."""
    if target.role_arn is None:
        session = new_session(loader, profile_name=profile, region_name=home_region)
    else:
        try:
            credentials = sts.assume_role(RoleArn=target.role_arn, RoleSessionName=SESSION_NAME)["Credentials"]
        except (ClientError, BotoCoreError) as error:
            raise UnreachableError(
                f"role {target.role_arn} could not be assumed: {aws_error_message(error)[0]}"
            ) from None
        session = new_session(
            loader,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=home_region,
        )
    try:
        regions = given or single.enabled_regions(session, endpoint_url)
    except (ClientError, BotoCoreError) as error:
        raise UnreachableError(f"the account's regions could not be listed: {aws_error_message(error)[0]}") from None
    # Aws takes an SNS client; the scan never publishes, so one per account does.
    sns = session.client("sns", region_name=home_region, config=CLIENT_CONFIG)
    return Reached(target=target, session=session, regions=regions, sns=sns)


def scan_account_region(
    reached: Reached, region: str, settings: Settings, now: datetime, endpoint_url: str | None
) -> tuple[Inventory, list[single.ScanRow]]:
    """One region of one account, read-only, with `scan`'s own functions."""
    with CLIENT_LOCK:
        ec2 = reached.session.client("ec2", region_name=region, endpoint_url=endpoint_url, config=CLIENT_CONFIG)
    aws = Aws(ec2=ec2, sns=reached.sns)
    inventory = scan_region(aws, settings, now)
    return inventory, single.scan_rows(inventory, aws, reached.target.account)


class AccountsBar:
    """`12 of 40 accounts scanned` on one terminal line, cleared for each error line and at the end."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.bar = single.ProgressBar(stream, "accounts")
        self.stream = stream
        self.total = total
        self.done = 0

    def text(self) -> str:
        """The line as it reads now."""
        return f"{self.done} of {self.total} account{'' if self.total == 1 else 's'} scanned"

    def advance(self) -> None:
        """One more account done."""
        self.done += 1
        self.bar.draw(self.text())

    def say(self, line: str) -> None:
        """Print a line of its own above the bar."""
        self.bar.close()
        print(line, file=self.stream, flush=True)
        self.bar.draw(self.text())

    def close(self) -> None:
        """Clear the line."""
        self.bar.close()


@dataclass
class OrgScan:
    """The whole scan: every account's results, the rows, and the failures by place."""

    accounts: list[AccountScan]
    rows: list[single.ScanRow]
    organization_error: str | None

    @property
    def errors(self) -> dict[str, str]:
        """Every failure, by `account ID` or `ID/region`, and `(organization)` if the accounts could not be listed."""
        errors = {"(organization)": self.organization_error} if self.organization_error else {}
        for result in self.accounts:
            if result.error:
                errors[f"account {result.target.account}"] = result.error
            errors.update({f"{result.target.account}/{r}": e for r, e in result.region_errors.items()})
        return errors

    @property
    def groups_scanned(self) -> int:
        """The groups read in every account and region that was read."""
        return sum(result.groups_scanned for result in self.accounts)


@dataclass
class Pool:
    """The scan's threads and what they are doing: each account's credentials first, then each of its regions."""

    pool: ThreadPoolExecutor
    settings: Settings
    now: datetime
    endpoint_url: str | None
    stream: TextIO
    bar: AccountsBar | None
    results: dict[str, AccountScan]
    rows: list[single.ScanRow] = field(default_factory=list)
    pending: dict[Future[Any], tuple[Target, str | None]] = field(default_factory=dict)

    def report(self, line: str) -> None:
        """An error line of its own on the stream (above the bar, if there is one)."""
        if self.bar is None:
            print(line, file=self.stream, flush=True)
        else:
            self.bar.say(line)

    def finished(self) -> None:
        """One more account scanned, or given up."""
        if self.bar is not None:
            self.bar.advance()

    def reached(self, target: Target, future: Future[Any]) -> None:
        """An account's credentials and regions, or why it could not be reached: its regions are queued."""
        result = self.results[target.account]
        try:
            account: Reached = future.result()
        except UnreachableError as error:
            result.error = str(error)
            self.report(f"error: account {target.account}: {error}")
            self.finished()
            return
        result.regions, result.left = account.regions, len(account.regions)
        for region in account.regions:
            job = self.pool.submit(scan_account_region, account, region, self.settings, self.now, self.endpoint_url)
            self.pending[job] = (target, region)
        if not account.regions:
            self.finished()

    def scanned(self, target: Target, region: str, future: Future[Any]) -> None:
        """A region's rows, or its failure, which does not hide what the other regions found."""
        result = self.results[target.account]
        try:
            inventory, found = future.result()
            result.inventories.append(inventory)
            self.rows += found
        except (ClientError, BotoCoreError) as error:
            message = aws_error_message(error)[0]
            result.region_errors[region] = message
            self.report(f"error: account {target.account}, {region}: {message}")
        result.left -= 1
        if result.left == 0:
            self.finished()

    def drain(self) -> None:
        """Handle each job as it ends until none is left."""
        while self.pending:
            done, _ = wait(self.pending, return_when=FIRST_COMPLETED)
            for future in done:
                target, region = self.pending.pop(future)
                if region is None:
                    self.reached(target, future)
                else:
                    self.scanned(target, region, future)


def scan_targets(
    targets: list[Target],
    *,
    args: argparse.Namespace,
    settings: Settings,
    now: datetime,
    sts: Any,
    home_region: str,
    stream: TextIO,
) -> tuple[list[AccountScan], list[single.ScanRow]]:
    """Every target in every one of its regions, `--max-workers` at once; failures are reported as they come."""
    given = [name for names in args.regions or [] for name in names]
    bar = AccountsBar(stream, len(targets)) if stream.isatty() else None
    # One loader for every account's session: each service model is read and parsed once, not once an account.
    loader = create_loader()
    with ThreadPoolExecutor(max_workers=args.max_workers or DEFAULT_MAX_WORKERS, thread_name_prefix="scan") as pool:
        jobs = Pool(
            pool=pool,
            settings=settings,
            now=now,
            endpoint_url=args.endpoint_url,
            stream=stream,
            bar=bar,
            results={target.account: AccountScan(target) for target in targets},
        )
        for target in targets:
            job = pool.submit(
                reach,
                target,
                sts=sts,
                loader=loader,
                profile=args.profile,
                home_region=home_region,
                given=given,
                endpoint_url=args.endpoint_url,
            )
            jobs.pending[job] = (target, None)
        try:
            jobs.drain()
        finally:
            for future in jobs.pending:
                future.cancel()
            if bar is not None:
                bar.close()
    return list(jobs.results.values()), jobs.rows


def targets_of(own: str, accounts: list[dict[str, Any]], *, role: str, partition: str) -> list[Target]:
    """The caller's account first (own credentials), then every other active account by id (its role)."""
    names = {str(account["Id"]): str(account.get("Name", "")) for account in accounts}
    others = sorted(account for account in names if account != own)
    targets = [Target(own, names.get(own, ""), None)]
    targets += [Target(account, names[account], role_arn(partition, account, role)) for account in others]
    return targets


def run(args: argparse.Namespace, settings: Settings, session: boto3.session.Session) -> int:
    """Scan every active account of the organization; print the rows as `scan` does and exit as it does."""
    given = [name for names in args.regions or [] for name in names]
    home_region = session.region_name or (given[0] if given else FALLBACK_REGION)
    now = datetime.now(UTC)
    sts = session.client("sts", region_name=home_region, endpoint_url=args.endpoint_url, config=CLIENT_CONFIG)
    try:
        identity = sts.get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        message = aws_error_message(error)[0]
        print(f"error: the scanning account could not be identified: {message}", file=sys.stderr)
        return finish(args, OrgScan(accounts=[], rows=[], organization_error=message), now)
    own, partition = str(identity["Account"]), partition_of_arn(str(identity.get("Arn", "")))
    organization_error = None
    try:
        organizations = session.client(
            "organizations", region_name=home_region, endpoint_url=args.endpoint_url, config=CLIENT_CONFIG
        )
        accounts = active_accounts(organizations)
    except (ClientError, BotoCoreError) as error:
        # Not the management account nor a delegated administrator: its own account is still scanned.
        organization_error = aws_error_message(error)[0]
        print(f"error: the organization's accounts could not be listed: {organization_error}", file=sys.stderr)
        accounts = []
    targets = targets_of(own, accounts, role=args.role_name, partition=partition)
    results, rows = scan_targets(
        targets, args=args, settings=settings, now=now, sts=sts, home_region=home_region, stream=sys.stderr
    )
    return finish(args, OrgScan(accounts=results, rows=rows, organization_error=organization_error), now)


def order(row: single.ScanRow) -> tuple[tuple[bool, bool, str, str, str, str], str]:
    """`scan`'s order of the rows (by exposure), then by account."""
    return single.exposure(row), row.account or ""


def finish(args: argparse.Namespace, found: OrgScan, now: datetime) -> int:
    """Print the rows in the chosen format and return `scan`'s exit status."""
    rows = sorted((row for row in found.rows if single.selected(row, args)), key=order)
    errors = found.errors
    if args.format == "json":
        print_json(as_json(found, rows, now))
    elif args.format == "table":
        print(table(found, rows))
    else:
        single.write(args.format, sys.stdout, regions=[], inventories=[], errors={}, rows=rows, now=now)
    if errors:
        return single.EXIT_INCOMPLETE
    return single.EXIT_RISKY if rows and args.fail_on == "risky" else single.EXIT_CLEAN


def table(found: OrgScan, rows: list[single.ScanRow]) -> str:
    """`scan`'s table of each account with risky rules under its id and name, then the closing line."""
    sections = []
    for result in found.accounts:
        mine = [row for row in rows if row.account == result.target.account]
        if mine:
            heading = f"account {result.target.account}" + (f" ({result.target.name})" if result.target.name else "")
            sections.append(f"{heading}\n{single.table(mine)}\n")
    count = len(found.accounts)
    closing = single.closing_line(rows, found.groups_scanned, found.errors)
    return "\n".join([*sections, f"{count} account{'' if count == 1 else 's'}: {closing}"])


def as_json(found: OrgScan, rows: list[single.ScanRow], now: datetime) -> dict[str, Any]:
    """`scan`'s JSON (schema version 1), with each region's account and an `accounts` list (docs/scan-output.md)."""
    data = single.as_json([], [], {}, rows, now)
    data["summary"]["groups_scanned"] = found.groups_scanned
    data["summary"]["accounts"] = len(found.accounts)
    return {
        "schema": data["schema"],
        "schema_version": data["schema_version"],
        "scanned_at": data["scanned_at"],
        "complete": not found.errors,
        "organization_error": found.organization_error,
        "accounts": [
            {
                "account": result.target.account,
                "name": result.target.name,
                "role_arn": result.target.role_arn,
                "regions": len(result.regions),
                "groups_scanned": result.groups_scanned,
                "error": result.error,
            }
            for result in found.accounts
        ],
        "regions": [
            {
                "account": result.target.account,
                "region": region,
                "groups_scanned": scanned.get(region),
                "error": result.region_errors.get(region),
            }
            for result in found.accounts
            for scanned in [{inventory.region: inventory.groups_scanned for inventory in result.inventories}]
            for region in result.regions
        ],
        "rows": data["rows"],
        "summary": data["summary"],
    }
