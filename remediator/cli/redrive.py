"""The `redrive` command: the dead-letter queue's events handed to the handler again, each deleted once handled."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import botocore.session
from botocore.exceptions import ClientError

from remediator.cli.output import CliError, aws_error_message, checked_region, region_name
from remediator.cli.replay import (
    Clients,
    Failed,
    Job,
    Report,
    attempt,
    configured_region,
    event_of,
    parse_json,
    readable,
    region_for,
    settings_for,
)
from remediator.effects import CLIENT_CONFIG
from remediator.log import diverted

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

DESCRIPTION = """\
Hand each message of the remediator's dead-letter queue to the handler's logic
again, as `replay` does with a file, and delete each message whose event was
handled. A message is an EventBridge event (the rules' dead-letter queue) or
Lambda's invocation record, whose requestPayload is the event (the function's
on-failure destination). A message AWS refused a call for, or that holds no
event, is reported and left in the queue. Settings come from the REMEDIATOR_*
variables, credentials and endpoint from the standard AWS settings."""

EPILOG = """\
examples:
  python -m remediator redrive https://sqs.eu-west-1.amazonaws.com/123456789012/DLQ --dry-run
  python -m remediator redrive https://sqs.eu-west-1.amazonaws.com/123456789012/DLQ

exit status: 0 when every message read was handled (and, but in a dry run,
deleted); 1 when any was left in the queue (AWS refused a call, or it holds no
event); 2 on bad input (a queue URL that is not one, an invalid REMEDIATOR_*
setting) or a setup botocore cannot use (no credentials, an endpoint that cannot
be reached)."""

# ReceiveMessage returns at most 10 messages a call.
BATCH = 10
# Long polling (at least 1 second) asks every SQS server, so that an empty answer means an empty queue.
WAIT_SECONDS = 1
QUEUE_REGION = re.compile(r"(?:^|\.)([a-z]{2}(?:-[a-z]+)+-\d+)\.")


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return number


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `redrive` command and its options to the command line's subcommands."""
    parser = commands.add_parser(
        "redrive",
        help="handle the dead-letter queue's events again, deleting each one handled",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("queue_url", metavar="QUEUE_URL", help="the dead-letter queue's URL (https://sqs.REGION...)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="decide and report but change no rule and delete no message (as REMEDIATOR_DRY_RUN=true)",
    )
    parser.add_argument(
        "--max-messages",
        type=positive,
        metavar="N",
        help="read at most N messages (default: until the queue has no more)",
    )
    parser.add_argument(
        "--region",
        type=region_name,
        help="the queue's region where its URL names none, and the region of events that name none (default: the "
        "URL's, else the region boto3 is configured with); each event is handled in its own region",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of the handler's summaries")
    parser.add_argument("--verbose", action="store_true", help="also show the handler's JSON log lines, on stderr")
    parser.set_defaults(run=run)


def checked_queue_url(url: str) -> str:
    """The URL when it is an http(s) URL with a path (the queue's account and name); else a CliError."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path.strip("/") == "":
        raise CliError(
            f"{url!r} is not an SQS queue URL: give one like https://sqs.eu-west-1.amazonaws.com/123456789012/NAME "
            "(`aws sqs get-queue-url --queue-name NAME` prints it)"
        )
    return url


def queue_region(url: str, override: str | None, configured: str | None) -> str:
    """The queue's region: its URL's (sqs.REGION.amazonaws.com), else --region, else the configured one."""
    found = QUEUE_REGION.search(urlsplit(url).hostname or "")
    in_url = found.group(1) if found else None
    if in_url and override and in_url != override:
        raise CliError(f"the queue URL is in {in_url}, not in --region {override}")
    region = in_url or override
    if region:
        return region
    if not configured:
        raise CliError("no region for the queue: its URL names none; pass --region or set AWS_DEFAULT_REGION")
    return checked_region(configured, "the configured region (AWS_DEFAULT_REGION or the profile's)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One message of the queue: its id, the receipt handle that deletes it, and its body."""

    message_id: str
    receipt_handle: str
    body: str


def received(sqs: SQSClient, url: str, limit: int | None) -> Iterator[Message]:
    """The queue's messages, up to 10 per ReceiveMessage, until it gives none not seen yet or `limit` were read."""
    # A message left in the queue comes back once its visibility timeout ends: it is not handled twice in one run.
    seen: set[str] = set()
    while limit is None or len(seen) < limit:
        wanted = BATCH if limit is None else min(BATCH, limit - len(seen))
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=wanted, WaitTimeSeconds=WAIT_SECONDS)
        fresh = [message for message in answer.get("Messages", []) if message.get("MessageId", "") not in seen]
        if not fresh:
            return
        for message in fresh:
            message_id = message.get("MessageId", "")
            seen.add(message_id)
            yield Message(
                message_id=message_id,
                receipt_handle=message.get("ReceiptHandle", ""),
                body=message.get("Body", ""),
            )


def job_of(message: Message, fallback: str) -> Job:
    """The message's event, read and its region resolved (its own, else the queue's); a CliError if it holds none."""
    label = f"message {message.message_id}"
    labelled, event = event_of(parse_json(message.body, label), label)
    call = readable(labelled, event)
    return Job(label=label, event=event, call=call, region=region_for(labelled, call, None, fallback))


def deletion_error(sqs: SQSClient, url: str, message: Message) -> str | None:
    """Delete the message; None when done, else AWS's one-line answer (the message stays in the queue)."""
    try:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message.receipt_handle)
    except ClientError as error:
        return aws_error_message(error)[0]
    return None


def run(args: argparse.Namespace) -> int:
    """Handle each message's event, deleting those handled; 0 when every one was, 1 when any was left in the queue."""
    url = checked_queue_url(args.queue_url)
    settings = settings_for(args.dry_run)
    session = botocore.session.get_session()
    region = queue_region(url, args.region, configured_region(session))
    sqs = cast("SQSClient", session.create_client("sqs", region_name=region, config=CLIENT_CONFIG))
    clients = Clients(session, settings.topic_arn)
    report = Report(settings, as_json=args.json, noun="message")
    deleted = 0
    with diverted(sys.stderr if args.verbose else None):
        for message in received(sqs, url, args.max_messages):
            ids: dict[str, Any] = {"message_id": message.message_id}
            try:
                job = job_of(message, region)
            except CliError as unreadable:
                report.failure(f"{unreadable}; left in the queue", {**ids, "deleted": False})
                continue
            outcome = attempt(job, settings, clients.of(job.region))
            if isinstance(outcome, Failed):
                item = {**ids, "event_id": job.call.event_id, "region": job.region, "deleted": False}
                report.failure(f"{job.described()}: {outcome.message}; left in the queue", item)
                continue
            refused = None if settings.dry_run else deletion_error(sqs, url, message)
            gone = not settings.dry_run and refused is None
            deleted += 1 if gone else 0
            kept = f"{job.described()}: handled, but not deleted: {refused}" if refused else None
            report.result(job.call, {**outcome, **ids, "deleted": gone}, error=kept)
    failed = report.failed
    extra = "; dry run: none deleted" if settings.dry_run else f"; {deleted} deleted, {failed} left in the queue"
    return report.close(empty=f"{url}: no messages", extra=extra)
