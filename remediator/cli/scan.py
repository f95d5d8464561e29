"""The `scan` command: every risky ingress rule of an account's regions and what the remediator would do with it."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from remediator.cli.output import CliError, one_line, print_json
from remediator.effects import CLIENT_CONFIG, Aws
from remediator.inventory import Inventory, Row, rows_of, scan_region, summary_line
from remediator.model import Mode
from remediator.report import count_by_action
from remediator.settings import current_settings

COLUMNS = ("GROUP", "NAME", "VPC", "ATTACHED", "RULE", "SOURCE", "MODE", "WOULD")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `scan` command and its options to the command line's subcommands."""
    parser = commands.add_parser(
        "scan",
        help="list every risky ingress rule of an account and what would happen to it (read-only)",
        description=(
            "List every risky ingress rule in the account's security groups, with what the remediator would do to "
            "it under the same risk rules and tag policy (REMEDIATOR_* variables), one row per rule. Read-only: "
            "it makes Describe and Get calls only. Credentials and endpoint come from the standard AWS settings "
            "(AWS_PROFILE, AWS_ENDPOINT_URL, ...)."
        ),
    )
    parser.add_argument(
        "--region",
        action="append",
        dest="regions",
        metavar="REGION",
        help="a region to scan; repeat for several (default: the profile's or AWS_REGION's region)",
    )
    parser.add_argument("--profile", help="the AWS profile to use (default: AWS_PROFILE or the default chain)")
    parser.add_argument("--endpoint-url", help="an EC2 endpoint other than AWS's, e.g. a moto server")
    parser.add_argument(
        "--default-mode",
        choices=[mode.value for mode in Mode],
        help="the mode of groups without a remediator:mode tag, as deployed (default: REMEDIATOR_DEFAULT_MODE "
        "or revoke)",
    )
    parser.add_argument("--json", action="store_true", help="print the rows and the summary as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Scan each region and print the risky rules as a table or JSON; 1 if a region failed, else 0."""
    settings = current_settings()
    if args.default_mode:
        settings = settings.model_copy(update={"default_mode": Mode(args.default_mode)})
    try:
        session = boto3.session.Session(profile_name=args.profile)
    except ProfileNotFound as error:
        raise CliError(one_line(error)) from None
    regions: list[str] = list(dict.fromkeys(args.regions or ([session.region_name] if session.region_name else [])))
    if not regions:
        raise CliError("no region given: pass --region, or set AWS_REGION or the profile's region")
    now = datetime.now(UTC)
    inventories: list[Inventory] = []
    errors: dict[str, str] = {}
    for region in regions:
        aws = Aws(
            ec2=session.client("ec2", region_name=region, endpoint_url=args.endpoint_url, config=CLIENT_CONFIG),
            sns=session.client("sns", region_name=region, config=CLIENT_CONFIG),
        )
        bar = ProgressBar(sys.stderr, region) if sys.stderr.isatty() else None
        try:
            inventories.append(scan_region(aws, settings, now, progress=bar.update if bar else None))
        except (ClientError, BotoCoreError) as error:
            # One region failing (opted out, no permission) does not hide what the others found.
            errors[region] = one_line(error)
            print(f"error: {region}: AWS said: {one_line(error)}", file=sys.stderr)
        finally:
            if bar is not None:
                bar.close()
    rows = [row for inventory in inventories for row in rows_of(inventory)]
    scanned = sum(inventory.groups_scanned for inventory in inventories)
    if args.json:
        print_json(as_json(regions, inventories, errors, rows, scanned))
    else:
        if rows:
            print(table(rows))
        print(summary_line(rows, scanned))
    return 1 if errors else 0


def as_json(
    regions: list[str], inventories: list[Inventory], errors: dict[str, str], rows: list[Row], scanned: int
) -> dict[str, Any]:
    """The scan as JSON: each region with its groups scanned or error, the rows, and a summary of them."""
    scanned_in = {inventory.region: inventory.groups_scanned for inventory in inventories}
    return {
        "regions": [
            {"region": region, "groups_scanned": scanned_in.get(region), "error": errors.get(region)}
            for region in regions
        ],
        "rows": [asdict(row) for row in rows],
        "summary": {
            "groups_scanned": scanned,
            "risky_rules": len(rows),
            "groups_with_risky_rules": len({(row.region, row.group_id) for row in rows}),
            "unattached_groups": len({(row.region, row.group_id) for row in rows if not row.attached}),
            "by_action": count_by_action(rows),
        },
    }


def table(rows: list[Row]) -> str:
    """The rows as aligned columns, each rule's notes indented under it; a region column only for several."""
    several = len({row.region for row in rows}) > 1
    header = ("REGION", *COLUMNS) if several else COLUMNS
    cells = [
        (
            *((row.region,) if several else ()),
            row.group_id,
            row.group_name,
            row.vpc_id or "-",
            "yes" if row.attached else "no",
            row.ports,
            row.source,
            row.mode,
            row.would,
        )
        for row in rows
    ]
    widths = [max(len(str(line[i])) for line in (header, *cells)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    for row, line in zip(rows, cells, strict=True):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
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
        """Show how many groups are read so far, unless the line was redrawn less than `interval` ago."""
        moment = time.monotonic()
        if moment - self.last < self.interval:
            return
        self.last = moment
        self.draw(f"{self.region}: {groups:,} security groups read…")

    def draw(self, text: str) -> None:
        """Redraw the line with the text, padded to cover the previous text."""
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def close(self) -> None:
        """Blank the line, if anything was drawn, and return the cursor to its start."""
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
