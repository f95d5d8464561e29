"""The `fix` command: close the existing risky rules that `scan` finds, by each group's tag policy, after a plan."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import boto3
from botocore.exceptions import ProfileNotFound

from remediator.cli.output import CliError, one_line
from remediator.cli.scan import regions_argument
from remediator.effects import CLIENT_CONFIG, Aws
from remediator.engine import CLOSING
from remediator.inventory import GroupScan, Inventory, rule_order, scan_region
from remediator.model import Action, Mode, Outcome
from remediator.report import OUTCOME_TEXT, restore_command
from remediator.settings import current_settings
from remediator.sweep import act_on, closes_rules, lines_of

CONFIRMATION = "yes"
EXIT_DONE, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

EPILOG = """\
exit status: 0 when every planned change was made (or nothing needed one, or --dry-run); 1 when a change failed
or the confirmation was not given; 2 on bad usage. Every change is printed with the command that restores it."""

Ask = Callable[[str], str]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `fix` command."""
    parser = commands.add_parser(
        "fix",
        help="close the existing risky rules scan finds, by each group's tag policy, after showing the plan",
        description=(
            "Scan the region's security groups as `scan` does, print the plan (each rule to revoke or narrow, by "
            "the group's tags, as the sweep in revoke mode would), ask for confirmation, then act with the same "
            "engine as the Lambda. Groups in notify or ignore mode, and rules of other groups that are not risky, are "
            "never changed."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--region", type=regions_argument, metavar="REGION", help="the region (default: the profile's or AWS_REGION's)"
    )
    parser.add_argument("--profile", help="the AWS profile to use (default: AWS_PROFILE or the default chain)")
    parser.add_argument("--endpoint-url", help="an EC2 endpoint other than AWS's, e.g. a moto server")
    parser.add_argument(
        "--mode",
        choices=[Mode.REVOKE.value, Mode.NARROW.value],
        help="the mode of groups without a remediator:mode tag (default: REMEDIATOR_DEFAULT_MODE or revoke)",
    )
    parser.add_argument("--group-id", action="append", dest="group_ids", metavar="sg-...", help="only this group")
    parser.add_argument("--yes", action="store_true", help="act without asking for confirmation")
    parser.add_argument("--dry-run", action="store_true", help="print the plan only, change nothing")
    parser.set_defaults(run=run)


def planned_change(found: GroupScan) -> list[str]:
    """The plan's lines for one group: what would be revoked or narrowed, and what is left as it is."""
    lines = []
    for plan in sorted(found.plans, key=rule_order):
        rule = f"{plan.entry.ports_text()} from {plan.entry.source.value}"
        decision = plan.decision
        if not plan.present:
            continue
        if decision.action == Action.NARROW:
            targets = ", ".join(source.value for source in decision.narrow_to)
            lines.append(f"  ~ narrow  {found.group.group_id}  {rule}  ->  {targets}")
        elif decision.action == Action.REVOKE:
            lines.append(f"  - revoke  {found.group.group_id}  {rule}")
        else:
            lines.append(f"    keep    {found.group.group_id}  {rule}  (mode {decision.mode.value}: left open)")
    return lines


def changes_in(inventory: Inventory) -> int:
    """How many rules the plan changes."""
    return sum(
        1 for found in inventory.findings for plan in found.plans if plan.present and plan.decision.action in CLOSING
    )


def confirmed(count: int, ask: Ask) -> bool:
    """Whether the person at the terminal typed `yes` to the plan."""
    answer = ask(f"Make these {count} change{'' if count == 1 else 's'}? Only '{CONFIRMATION}' is accepted: ")
    return answer.strip() == CONFIRMATION


def run(args: argparse.Namespace, ask: Ask = input) -> int:
    """Scan, print the plan, confirm, act, and print each change with its restore command."""
    settings = current_settings()
    if args.mode:
        settings = replace(settings, default_mode=Mode(args.mode))
    try:
        session = boto3.session.Session(profile_name=args.profile)
    except ProfileNotFound as error:
        raise CliError(one_line(error)) from None
    region = (args.region or [None])[0] or session.region_name
    if not region:
        raise CliError("no region given: pass --region, or set AWS_REGION or the profile's region")
    aws = Aws(
        ec2=session.client("ec2", region_name=region, endpoint_url=args.endpoint_url, config=CLIENT_CONFIG),
        sns=session.client("sns", region_name=region, config=CLIENT_CONFIG),
    )
    inventory = scan_region(aws, settings, datetime.now(UTC))
    if args.group_ids:
        kept = tuple(found for found in inventory.findings if found.group.group_id in args.group_ids)
        inventory = Inventory(region=inventory.region, groups_scanned=inventory.groups_scanned, findings=kept)
    count = changes_in(inventory)
    print(f"Plan for {region} ({inventory.groups_scanned} security groups read):")
    for found in inventory.findings:
        for line in planned_change(found):
            print(line)
    if count == 0:
        print("Nothing to change: no risky rule whose group's policy closes it.")
        return EXIT_DONE
    print(f"{count} rule{'' if count == 1 else 's'} to change.")
    if args.dry_run:
        print("Dry run: nothing was changed.")
        return EXIT_DONE
    if not args.yes:
        if not sys.stdin.isatty() and ask is input:
            raise CliError("no terminal to confirm the plan on: pass --yes to act without asking, or --dry-run")
        if not confirmed(count, ask):
            print("Not confirmed: nothing was changed.")
            return EXIT_FAILED
    failed = False
    for found in inventory.findings:
        if not closes_rules(found):
            continue
        for change in lines_of(region, found, act_on(found, False, aws, out_of_time=lambda: False)):
            if change.outcome in (Outcome.NOTIFIED, Outcome.IGNORED):
                continue
            row = change.row
            print(f"{row.group_id}  {row.ports} from {row.source}: {OUTCOME_TEXT[change.outcome]}")
            for detail in change.details:
                print(f"    {detail}")
            if change.outcome in (Outcome.REVOKED, Outcome.NARROWED) and change.entry is not None:
                print(f"    restore: {restore_command(change.entry, row.group_id, region)}")
            failed = failed or change.outcome == Outcome.FAILED
    return EXIT_FAILED if failed else EXIT_DONE
