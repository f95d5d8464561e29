"""The `scan` command: every risky ingress rule of an account's regions and what the remediator would do with it."""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from remediator.cli.output import CliError, aws_error_message, one_line, print_json, region_name
from remediator.effects import CLIENT_CONFIG, Aws
from remediator.findings import RuleFinding, Severity, asff, severity_of
from remediator.inventory import (
    Inventory,
    Row,
    advisory_row,
    ordered_advisories,
    row_of,
    rule_order,
    scan_region,
    summary_line,
)
from remediator.model import Mode
from remediator.report import count_by_action
from remediator.settings import current_settings

FORMATS = ("table", "json", "csv", "asff", "ocsf")
# The exit statuses, for CI: nothing risky, risky rules found, bad usage, the scan could not complete.
EXIT_CLEAN, EXIT_RISKY, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3
JSON_SCHEMA = "sg-remediator/scan"
JSON_SCHEMA_VERSION = 1
TABLE_WIDTH = 120
COLUMNS = ("GROUP", "NAME", "ATTACHED", "RULE", "SOURCE", "MODE", "WOULD")

EPILOG = """\
exit status: 0 nothing risky; 1 risky rules found (with --fail-on risky, the default; --fail-on none gives 0
whenever the scan itself worked); 2 bad usage; 3 the scan could not complete (no credentials, an AWS error in a
region: the other regions are still scanned and listed; with --org, also an account whose role could not be
assumed). Advisory findings (--advisory) never change it. The JSON output's schema is in docs/scan-output.md;
--org in docs/organization.md; advisory findings in docs/advisory.md."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanRow:
    """One risky ingress rule as the scan prints it, with where it is and what would happen to it."""

    account: str | None
    region: str
    group_id: str
    group_name: str
    vpc_id: str | None
    rule_id: str | None
    protocol: str
    ports: str
    source: str
    attached: bool
    severity: str
    mode: str
    action: str
    would: str
    narrow_to: tuple[str, ...]
    expires: str | None
    risk: str
    notes: tuple[str, ...]


def regions_argument(text: str) -> list[str]:
    """`--region` values: one region name or several separated by commas, each checked."""
    return [region_name(part.strip()) for part in (text.split(",") if "," in text else [text])]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `scan` command."""
    parser = commands.add_parser(
        "scan",
        help="list every risky ingress rule of an account and what would happen to it (read-only)",
        description=(
            "List every risky ingress rule in the account's security groups, with what the remediator would do to "
            "it under the same risk rules and tag policy (REMEDIATOR_* variables), one row per rule, attached groups "
            "first. Read-only: it makes Describe and Get calls only. Credentials and endpoint come from the standard "
            "AWS settings (AWS_PROFILE, AWS_ENDPOINT_URL, ...)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--region",
        action="append",
        dest="regions",
        type=regions_argument,
        metavar="REGION[,REGION]",
        help="a region to scan; repeat or separate with commas (default: the profile's or AWS_REGION's region)",
    )
    parser.add_argument("--all-regions", action="store_true", help="scan every region enabled for the account")
    parser.add_argument("--profile", help="the AWS profile to use (default: AWS_PROFILE or the default chain)")
    parser.add_argument("--endpoint-url", help="an EC2 endpoint other than AWS's, e.g. a moto server")
    parser.add_argument(
        "--default-mode",
        choices=[mode.value for mode in Mode],
        help="the mode of groups without a remediator:mode tag, as deployed (default: REMEDIATOR_DEFAULT_MODE "
        "or revoke)",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="the output format (default: table)")
    parser.add_argument("--json", action="store_const", const="json", dest="format", help="the same as --format json")
    parser.add_argument(
        "--fail-on",
        choices=("risky", "none"),
        default="risky",
        help="exit 1 when risky rules are found (risky, the default), or 0 whenever the scan worked (none)",
    )
    parser.add_argument("--group-id", action="append", dest="group_ids", metavar="sg-...", help="only this group")
    parser.add_argument("--vpc-id", action="append", dest="vpc_ids", metavar="vpc-...", help="only groups of this VPC")
    parser.add_argument(
        "--attached-only", action="store_true", help="only groups attached to a network interface today"
    )
    parser.add_argument(
        "--advisory",
        action="store_true",
        help="also list advisory findings: risky ports open to a broad internal range (prefix at most "
        "REMEDIATOR_ADVISORY_PREFIX, default 16); never acted on, never change the exit status (docs/advisory.md)",
    )
    from remediator.cli import org  # noqa: PLC0415  (org.py builds on this module)

    org.add_arguments(parser)
    parser.set_defaults(run=run)


def enabled_regions(session: boto3.session.Session, endpoint_url: str | None) -> list[str]:
    """The regions enabled for the account (DescribeRegions lists only those by default)."""
    ec2 = session.client(
        "ec2", region_name=session.region_name or "us-east-1", endpoint_url=endpoint_url, config=CLIENT_CONFIG
    )
    return sorted(region["RegionName"] for region in ec2.describe_regions().get("Regions", []))


def account_of(session: boto3.session.Session, region: str, endpoint_url: str | None) -> str | None:
    """The account the credentials belong to, or None when STS cannot say."""
    try:
        sts = session.client("sts", region_name=region, endpoint_url=endpoint_url, config=CLIENT_CONFIG)
        return str(sts.get_caller_identity()["Account"])
    except (ClientError, BotoCoreError):
        return None


def rule_ids_by_content(aws: Aws | None, group_ids: list[str]) -> dict[str, dict[tuple[object, ...], str | None]]:
    """Each group's rule ids by rule content: one DescribeSecurityGroupRules per 200 groups; none without `aws`."""
    if aws is None or not group_ids:
        return {}
    return {
        group_id: {rule.content_key(): rule.rule_id for rule in rules}
        for group_id, rules in aws.ingress_rules_of(group_ids).items()
    }


def scan_rows(inventory: Inventory, aws: Aws, account: str | None) -> list[ScanRow]:
    """The inventory's rows with each rule's id and expiry."""
    ids = rule_ids_by_content(aws, [found.group.group_id for found in inventory.findings])
    return [
        scan_row(
            row_of(inventory.region, found, plan),
            account,
            ids.get(found.group.group_id, {}).get(plan.entry.content_key()),
            found.policy.expires_at,
            advisory=False,
        )
        for found in inventory.findings
        for plan in sorted(found.plans, key=rule_order)
    ]


def advisory_scan_rows(inventory: Inventory, aws: Aws | None, account: str | None) -> list[ScanRow]:
    """The inventory's advisory rows; with `aws`, each with its rule's id (else None: only counted, not shown)."""
    ids = rule_ids_by_content(aws, [found.group.group_id for found in inventory.advisories])
    return [
        scan_row(
            advisory_row(inventory.region, found, advisory),
            account,
            ids.get(found.group.group_id, {}).get(advisory.entry.content_key()),
            found.policy.expires_at,
            advisory=True,
        )
        for found, advisory in ordered_advisories(inventory)
    ]


def scan_row(row: Row, account: str | None, rule_id: str | None, expires: str | None, *, advisory: bool) -> ScanRow:
    """The printed row of an inventory row: its account, rule id, severity and the date its opt-out ends."""
    return ScanRow(
        account=account,
        region=row.region,
        group_id=row.group_id,
        group_name=row.group_name,
        vpc_id=row.vpc_id,
        rule_id=rule_id,
        protocol=row.protocol,
        ports=row.ports,
        source=row.source,
        attached=row.attached,
        severity=severity_of(row.source, advisory=advisory).value,
        mode=row.mode,
        action=row.action,
        would=row.would,
        narrow_to=row.narrow_to,
        expires=expires[:10] if expires else None,
        risk=row.risk,
        notes=row.notes,
    )


def exposure(row: ScanRow) -> tuple[bool, bool, str, str, str, str]:
    """The order of the rows: attached groups first, the whole internet before a wide network, then by place."""
    return (not row.attached, row.severity != Severity.HIGH, row.region, row.group_id, row.ports, row.source)


def selected(row: ScanRow, args: argparse.Namespace) -> bool:
    """Whether the row passes the command's filters."""
    if args.group_ids and row.group_id not in args.group_ids:
        return False
    if args.vpc_ids and row.vpc_id not in args.vpc_ids:
        return False
    return not (args.attached_only and not row.attached)


def run(args: argparse.Namespace) -> int:
    """Scan the regions (with --org, every account of the organization), print the rows, exit by what was found."""
    from remediator.cli import org  # noqa: PLC0415  (org.py builds on this module)

    problem = org.usage_error(args)
    if problem is not None:
        raise CliError(problem)
    if args.advisory and args.org:
        raise CliError("--advisory is not supported with --org yet: scan each account with --advisory")
    settings = current_settings()
    if args.default_mode:
        settings = replace(settings, default_mode=Mode(args.default_mode))
    try:
        session = boto3.session.Session(profile_name=args.profile)
    except ProfileNotFound as error:
        raise CliError(one_line(error)) from None
    if args.org:
        return org.run(args, settings, session)
    given = [name for names in args.regions or [] for name in names]
    errors: dict[str, str] = {}
    if args.all_regions:
        try:
            given += enabled_regions(session, args.endpoint_url)
        except (ClientError, BotoCoreError) as error:
            message, _ = aws_error_message(error)
            errors["(region list)"] = message
            print(f"error: the account's regions could not be listed: {message}", file=sys.stderr)
    regions = list(dict.fromkeys(given or ([session.region_name] if session.region_name else [])))
    if not regions and not errors:
        raise CliError("no region given: pass --region or --all-regions, or set AWS_REGION or the profile's region")
    now = datetime.now(UTC)
    account = account_of(session, regions[0], args.endpoint_url) if regions else None
    inventories: list[Inventory] = []
    rows: list[ScanRow] = []
    advisories: list[ScanRow] = []
    for region in regions:
        aws = Aws(
            ec2=session.client("ec2", region_name=region, endpoint_url=args.endpoint_url, config=CLIENT_CONFIG),
            sns=session.client("sns", region_name=region, config=CLIENT_CONFIG),
        )
        bar = ProgressBar(sys.stderr, region) if sys.stderr.isatty() else None
        try:
            inventory = scan_region(aws, settings, now, progress=bar.update if bar else None)
            rows += scan_rows(inventory, aws, account)
            # Without --advisory they are only counted, so their rule ids cost no call.
            advisories += advisory_scan_rows(inventory, aws if args.advisory else None, account)
            inventories.append(inventory)
        except (ClientError, BotoCoreError) as error:
            # One region failing (opted out, no permission, no credentials) does not hide what the others found.
            message, _ = aws_error_message(error)
            errors[region] = message
            print(f"error: {region}: {message}", file=sys.stderr)
        finally:
            if bar is not None:
                bar.close()
    return finish(
        args, regions=regions, inventories=inventories, errors=errors, rows=rows, advisories=advisories, now=now
    )


def finish(
    args: argparse.Namespace,
    *,
    regions: list[str],
    inventories: list[Inventory],
    errors: dict[str, str],
    rows: list[ScanRow],
    advisories: list[ScanRow],
    now: datetime,
) -> int:
    """Filter and print what the regions' scans found; the exit status, by the risky rows and errors alone."""
    rows = sorted((row for row in rows if selected(row, args)), key=exposure)
    advisories = sorted((row for row in advisories if selected(row, args)), key=exposure)
    scanned = sum(inventory.groups_scanned for inventory in inventories)
    write(
        args.format,
        sys.stdout,
        regions=regions,
        inventories=inventories,
        errors=errors,
        rows=rows,
        now=now,
        advisories=advisories if args.advisory else None,
    )
    if args.format == "table":
        print(closing_line(rows, scanned, errors) + (advisory_clause(advisories) if args.advisory else ""))
    hidden = args.format in UNLISTED if args.advisory else args.format == "table"
    if advisories and hidden:
        print(f"note: {advisory_hint(advisories, args.format)}", file=sys.stderr)
    # Advisory findings never change the exit status: only the rows do.
    if errors:
        return EXIT_INCOMPLETE
    return EXIT_RISKY if rows and args.fail_on == "risky" else EXIT_CLEAN


# The formats of security findings: an advisory is no failed check, and Security Hub would count it as one.
UNLISTED = ("asff", "ocsf")


def advisory_clause(advisories: list[ScanRow]) -> str:
    """The closing line's end with --advisory: `; 2 advisory findings (broad internal sources, not acted on)`."""
    findings = "finding" if len(advisories) == 1 else "findings"
    return f"; {len(advisories)} advisory {findings} (broad internal sources, not acted on)"


def advisory_hint(advisories: list[ScanRow], output_format: str) -> str:
    """The one line on stderr about advisory findings that are not printed, and why."""
    count = len(advisories)
    findings = "finding" if count == 1 else "findings"
    what = f"{count} advisory {findings} (risky ports open to a broad internal range)"
    if output_format in UNLISTED:
        return f"{what} left out of {output_format}, which holds failed checks only; --format json or csv lists them"
    return f"{what} not shown; --advisory lists them"


def closing_line(rows: list[ScanRow], scanned: int, errors: dict[str, str]) -> str:
    """The table's last line: the counts, and never "0 risky rules" for a scan that did not complete."""
    line = summary_line([as_row(row) for row in rows], scanned)
    if not errors:
        return line
    failed = ", ".join(sorted(errors))
    if not rows:
        return f"scan incomplete: {failed} could not be read; no risky rule in the {scanned} groups that were read"
    return f"{line} (scan incomplete: {failed} could not be read)"


def as_row(row: ScanRow) -> Row:
    """The inventory's Row of a ScanRow, for the shared summary line."""
    return Row(
        region=row.region,
        group_id=row.group_id,
        group_name=row.group_name,
        vpc_id=row.vpc_id,
        attached=row.attached,
        protocol=row.protocol,
        ports=row.ports,
        source=row.source,
        risk=row.risk,
        mode=row.mode,
        action=row.action,
        would=row.would,
        narrow_to=row.narrow_to,
        notes=row.notes,
    )


def write(
    output_format: str,
    stream: TextIO,
    *,
    regions: list[str],
    inventories: list[Inventory],
    errors: dict[str, str],
    rows: list[ScanRow],
    now: datetime,
    advisories: list[ScanRow] | None = None,
) -> None:
    """Print the rows in one of FORMATS; the advisory rows too where asked for (None: not asked for)."""
    if output_format == "json":
        data = as_json(regions, inventories, errors, rows, now)
        if advisories is not None:
            data["advisory"] = [asdict(row) for row in advisories]
            data["summary"]["advisory_rules"] = len(advisories)
        print_json(data)
    elif output_format == "csv":
        # Advisory rows after the risky ones, told apart by severity LOW and `would`.
        stream.write(as_csv([*rows, *(advisories or [])]))
    elif output_format == "asff":
        print_json([asff(rule_finding(row), now) for row in rows])
    elif output_format == "ocsf":
        print_json([ocsf(row, now) for row in rows])
    else:
        if rows:
            print(table(rows))
        if advisories:
            print(("\n" if rows else "") + "Advisory: risky ports open to a broad internal range, not acted on")
            print(table(advisories))


def as_json(
    regions: list[str], inventories: list[Inventory], errors: dict[str, str], rows: list[ScanRow], now: datetime
) -> dict[str, Any]:
    """The documented, versioned JSON output (docs/scan-output.md)."""
    scanned_in = {inventory.region: inventory.groups_scanned for inventory in inventories}
    as_rows = [as_row(row) for row in rows]
    return {
        "schema": JSON_SCHEMA,
        "schema_version": JSON_SCHEMA_VERSION,
        "scanned_at": now.isoformat(),
        "complete": not errors,
        "regions": [
            {"region": region, "groups_scanned": scanned_in.get(region), "error": errors.get(region)}
            for region in regions
        ],
        "rows": [asdict(row) for row in rows],
        "summary": {
            "groups_scanned": sum(scanned_in.values()),
            "risky_rules": len(rows),
            "groups_with_risky_rules": len({(row.region, row.group_id) for row in rows}),
            "unattached_groups": len({(row.region, row.group_id) for row in rows if not row.attached}),
            "by_action": count_by_action(as_rows),
        },
    }


CSV_FIELDS = tuple(ScanRow.__dataclass_fields__)


def as_csv(rows: list[ScanRow]) -> str:
    """One line per row, lists joined with spaces."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in rows:
        values = asdict(row)
        writer.writerow(
            " ".join(value) if isinstance(value, tuple) else ("" if value is None else value)
            for value in (values[field] for field in CSV_FIELDS)
        )
    return buffer.getvalue()


def partition_of(region: str) -> str:
    """The partition of a region's ARNs."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def rule_finding(row: ScanRow) -> RuleFinding:
    """The row as a finding."""
    return RuleFinding(
        account=row.account or "unknown",
        region=row.region,
        partition=partition_of(row.region),
        group_id=row.group_id,
        group_name=row.group_name,
        vpc_id=row.vpc_id,
        rule_id=row.rule_id,
        protocol=row.protocol,
        ports=row.ports,
        source=row.source,
        risk=row.risk,
        severity=Severity(row.severity),
        mode=row.mode,
        would=row.would,
    )


# OCSF 1.1 Detection Finding (category 2, class 2004); severity ids: 2 low, 3 medium, 4 high.
OCSF_SEVERITY = {Severity.LOW.value: 2, Severity.MEDIUM.value: 3, Severity.HIGH.value: 4}
OCSF_VERSION = "1.1.0"


def ocsf(row: ScanRow, now: datetime) -> dict[str, Any]:
    """The row as an OCSF Detection Finding, as Prowler writes its findings."""
    finding = rule_finding(row)
    report = asff(finding, now)
    return {
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "time": int(now.timestamp() * 1000),
        "severity_id": OCSF_SEVERITY[row.severity],
        "severity": row.severity.title(),
        "status_id": 1,
        "status": "New",
        "message": report["Description"],
        "finding_info": {
            "uid": report["Id"],
            "title": report["Title"],
            "desc": report["Description"],
            "types": report["Types"],
            "created_time": int(now.timestamp() * 1000),
        },
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "sg-remediator", "vendor_name": "sg-remediator"},
        },
        "cloud": {"provider": "AWS", "region": row.region, "account": {"uid": finding.account, "type_id": 10}},
        "resources": [
            {
                "uid": report["Resources"][0]["Id"],
                "name": row.group_name,
                "type": "AwsEc2SecurityGroup",
                "region": row.region,
                "data": {"rule_id": row.rule_id, "protocol": row.protocol, "ports": row.ports, "source": row.source},
            }
        ],
        "remediation": {"desc": report["Remediation"]["Recommendation"]["Text"]},
        "unmapped": {"mode": row.mode, "would": row.would, "attached": row.attached, "expires": row.expires},
    }


def fitted(cells: list[tuple[str, ...]], header: tuple[str, ...], flexible: tuple[int, ...]) -> list[int]:
    """Column widths that fit TABLE_WIDTH: the flexible columns give way, widest first."""
    widths = [max(len(line[i]) for line in (header, *cells)) for i in range(len(header))]
    while sum(widths) + 2 * (len(widths) - 1) > TABLE_WIDTH:
        widest = max(flexible, key=lambda i: widths[i])
        if widths[widest] <= max(len(header[widest]), 8):
            break
        widths[widest] -= 1
    return widths


def cut(text: str, width: int) -> str:
    """The text in `width` columns, an ellipsis where cut."""
    return text if len(text) <= width else text[: width - 3] + "..."


def table(rows: list[ScanRow]) -> str:
    """The rows as aligned columns within 120 columns, each rule's notes indented under it."""
    several = len({row.region for row in rows}) > 1
    header = ("REGION", *COLUMNS) if several else COLUMNS
    cells = [
        (
            *((row.region,) if several else ()),
            row.group_id,
            row.group_name,
            "yes" if row.attached else "no",
            row.ports,
            row.source,
            row.mode + (f" (until {row.expires})" if row.expires else ""),
            row.would,
        )
        for row in rows
    ]
    offset = 1 if several else 0
    widths = fitted(cells, header, flexible=(offset + 1, offset + 6, offset + 4))
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    for row, line in zip(rows, cells, strict=True):
        lines.append(
            "  ".join(cut(cell, width).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
        lines += [f"    note: {note}" for note in row.notes]
    return "\n".join(lines)


class ProgressBar:
    """Groups read so far, on one terminal line redrawn at most ten times a second (paging gives no total)."""

    def __init__(self, stream: TextIO, region: str, interval: float = 0.1) -> None:
        self.stream = stream
        self.region = region
        self.interval = interval
        self.last = 0.0
        self.width = 0

    def update(self, groups: int) -> None:
        """Redraw the count, if the last redraw is old enough."""
        moment = time.monotonic()
        if moment - self.last < self.interval:
            return
        self.last = moment
        self.draw(f"{self.region}: {groups:,} security group{'' if groups == 1 else 's'} read...")

    def draw(self, text: str) -> None:
        """Replace the line with `text`."""
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def close(self) -> None:
        """Clear the line."""
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
