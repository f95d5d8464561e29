"""What one event (or sweep) found and did, as values, and the notification a person reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from remediator.engine import Finding
from remediator.events import Actor, SecurityGroupCall
from remediator.log import log_event
from remediator.metrics import Metric
from remediator.model import ACTING_MODES, Action, GroupState, Mode, Outcome
from remediator.policy import ALLOWED_CIDRS_TAG, EXPIRES_TAG, MODE_TAG

if TYPE_CHECKING:
    from remediator.effects import Aws
    from remediator.inventory import Row

SUBJECT_LIMIT = 100  # SNS rejects longer subjects.


class Status(StrEnum):
    """What the handler's summary says happened to an event (the sweep's summary uses the same words)."""

    REMEDIATED = "remediated"  # every risky rule is closed now
    LEFT_OPEN = "left-open"  # at least one is left open: notify, ignore, failed, deferred
    ALREADY_CLOSED = "already-closed"  # all were gone before the remediator acted
    DRY_RUN = "dry-run"  # it would act, and changed nothing
    CLEAN = "clean"  # nothing risky
    IGNORED = "ignored"  # not an event of ours
    REFUSED = "refused"  # ours, but it could not act: unreadable, wrong region or account


# What each status means, as the command line prints it.
STATUS_TEXT = {
    Status.REMEDIATED: "remediated: every risky rule is closed now",
    Status.LEFT_OPEN: "left open: at least one risky rule is still open",
    Status.ALREADY_CLOSED: "already closed: every risky rule was gone before the remediator acted",
    Status.DRY_RUN: "dry run, nothing changed",
    Status.CLEAN: "clean: nothing risky",
    Status.IGNORED: "ignored: not an event of the remediator's",
    Status.REFUSED: "refused: an event of the remediator's that it could not act on",
}
# Outcomes after which the rule is still open.
LEFT_OPEN = frozenset({Outcome.NOTIFIED, Outcome.IGNORED, Outcome.FAILED, Outcome.DEFERRED})

# What each outcome means, in the words every notification and command prints.
OUTCOME_TEXT = {
    Outcome.REVOKED: "revoked",
    Outcome.NARROWED: "narrowed",
    Outcome.NOTIFIED: "left open (notify mode)",
    Outcome.IGNORED: "left open (opted out)",
    Outcome.ALREADY_GONE: "already removed (by someone else, or an earlier attempt)",
    Outcome.WOULD_REVOKE: "would be revoked (dry run: nothing changed)",
    Outcome.WOULD_NARROW: "would be narrowed (dry run: nothing changed)",
    Outcome.DEFERRED: "left open for now (the sweep ran out of time; the next sweep takes it up)",
    Outcome.FAILED: "left open: the remediator could not change it",
}
# The order in which the summary line names the actions, the most disruptive first.
ACTION_ORDER = (Action.REVOKE, Action.NARROW, Action.NOTIFY, Action.IGNORE)
ACTION_WORDS = {Action.REVOKE: "revoke", Action.NARROW: "narrow", Action.NOTIFY: "notify", Action.IGNORE: "ignored"}

LISTED_RULES = 200
# SNS takes 256 KB per message, attributes and subject included.
BODY_BUDGET_BYTES = 200_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One message for the topic: its subject, its body and the attributes subscription filters read."""

    subject: str
    body: str
    attributes: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventReport:
    """The findings of one CloudTrail event on one group."""

    event_id: str
    event_name: str
    account: str | None
    region: str | None
    group: GroupState
    actor: Actor
    dry_run: bool
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepLine:
    """One risky rule the sweep found, and what became of it."""

    row: Row
    outcome: Outcome
    details: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepReport:
    """What one sweep of a region found and did."""

    account: str | None
    region: str
    sweep_mode: Mode
    dry_run: bool
    groups_scanned: int
    lines: tuple[SweepLine, ...]


def event_report(
    call: SecurityGroupCall,
    group: GroupState,
    findings: tuple[Finding, ...],
    *,
    dry_run: bool,
    notes: tuple[str, ...] = (),
) -> EventReport:
    """The report of one call's findings on its group, with what could not be read of the event (`notes`)."""
    return EventReport(
        notes=notes,
        event_id=call.event_id,
        event_name=call.event_name,
        account=call.account,
        region=call.region,
        group=group,
        actor=call.actor,
        dry_run=dry_run,
        findings=findings,
    )


def subject_line(text: str) -> str:
    """A subject SNS accepts: printable ASCII on one line, at most 100 characters, an ellipsis where cut."""
    printable = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return printable[: SUBJECT_LIMIT - 3] + "..." if len(printable) > SUBJECT_LIMIT else printable


def counted(count: int, noun: str) -> str:
    """`1 risky rule`, `2 risky rules`."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def status_of(outcomes: Iterable[Outcome], *, dry_run: bool) -> Status:
    """The one word that says what became of an event's (or a sweep's) risky rules."""
    outcomes = set(outcomes)
    if not outcomes:
        return Status.CLEAN
    if dry_run:
        return Status.DRY_RUN
    if outcomes & LEFT_OPEN:
        return Status.LEFT_OPEN
    if outcomes == {Outcome.ALREADY_GONE}:
        return Status.ALREADY_CLOSED
    return Status.REMEDIATED


def metric_counts(outcomes: Counter[Outcome]) -> dict[Metric, int]:
    """The metrics of a set of outcomes: found, revoked, narrowed, and left open (a dry run leaves all open)."""
    return {
        Metric.RISKS_FOUND: sum(outcomes.values()),
        Metric.RULES_REVOKED: outcomes[Outcome.REVOKED],
        Metric.RULES_NARROWED: outcomes[Outcome.NARROWED],
        Metric.RULES_LEFT_OPEN: sum(
            count
            for outcome, count in outcomes.items()
            if outcome in LEFT_OPEN or outcome in (Outcome.WOULD_REVOKE, Outcome.WOULD_NARROW)
        ),
    }


def needs_notification(report: EventReport) -> bool:
    """Opt-outs are only logged; anything else that was found, or an event read in part, is worth a message."""
    return bool(report.notes) or any(finding.outcome != Outcome.IGNORED for finding in report.findings)


def headline(report: EventReport) -> str:
    """What the event's handling did, in a few words: `closed 2 risky rules`."""
    outcomes = {finding.outcome for finding in report.findings}
    if outcomes & {Outcome.WOULD_REVOKE, Outcome.WOULD_NARROW}:
        verb = "would close"
    elif outcomes & {Outcome.REVOKED, Outcome.NARROWED}:
        verb = "closed"
    elif outcomes == {Outcome.ALREADY_GONE}:
        verb = "found already closed"
    else:
        verb = "found open"
    return f"{verb} {counted(len(report.findings), 'risky rule')}"


def subject(report: EventReport) -> str:
    """The subject of an event's notification."""
    return subject_line(f"[sg-remediator] {headline(report)} in {report.group.group_id} ({report.group.group_name})")


def body(report: EventReport) -> str:
    """The text of an event's notification: the call, the caller, each risky rule and what became of it."""
    group, actor = report.group, report.actor
    lines = [
        f"sg-remediator {headline(report)} in security group {group.group_id}.",
        "",
        f"Account:   {report.account or 'unknown'}",
        f"Region:    {report.region or 'unknown'}",
        f"Group:     {group.group_id} ({group.group_name}), VPC {group.vpc_id or 'none (EC2-Classic or unknown)'}",
        f"Call:      {report.event_name} at {actor.event_time or 'unknown time'} (event {report.event_id})",
        f"By:        {actor.principal_arn or 'unknown principal'}",
        f"From:      {actor.source_ip or 'unknown address'} using {actor.user_agent or 'unknown client'}",
    ]
    if report.dry_run:
        lines += ["", "DRY RUN: the remediator changed nothing (REMEDIATOR_DRY_RUN=true)."]
    if report.notes:
        lines += ["", "The event could not be read in full:"]
        lines += [f"  - {note}" for note in report.notes]
    for number, finding in enumerate(report.findings, start=1):
        entry = finding.entry
        lines += [
            "",
            f"{number}. {entry.ports_text()} from {entry.source.value}"
            + (f" ({entry.rule_id})" if entry.rule_id else "")
            + (f", description {entry.description!r}" if entry.description else ""),
            f"   Why risky: {finding.risk}",
            f"   Mode:      {finding.decision.mode.value}",
            f"   Outcome:   {OUTCOME_TEXT[finding.outcome]}",
        ]
        lines += [f"   Note:      {note}" for note in (*finding.decision.notes, *finding.details)]
    lines += [
        "",
        "Safer alternatives: restrict the source to the addresses that need access (tag "
        f"{ALLOWED_CIDRS_TAG} and {MODE_TAG}=narrow does it for you), or drop inbound SSH/RDP altogether and use "
        "AWS Systems Manager Session Manager or EC2 Instance Connect.",
        f"To opt this group out: tag it {MODE_TAG}=ignore (or notify), optionally with {EXPIRES_TAG}=YYYY-MM-DD "
        "so that the exception ends by itself.",
    ]
    return "\n".join(lines)


def attributes(report: EventReport) -> dict[str, str]:
    """Message attributes for SNS subscription filters."""
    first = report.findings[0] if report.findings else None
    return {
        "mode": first.decision.mode.value if first else "",
        "action": first.outcome.value if first else "",
        "group_id": report.group.group_id,
    }


def refusal_notification(call: SecurityGroupCall, reason: str) -> Notification:
    """The message about an event of ours that the remediator refused: nothing was checked or changed."""
    group = call.group_id or call.group_name or "unknown"
    lines = [
        f"sg-remediator refused an event that changed security group {group}: {reason}.",
        "Nothing was checked or changed: the group's rules may still be open. Check the group by hand, or run "
        "`python -m remediator scan` with credentials of the account and region the event names.",
        "",
        f"Account:   {call.account or 'unknown'}",
        f"Region:    {call.region or 'unknown'}",
        f"Call:      {call.event_name} at {call.actor.event_time or 'unknown time'} (event {call.event_id})",
        f"By:        {call.actor.principal_arn or 'unknown principal'}",
        *([""] + [f"Not read: {note}" for note in call.skipped] if call.skipped else []),
    ]
    return Notification(
        subject=subject_line(f"[sg-remediator] refused an event on {group}: {reason}"),
        body="\n".join(lines),
        attributes={"action": Status.REFUSED.value, "group_id": group},
    )


def event_notification(report: EventReport) -> Notification | None:
    """The message about one event, or None when nothing is worth one (opt-outs only)."""
    if not needs_notification(report):
        return None
    return Notification(subject=subject(report), body=body(report), attributes=attributes(report))


def count_by_action(rows: Iterable[Row]) -> dict[str, int]:
    """How many rules each action would apply to, every action named (zero included), in ACTION_ORDER."""
    counts = Counter(row.action for row in rows)
    return {ACTION_WORDS[action]: counts.get(ACTION_WORDS[action], 0) for action in ACTION_ORDER}


def reported(report: SweepReport) -> list[SweepLine]:
    """The lines a person is told about: opt-outs are only logged, as for new rules."""
    return [line for line in report.lines if line.outcome != Outcome.IGNORED]


def sweep_headline(report: SweepReport) -> str:
    """What the sweep did, in a few words: `found 3 risky rules`, `closed 2 of 3 risky rules`."""
    lines = reported(report)
    outcomes = Counter(line.outcome for line in lines)
    found = counted(len(lines), "risky rule")
    if report.sweep_mode not in ACTING_MODES:
        return f"found {found}"
    if report.dry_run:
        return f"would close {outcomes[Outcome.WOULD_REVOKE] + outcomes[Outcome.WOULD_NARROW]} of {found}"
    return f"closed {outcomes[Outcome.REVOKED] + outcomes[Outcome.NARROWED]} of {found}"


def sweep_notification(report: SweepReport) -> Notification | None:
    """The sweep's one summary message, its listing capped to fit SNS; None when nothing is worth telling."""
    if report.sweep_mode == Mode.IGNORE or not reported(report):
        return None
    subject = subject_line(f"[sg-remediator] sweep {sweep_headline(report)} in {report.region}")
    lines = reported(report)
    rows = [line.row for line in lines]
    groups = {row.group_id for row in rows}
    unattached = {row.group_id for row in rows if not row.attached}
    opted_out = len(report.lines) - len(lines)
    acting = report.sweep_mode in ACTING_MODES
    head = [
        f"sg-remediator's scheduled sweep {sweep_headline(report)} in {len(groups)} of {report.groups_scanned} "
        f"security groups in {report.region} (account {report.account or 'unknown'}); "
        f"{len(unattached)} of these groups are attached to no network "
        "interface today (a risk all the same: they can be attached at any time).",
        "",
    ]
    if acting:
        outcomes = Counter(line.outcome for line in lines)
        head += [
            f"Sweep mode: {report.sweep_mode.value} (REMEDIATOR_SWEEP_MODE): each group's policy was applied as it "
            "is to new rules.",
            "Outcomes: " + ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) + ".",
        ]
        if report.dry_run:
            head.append("DRY RUN: the remediator changed nothing (REMEDIATOR_DRY_RUN=true).")
        if outcomes[Outcome.DEFERRED]:
            head.append(
                f"{counted(outcomes[Outcome.DEFERRED], 'rule')} left for the next sweep: this one ran out of its "
                "time budget."
            )
    else:
        counts = ", ".join(f"{count} {word}" for word, count in count_by_action(rows).items() if word != "ignored")
        head += [
            "Sweep mode: notify (REMEDIATOR_SWEEP_MODE): nothing was changed.",
            f"Were the sweep to act (REMEDIATOR_SWEEP_MODE=revoke), each group's policy would give: {counts}.",
        ]
    if opted_out:
        head.append(f"Not listed: {counted(opted_out, 'risky rule')} in groups opted out ({MODE_TAG}=ignore).")
    listing: list[str] = []
    size = len("\n".join(head).encode())
    shown = 0
    for number, line in enumerate(lines, start=1):
        block = rule_block(number, line, acting=acting)
        block_size = len("\n".join(block).encode()) + 1
        if shown == LISTED_RULES or size + block_size > BODY_BUDGET_BYTES:
            break
        listing += block
        size += block_size
        shown += 1
    if shown < len(lines):
        listing += [
            "",
            f"... and {counted(len(lines) - shown, 'more risky rule')}, not listed here. For the full list, run with "
            "credentials for this account:",
            f"    python -m remediator scan --region {report.region}",
        ]
    foot = [
        "",
        f"To opt a group out: tag it {MODE_TAG}=ignore (or notify), optionally with {EXPIRES_TAG}=YYYY-MM-DD so "
        "that the exception ends by itself. `python -m remediator scan` lists every rule with what would happen "
        "to it, before the sweep or the default mode is set to revoke.",
    ]
    return Notification(
        subject=subject,
        body="\n".join([*head, *listing, *foot]),
        attributes={"mode": report.sweep_mode.value, "action": "sweep"},
    )


def rule_block(number: int, line: SweepLine, *, acting: bool) -> list[str]:
    """The lines of one rule in the sweep's message."""
    row = line.row
    where = f"VPC {row.vpc_id}" if row.vpc_id else "no VPC"
    attached = "attached" if row.attached else "attached to no network interface"
    block = [
        "",
        f"{number}. {row.group_id} ({row.group_name}), {where}, {attached}",
        f"   Rule:      {row.ports} from {row.source}",
        f"   Why risky: {row.risk}",
    ]
    if acting:
        block += [f"   Mode:      {row.mode}", f"   Outcome:   {OUTCOME_TEXT[line.outcome]}"]
    else:
        block.append(f"   Mode:      {row.mode}; acting, the sweep would: {row.would}")
    block += [f"   Note:      {note}" for note in (*row.notes, *line.details)]
    return block


def publish(notification: Notification | None, topic_arn: str | None, aws: Aws, **context: object) -> bool:
    """The one publish path of events and sweeps: send the message, or log it where no topic is set."""
    if notification is None:
        return False
    if topic_arn is None:
        log_event("notification (no topic configured)", subject=notification.subject, **context)
        return False
    aws.publish(topic_arn, notification.subject, notification.body, notification.attributes)
    return True
