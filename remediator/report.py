"""What one event (or sweep) found and did, as values, and the notification a person reads."""

from __future__ import annotations

from dataclasses import dataclass

from remediator.events import Actor, SecurityGroupCall
from remediator.model import Decision, GroupState, Outcome, RuleEntry
from remediator.policy import ALLOWED_CIDRS_TAG, EXPIRES_TAG, MODE_TAG

SUBJECT_LIMIT = 100  # SNS rejects longer subjects.

OUTCOME_TEXT = {
    Outcome.REVOKED: "revoked",
    Outcome.NARROWED: "narrowed",
    Outcome.NOTIFIED: "left open (notify mode)",
    Outcome.IGNORED: "left open (opted out)",
    Outcome.ALREADY_GONE: "already removed (by someone else, or an earlier attempt)",
    Outcome.WOULD_REVOKE: "would be revoked (dry run: nothing changed)",
    Outcome.WOULD_NARROW: "would be narrowed (dry run: nothing changed)",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One risky entry, why it is risky, what the policy decided and what became of it."""

    entry: RuleEntry
    risk: str
    decision: Decision
    outcome: Outcome
    details: tuple[str, ...]


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


def event_report(
    call: SecurityGroupCall, group: GroupState, findings: tuple[Finding, ...], *, dry_run: bool
) -> EventReport:
    """The report of one call's findings on its group."""
    return EventReport(
        event_id=call.event_id,
        event_name=call.event_name,
        account=call.account,
        region=call.region,
        group=group,
        actor=call.actor,
        dry_run=dry_run,
        findings=findings,
    )


def needs_notification(report: EventReport) -> bool:
    """Opt-outs are only logged; anything else that was found is worth a message."""
    return any(finding.outcome != Outcome.IGNORED for finding in report.findings)


def headline(report: EventReport) -> str:
    outcomes = {finding.outcome for finding in report.findings}
    if outcomes & {Outcome.WOULD_REVOKE, Outcome.WOULD_NARROW}:
        verb = "would close"
    elif outcomes & {Outcome.REVOKED, Outcome.NARROWED}:
        verb = "closed"
    elif outcomes == {Outcome.ALREADY_GONE}:
        verb = "found already closed"
    else:
        verb = "found open"
    count = len(report.findings)
    rules = "rule" if count == 1 else "rules"
    return f"{verb} {count} risky {rules}"


def subject(report: EventReport) -> str:
    text = f"[sg-remediator] {headline(report)} in {report.group.group_id} ({report.group.group_name})"
    # SNS subjects are limited to 100 printable ASCII characters, no line breaks.
    printable = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return printable[: SUBJECT_LIMIT - 1] + "…" if len(printable) > SUBJECT_LIMIT else printable


def body(report: EventReport) -> str:
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
