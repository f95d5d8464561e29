"""The scheduled sweep: the scan of the Lambda's region, then one summary, or each group's policy applied."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from remediator import integrations
from remediator import report as reporting
from remediator.effects import CONNECT_TIMEOUT_SECONDS, GROUP_GONE, READ_TIMEOUT_SECONDS, Aws, error_code
from remediator.engine import CLOSING, Planned, act_by_content, reported_only
from remediator.inventory import (
    GroupScan,
    Inventory,
    advisory_rows,
    ordered_advisories,
    row_of,
    rule_order,
    scan_region,
)
from remediator.log import log_event, log_warning
from remediator.metrics import emit
from remediator.model import ACTING_MODES, Mode, Outcome, RuleEntry
from remediator.report import ADVISORY_STATUS, SweepLine, SweepReport, count_by_action
from remediator.settings import Settings

# Without a Lambda context (the command line, tests), the sweep stops this long after it started.
TIME_BUDGET_SECONDS = 240.0
# Kept back from the function's remaining time: room for one slow call (botocore's connect and read timeouts)
# and the summary's publish, so that the sweep always ends with its summary, never with Lambda's timeout.
RESERVE_SECONDS = float(CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + 5.0


def budget_of(context: object, default: float = TIME_BUDGET_SECONDS) -> float:
    """Seconds the sweep may run: the invocation's remaining time less the reserve, else `default`."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return default
    return max(0.0, float(remaining()) / 1000 - RESERVE_SECONDS)


def sweep(
    settings: Settings,
    aws: Aws,
    now: datetime,
    *,
    account: str | None = None,
    budget_seconds: float = TIME_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Scan the region; report what was found, or apply each group's policy when the sweep mode acts.

    `budget_seconds` bounds the whole sweep, the scan included: past it no further page is read and no group
    changed, and the summary says what was left for the next sweep.
    """
    started = clock()

    def out_of_time() -> bool:
        return clock() - started > budget_seconds

    inventory = scan_region(aws, settings, now, out_of_time=out_of_time)
    if not inventory.complete:
        log_warning("sweep scan stopped early", region=inventory.region, groups_read=inventory.groups_scanned)
    acting = settings.sweep_mode in ACTING_MODES
    done: list[tuple[GroupScan, list[Done]]] = []
    lines: list[SweepLine] = []
    try:
        for found in inventory.findings:
            done.append(
                (found, act_on(found, settings.dry_run, aws, out_of_time=out_of_time) if acting else left_alone(found))
            )
    finally:
        # Every group is acted on first, and only then reported on and logged: nothing but the calls stands
        # between one group's revoke and the next, and a sweep an error stops still logs what it did before.
        for found, group_done in done:
            lines += lines_of(inventory.region, found, group_done)
        for line in lines:
            log_finding(line, settings.sweep_mode)
    report = SweepReport(
        account=account,
        region=inventory.region,
        sweep_mode=settings.sweep_mode,
        dry_run=settings.dry_run,
        groups_scanned=inventory.groups_scanned,
        lines=tuple(lines),
        scan_complete=inventory.complete,
        acted_at=now,
        interfaces={found.group.group_id: found.interfaces for found in inventory.findings},
        # Only reported: the loop above, the one place the sweep acts, reads `inventory.findings` alone.
        advisories=tuple(advisory_rows(inventory, limit=reporting.LISTED_ADVISORIES)),
        advisory_rules=inventory.advisory_rules,
    )
    log_advisories(inventory)
    notified = reporting.publish(reporting.sweep_notification(report), settings.topic_arn, aws, region=report.region)
    emit(reporting.metric_counts(Counter(line.outcome for line in report.lines)), settings.sweep_mode.value, now)
    result = summary(report, notified)
    log_event("sweep done", **result)
    # Last, once the holes are closed and people told: neither can fail the sweep.
    place = integrations.Place.of(account, report.region)
    if settings.security_hub:
        integrations.report_sweep(report, aws, now, place)
    if settings.outcome_events and report.lines:
        integrations.sweep_outcome(result, report, aws, place)
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class Done:
    """What became of one planned entry of a group: its outcome, why, and the entry as acted on."""

    plan: Planned
    outcome: Outcome
    details: tuple[str, ...] = ()
    entry: RuleEntry | None = None


def left_alone(found: GroupScan) -> list[Done]:
    """What becomes of the entries of a group the sweep only reports on."""
    return [Done(plan=plan, outcome=reported_only(plan)) for plan in sorted(found.plans, key=rule_order)]


def closes_rules(found: GroupScan) -> bool:
    """Whether the group's policy closes any of its risky rules."""
    return any(plan.decision.action in CLOSING for plan in found.plans)


def act_on(found: GroupScan, dry_run: bool, aws: Aws, *, out_of_time: Callable[[], bool]) -> list[Done]:
    """The group's policy applied as the handler applies it: narrowing first, then one revoke by content."""
    plans = sorted(found.plans, key=rule_order)
    if closes_rules(found) and out_of_time():
        return [Done(plan=plan, outcome=deferred_or_kept(plan)) for plan in plans]
    try:
        findings = act_by_content(found.group, plans, dry_run, aws)
    except ClientError as error:
        # One group the remediator may not change (say, by an SCP) must not stop the sweep of the others.
        gone = error_code(error) in GROUP_GONE
        outcome = Outcome.ALREADY_GONE if gone else Outcome.FAILED
        reason = " ".join(str(error).split())
        return [
            Done(
                plan=plan,
                outcome=outcome if plan.decision.action in CLOSING else reported_only(plan),
                details=() if gone else (reason,),
            )
            for plan in plans
        ]
    return [
        Done(plan=plan, outcome=finding.outcome, details=finding.details, entry=finding.entry)
        for plan, finding in zip(plans, findings, strict=True)
    ]


def lines_of(region: str, found: GroupScan, done: list[Done]) -> list[SweepLine]:
    """The report's lines of a group's entries, from what became of them."""
    return [
        SweepLine(row=row_of(region, found, one.plan), outcome=one.outcome, details=one.details, entry=one.entry)
        for one in done
    ]


def deferred_or_kept(plan: Planned) -> Outcome:
    """The outcome of an entry nothing was done to: notify and ignore need no call; a rule to close waits."""
    return Outcome.DEFERRED if plan.decision.action in CLOSING else reported_only(plan)


def log_finding(line: SweepLine, sweep_mode: Mode) -> None:
    """One log line per risky rule the sweep found."""
    row = line.row
    log_event(
        "sweep finding",
        **row.log_fields(),
        action=row.action,
        would=row.would,
        sweep_mode=sweep_mode.value,
        outcome=line.outcome.value,
        notes=[*(reporting.note_text(note, line.outcome) for note in row.notes), *line.details],
    )


def summary(report: SweepReport, notified: bool) -> dict[str, Any]:
    """The sweep's JSON-serialisable result."""
    rows = [line.row for line in report.lines]
    return {
        "kind": "sweep",
        "status": reporting.status_of(
            (line.outcome for line in report.lines), dry_run=report.dry_run and report.sweep_mode in ACTING_MODES
        ).value,
        "region": report.region,
        "sweep_mode": report.sweep_mode.value,
        "dry_run": report.dry_run,
        "groups_scanned": report.groups_scanned,
        "scan_complete": report.scan_complete,
        "risky_rules": len(rows),
        "groups_with_risky_rules": len({row.group_id for row in rows}),
        "unattached_groups": len({row.group_id for row in rows if not row.attached}),
        "by_action": count_by_action(rows),
        "by_outcome": dict(sorted(Counter(line.outcome.value for line in report.lines).items())),
        "failed": sorted({line.row.group_id for line in report.lines if line.outcome == Outcome.FAILED}),
        "advisory_rules": report.advisory_total,
        # The first ones only, to keep the result (and the outcome event that carries it) small; the count is exact.
        "advisory": [
            {"group_id": row.group_id, "ports": row.ports, "source": row.source}
            for row in report.advisories[: reporting.LISTED_ADVISORIES]
        ],
        "notified": notified,
    }


# Advisory rules can be in every group of a region (tcp/22 from 10.0.0.0/8 is common): a line each would be
# thousands of lines a day, so they go a hundred a line, well under CloudWatch Logs' 256 KB an event.
ADVISORIES_PER_LINE = 100


def log_advisories(inventory: Inventory) -> None:
    """The advisory findings, a hundred a log line: risky ports open to broad internal ranges, never acted on."""
    # Thousands of advisories share a few entries (one object per content): each entry's words are made once.
    words: dict[int, tuple[RuleEntry, str, str]] = {}
    rules: list[dict[str, object]] = []
    for found, advisory in ordered_advisories(inventory):
        entry = advisory.entry
        known = words.get(id(entry))
        if known is None:
            known = words[id(entry)] = (entry, entry.ports_text(), entry.source.value)
        group = found.group
        rules.append(
            {
                "group_id": group.group_id,
                "group_name": group.group_name,
                "attached": found.attached,
                "ports": known[1],
                "source": known[2],
            }
        )
    parts = -(-len(rules) // ADVISORIES_PER_LINE)
    for part, start in enumerate(range(0, len(rules), ADVISORIES_PER_LINE), start=1):
        log_event(
            "sweep advisories",
            region=inventory.region,
            advisory_rules=len(rules),
            part=part,
            parts=parts,
            outcome=ADVISORY_STATUS,
            rules=rules[start : start + ADVISORIES_PER_LINE],
        )
