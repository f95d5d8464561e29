"""The scheduled sweep: the scan of the Lambda's region, then one summary, or each group's policy applied."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from remediator.effects import GROUP_GONE, Aws, error_code
from remediator.inventory import GroupScan, Row, count_by_action, row_of, rule_order, scan_region
from remediator.log import log_event
from remediator.model import Action, Mode, Outcome, RuleEntry
from remediator.policy import EXPIRES_TAG, MODE_TAG
from remediator.remediate import CLOSING, Planned, act, with_rule_ids
from remediator.report import OUTCOME_TEXT, SUBJECT_LIMIT
from remediator.settings import Settings

# The Lambda has 5 minutes; past this point no further group is changed, so the summary still goes out in time.
# What is left stays open until the next sweep, which finds it again.
TIME_BUDGET_SECONDS = 240.0
LISTED_RULES = 200
# SNS takes 256 KB per message, attributes and subject included.
BODY_BUDGET_BYTES = 200_000
ACTING_MODES = (Mode.REVOKE, Mode.NARROW)
DEFERRED = "deferred"
FAILED = "failed"
SWEEP_OUTCOME_TEXT = {
    **{outcome.value: text for outcome, text in OUTCOME_TEXT.items()},
    DEFERRED: "left open for now (the sweep ran out of time; the next sweep takes it up)",
    FAILED: "left open: the remediator could not change it",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepLine:
    """One risky rule the sweep found, and what became of it: an Outcome value, deferred or failed."""

    row: Row
    outcome: str
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


def sweep(
    settings: Settings,
    aws: Aws,
    now: datetime,
    *,
    account: str | None = None,
    budget_seconds: float = TIME_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Scan the region; report what was found, or apply each group's policy when the sweep mode acts."""
    started = clock()
    inventory = scan_region(aws, settings, now)
    acting = settings.sweep_mode in ACTING_MODES
    current = CurrentRules(aws, [found.group.group_id for found in inventory.findings if closes_rules(found)])
    lines: list[SweepLine] = []
    for found in inventory.findings:
        if acting:
            group_lines = act_on(
                found,
                inventory.region,
                settings.dry_run,
                aws,
                current=current,
                out_of_time=lambda: clock() - started > budget_seconds,
            )
        else:
            group_lines = left_alone(found, inventory.region)
        for line in group_lines:
            log_finding(line, settings.sweep_mode)
        lines += group_lines
    report = SweepReport(
        account=account,
        region=inventory.region,
        sweep_mode=settings.sweep_mode,
        dry_run=settings.dry_run,
        groups_scanned=inventory.groups_scanned,
        lines=tuple(lines),
    )
    notified = notify(report, settings, aws)
    result = summary(report, notified)
    log_event("sweep done", **result)
    return result


def left_alone(found: GroupScan, region: str) -> list[SweepLine]:
    return [
        SweepLine(row=row_of(region, found, plan), outcome=reported_only(plan), details=())
        for plan in sorted(found.plans, key=rule_order)
    ]


def reported_only(plan: Planned) -> str:
    return (Outcome.IGNORED if plan.decision.action == Action.IGNORE else Outcome.NOTIFIED).value


class CurrentRules:
    """The ingress rules, with their ids, of the groups with rules to close, in the sweep's order of groups.

    They are described a batch of groups at a time (one call per batch, not one per group), when the sweep comes to
    the first group of a batch: groups left for the next sweep, or a dry run, cost no call.
    """

    def __init__(self, aws: Aws, group_ids: list[str]) -> None:
        self.aws = aws
        self.order = group_ids
        self.position = {group_id: index for index, group_id in enumerate(group_ids)}
        self.known: dict[str, tuple[RuleEntry, ...]] = {}

    def of(self, group_id: str) -> tuple[RuleEntry, ...]:
        if group_id not in self.known:
            start = self.position.get(group_id)
            batch = [group_id] if start is None else self.order[start : start + self.aws.GROUP_IDS_PER_RULES_CALL]
            self.known.update(self.aws.ingress_rules_of(batch))
        return self.known[group_id]


def closes_rules(found: GroupScan) -> bool:
    return any(plan.decision.action in CLOSING for plan in found.plans)


def act_on(
    found: GroupScan,
    region: str,
    dry_run: bool,
    aws: Aws,
    *,
    current: CurrentRules,
    out_of_time: Callable[[], bool],
) -> list[SweepLine]:
    """The group's policy applied as the handler applies it: rule ids from the batched describe, then act's calls."""
    plans = sorted(found.plans, key=rule_order)
    closing = closes_rules(found)
    if closing and out_of_time():
        return [
            SweepLine(row=row_of(region, found, plan), outcome=deferred_or_kept(plan), details=()) for plan in plans
        ]
    try:
        if closing and not dry_run:
            plans = with_rule_ids(plans, found.group.group_id, aws, current=current.of(found.group.group_id))
        findings = act(found.group, plans, dry_run, aws)
    except ClientError as error:
        # One group the remediator may not change (say, by an SCP) must not stop the sweep of the others.
        gone = error_code(error) in GROUP_GONE
        outcome = Outcome.ALREADY_GONE.value if gone else FAILED
        reason = " ".join(str(error).split())
        return [
            SweepLine(
                row=row_of(region, found, plan),
                outcome=outcome if plan.decision.action in CLOSING else reported_only(plan),
                details=() if gone else (reason,),
            )
            for plan in plans
        ]
    return [
        SweepLine(row=row_of(region, found, plan), outcome=finding.outcome.value, details=finding.details)
        for plan, finding in zip(plans, findings, strict=True)
    ]


def deferred_or_kept(plan: Planned) -> str:
    """The outcome of an entry nothing was done to: notify and ignore need no call; a rule to close waits."""
    return DEFERRED if plan.decision.action in CLOSING else reported_only(plan)


def log_finding(line: SweepLine, sweep_mode: Mode) -> None:
    row = line.row
    log_event(
        "sweep finding",
        region=row.region,
        group_id=row.group_id,
        group_name=row.group_name,
        vpc_id=row.vpc_id,
        attached=row.attached,
        protocol=row.protocol,
        ports=row.ports,
        source=row.source,
        reason=row.risk,
        mode=row.mode,
        action=row.action,
        would=row.would,
        sweep_mode=sweep_mode.value,
        outcome=line.outcome,
        notes=[*row.notes, *line.details],
    )


def reported(report: SweepReport) -> list[SweepLine]:
    """The lines a person is told about: opt-outs are only logged, as for new rules."""
    return [line for line in report.lines if line.outcome != Outcome.IGNORED.value]


def notify(report: SweepReport, settings: Settings, aws: Aws) -> bool:
    if settings.sweep_mode == Mode.IGNORE or not reported(report):
        return False
    subject, body = notification(report)
    if settings.topic_arn is None:
        log_event("notification (no topic configured)", region=report.region, subject=subject)
        return False
    aws.publish(settings.topic_arn, subject, body, {"mode": report.sweep_mode.value, "action": "sweep"})
    return True


def headline(report: SweepReport) -> str:
    lines = reported(report)
    outcomes = Counter(line.outcome for line in lines)
    found = rules(len(lines), "risky rule")
    if report.sweep_mode not in ACTING_MODES:
        return f"found {found}"
    if report.dry_run:
        would = outcomes[Outcome.WOULD_REVOKE.value] + outcomes[Outcome.WOULD_NARROW.value]
        return f"would close {would} of {found}"
    closed = outcomes[Outcome.REVOKED.value] + outcomes[Outcome.NARROWED.value]
    return f"closed {closed} of {found}"


def rules(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def notification(report: SweepReport) -> tuple[str, str]:
    """The subject and body of the sweep's one summary message, its listing capped to fit SNS."""
    text = f"[sg-remediator] sweep {headline(report)} in {report.region}"
    subject = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)[:SUBJECT_LIMIT]
    lines = reported(report)
    rows = [line.row for line in lines]
    groups = {row.group_id for row in rows}
    unattached = {row.group_id for row in rows if not row.attached}
    opted_out = len(report.lines) - len(lines)
    head = [
        f"sg-remediator's scheduled sweep {headline(report)} in {len(groups)} of {report.groups_scanned} "
        f"security groups in {report.region} (account {report.account or 'unknown'}); "
        f"{len(unattached)} of these groups are attached to no network "
        "interface today (a risk all the same: they can be attached at any time).",
        "",
    ]
    if report.sweep_mode in ACTING_MODES:
        outcomes = Counter(line.outcome for line in lines)
        head += [
            f"Sweep mode: {report.sweep_mode.value} (REMEDIATOR_SWEEP_MODE): each group's policy was applied as it "
            "is to new rules.",
            "Outcomes: " + ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) + ".",
        ]
        if report.dry_run:
            head.append("DRY RUN: the remediator changed nothing (REMEDIATOR_DRY_RUN=true).")
        if outcomes[DEFERRED]:
            head.append(
                f"{rules(outcomes[DEFERRED], 'rule')} left for the next sweep: this one ran out of its time budget."
            )
    else:
        counts = ", ".join(f"{count} {word}" for word, count in count_by_action(rows).items() if word != "ignored")
        head += [
            "Sweep mode: notify (REMEDIATOR_SWEEP_MODE): nothing was changed.",
            f"Were the sweep to act (REMEDIATOR_SWEEP_MODE=revoke), each group's policy would give: {counts}.",
        ]
    if opted_out:
        head.append(f"Not listed: {rules(opted_out, 'risky rule')} in groups opted out ({MODE_TAG}=ignore).")
    listing: list[str] = []
    size = len("\n".join(head).encode())
    shown = 0
    for number, line in enumerate(lines, start=1):
        block = rule_block(number, line, acting=report.sweep_mode in ACTING_MODES)
        block_size = len("\n".join(block).encode()) + 1
        if shown == LISTED_RULES or size + block_size > BODY_BUDGET_BYTES:
            break
        listing += block
        size += block_size
        shown += 1
    if shown < len(lines):
        listing += [
            "",
            f"... and {rules(len(lines) - shown, 'more risky rule')}, not listed here. For the full list, run with "
            "credentials for this account:",
            f"    python -m remediator scan --region {report.region}",
        ]
    foot = [
        "",
        f"To opt a group out: tag it {MODE_TAG}=ignore (or notify), optionally with {EXPIRES_TAG}=YYYY-MM-DD so "
        "that the exception ends by itself. `python -m remediator scan` lists every rule with what would happen "
        "to it, before the sweep or the default mode is set to revoke.",
    ]
    return subject, "\n".join([*head, *listing, *foot])


def rule_block(number: int, line: SweepLine, *, acting: bool) -> list[str]:
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
        block += [f"   Mode:      {row.mode}", f"   Outcome:   {SWEEP_OUTCOME_TEXT[line.outcome]}"]
    else:
        block.append(f"   Mode:      {row.mode}; acting, the sweep would: {row.would}")
    block += [f"   Note:      {note}" for note in (*row.notes, *line.details)]
    return block


def summary(report: SweepReport, notified: bool) -> dict[str, Any]:
    rows = [line.row for line in report.lines]
    return {
        "status": "sweep",
        "region": report.region,
        "sweep_mode": report.sweep_mode.value,
        "dry_run": report.dry_run,
        "groups_scanned": report.groups_scanned,
        "risky_rules": len(rows),
        "groups_with_risky_rules": len({row.group_id for row in rows}),
        "unattached_groups": len({row.group_id for row in rows if not row.attached}),
        "by_action": count_by_action(rows),
        "by_outcome": dict(sorted(Counter(line.outcome for line in report.lines).items())),
        "failed": sorted({line.row.group_id for line in report.lines if line.outcome == FAILED}),
        "notified": notified,
    }
