"""What one event (or sweep) found and did, as values, and the notification a person reads."""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from remediator.effects import Interface, permission_for, structured_message
from remediator.engine import Finding
from remediator.events import Actor, SecurityGroupCall
from remediator.findings import partition_of
from remediator.log import log_event
from remediator.metrics import Metric
from remediator.model import ACTING_MODES, Action, GroupState, Mode, Outcome, RuleEntry
from remediator.policy import ALLOWED_CIDRS_TAG, EXPIRES_TAG, MODE_TAG, REVOKED_INSTEAD, parse_expiry

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
# An advisory finding (a risky port open to a broad internal range): no policy decides on it, nothing acts on it.
ADVISORY_ACTION = "none"
ADVISORY_STATUS = "advisory: not acted on"
# The sweep's result and message name at most this many advisory findings; their count is always exact.
LISTED_ADVISORIES = 50

# The outcomes after which the rule is closed by the remediator: each gets the command that restores it.
CLOSED = frozenset({Outcome.REVOKED, Outcome.NARROWED})
# How a note on a narrowing that could not narrow ends, once the rule was revoked and where it was not (yet).
REVOKED_INSTEAD_DONE = "so the rule was revoked instead of narrowed"
REVOKED_INSTEAD_NOT_DONE = "so it would be revoked instead of narrowed"
EXPOSURE = (
    "Anyone on the internet can try to log in to what listens on it; a shell on an instance reaches what is in the "
    "VPC, such as databases, and the AWS permissions of the instance's role."
)
# The regions of the aws partition, as botocore's endpoints.json matches them. Only this partition's console address
# (https://<region>.console.aws.amazon.com, AWS General Reference, "AWS Management Console endpoints") is known here:
# the AWS documentation searched gave no EC2 console address for China, GovCloud or the other partitions.
AWS_PARTITION_REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$")
LISTED_INTERFACES = 20
# Where the sweep's mode is set: the CDK context key at deployment, the variable it gives the function.
SWEEP_MODE_SETTING = "CDK context sweep_mode; REMEDIATOR_SWEEP_MODE in the function"
LISTED_RULES = 200
# SNS takes 256 KB per message, attributes and subject included.
BODY_BUDGET_BYTES = 200_000
SNS_MESSAGE_LIMIT_BYTES = 256 * 1024
# The chat notification (Amazon Q Developer in chat applications' custom notification) is short: chat platforms
# cut long messages, and the e-mail has the whole story.
CHAT_RULES = 10
CHAT_DESCRIPTION_LIMIT = 3000
CHAT_TITLE_LIMIT = 250


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One message for the topic: its subject, its body, the attributes subscription filters read, and the chat text.

    `body` goes to e-mail (and every protocol without its own entry); `chat`, a custom notification of Amazon Q
    Developer in chat applications, to https subscribers.
    """

    subject: str
    body: str
    attributes: dict[str, str]
    chat: dict[str, Any] | None = None


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
    # When the remediator acted (or only checked); the network interfaces that use the group, None when not looked
    # up, and why they could not be listed.
    acted_at: datetime | None = None
    interfaces: tuple[Interface, ...] | None = None
    interfaces_error: str | None = None
    # The value of the group's contact tag (REMEDIATOR_CONTACT_TAG): the team a filter policy routes it to.
    contact: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepLine:
    """One risky rule the sweep found, and what became of it."""

    row: Row
    outcome: Outcome
    details: tuple[str, ...]
    # The entry as acted on, for the command that restores a closed rule.
    entry: RuleEntry | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepReport:
    """What one sweep of a region found and did."""

    account: str | None
    region: str
    sweep_mode: Mode
    dry_run: bool
    groups_scanned: int
    lines: tuple[SweepLine, ...]
    acted_at: datetime | None = None
    # The network interfaces that use each group found, by group id, as the scan read them.
    interfaces: Mapping[str, tuple[Interface, ...]] = field(default_factory=dict)
    # False when the time budget ran out before every group was read: the rest waits for the next sweep.
    scan_complete: bool = True
    # Risky ports open to a broad internal range (docs/advisory.md): counted and listed, never acted on. The sweep
    # lists the first LISTED_ADVISORIES (all a message and a result show) and counts them all in `advisory_rules`.
    advisories: tuple[Row, ...] = ()
    advisory_rules: int | None = None

    @property
    def advisory_total(self) -> int:
        """How many advisory rules the scan found: `advisory_rules`, or as many as are listed when it is unset."""
        return len(self.advisories) if self.advisory_rules is None else self.advisory_rules


def event_report(
    call: SecurityGroupCall,
    group: GroupState,
    findings: tuple[Finding, ...],
    *,
    dry_run: bool,
    notes: tuple[str, ...] = (),
    acted_at: datetime | None = None,
    home_region: str | None = None,
    contact: str | None = None,
) -> EventReport:
    """The report of one call's findings on its group, what could not be read of the event, and when it acted."""
    # `home_region` (the remediator's own) stands in for an event that names no region.
    return EventReport(
        notes=notes,
        acted_at=acted_at,
        contact=contact,
        event_id=call.event_id,
        event_name=call.event_name,
        account=call.account,
        region=call.region or home_region,
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


def listed(words: Iterable[str]) -> str:
    """Words as a list in a sentence: `a`, `a and b`, `a, b and c`."""
    items = list(words)
    return " and ".join(items) if len(items) <= 2 else ", ".join(items[:-1]) + " and " + items[-1]


def ports_phrase(entries: Iterable[RuleEntry]) -> str:
    """The ports the entries let in, for a sentence: `port 22`, `ports 22 and 3389`, `ports 20-30`, `all ports`."""
    spans: set[tuple[int, int]] = set()
    for entry in entries:
        if entry.protocol == "-1" or entry.from_port is None or entry.to_port is None or entry.from_port < 0:
            return "all ports"
        spans.add((entry.from_port, entry.to_port))
    words = [str(first) if first == last else f"{first}-{last}" for first, last in sorted(spans)]
    single = len(words) == 1 and "-" not in words[0]
    return f"{'port' if single else 'ports'} {listed(words)}"


def utc_text(moment: datetime) -> str:
    """A moment in UTC, ISO-8601 to the second: `2025-01-01T03:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def note_text(note: str, outcome: Outcome | None) -> str:
    """A decision note in the words of what became of its rule: "was revoked" only where it was (None: the scan)."""
    words = REVOKED_INSTEAD_DONE if outcome in CLOSED else REVOKED_INSTEAD_NOT_DONE
    for ending in (REVOKED_INSTEAD, REVOKED_INSTEAD_DONE, REVOKED_INSTEAD_NOT_DONE):
        if note.endswith(ending):
            return note[: -len(ending)] + words
    return note


def finding_notes(finding: Finding) -> list[str]:
    """The notes of a finding, its decision's in the words of its outcome, then what acting found."""
    return [*(note_text(note, finding.outcome) for note in finding.decision.notes), *finding.details]


def console_link(region: str | None, group_id: str) -> str | None:
    """The group's page in the EC2 console of the aws partition; None for another partition or an unknown region."""
    if region is None or not AWS_PARTITION_REGION.match(region):
        return None
    return f"https://{region}.console.aws.amazon.com/ec2/home?region={region}#SecurityGroup:groupId={group_id}"


def console_text(region: str | None, group_id: str) -> str:
    """The console link, or why there is none."""
    link = console_link(region, group_id)
    if link is not None:
        return link
    return f"none: the console address of region {region or 'unknown'} is not known to the remediator"


def restore_command(entry: RuleEntry, group_id: str, region: str | None) -> str:
    """The AWS CLI command that puts a closed rule back as it was (description included), for a POSIX shell."""
    permission = json.dumps(permission_for(entry, entry.source), separators=(",", ":"))
    command = (
        f"aws ec2 authorize-security-group-ingress --group-id {shlex.quote(group_id)} "
        f"--ip-permissions {shlex.quote(permission)}"
    )
    return command + (f" --region {shlex.quote(region)}" if region else "")


def interface_text(interface: Interface) -> str:
    """One network interface: `eni-1 (instance i-1, 'web server')`."""
    about = [f"instance {interface.instance_id}" if interface.instance_id else "no instance"]
    if interface.description:
        about.append(repr(interface.description))
    return f"{interface.interface_id} ({', '.join(about)})"


def interfaces_text(interfaces: tuple[Interface, ...]) -> str:
    """The network interfaces that use a group, at most 20 of them named."""
    if not interfaces:
        return "no network interface today (the group can be attached to one at any time)"
    named = [interface_text(interface) for interface in interfaces[:LISTED_INTERFACES]]
    more = len(interfaces) - len(named)
    return f"{counted(len(interfaces), 'network interface')}: " + "; ".join(named) + (f"; {more} more" if more else "")


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
    closed = any(finding.outcome in CLOSED for finding in report.findings)
    lines = [f"sg-remediator {headline(report)} in security group {group.group_id}."]
    if report.findings:
        rules = counted(len(report.findings), "risky rule")
        lines.append(
            f"{rules} let the internet reach {ports_phrase(f.entry for f in report.findings)}. What an open port "
            f"exposes: {EXPOSURE}"
        )
    lines += [
        "",
        f"Account:   {report.account or 'unknown'}",
        f"Region:    {report.region or 'unknown'}",
        f"Group:     {group.group_id} ({group.group_name}), VPC {group.vpc_id or 'none (EC2-Classic or unknown)'}",
        f"Console:   {console_text(report.region, group.group_id)}",
    ]
    if report.interfaces_error is not None:
        lines.append(f"Used by:   the users of the group could not be listed ({report.interfaces_error})")
    elif report.interfaces is not None:
        lines.append(f"Used by:   {interfaces_text(report.interfaces)}")
    lines += [
        f"Call:      {report.event_name} at {actor.event_time or 'unknown time'} (event {report.event_id})",
        f"By:        {actor.principal_arn or 'unknown principal'}",
        f"From:      {actor.source_ip or 'unknown address'} using {actor.user_agent or 'unknown client'}",
    ]
    if report.acted_at is not None:
        lines.append(f"{'Acted at:  ' if closed else 'Checked:   '}{utc_text(report.acted_at)}")
    if report.dry_run:
        lines += ["", "DRY RUN: the remediator changed nothing (CDK context dry_run; REMEDIATOR_DRY_RUN=true)."]
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
        lines += [f"   Note:      {note}" for note in finding_notes(finding)]
        if finding.outcome in CLOSED:
            lines.append(f"   Restore:   {restore_command(entry, group.group_id, report.region)}")
    if closed:
        lines += [
            "",
            "Restore is the AWS CLI command that puts the rule back as it was: it opens the hole again, so run it "
            "only for a rule that is needed, and better narrow it to the addresses that need it.",
        ]
    narrowing = {finding.decision.mode for finding in report.findings} == {Mode.NARROW}
    for_you = "" if narrowing else f" (tag {ALLOWED_CIDRS_TAG} and {MODE_TAG}=narrow does it for you)"
    lines += [
        "",
        f"Safer alternatives: restrict the source to the addresses that need access{for_you}, or drop inbound "
        "SSH/RDP altogether and use AWS Systems Manager Session Manager or EC2 Instance Connect.",
        opt_out_advice(report),
    ]
    return "\n".join(lines)


def opt_out_advice(report: EventReport) -> str:
    """How to opt the group out, or renew or end its exception, as fits the state of its tags and mode."""
    tags, now = report.group.tags, report.acted_at or datetime.now(UTC)
    modes = {finding.decision.mode for finding in report.findings}
    exception = MODE_TAG in tags or ALLOWED_CIDRS_TAG in tags
    renew = (
        f"To renew it, set {EXPIRES_TAG} to a later date (YYYY-MM-DD, valid through that day, UTC); to end it, "
        f"remove the {MODE_TAG} and {EXPIRES_TAG} tags."
    )
    expires_raw = tags.get(EXPIRES_TAG)
    if exception and expires_raw is not None:
        expiry = parse_expiry(expires_raw)
        if expiry is None:
            return (
                f"The group's exception does not hold: its {EXPIRES_TAG} tag {expires_raw!r} is not a date or an "
                f"ISO-8601 time, so the default policy applied. {renew}"
            )
        if expiry <= now:
            return (
                f"The group's exception expired on {expires_raw.strip()} ({EXPIRES_TAG}), so the default policy "
                f"applied. {renew}"
            )
    if modes == {Mode.IGNORE}:
        until = f" until {expires_raw.strip()}" if expires_raw else ""
        return (
            f"This group is opted out ({MODE_TAG}=ignore{until}): its risky rules are only logged. To end the "
            f"exception, remove the {MODE_TAG} tag."
        )
    if modes == {Mode.NOTIFY}:
        return (
            f"This group is in notify mode: its risky rules are reported and left open. To have them closed, tag it "
            f"{MODE_TAG}=revoke (or {MODE_TAG}=narrow with {ALLOWED_CIDRS_TAG}). To stop these messages, tag it "
            f"{MODE_TAG}=ignore, optionally with {EXPIRES_TAG}=YYYY-MM-DD so that the exception ends by itself."
        )
    return (
        f"To opt this group out: tag it {MODE_TAG}=ignore (or notify), optionally with {EXPIRES_TAG}=YYYY-MM-DD "
        "so that the exception ends by itself."
    )


def attributes(report: EventReport) -> dict[str, str]:
    """Message attributes for SNS subscription filters: a team's filter policy reads `contact` (or `vpc_id`)."""
    first = report.findings[0] if report.findings else None
    values = {
        "mode": first.decision.mode.value if first else "",
        "action": first.outcome.value if first else "",
        "group_id": report.group.group_id,
        "contact": report.contact or "",
        "vpc_id": report.group.vpc_id or "",
    }
    # SNS takes no empty attribute: a group without a contact tag has no `contact`.
    return {key: value for key, value in values.items() if value}


def call_facts(call: SecurityGroupCall, skipped: Iterable[str]) -> list[str]:
    """The lines of a refusal that say where and by whom the call was made, and what of it could not be read."""
    notes = [f"Not read: {note}" for note in skipped]
    return [
        f"Account:   {call.account or 'unknown'}",
        f"Region:    {call.region or 'unknown'}",
        f"Call:      {call.event_name} at {call.actor.event_time or 'unknown time'} (event {call.event_id})",
        f"By:        {call.actor.principal_arn or 'unknown principal'}",
        *(["", *notes] if notes else []),
    ]


def refusal_notification(call: SecurityGroupCall, reason: str) -> Notification:
    """The message about an event of ours that the remediator refused: nothing was checked or changed."""
    group = call.group_id or call.group_name or "unknown"
    lines = [
        f"sg-remediator refused an event that changed security group {group}: {reason}.",
        "Nothing was checked or changed: the group's rules may still be open. Check the group by hand, or run "
        "`python -m remediator scan` with credentials of the account and region the event names.",
        "",
        *call_facts(call, call.skipped),
    ]
    return Notification(
        subject=subject_line(f"[sg-remediator] refused an event on {group}: {reason}"),
        body="\n".join(lines),
        attributes={"action": Status.REFUSED.value, "group_id": group},
        chat=chat_notification(
            title=f"sg-remediator refused an event on {group}",
            description="\n".join(
                [
                    f"sg-remediator refused an event that changed security group `{group}`: {reason}.",
                    "Nothing was checked or changed: the group's rules may still be open.",
                    f"Account `{call.account or 'unknown'}`, region `{call.region or 'unknown'}`, call "
                    f"`{call.event_name}` by `{call.actor.principal_arn or 'unknown principal'}`.",
                ]
            ),
            next_steps=[
                "Check the group by hand, or run `python -m remediator scan` with credentials of the account and "
                "region the event names."
            ],
            keywords=["sg-remediator", Status.REFUSED.value, group],
            summary=f"refused an event on {group}",
        ),
    )


def event_notification(report: EventReport) -> Notification | None:
    """The message about one event, or None when nothing is worth one (opt-outs only)."""
    if not needs_notification(report):
        return None
    return Notification(
        subject=subject(report), body=body(report), attributes=attributes(report), chat=event_chat(report)
    )


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
    if report.sweep_mode == Mode.IGNORE or (not reported(report) and report.scan_complete):
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
    ]
    if report.acted_at is not None:
        acted = acting and not report.dry_run
        head.append(f"{'Acted at' if acted else 'Checked at'}: {utc_text(report.acted_at)}.")
    head.append("")
    if acting:
        outcomes = Counter(line.outcome for line in lines)
        head += [
            f"Sweep mode: {report.sweep_mode.value} ({SWEEP_MODE_SETTING}): each group's policy was applied as it "
            "is to new rules.",
            "Outcomes: " + ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) + ".",
        ]
        if report.dry_run:
            head.append("DRY RUN: the remediator changed nothing (CDK context dry_run; REMEDIATOR_DRY_RUN=true).")
        if outcomes[Outcome.DEFERRED]:
            head.append(
                f"{counted(outcomes[Outcome.DEFERRED], 'rule')} left for the next sweep: this one ran out of its "
                "time budget."
            )
    else:
        counts = ", ".join(f"{count} {word}" for word, count in count_by_action(rows).items() if word != "ignored")
        head += [
            f"Sweep mode: notify ({SWEEP_MODE_SETTING}): nothing was changed.",
            f"Were the sweep to act (sweep_mode=revoke), each group's policy would give: {counts}.",
        ]
    if not report.scan_complete:
        head.append(
            f"The scan stopped early: only {report.groups_scanned} groups were read before the sweep's time "
            "budget ran out. The next sweep starts over; `python -m remediator scan` reads them all now."
        )
    if opted_out:
        head.append(f"Not listed: {counted(opted_out, 'risky rule')} in groups opted out ({MODE_TAG}=ignore).")
    advisory = advisory_block(report)
    listing: list[str] = []
    # The advisory block goes after the listing, so the budget keeps room for it.
    size = len("\n".join([*head, *advisory]).encode())
    shown = 0
    for number, line in enumerate(lines, start=1):
        block = rule_block(number, line, acting=acting, interfaces=report.interfaces.get(line.row.group_id, ()))
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
    listing += advisory
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
        chat=sweep_chat(report),
    )


def advisory_count(report: SweepReport) -> str:
    """`1 rule opens`, `2 rules open`: the subject and verb of the advisory sentence."""
    return counted(report.advisory_total, "rule") + (" opens" if report.advisory_total == 1 else " open")


def advisory_block(report: SweepReport) -> list[str]:
    """The sweep message's advisory findings: their exact count, then the first ones by group; empty when none."""
    if not report.advisory_total:
        return []
    shown = report.advisories[:LISTED_ADVISORIES]
    block = [
        "",
        f"Advisory, not acted on: {advisory_count(report)} a risky port to broad internal "
        "sources (a wide range of non-public address space; REMEDIATOR_ADVISORY_PREFIX). The sweep never changes "
        "them, whatever its mode; restrict each to the addresses that need it.",
        *(f"- {row.group_id} ({row.group_name}): {row.ports} from {row.source}" for row in shown),
    ]
    if report.advisory_total > len(shown):
        block.append(
            f"... and {report.advisory_total - len(shown)} more, not listed here: "
            f"python -m remediator scan --region {report.region} --advisory"
        )
    return block


def would_text(row: Row) -> str:
    """What acting would do to a rule the scan found: `would be revoked`, `would be narrowed to 203.0.113.0/24`."""
    if row.action == ACTION_WORDS[Action.NARROW]:
        return "would be narrowed to " + ", ".join(row.narrow_to)
    if row.action == ACTION_WORDS[Action.REVOKE]:
        return "would be revoked"
    if row.action == ACTION_WORDS[Action.NOTIFY]:
        return "would be left open (notify mode)"
    return "would be left open (opted out)"


def rule_block(number: int, line: SweepLine, *, acting: bool, interfaces: tuple[Interface, ...] = ()) -> list[str]:
    """The lines of one rule in the sweep's message; a closed rule's with how to restore it and who uses its group."""
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
        notes = [note_text(note, line.outcome) for note in row.notes]
    else:
        block.append(f"   Mode:      {row.mode}; were the sweep to act, the rule {would_text(row)}")
        notes = [note_text(note, None) for note in row.notes]
    block += [f"   Note:      {note}" for note in (*notes, *line.details)]
    if acting and line.outcome in CLOSED:
        if line.entry is not None:
            block.append(f"   Restore:   {restore_command(line.entry, row.group_id, row.region)}")
        block += [
            f"   Console:   {console_text(row.region, row.group_id)}",
            f"   Used by:   {interfaces_text(interfaces)}",
        ]
    return block


def per_protocol(notification: Notification) -> dict[str, str]:
    """The texts of the message by protocol beside the `default`, the body: `https` the chat notification.

    SNS sends the `default` to every protocol without an entry of its own, e-mail included, so the body is in the
    message once. The whole message stays within SNS's 256 KB: should it not fit with the chat, the chat is left
    out and https subscribers get the body too.
    """
    if notification.chat is None:
        return {}
    entries = {"https": json.dumps(notification.chat, ensure_ascii=False)}
    return entries if message_bytes(notification, entries) <= SNS_MESSAGE_LIMIT_BYTES else {}


def message_bytes(notification: Notification, entries: Mapping[str, str]) -> int:
    """The size SNS counts for a message: the structured text, the subject and the attributes (names, types, values)."""
    attribute_bytes = sum(
        len(key.encode()) + len("String") + len(value.encode()) for key, value in notification.attributes.items()
    )
    message = structured_message(notification.body, entries)
    return len(message.encode()) + len(notification.subject.encode()) + attribute_bytes


def publish(notification: Notification | None, topic_arn: str | None, aws: Aws, **context: object) -> bool:
    """The one publish path of events and sweeps: send the message, or log it where no topic is set."""
    if notification is None:
        return False
    if topic_arn is None:
        log_event("notification (no topic configured)", subject=notification.subject, **context)
        return False
    aws.publish(
        topic_arn,
        notification.subject,
        notification.body,
        notification.attributes,
        per_protocol=per_protocol(notification),
    )
    return True


# ---- The chat notification: Amazon Q Developer in chat applications (formerly AWS Chatbot) --------------------------
# Its custom notification schema (docs/integrations.md cites the page): version "1.0" and source "custom" required,
# content.description required, the rest optional.


def chat_notification(
    *,
    title: str,
    description: str,
    next_steps: list[str],
    keywords: list[str],
    summary: str,
    related: list[str] | None = None,
    thread: str | None = None,
) -> dict[str, Any]:
    """A custom notification of Amazon Q Developer in chat applications, in the chat platform's markdown."""
    metadata: dict[str, Any] = {"summary": summary[:CHAT_TITLE_LIMIT]}
    if thread:
        metadata["threadId"] = thread
    if related:
        metadata["relatedResources"] = related
    text = (
        description if len(description) <= CHAT_DESCRIPTION_LIMIT else description[: CHAT_DESCRIPTION_LIMIT - 3] + "..."
    )
    return {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": title[:CHAT_TITLE_LIMIT],
            "description": text,
            "nextSteps": next_steps,
            "keywords": list(dict.fromkeys(word for word in keywords if word)),
        },
        "metadata": metadata,
    }


def group_arn_of(region: str | None, account: str | None, group_id: str) -> str | None:
    """A security group's ARN, or None where its region or account is not known."""
    if not region or not account:
        return None
    return f"arn:{partition_of(region)}:ec2:{region}:{account}:security-group/{group_id}"


def chat_rule(entry: RuleEntry, outcome: Outcome) -> str:
    """One rule in a chat message: `tcp/22` from `0.0.0.0/0`: revoked."""
    return f"• `{entry.ports_text()}` from `{entry.source.value}`: {OUTCOME_TEXT[outcome]}"


def event_chat(report: EventReport) -> dict[str, Any]:
    """The chat notification of an event: what was found and done, and the commands that restore what was closed."""
    group = report.group
    shown = report.findings[:CHAT_RULES]
    lines = [f"sg-remediator {headline(report)} in security group `{group.group_id}` ({group.group_name})."]
    if report.findings:
        lines.append(
            f"{counted(len(report.findings), 'risky rule')} let the internet reach "
            f"{ports_phrase(f.entry for f in report.findings)}:"
        )
    lines += [chat_rule(finding.entry, finding.outcome) for finding in shown]
    if len(report.findings) > len(shown):
        lines.append(f"... and {counted(len(report.findings) - len(shown), 'more risky rule')} (see the e-mail).")
    if report.dry_run:
        lines.append("Dry run: the remediator changed nothing.")
    lines += [
        f"Account `{report.account or 'unknown'}`, region `{report.region or 'unknown'}`, "
        f"VPC `{group.vpc_id or 'none'}`{f', contact `{report.contact}`' if report.contact else ''}.",
        f"Call `{report.event_name}` by `{report.actor.principal_arn or 'unknown principal'}` from "
        f"`{report.actor.source_ip or 'unknown address'}`.",
    ]
    link = console_link(report.region, group.group_id)
    if link:
        lines.append(f"Console: {link}")
    steps = [
        f"Restore `{finding.entry.ports_text()} from {finding.entry.source.value}` only if it is needed (it opens "
        f"the hole again): `{restore_command(finding.entry, group.group_id, report.region)}`"
        for finding in shown
        if finding.outcome in CLOSED
    ]
    if any(finding.outcome not in CLOSED | {Outcome.ALREADY_GONE} for finding in report.findings):
        steps.append(
            "Restrict the source to the addresses that need access, or use AWS Systems Manager Session Manager or "
            "EC2 Instance Connect instead of an open SSH or RDP port."
        )
    steps.append(opt_out_advice(report))
    status = status_of((f.outcome for f in report.findings), dry_run=report.dry_run)
    arn = group_arn_of(report.region, report.account, group.group_id)
    return chat_notification(
        title=f"sg-remediator {headline(report)} in {group.group_id} ({group.group_name})",
        description="\n".join(lines),
        next_steps=steps,
        keywords=[
            "sg-remediator",
            status.value,
            *sorted({f.decision.mode.value for f in report.findings}),
            group.group_id,
        ],
        summary=subject(report),
        related=[arn] if arn else None,
        thread=f"sg-remediator-{group.group_id}",
    )


def sweep_chat(report: SweepReport) -> dict[str, Any]:
    """The chat notification of a sweep: its headline, the first rules, and where the full list is."""
    lines = reported(report)
    shown = lines[:CHAT_RULES]
    text = [
        f"sg-remediator's scheduled sweep {sweep_headline(report)} in {report.region} "
        f"(account `{report.account or 'unknown'}`, sweep mode `{report.sweep_mode.value}`)."
    ]
    text += [
        f"• `{line.row.group_id}` ({line.row.group_name}): `{line.row.ports}` from `{line.row.source}`: "
        f"{OUTCOME_TEXT[line.outcome] if report.sweep_mode in ACTING_MODES else would_text(line.row)}"
        for line in shown
    ]
    if len(lines) > len(shown):
        text.append(f"... and {counted(len(lines) - len(shown), 'more risky rule')} (see the e-mail).")
    if not report.scan_complete:
        text.append("The scan stopped early (time budget): the next sweep reads the rest.")
    if report.advisory_total:
        text.append(
            f"Advisory, not acted on: {advisory_count(report)} a risky port to broad internal sources (see the e-mail)."
        )
    steps = [
        f"Restore `{line.row.ports} from {line.row.source}` in `{line.row.group_id}` only if it is needed: "
        f"`{restore_command(line.entry, line.row.group_id, line.row.region)}`"
        for line in shown
        if line.outcome in CLOSED and line.entry is not None
    ]
    steps += [
        f"The full list, with credentials for this account: `python -m remediator scan --region {report.region}`",
        f"To opt a group out: tag it {MODE_TAG}=ignore, optionally with {EXPIRES_TAG}=YYYY-MM-DD.",
    ]
    status = status_of(
        (line.outcome for line in report.lines), dry_run=report.dry_run and report.sweep_mode in ACTING_MODES
    )
    return chat_notification(
        title=f"sg-remediator sweep {sweep_headline(report)} in {report.region}",
        description="\n".join(text),
        next_steps=steps,
        keywords=["sg-remediator", "sweep", status.value, report.sweep_mode.value, report.region],
        summary=f"sweep {sweep_headline(report)} in {report.region}",
    )
