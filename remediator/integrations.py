"""Where security teams already look: Security Hub findings and an EventBridge event of what was found and done.

Both come after the holes are closed and the notification is sent: a failure of either is a WARNING in the log and
never fails the event (or the sweep), whose work is done already. See docs/integrations.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from remediator.effects import Aws
from remediator.findings import (
    RuleFinding,
    finding_id,
    hub_finding,
    note,
    open_findings_filters,
    partition_of,
    passed_again,
    product_arn,
    severity_of,
)
from remediator.log import log_warning
from remediator.model import Outcome
from remediator.report import CLOSED, OUTCOME_TEXT, EventReport, Status, SweepReport, restore_command, utc_text

# The outcome events (EventBridge): their source, and their detail type by whether every risky rule is closed now.
EVENT_SOURCE = "sg-remediator"
REMEDIATED = "Security Group Rule Remediated"
LEFT_OPEN = "Security Group Rule Left Open"
# What counts as closed: by the remediator, or by someone else before it acted.
CLOSED_NOW = CLOSED | {Outcome.ALREADY_GONE}
# EventBridge takes 256 KB per PutEvents request; the detail is kept well within.
DETAIL_BUDGET_BYTES = 200_000
# A sweep's event names at most this many groups in its Resources (the first by id); its detail counts them all.
SWEEP_RESOURCES = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    """The account and region whose rules a report is about, and their partition."""

    account: str
    region: str
    partition: str

    @classmethod
    def of(cls, account: str | None, region: str | None) -> Place | None:
        """The place, or None where the account or the region is not known."""
        if not account or not region:
            return None
        return cls(account=account, region=region, partition=partition_of(region))

    def group_arn(self, group_id: str) -> str:
        """A security group's ARN in this place."""
        return f"arn:{self.partition}:ec2:{self.region}:{self.account}:security-group/{group_id}"

    @property
    def product(self) -> str:
        """The account's default Security Hub product, under which it imports its own findings."""
        return product_arn(self.partition, self.region, self.account)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reported:
    """One risky rule as Security Hub gets it: the finding, what became of the rule, the command that restores it."""

    finding: RuleFinding
    outcome: Outcome
    restore: str | None


def resolution_note(outcome: Outcome, acted_at: str, where: str) -> str:
    """What the remediator did to a rule it found closed, for the finding's note."""
    if outcome == Outcome.ALREADY_GONE:
        return (
            f"sg-remediator found this rule already removed at {acted_at} ({where}): someone else, or an earlier "
            "attempt, had closed it."
        )
    done = "revoked this rule" if outcome == Outcome.REVOKED else "narrowed this rule to the allowed sources"
    return (
        f"sg-remediator {done} at {acted_at} ({where}). The command that restores it (it opens the hole again) is "
        "in ProductFields, sg-remediator/RestoreCommand."
    )


def stale_note(acted_at: str) -> str:
    """The note of an open finding whose rule the sweep no longer finds."""
    return (
        f"The sweep of {acted_at} no longer finds this rule among the risky ones: it was removed or narrowed, or its "
        "group deleted."
    )


def event_reported(report: EventReport, place: Place) -> list[Reported]:
    """The risky rules of an event, as findings."""
    group = report.group
    return [
        Reported(
            finding=RuleFinding(
                account=place.account,
                region=place.region,
                partition=place.partition,
                group_id=group.group_id,
                group_name=group.group_name,
                vpc_id=group.vpc_id,
                rule_id=finding.entry.rule_id,
                protocol=finding.entry.protocol,
                ports=finding.entry.ports_text(),
                source=finding.entry.source.value,
                risk=finding.risk,
                severity=severity_of(finding.entry.source.value),
                mode=finding.decision.mode.value,
                would=OUTCOME_TEXT[finding.outcome],
            ),
            outcome=finding.outcome,
            restore=restore_command(finding.entry, group.group_id, place.region) if finding.outcome in CLOSED else None,
        )
        for finding in report.findings
    ]


def sweep_reported(report: SweepReport, place: Place) -> list[Reported]:
    """The risky rules a sweep found (opted-out ones too: they are open), as findings."""
    reported = []
    for line in report.lines:
        row = line.row
        restore = (
            restore_command(line.entry, row.group_id, row.region)
            if line.outcome in CLOSED and line.entry is not None
            else None
        )
        reported.append(
            Reported(
                finding=RuleFinding(
                    account=place.account,
                    region=place.region,
                    partition=place.partition,
                    group_id=row.group_id,
                    group_name=row.group_name,
                    vpc_id=row.vpc_id,
                    rule_id=line.entry.rule_id if line.entry is not None else None,
                    protocol=row.protocol,
                    ports=row.ports,
                    source=row.source,
                    risk=row.risk,
                    severity=severity_of(row.source),
                    mode=row.mode,
                    would=f"{OUTCOME_TEXT[line.outcome]} by the {report.sweep_mode.value} sweep",
                ),
                outcome=line.outcome,
                restore=restore,
            )
        )
    return reported


def send_findings(
    reported: list[Reported],
    aws: Aws,
    now: datetime,
    place: Place,
    *,
    where: str,
    resolve_stale: bool = False,
    **context: object,
) -> None:
    """Import the findings (one BatchImportFindings per 100), then mark RESOLVED, with a note, those closed now.

    With `resolve_stale` (the sweep of a whole region) the remediator's open findings of the region are read first:
    those whose rule is no longer among the risky ones are imported as PASSED and resolved too, and an open finding
    found again keeps its CreatedAt. Provider fields go through BatchImportFindings, the workflow and the note
    through BatchUpdateFindings, as Security Hub divides them. A failure is a WARNING, never an exception.
    """
    acted_at = utc_text(now)
    try:
        stored = aws.findings_matching(open_findings_filters(place.product, place.region)) if resolve_stale else {}
        records: list[dict[str, Any]] = []
        notes: dict[str, list[str]] = {}
        for item in reported:
            identifier = finding_id(item.finding)
            closed = item.outcome in CLOSED_NOW
            created_at = stored.get(identifier, {}).get("CreatedAt")
            records.append(hub_finding(item.finding, now, closed=closed, restore=item.restore, created_at=created_at))
            if closed:
                notes.setdefault(resolution_note(item.outcome, acted_at, where), []).append(identifier)
        current = {record["Id"] for record in records}
        stale = [passed_again(finding, now) for key, finding in stored.items() if key not in current]
        records += stale
        if stale:
            notes.setdefault(stale_note(acted_at), []).extend(record["Id"] for record in stale)
        if not records:
            return
        refused = aws.import_findings(records)
        if refused:
            first = next(iter(refused.items()))
            log_warning("findings refused by security hub", refused=len(refused), first=list(first), **context)
        for text, identifiers in notes.items():
            imported = [identifier for identifier in dict.fromkeys(identifiers) if identifier not in refused]
            if not imported:
                continue
            unprocessed = aws.resolve_findings(imported, place.product, note(text))
            if unprocessed:
                first = next(iter(unprocessed.items()))
                log_warning("findings not resolved", unprocessed=len(unprocessed), first=list(first), **context)
    except (ClientError, BotoCoreError) as error:
        # The holes are closed and people told already: Security Hub not hearing of it must not fail the event.
        log_warning("security hub not updated", reason=" ".join(str(error).split()), **context)


def report_event(report: EventReport, aws: Aws, now: datetime, place: Place | None) -> None:
    """The findings of one event to Security Hub (a WARNING where its account or region is not known)."""
    if place is None:
        log_warning("security hub not updated", event_id=report.event_id, reason="the event names no account")
        return
    send_findings(
        event_reported(report, place), aws, now, place, where=f"event {report.event_id}", event_id=report.event_id
    )


def report_sweep(report: SweepReport, aws: Aws, now: datetime, place: Place | None) -> None:
    """A sweep's findings to Security Hub; the open findings it no longer finds resolved, once it read every group."""
    if place is None:
        log_warning("security hub not updated", region=report.region, reason="the sweep knows no account")
        return
    send_findings(
        sweep_reported(report, place),
        aws,
        now,
        place,
        where="the scheduled sweep",
        # A sweep that ran out of time did not read every group: what it did not find may still be there.
        resolve_stale=report.scan_complete,
        region=report.region,
    )


def detail_type(status: str) -> str:
    """The outcome event's detail type: Remediated when every risky rule is closed now, else Left Open."""
    closed = status in (Status.REMEDIATED.value, Status.ALREADY_CLOSED.value)
    return REMEDIATED if closed else LEFT_OPEN


def fitted(detail: Mapping[str, Any]) -> str:
    """The detail as JSON within the budget: a list too long (an event's findings, a sweep's failed groups) is cut.

    What was cut is counted in `<key>_left_out`; a detail that fits is the summary exactly.
    """
    text = json.dumps(detail)
    if len(text.encode()) <= DETAIL_BUDGET_BYTES:
        return text
    trimmed = dict(detail)
    for key in ("findings", "failed"):
        items = list(trimmed.get(key) or [])
        while items and len(json.dumps(trimmed).encode()) > DETAIL_BUDGET_BYTES:
            items = items[: len(items) // 2]
            trimmed[key] = items
            trimmed[f"{key}_left_out"] = len(detail[key]) - len(items)
    return json.dumps(trimmed)


def send_outcome(summary: Mapping[str, Any], aws: Aws, resources: Iterable[str], **context: object) -> None:
    """One event on the default bus: the summary as the detail; a failure is a WARNING, never an exception."""
    try:
        refused = aws.put_event(
            EVENT_SOURCE, detail_type(str(summary.get("status", ""))), fitted(summary), list(resources)
        )
    except (ClientError, BotoCoreError) as error:
        refused = " ".join(str(error).split())
    if refused is not None:
        log_warning("outcome event not sent", reason=refused, **context)


def event_outcome(summary: Mapping[str, Any], aws: Aws, place: Place | None) -> None:
    """The outcome event of one event, naming its group in Resources."""
    group_id = str(summary.get("group_id", ""))
    resources = [place.group_arn(group_id)] if place is not None and group_id else []
    send_outcome(summary, aws, resources, event_id=summary.get("event_id"))


def sweep_outcome(summary: Mapping[str, Any], report: SweepReport, aws: Aws, place: Place | None) -> None:
    """The outcome event of a sweep, naming (the first 100 by id of) the groups with risky rules in Resources."""
    groups = sorted({line.row.group_id for line in report.lines})[:SWEEP_RESOURCES]
    resources = [place.group_arn(group_id) for group_id in groups] if place is not None else []
    send_outcome(summary, aws, resources, region=report.region)
