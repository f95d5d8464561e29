"""The remediation of one CloudTrail event: read it, decide on each risky entry, act, notify."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from remediator import report as reporting
from remediator.effects import Aws
from remediator.events import HANDLED_EVENTS, MODIFY_RULES, SecurityGroupCall, Unreadable, read_call
from remediator.log import log_event
from remediator.model import Action, Decision, GroupState, Mode, Outcome, RuleEntry, SourceKind
from remediator.policy import decide, policy_from_tags
from remediator.report import EventReport, Finding
from remediator.risk import PrefixListInfo, assess
from remediator.settings import Settings


def screen(call: SecurityGroupCall) -> str | None:
    """Why a readable call is not one to act on, or None when it is."""
    if call.event_name not in HANDLED_EVENTS:
        return f"event {call.event_name} is not one of {', '.join(HANDLED_EVENTS)}"
    if call.error_code:
        return f"the call failed ({call.error_code}), so it changed nothing"
    if not call.group_id and not call.group_name:
        return "the call names no security group"
    if call.event_name == MODIFY_RULES and not call.modified_rule_ids:
        return "the ModifySecurityGroupRules request names no rule id"
    if call.event_name != MODIFY_RULES and not call.entries:
        return "the call added no ingress entry"
    return None


def ignored(event_id: str, reason: str) -> dict[str, Any]:
    log_event("ignored", event_id=event_id, reason=reason)
    return {"event_id": event_id, "status": "ignored", "reason": reason}


@dataclass(frozen=True, slots=True, kw_only=True)
class Planned:
    """A risky entry with its decision, before anything is done; `present` is whether the group still has it."""

    entry: RuleEntry
    risk: str
    decision: Decision
    present: bool


def added_entries(call: SecurityGroupCall, group: GroupState, aws: Aws) -> tuple[RuleEntry, ...]:
    """The ingress entries the call added, each with its rule id where the event or AWS gives it."""
    if call.event_name == MODIFY_RULES:
        # The request may show only the changed fields, so the rules are assessed as they are now.
        wanted = set(call.modified_rule_ids)
        return tuple(rule for rule in aws.ingress_rules(group.group_id) if rule.rule_id in wanted)
    return call.entries


def with_rule_ids(
    plans: list[Planned], group_id: str, aws: Aws, *, current: tuple[RuleEntry, ...] | None = None
) -> list[Planned]:
    """Fill in the rule ids of entries to close that lack one (old response format) with one describe.

    `current` is the group's ingress rules when already described (the sweep's batched describe): no call then.
    """
    lacking = [p for p in plans if p.present and not p.entry.rule_id and p.decision.action in CLOSING]
    if not lacking:
        return plans
    if current is None:
        current = aws.ingress_rules(group_id)
    filled: list[Planned] = []
    for plan in plans:
        match = next((rule for rule in current if rule.same_rule(plan.entry)), None) if plan in lacking else None
        if match is None:
            filled.append(plan)
        else:
            filled.append(replace(plan, entry=replace(plan.entry, rule_id=match.rule_id)))
    return filled


CLOSING = (Action.REVOKE, Action.NARROW)


def act(group: GroupState, plans: list[Planned], dry_run: bool, aws: Aws) -> list[Finding]:
    """Carry out the decisions: narrowing authorizations first, then one revoke of every rule to close."""
    details: list[list[str]] = [[] for _ in plans]
    allowed_any = [False for _ in plans]
    live = [p.present and p.entry.rule_id is not None and p.decision.action in CLOSING for p in plans]
    if not dry_run:
        for index, plan in enumerate(plans):
            if not live[index] or plan.decision.action != Action.NARROW:
                continue
            for target in plan.decision.narrow_to:
                failure = aws.authorize(group.group_id, plan.entry, target)
                if failure is None:
                    allowed_any[index] = True
                    details[index].append(f"allowed {plan.entry.ports_text()} from {target.value} instead")
                else:
                    # Closing the hole comes first: the revoke below goes ahead regardless.
                    details[index].append(f"could not allow {target.value} ({failure}); add it by hand if needed")
    to_close = tuple(p.entry.rule_id for index, p in enumerate(plans) if live[index] and p.entry.rule_id)
    gone: tuple[str, ...] = ()
    if to_close and not dry_run:
        gone = aws.revoke(group.group_id, to_close).already_gone
    return [
        Finding(
            entry=plan.entry,
            risk=plan.risk,
            decision=plan.decision,
            outcome=outcome_of(
                plan, dry_run, closed_now=live[index] and plan.entry.rule_id not in gone, narrowed=allowed_any[index]
            ),
            details=tuple(details[index]),
        )
        for index, plan in enumerate(plans)
    ]


def outcome_of(plan: Planned, dry_run: bool, *, closed_now: bool, narrowed: bool) -> Outcome:
    action = plan.decision.action
    if action == Action.IGNORE:
        return Outcome.IGNORED
    if not plan.present:
        return Outcome.ALREADY_GONE
    if action == Action.NOTIFY:
        return Outcome.NOTIFIED
    if dry_run:
        return Outcome.WOULD_NARROW if action == Action.NARROW else Outcome.WOULD_REVOKE
    if not closed_now:
        return Outcome.ALREADY_GONE
    # A narrowing none of whose allowed sources could be added has only revoked.
    return Outcome.NARROWED if action == Action.NARROW and narrowed else Outcome.REVOKED


def plan_group(
    group: GroupState,
    entries: tuple[RuleEntry, ...],
    *,
    settings: Settings,
    aws: Aws,
    now: datetime,
    prefix_lists: dict[str, PrefixListInfo],
) -> list[Planned]:
    """Assess each entry and decide on the risky ones by the group's policy (pure but for prefix lists)."""
    risky = [
        (entry, risk)
        for entry in entries
        if (risk := assess(entry, settings.risky_ports, settings.thresholds, prefix_lists)) is not None
    ]
    if not risky:
        return []
    policy = policy_from_tags(group.tags, settings, now)
    wanted = {s.value for s in policy.allowed_sources if s.kind == SourceKind.PREFIX_LIST} - prefix_lists.keys()
    if wanted and policy.mode == Mode.NARROW:
        prefix_lists.update(aws.prefix_lists(wanted))
    return [
        Planned(
            entry=entry,
            risk=risk.reason,
            decision=decide(entry, policy, settings.thresholds, prefix_lists),
            present=group.has(entry),
        )
        for entry, risk in risky
    ]


def remediate(event: object, settings: Settings, aws: Aws, now: datetime) -> dict[str, Any]:
    """Parse, decide, act, notify for one EventBridge event; returns a JSON-serialisable summary."""
    call = read_call(event)
    if isinstance(call, Unreadable):
        return ignored("unknown", call.reason)
    reason = screen(call)
    if reason is not None:
        return ignored(call.event_id, reason)
    group = aws.describe_group(call.group_id, call.group_name)
    if group is None:
        return ignored(call.event_id, f"security group {call.group_id or call.group_name} no longer exists")
    entries = added_entries(call, group, aws)
    prefix_lists = aws.prefix_lists(e.source.value for e in entries if e.source.kind == SourceKind.PREFIX_LIST)
    plans = plan_group(group, entries, settings=settings, aws=aws, now=now, prefix_lists=prefix_lists)
    if not plans:
        log_event("no risky entry", event_id=call.event_id, group_id=group.group_id, entries=len(entries))
        return {"event_id": call.event_id, "status": "clean", "group_id": group.group_id, "findings": []}
    if not settings.dry_run:
        plans = with_rule_ids(plans, group.group_id, aws)
    findings = act(group, plans, settings.dry_run, aws)
    report = reporting.event_report(call, group, tuple(findings), dry_run=settings.dry_run)
    for finding in findings:
        log_event(
            "decision",
            event_id=call.event_id,
            group_id=group.group_id,
            rule_id=finding.entry.rule_id,
            protocol=finding.entry.protocol,
            ports=finding.entry.ports_text(),
            source=finding.entry.source.value,
            mode=finding.decision.mode.value,
            action=finding.decision.action.value,
            outcome=finding.outcome.value,
            reason=finding.risk,
            notes=[*finding.decision.notes, *finding.details],
        )
    notified = notify(report, settings, aws)
    return summary(report, notified)


def notify(report: EventReport, settings: Settings, aws: Aws) -> bool:
    if not reporting.needs_notification(report):
        return False
    subject, body = reporting.subject(report), reporting.body(report)
    if settings.topic_arn is None:
        log_event("notification (no topic configured)", event_id=report.event_id, subject=subject)
        return False
    aws.publish(settings.topic_arn, subject, body, reporting.attributes(report))
    return True


def summary(report: EventReport, notified: bool) -> dict[str, Any]:
    return {
        "event_id": report.event_id,
        "status": "dry-run" if report.dry_run else "remediated",
        "group_id": report.group.group_id,
        "notified": notified,
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
                "notes": [*f.decision.notes, *f.details],
            }
            for f in report.findings
        ],
    }
