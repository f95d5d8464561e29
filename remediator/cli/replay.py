"""The `replay` command: the handler's logic on saved CloudTrail events, against the AWS that boto3 is set up for."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from remediator.cli.inputs import Part, expanded, read_parts, shown
from remediator.cli.output import CliError, JsonList, aws_error_message, checked_region, is_aws_error, region_name
from remediator.effects import CLIENT_CONFIG, Aws
from remediator.events import SecurityGroupCall, Unreadable, is_scheduled, read_call
from remediator.handler import handle_call
from remediator.log import diverted
from remediator.model import Outcome
from remediator.report import OUTCOME_TEXT, STATUS_TEXT, Status
from remediator.settings import Settings, settings_from

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_sns import SNSClient

DESCRIPTION = """\
Run the remediator's handler logic on saved CloudTrail events, against whatever
AWS endpoint boto3 is configured for: real AWS (AWS_PROFILE or any standard
credentials), or a local emulator through the standard AWS_ENDPOINT_URL (moto
server, LocalStack). Settings come from the REMEDIATOR_* variables, as in the
Lambda function. A file may hold an EventBridge event, a bare CloudTrail
record, a message of the dead-letter queue (an EventBridge event, or Lambda's
invocation record, whose requestPayload is the event), the output of
`aws cloudtrail lookup-events` or `aws sqs receive-message`, a CloudTrail log
file ({"Records": [...]}, gzipped or not), a JSON array of any of these, or
JSON Lines (one per line); each of its events is replayed. Files are read as a
stream, and each event's result is printed as soon as it is known.

With --rehearse, nothing is read from or done to any AWS account: each event is
rehearsed on embedded AWS (moto, in this process), on a group created with the
rules the event's call added, and the group's rules are shown before and after."""

EPILOG = """\
examples:
  python -m remediator replay event.json --dry-run
  AWS_PROFILE=audit python -m remediator replay event.json --dry-run --json
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 python -m remediator replay event.json
  aws cloudtrail lookup-events --lookup-attributes \\
      AttributeKey=EventName,AttributeValue=AuthorizeSecurityGroupIngress \\
      > events.json
  python -m remediator replay events.json --dry-run
  python -m remediator replay logs/*.json.gz --dry-run
  python -m remediator replay event.json --rehearse --tag remediator:mode=notify

exit status: 0 when every event was handled (an event the remediator ignores,
with its reason, counts as handled); 1 when AWS refused a call for an event (the
other events are still replayed; a last line counts handled and failed), or when
an event past the first 1000 of the input is bad; 2 on bad input (no such file,
invalid JSON, not an event, no region) among the first 1000 events, an invalid
REMEDIATOR_* setting, or a setup botocore cannot use (no credentials, an
endpoint that cannot be reached), before any event is acted on."""

Labelled = tuple[str, object]
NOT_AN_EVENT = "is neither an EventBridge event, a CloudTrail record nor a Lambda invocation record"
# Up to this many events are all read, and their regions resolved, before any is acted on; past it the input is
# a stream, and each later event is read and its region resolved just before it is acted on.
ALL_FIRST = 1000
# The handler's reason for an event whose group it could not find (remediator/remediate.py).
GONE = re.compile(r"security group (?P<group>\S+) no longer exists")


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
        "event_files",
        metavar="EVENT.json",
        nargs="+",
        help="the saved event(s): files (gzipped or not) or globs, or - to read standard input",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="decide and report but change no rule (as REMEDIATOR_DRY_RUN=true; a notification is still "
        "published if REMEDIATOR_TOPIC_ARN is set)",
    )
    parser.add_argument(
        "--region",
        type=region_name,
        help="the region to act in (default: the event's awsRegion, else the region boto3 is configured with); "
        "with --rehearse, the region rehearsed in (default: the event's, else eu-west-1)",
    )
    parser.add_argument(
        "--rehearse",
        action="store_true",
        help="no AWS account: run each event on embedded AWS (moto), on a group created with the rules its call "
        "added, and show the group's rules before and after and the notification",
    )
    parser.add_argument(
        "--tag",
        type=tag_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --rehearse: a tag of the group created (repeatable), e.g. remediator:mode=notify",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of the handler's summaries")
    parser.add_argument("--verbose", action="store_true", help="also show the handler's JSON log lines, on stderr")
    parser.set_defaults(run=run)


def tag_pair(text: str) -> tuple[str, str]:
    """An argparse type: KEY=VALUE as the pair (KEY, VALUE); the key must not be empty."""
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE, e.g. remediator:mode=notify")
    return key.strip(), value.strip()


def parse_json(text: str, where: str) -> object:
    """The JSON value of the text; a CliError naming where, line and column when it is not valid JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(
            f"{where} is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None


def lookup_event(item: object, label: str) -> Labelled:
    """The CloudTrail record of one event of `aws cloudtrail lookup-events` output, which carries it as a string."""
    record = item.get("CloudTrailEvent") if isinstance(item, dict) else None
    if isinstance(record, str):
        return label, parse_json(record, f"{label}.CloudTrailEvent")
    if isinstance(record, dict):
        return label, record
    raise CliError(f"{label} has no CloudTrailEvent, so it is not lookup-events output")


def lookup_events(events: Sequence[object], where: str) -> list[Labelled]:
    """The CloudTrail records of `aws cloudtrail lookup-events` output, which carries each one as a JSON string."""
    return [lookup_event(item, f"{where}: Events[{index}]") for index, item in enumerate(events)]


def queue_message(item: object, label: str) -> Labelled:
    """The event of one message of `aws sqs receive-message` output: its Body, in either dead-letter format."""
    body = item.get("Body") if isinstance(item, dict) else None
    if not isinstance(body, str):
        raise CliError(f"{label} is missing, so it is not `aws sqs receive-message` output")
    return event_of(parse_json(body, label), label)


def queue_messages(messages: Sequence[object], where: str) -> list[Labelled]:
    """The events of `aws sqs receive-message` output: each message's Body, in either dead-letter format."""
    return [queue_message(item, f"{where}: Messages[{index}].Body") for index, item in enumerate(messages)]


def log_records(records: Sequence[object], where: str) -> list[Labelled]:
    """The records of a CloudTrail log file ({"Records": [...]}), each a bare CloudTrail record."""
    return [event_of(record, f"{where}: Records[{index}]") for index, record in enumerate(records)]


def is_invocation_record(data: Mapping[str, Any]) -> bool:
    """Whether the object is Lambda's record of an asynchronous invocation (what its on-failure destination gets)."""
    # {"version", "timestamp", "requestContext": {"requestId", "functionArn", "condition", "approximateInvokeCount"},
    #  "requestPayload": the event, "responseContext", "responsePayload"}
    return "requestPayload" in data and isinstance(data.get("requestContext"), dict)


def event_of(data: object, where: str) -> Labelled:
    """The one event a message holds: an EventBridge event or CloudTrail record, or a Lambda record's requestPayload."""
    if isinstance(data, dict) and is_invocation_record(data):
        where = f"{where}: requestPayload"
        payload = data["requestPayload"]
        data = parse_json(payload, where) if isinstance(payload, str) else payload
    if isinstance(data, dict):
        if is_scheduled(data):
            raise CliError(f"{where} is the scheduled sweep's trigger, not a CloudTrail event")
        if isinstance(data.get("detail"), dict) or "eventName" in data:
            return where, data
    raise CliError(f"{where} {NOT_AN_EVENT}")


def events_in(data: object, where: str) -> list[Labelled]:
    """Each event a JSON value holds, whichever of the accepted shapes it has."""
    if isinstance(data, dict):
        if isinstance(data.get("Events"), list):
            return lookup_events(data["Events"], where)
        if isinstance(data.get("Messages"), list):
            return queue_messages(data["Messages"], where)
        if isinstance(data.get("Records"), list):
            return log_records(data["Records"], where)
    return [event_of(data, where)]


def events_of_part(part: Part) -> list[Labelled]:
    """The events of one value the input reader gave: an element of Records, Events or Messages, or any shape."""
    if part.member == "Records":
        return [event_of(part.value, part.label)]
    if part.member == "Events":
        return [lookup_event(part.value, part.label)]
    if part.member == "Messages":
        return [queue_message(part.value, f"{part.label}.Body")]
    return events_in(part.value, part.label)


def readable(label: str, event: object) -> SecurityGroupCall:
    """The call the event records; a CliError naming where the event was read when it records none."""
    call = read_call(event)
    if isinstance(call, Unreadable):
        raise CliError(f"{label}: {call.reason}")
    return call


def configured_region(session: botocore.session.Session) -> str | None:
    """The region boto3 is configured with (AWS_DEFAULT_REGION, the profile's), or None."""
    region = session.get_config_variable("region")
    return str(region) if region else None


def region_for(label: str, call: SecurityGroupCall, override: str | None, fallback: str | None) -> str:
    """The region to act in: the override, else the call's, else the fallback; a CliError when there is none."""
    # The group lives where the call was made; the configured region is the fallback for records without one.
    if override:
        return override
    # The command line is strict where the Lambda is lenient: a region that is not one is an error, not a guess.
    if call.region or call.stated_region:
        return checked_region(call.region or call.stated_region or "", f"{label}: the event's region")
    if not fallback:
        raise CliError(f"{label}: no region: the event names none; pass --region or set AWS_DEFAULT_REGION")
    return checked_region(fallback, "the configured region (AWS_DEFAULT_REGION or the profile's)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One event to hand to the handler: where it was read, the event, the call it records, the region to act in."""

    label: str
    event: object
    call: SecurityGroupCall
    region: str

    def described(self) -> str:
        """The job as an error line names it: where it was read, the event's id and its region."""
        return f"{self.label} (event {self.call.event_id} in {self.region})"


@dataclass(frozen=True, slots=True)
class Bad:
    """Input where an event was expected that is none, or whose region cannot be resolved: the one-line message."""

    message: str


RegionOf = Callable[[str, SecurityGroupCall], str]


def jobs_from(names: Sequence[str], region_of: RegionOf) -> Iterator[Job | Bad]:
    """Each event of the inputs in turn, read and its region resolved as it comes; Bad where that fails."""
    # A bad event is Bad and the next one follows; input that is not JSON (or not readable) ends that input's events.
    for name in names:
        try:
            for part in read_parts(name):
                try:
                    events = events_of_part(part)
                except CliError as error:
                    yield Bad(str(error))
                    continue
                for label, event in events:
                    try:
                        call = readable(label, event)
                        job = Job(label=label, event=event, call=call, region=region_of(label, call))
                    except CliError as error:
                        yield Bad(str(error))
                        continue
                    yield job
        except CliError as error:
            yield Bad(str(error))


def first_jobs(jobs: Iterator[Job | Bad]) -> tuple[list[Job], Iterator[Job | Bad]]:
    """Up to ALL_FIRST + 1 events, read and their regions resolved (a CliError at a bad one), and the rest."""
    # The rest is empty for an input of at most ALL_FIRST events; else the input is a stream, whose later events
    # are read, and their regions resolved, one at a time as they are acted on.
    head: list[Job] = []
    for item in jobs:
        if isinstance(item, Bad):
            raise CliError(item.message)
        head.append(item)
        if len(head) > ALL_FIRST:
            return head, jobs
    return head, iter(())


def topic_region(topic_arn: str | None) -> str | None:
    """The region of the SNS topic's ARN (arn:aws:sns:REGION:ACCOUNT:NAME), or None when it names none."""
    parts = topic_arn.split(":") if topic_arn else []
    if len(parts) < 6 or not parts[3]:
        return None
    return checked_region(parts[3], "REMEDIATOR_TOPIC_ARN's region")


class Target:
    """The account the run acts in, asked of STS once per run when first needed; None when STS cannot tell."""

    def __init__(self, session: botocore.session.Session) -> None:
        self.session = session
        self.asked = False
        self.account: str | None = None

    def account_in(self, region: str) -> str | None:
        """The account of the credentials (sts:GetCallerIdentity, asked once), or None when the call fails."""
        if not self.asked:
            self.asked = True
            try:
                sts: Any = self.session.create_client("sts", region_name=region, config=CLIENT_CONFIG)
                self.account = str(sts.get_caller_identity()["Account"])
            except (ClientError, BotoCoreError, ValueError, KeyError):
                self.account = None
        return self.account


class TargetAws(Aws):
    """The remediator's clients of one region, knowing the run's target account (for messages only)."""

    def __init__(self, ec2: EC2Client, sns: SNSClient, target: Target) -> None:
        super().__init__(ec2=ec2, sns=sns)
        self.target = target


class Clients:
    """The remediator's clients of each region acted in, from one botocore session: SNS in the topic's own region."""

    def __init__(self, session: botocore.session.Session, topic_arn: str | None) -> None:
        self.session = session
        # A topic is published to in its own region, whatever region the event was in.
        self.topic_region = topic_region(topic_arn)
        self.sns: dict[str, SNSClient] = {}
        self.aws: dict[str, Aws] = {}
        self.target = Target(session)

    def of(self, region: str) -> Aws:
        """The Aws of the region: EC2 there, SNS where the topic is (made once each)."""
        if region not in self.aws:
            sns_region = self.topic_region or region
            if sns_region not in self.sns:
                made = self.session.create_client("sns", region_name=sns_region, config=CLIENT_CONFIG)
                self.sns[sns_region] = cast("SNSClient", made)
            ec2 = cast("EC2Client", self.session.create_client("ec2", region_name=region, config=CLIENT_CONFIG))
            self.aws[region] = TargetAws(ec2=ec2, sns=self.sns[sns_region], target=self.target)
        return self.aws[region]


def settings_for(dry_run: bool) -> Settings:
    """The REMEDIATOR_* settings of the environment, as the function has them; dry_run forced on by --dry-run."""
    settings = settings_from(os.environ)
    return replace(settings, dry_run=True) if dry_run else settings


@dataclass(frozen=True, slots=True)
class Failed:
    """An event AWS refused a call for: the one-line message."""

    message: str


def attempt(job: Job, settings: Settings, aws: Aws) -> dict[str, Any] | Failed:
    """The handler's summary of the event (with its region), or Failed when AWS refused a call."""
    try:
        summary = handle_call(job.event, settings, aws, datetime.now(UTC))
    except (ClientError, BotoCoreError, ValueError) as error:
        if not is_aws_error(error):
            raise
        message, status = aws_error_message(error)
        if status == 2:
            # The setup's (no credentials, an endpoint it cannot reach): every event would fail alike.
            raise
        return Failed(message)
    return plainly_missing({**summary, "region": job.region}, job.region, aws)


def plainly_missing(summary: dict[str, Any], region: str, aws: Aws) -> dict[str, Any]:
    """The summary, with the reason of a group not found saying where it was looked for, and why it may be absent."""
    reason = summary.get("reason")
    found = GONE.fullmatch(reason) if summary.get("status") == Status.IGNORED and isinstance(reason, str) else None
    if found is None:
        return summary
    account = aws.target.account_in(region) if isinstance(aws, TargetAws) else None
    place = f"account {account} region {region}" if account else f"region {region}"
    return {
        **summary,
        "reason": f"security group {found['group']} does not exist in {place} "
        "(deleted since, or the event comes from another account)",
    }


class Report:
    """Each event's result printed as soon as it is known and flushed, for people or as a JSON list; then a count."""

    def __init__(self, settings: Settings, *, as_json: bool, noun: str = "event") -> None:
        self.settings = settings
        self.json = JsonList() if as_json else None
        self.noun = noun
        self.handled = 0
        self.failed = 0

    def separate(self) -> None:
        """A blank line between two events' results, for people."""
        if self.json is None and self.handled + self.failed:
            print(flush=True)

    def result(
        self,
        call: SecurityGroupCall,
        summary: Mapping[str, Any],
        *,
        error: str | None = None,
        extra: Sequence[str] = (),
        settings: Settings | None = None,
    ) -> None:
        """Print what the handler did with one event, then `extra`; with `error` too, it counts as failed."""
        # `settings` are the event's where they are not the run's: a rehearsal's topic.
        self.separate()
        if self.json is not None:
            self.json.add({**summary, "error": error} if error else summary)
        else:
            print("\n".join([*human(call, summary, settings or self.settings), *extra]), flush=True)
        if error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            self.failed += 1
        else:
            self.handled += 1

    def failure(self, line: str, item: Mapping[str, Any]) -> None:
        """An event that was not handled: its one-line error on stderr, and an element of the JSON list."""
        self.separate()
        print(f"error: {line}", file=sys.stderr, flush=True)
        if self.json is not None:
            self.json.add({**item, "status": "failed", "error": line})
        self.failed += 1

    def close(self, *, empty: str, extra: str = "") -> int:
        """End the output: for people the count (or `empty` when there was nothing); 1 when any event failed."""
        total = self.handled + self.failed
        if self.json is not None:
            self.json.close()
        elif not total:
            print(empty, flush=True)
        else:
            self.separate()
            noun = self.noun if total == 1 else f"{self.noun}s"
            print(f"{total} {noun}: {self.handled} handled, {self.failed} failed{extra}", flush=True)
        return 1 if self.failed else 0


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
    if summary.get("notice") == "already-sent":
        return "  notification: none (the group was reported today already: once a group and day)"
    if settings.topic_arn:
        return "  notification: none (nothing to tell)"
    return "  notification: none sent (REMEDIATOR_TOPIC_ARN is not set)"


def human(call: SecurityGroupCall, summary: Mapping[str, Any], settings: Settings) -> list[str]:
    """A person's reading of one summary: what happened to each risky entry and who was told."""
    lines = [f"{call.event_name} event {summary['event_id']} in {summary['region']}"]
    status = summary["status"]
    if status in (Status.IGNORED, Status.REFUSED):
        return [*lines, f"  {status}: {summary['reason']}"]
    if "group_id" not in summary:
        # A call that reaches several groups at once (a prefix-list edit, an attachment): each group's result.
        groups = summary.get("groups", [])
        if not groups:
            return [*lines, f"  clean: {summary.get('reason') or 'no group it reaches has a risky rule'}"]
        lines += [f"  note: {note}" for note in summary.get("notes", [])]
        return [*lines, *(line for one in groups for line in group_lines(one, settings))]
    if status == Status.CLEAN:
        return [*lines, f"  {summary['group_id']}: clean, the call added no risky entry"]
    return [*lines, *group_lines(summary, settings)]


def group_lines(summary: Mapping[str, Any], settings: Settings) -> list[str]:
    """What happened in one group: its status, notes, each risky entry, and who was told."""
    lines = [f"  {summary['group_id']}: {STATUS_TEXT[Status(summary['status'])]}"]
    lines += [f"  note: {note}" for note in summary.get("notes", [])]
    for finding in summary["findings"]:
        lines += finding_lines(finding)
    lines.append(notification_line(summary, settings))
    return lines


def empty_text(names: Sequence[str]) -> str:
    """What is printed when the inputs hold no event."""
    if len(names) == 1:
        return f"{shown(names[0])} holds no events"
    return f"{len(names)} files hold no events"


def run(args: argparse.Namespace) -> int:
    """Replay the inputs' events, printing each one's result as it comes; 0 when all were handled, 1 if any failed."""
    names = expanded(args.event_files)
    if args.tag and not args.rehearse:
        raise CliError("--tag is for --rehearse: it tags the group a rehearsal creates")
    settings = settings_for(args.dry_run)
    if args.rehearse:
        from remediator.cli.rehearse import rehearse  # noqa: PLC0415  (moto is loaded only for a rehearsal)

        return rehearse(names, settings, args)
    session = botocore.session.get_session()
    fallback = configured_region(session)
    jobs = jobs_from(names, lambda label, call: region_for(label, call, args.region, fallback))
    # A small input is all read first, so that bad input changes nothing; a stream is checked event by event.
    head, rest = first_jobs(jobs)
    clients = Clients(session, settings.topic_arn)
    for job in head:
        # Made before any event is acted on: a region or endpoint botocore cannot use stops the run first.
        clients.of(job.region)
    report = Report(settings, as_json=args.json)
    with diverted(sys.stderr if args.verbose else None):
        for item in itertools.chain(head, rest):
            if isinstance(item, Bad):
                # Past the first ALL_FIRST events: earlier ones were acted on, so it is one failed event among them.
                report.failure(item.message, {"event_id": None, "region": None})
                continue
            outcome = attempt(item, settings, clients.of(item.region))
            if isinstance(outcome, Failed):
                report.failure(
                    f"{item.described()}: {outcome.message}", {"event_id": item.call.event_id, "region": item.region}
                )
            else:
                report.result(item.call, outcome)
    return report.close(empty=empty_text(names))
