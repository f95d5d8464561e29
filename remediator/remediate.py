"""The remediation of one CloudTrail event: read it, decide on each risky entry, act, notify."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from remediator.effects import Aws
from remediator.engine import CLOSING, Criteria, Finding, Planned, act, plan_entries, reported_only, with_rule_ids
from remediator.event_names import HANDLED_EVENTS, MODIFY_RULES
from remediator.events import SecurityGroupCall, Unreadable, read_call
from remediator.log import log_event, log_warning
from remediator.metrics import Metric, emit
from remediator.model import ACTING_MODES, GroupState, Mode, Outcome, RuleEntry
from remediator.settings import Settings
from remediator.state import Reopened, opening_key

if TYPE_CHECKING:
    from remediator.report import EventReport


@dataclass(frozen=True, slots=True, kw_only=True)
class Home:
    """Where this remediator acts: its own region and account (None where it is not known)."""

    region: str | None
    account: str | None


def not_ours(call: SecurityGroupCall) -> str | None:
    """Why a readable event is none of the remediator's business (quietly ignored), or None when it is."""
    if call.event_name not in HANDLED_EVENTS:
        return f"event {call.event_name} is not one of {', '.join(HANDLED_EVENTS)}"
    if call.error_code:
        return f"the call failed ({call.error_code}), so it changed nothing"
    return None


def elsewhere(call: SecurityGroupCall, home: Home) -> str | None:
    """Why the call is of a place this remediator does not act in: another region or account; else None."""
    if call.region and home.region and call.region != home.region:
        return f"event from {call.region}; this remediator acts in {home.region}"
    if call.account and home.account and call.account != home.account:
        return f"event of account {call.account}; this remediator acts in account {home.account}"
    return None


def misplaced(call: SecurityGroupCall, home: Home) -> str | None:
    """Why the call's group is not one this remediator may act on: another region or account; else None."""
    place = elsewhere(call, home)
    if place is not None:
        return place
    if not call.group_id and not call.group_name:
        return "the event names no security group that could be read"
    return None


def ignored(event_id: str, reason: str) -> dict[str, Any]:
    """The summary of an event the remediator does not act on, logged with its reason."""
    # The report's code is imported where first needed, out of the cold start and after any revoke.
    from remediator.report import Status  # noqa: PLC0415

    log_event("ignored", event_id=event_id, reason=reason)
    return {"event_id": event_id, "status": Status.IGNORED.value, "reason": reason}


def refused(call: SecurityGroupCall, reason: str, settings: Settings, aws: Aws, now: datetime) -> dict[str, Any]:
    """An event of ours the remediator cannot act on: a WARNING, a metric, and a notification where it names a group."""
    from remediator import report as reporting  # noqa: PLC0415
    from remediator.report import Status  # noqa: PLC0415

    log_warning("refused", event_id=call.event_id, group_id=call.group_id, reason=reason, skipped=list(call.skipped))
    emit({Metric.EVENTS_REFUSED: 1}, settings.default_mode.value, now)
    notification = reporting.refusal_notification(call, reason) if call.group_id or call.group_name else None
    notified = reporting.publish(notification, settings.topic_arn, aws, event_id=call.event_id)
    return {
        "event_id": call.event_id,
        "status": Status.REFUSED.value,
        "reason": reason,
        "group_id": call.group_id or call.group_name,
        "notified": notified,
    }


def added_entries(call: SecurityGroupCall, group: GroupState, aws: Aws) -> tuple[RuleEntry, ...]:
    """The ingress entries the call added, each with its rule id where the event or AWS gives it."""
    if call.event_name == MODIFY_RULES:
        if not call.modified_rule_ids:
            return ()
        # The request may show only the changed fields, so the rules are assessed as they are now.
        wanted = set(call.modified_rule_ids)
        return tuple(rule for rule in aws.ingress_rules(group.group_id) if rule.rule_id in wanted)
    return call.entries


def existing_findings(plans: list[Planned], sweep_mode: Mode) -> list[Finding]:
    """Risky rules of the group that the event did not show, judged as the sweep judges existing rules: reported."""
    return [
        Finding(
            entry=plan.entry,
            risk=plan.risk,
            decision=plan.decision,
            outcome=Outcome.IGNORED if sweep_mode == Mode.IGNORE else reported_only(plan),
            details=(f"an existing rule of the group, left open: REMEDIATOR_SWEEP_MODE is {sweep_mode.value}",),
        )
        for plan in plans
    ]


def remediate(
    event: object, settings: Settings, aws: Aws, now: datetime, *, home: Home | None = None
) -> dict[str, Any]:
    """Parse, decide, act, notify for one EventBridge event; returns a JSON-serialisable summary."""
    call = read_call(event)
    if isinstance(call, Unreadable):
        return ignored("unknown", call.reason)
    reason = not_ours(call)
    if reason is not None:
        return ignored(call.event_id, reason)
    home = home or Home(region=aws.ec2.meta.region_name, account=None)
    reason = misplaced(call, home)
    if reason is not None:
        return refused(call, reason, settings, aws, now)
    group = aws.describe_group(call.group_id, call.group_name)
    if group is None:
        # Nothing is open in a group that is not there.
        return ignored(call.event_id, f"security group {call.group_id or call.group_name} no longer exists")
    criteria = Criteria.of(settings, caller=call.actor.principal_arn)
    added = added_entries(call, group, aws)
    plans = plan_entries(group, added, criteria=criteria, now=now, aws=aws)
    reported: list[Finding] = []
    notes = [*call.skipped, *([call.group_note] if call.group_note else []), *call.place_notes]
    if not call.complete:
        # What the call added could not all be read: the group's other risky rules are checked as existing rules.
        shown = {entry.content_key() for entry in added}
        others = tuple(entry for entry in group.ingress if entry.content_key() not in shown)
        existing = plan_entries(group, others, criteria=criteria, now=now, aws=aws)
        notes.append(
            "the event could not be read in full, so the whole group was checked: its other risky rules are "
            f"judged as existing rules (REMEDIATOR_SWEEP_MODE={settings.sweep_mode.value})"
        )
        log_warning("event read in part", event_id=call.event_id, group_id=group.group_id, notes=notes)
        if settings.sweep_mode in ACTING_MODES:
            plans += existing
        else:
            reported = existing_findings(existing, settings.sweep_mode)
    if not plans and not reported:
        log_event("no risky entry", event_id=call.event_id, group_id=group.group_id, entries=len(added))
        from remediator.report import Status  # noqa: PLC0415

        return {"event_id": call.event_id, "status": Status.CLEAN.value, "group_id": group.group_id, "findings": []}
    if not settings.dry_run and any(plan.decision.action in CLOSING for plan in plans):
        plans = with_rule_ids(plans, group.group_id, aws)
    acted = act(group, plans, settings.dry_run, aws)
    from remediator import report as reporting  # noqa: PLC0415  (after the revoke, not in the cold start)

    # Only now, once the holes are closed: the count of re-openings waits for the revoke, never the other way.
    acted, reopened = with_reopenings(call, group.group_id, acted, table=settings.state_table, aws=aws, now=now)
    findings = (*acted, *reported)
    report = reporting.event_report(
        call,
        group,
        findings,
        dry_run=settings.dry_run,
        notes=tuple(notes),
        acted_at=now,
        home_region=home.region,
        contact=group.tags.get(settings.contact_tag),
    )
    for finding in findings:
        log_decision(call.event_id, group.group_id, finding)
    if reporting.needs_notification(report) and settings.topic_arn is not None:
        # Only now, after the revoke: who uses the group is for the person told, and closing the hole waits for nothing.
        report = with_interfaces(report, aws)
    notified = reporting.publish(reporting.event_notification(report), settings.topic_arn, aws, event_id=call.event_id)
    counts = reporting.metric_counts(Counter(f.outcome for f in findings))
    if settings.state_table is not None:
        # Counted only where there is a table to count in: elsewhere the figure would be a made-up 0.
        counts = {**counts, Metric.RULES_REOPENED: reopened}
    emit(counts, findings[0].decision.mode.value, now)
    result = summary(report, notified)
    report_elsewhere(report, result, settings, aws, now=now, home=home)
    return result


def report_elsewhere(
    report: EventReport, result: dict[str, Any], settings: Settings, aws: Aws, *, now: datetime, home: Home
) -> None:
    """Last, once the holes are closed and people told: the Security Hub findings and the outcome event, if on.

    Neither can fail the event (integrations.py says why).
    """
    from remediator import integrations  # noqa: PLC0415  (imported after the revoke, not in the cold start)

    place = integrations.Place.of(report.account or home.account, report.region)
    if settings.security_hub:
        integrations.report_event(report, aws, now, place)
    if settings.outcome_events:
        integrations.event_outcome(result, aws, place)


def with_reopenings(
    call: SecurityGroupCall, group_id: str, findings: list[Finding], *, table: str | None, aws: Aws, now: datetime
) -> tuple[list[Finding], int]:
    """Count each added rule's opening in the state table; the findings with a note on a rule that came back.

    Also returns how many of them were re-opened. Without a table nothing is counted; a table that cannot be
    written to leaves the count unknown, and the notification says so: closing the hole never waits for it.
    """
    if table is None:
        return findings, 0
    counted: list[Finding] = []
    reopened = 0
    for finding in findings:
        if finding.outcome == Outcome.IGNORED:
            counted.append(finding)
            continue
        try:
            openings: int | None = aws.count_opening(
                table,
                opening_key(group_id, finding.entry),
                now,
                principal=call.actor.principal_arn,
                user_agent=call.actor.user_agent,
            )
        except (ClientError, BotoCoreError) as error:
            openings = None
            log_warning(
                "re-openings not counted",
                event_id=call.event_id,
                group_id=group_id,
                reason=" ".join(str(error).split()),
            )
        again = Reopened(
            reopenings=None if openings is None else openings - 1,
            principal=call.actor.principal_arn,
            user_agent=call.actor.user_agent,
            invoked_by=call.actor.invoked_by,
        )
        note = again.text()
        if again.reopenings:
            reopened += 1
            log_warning(
                "rule re-opened",
                event_id=call.event_id,
                group_id=group_id,
                ports=finding.entry.ports_text(),
                source=finding.entry.source.value,
                reopenings=again.reopenings,
                principal=call.actor.principal_arn,
                user_agent=call.actor.user_agent,
            )
        counted.append(replace(finding, details=(*finding.details, note)) if note else finding)
    return counted, reopened


def log_decision(event_id: str, group_id: str, finding: Finding, **context: str) -> None:
    """One log line per risky rule: what was decided and what became of it (`context`: what else led to it)."""
    from remediator import report as reporting  # noqa: PLC0415

    log_event(
        "decision",
        event_id=event_id,
        **context,
        group_id=group_id,
        rule_id=finding.entry.rule_id,
        protocol=finding.entry.protocol,
        ports=finding.entry.ports_text(),
        source=finding.entry.source.value,
        mode=finding.decision.mode.value,
        action=finding.decision.action.value,
        outcome=finding.outcome.value,
        reason=finding.risk,
        notes=reporting.finding_notes(finding),
    )


def with_interfaces(report: EventReport, aws: Aws) -> EventReport:
    """The report with the network interfaces that use its group, or why they could not be listed."""
    try:
        interfaces = aws.interfaces_using(report.group.group_id)
    except (ClientError, BotoCoreError) as error:
        # The rules are closed already: a group whose users cannot be listed must not fail the event.
        reason = " ".join(str(error).split())
        log_warning("interfaces not listed", event_id=report.event_id, group_id=report.group.group_id, reason=reason)
        return replace(report, interfaces_error=reason)
    return replace(report, interfaces=interfaces)


def summary(report: EventReport, notified: bool) -> dict[str, Any]:
    """The handler's JSON-serialisable result for an event it acted on."""
    from remediator import report as reporting  # noqa: PLC0415

    return {
        "event_id": report.event_id,
        "status": reporting.status_of((f.outcome for f in report.findings), dry_run=report.dry_run).value,
        "group_id": report.group.group_id,
        "notified": notified,
        "notes": list(report.notes),
        "findings": [
            {
                "rule_id": f.entry.rule_id,
                "protocol": f.entry.protocol,
                "ports": f.entry.ports_text(),
                "source": f.entry.source.value,
                "risk": f.risk,
                "mode": f.decision.mode.value,
                "action": f.decision.action.value,
                "outcome": f.outcome.value,
                "narrow_to": [s.value for s in f.decision.narrow_to],
                "notes": reporting.finding_notes(f),
            }
            for f in report.findings
        ],
    }
