"""The `replay` command: the handler's logic on saved CloudTrail events, against the AWS that boto3 is set up for."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from remediator.cli.output import CliError, print_json
from remediator.effects import Aws
from remediator.events import SecurityGroupCall, Unreadable, is_scheduled, read_call
from remediator.log import diverted
from remediator.model import Outcome
from remediator.remediate import remediate
from remediator.report import OUTCOME_TEXT, STATUS_TEXT, Status
from remediator.settings import Settings, settings_from

DESCRIPTION = """\
Run the remediator's handler logic on saved CloudTrail events, against whatever
AWS endpoint boto3 is configured for: real AWS (AWS_PROFILE or any standard
credentials), or a local emulator through the standard AWS_ENDPOINT_URL (moto
server, LocalStack). Settings come from the REMEDIATOR_* variables, as in the
Lambda function. The file may hold an EventBridge event, a bare CloudTrail
record, or the output of `aws cloudtrail lookup-events` (each of its events is
replayed)."""

EPILOG = """\
examples:
  python -m remediator replay event.json --dry-run
  AWS_PROFILE=audit python -m remediator replay event.json --dry-run --json
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 python -m remediator replay event.json
  aws cloudtrail lookup-events --lookup-attributes \\
      AttributeKey=EventName,AttributeValue=AuthorizeSecurityGroupIngress \\
      > events.json
  python -m remediator replay events.json --dry-run

exit status: 0 when every event was handled (an event the remediator ignores,
with its reason, counts as handled); 1 when an AWS call failed; 2 on bad input
(no such file, invalid JSON, not an event) or an invalid REMEDIATOR_* setting."""

Labelled = tuple[str, object]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `replay` command and its options to the command line's subcommands."""
    parser = commands.add_parser(
        "replay",
        help="run the remediator on saved CloudTrail events against real AWS or a local endpoint",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "event_file",
        metavar="EVENT.json",
        help="the saved event(s), or - to read standard input",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="decide and report but change no rule (as REMEDIATOR_DRY_RUN=true; a notification is still "
        "published if REMEDIATOR_TOPIC_ARN is set)",
    )
    parser.add_argument(
        "--region",
        help="the region to act in (default: the event's awsRegion, else the region boto3 is configured with)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of the handler's summaries")
    parser.add_argument("--verbose", action="store_true", help="also show the handler's JSON log lines, on stderr")
    parser.set_defaults(run=run)


def read_text(name: str) -> tuple[str, str]:
    """The text to replay and how messages name where it came from."""
    if name == "-":
        return sys.stdin.read(), "standard input"
    try:
        return Path(name).read_text(encoding="utf-8"), name
    except FileNotFoundError:
        raise CliError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{name}: is a directory, not an event file") from None
    except UnicodeDecodeError:
        raise CliError(f"{name}: not a UTF-8 text file") from None
    except OSError as error:
        raise CliError(f"{name}: cannot be read ({error.strerror})") from None


def parse_json(text: str, where: str) -> object:
    """The JSON value of the text; a CliError naming where, line and column when it is not valid JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(
            f"{where} is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None


def lookup_events(events: Sequence[object], where: str) -> list[Labelled]:
    """The CloudTrail records of `aws cloudtrail lookup-events` output, which carries each one as a JSON string."""
    found: list[Labelled] = []
    for index, item in enumerate(events):
        label = f"{where}: Events[{index}]"
        record = item.get("CloudTrailEvent") if isinstance(item, dict) else None
        if isinstance(record, str):
            found.append((label, parse_json(record, f"{label}.CloudTrailEvent")))
        elif isinstance(record, dict):
            found.append((label, record))
        else:
            raise CliError(f"{label} has no CloudTrailEvent, so it is not lookup-events output")
    return found


def events_in(data: object, where: str) -> list[Labelled]:
    """Each event the file holds, whichever of the accepted shapes it has."""
    if isinstance(data, dict):
        if isinstance(data.get("Events"), list):
            return lookup_events(data["Events"], where)
        if is_scheduled(data):
            raise CliError(f"{where} is the scheduled sweep's trigger, not a CloudTrail event")
        if isinstance(data.get("detail"), dict) or "eventName" in data:
            return [(where, data)]
    raise CliError(
        f"{where} is neither an EventBridge event, a CloudTrail record nor `aws cloudtrail lookup-events` output"
    )


def readable(label: str, event: object) -> SecurityGroupCall:
    """The call the event records; every event is read before any is acted on, so bad input changes nothing."""
    call = read_call(event)
    if isinstance(call, Unreadable):
        raise CliError(f"{label}: {call.reason}")
    return call


def region_for(call: SecurityGroupCall, override: str | None) -> str:
    """The region to act in: the override, else the call's, else boto3's; a CliError when there is none."""
    # The group lives where the call was made; boto3's own region is the fallback for records without one.
    region = override or call.region or boto3.session.Session().region_name
    if not region:
        raise CliError("no region: the event names none; pass --region or set AWS_DEFAULT_REGION")
    return region


def replay(
    events: Sequence[Labelled], settings: Settings, region: str | None, verbose: bool
) -> list[tuple[SecurityGroupCall, dict[str, Any]]]:
    """Run the handler on each event, all read first, with one client per region; each call with its summary."""
    calls = [(readable(label, event), event) for label, event in events]
    clients: dict[str, Aws] = {}
    results: list[tuple[SecurityGroupCall, dict[str, Any]]] = []
    with diverted(sys.stderr if verbose else None):
        for call, event in calls:
            where = region_for(call, region)
            if where not in clients:
                clients[where] = Aws.from_environment(where)
            summary = remediate(event, settings, clients[where], datetime.now(UTC))
            results.append((call, {**summary, "region": where}))
    return results


def finding_lines(finding: Mapping[str, Any]) -> list[str]:
    """A person's reading of one finding: the rule and its outcome, its mode and risk, any narrowing and notes."""
    rule = f"{finding['ports']} from {finding['source']}"
    if finding.get("rule_id"):
        rule += f" ({finding['rule_id']})"
    lines = [
        f"  {rule}: {OUTCOME_TEXT[Outcome(finding['outcome'])]}",
        f"    mode {finding['mode']}; {finding['risk']}",
    ]
    if finding["outcome"] == Outcome.WOULD_NARROW:
        lines.append(f"    would allow it from {', '.join(finding['narrow_to'])} instead")
    lines += [f"    note: {note}" for note in finding["notes"]]
    return lines


def notification_line(summary: Mapping[str, Any], settings: Settings) -> str:
    """Whether a notification was published to the topic, and if not, why not."""
    if summary["notified"]:
        return f"  notification: published to {settings.topic_arn}"
    if all(f["outcome"] == Outcome.IGNORED for f in summary["findings"]):
        return "  notification: none (opt-outs are only logged)"
    return "  notification: none sent (REMEDIATOR_TOPIC_ARN is not set)"


def human(call: SecurityGroupCall, summary: Mapping[str, Any], settings: Settings) -> list[str]:
    """A person's reading of one summary: what happened to each risky entry and who was told."""
    lines = [f"{call.event_name} event {summary['event_id']} in {summary['region']}"]
    status = summary["status"]
    if status in (Status.IGNORED, Status.REFUSED):
        return [*lines, f"  {status}: {summary['reason']}"]
    group = summary["group_id"]
    if status == Status.CLEAN:
        return [*lines, f"  {group}: clean, the call added no risky entry"]
    lines.append(f"  {group}: {STATUS_TEXT[Status(status)]}")
    lines += [f"  note: {note}" for note in summary.get("notes", [])]
    for finding in summary["findings"]:
        lines += finding_lines(finding)
    lines.append(notification_line(summary, settings))
    return lines


def run(args: argparse.Namespace) -> int:
    """Replay the file's events and print their summaries as JSON or for people; returns 0 (bad input raises)."""
    text, where = read_text(args.event_file)
    events = events_in(parse_json(text, where), where)
    settings = settings_from(os.environ)
    if args.dry_run:
        settings = settings.model_copy(update={"dry_run": True})
    results = replay(events, settings, args.region, args.verbose)
    if args.json:
        print_json([summary for _, summary in results])
        return 0
    if not results:
        print(f"{where} holds no events")
        return 0
    print("\n\n".join("\n".join(human(call, summary, settings)) for call, summary in results))
    return 0
