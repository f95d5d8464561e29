"""Property tests of reading events: mutated real events and any JSON are read or refused, never a crash."""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from mutations import EVENTS, Json, json_value, mutated_real_events
from oracle import DEFAULTS, THRESHOLDS

from remediator.cli import cloudtrail
from remediator.engine import Finding
from remediator.events import SecurityGroupCall, Unreadable, read_call
from remediator.log import JsonFormatter
from remediator.model import (
    Action,
    GroupPolicy,
    GroupState,
    Mode,
    Outcome,
    Source,
    SourceKind,
)
from remediator.policy import decide
from remediator.remediate import not_ours
from remediator.report import attributes, body, event_report, refusal_notification, subject
from remediator.risk import PrefixListInfo, assess

# --- (a) Pure level: whatever the event, no exception, and text that can be sent ------------------------

PREFIX_LISTS = {
    "pl-00000000000000001": PrefixListInfo(prefix_list_id="pl-1", aws_managed=False, cidrs=("0.0.0.0/0",)),
    "pl-00000000000000002": PrefixListInfo(prefix_list_id="pl-2", aws_managed=True, cidrs=()),
}
POLICIES = [
    GroupPolicy(mode=mode, allowed_sources=allowed, expires_at=None, notes=())
    for mode in Mode
    for allowed in (
        (),
        (Source(kind=SourceKind.IPV4, value="198.51.100.0/24"), Source(kind=SourceKind.IPV6, value="2001:db8::/48")),
        (Source(kind=SourceKind.PREFIX_LIST, value="pl-00000000000000009"),),
        (Source(kind=SourceKind.IPV4, value="0.0.0.0/1"),),
    )
]


def sendable(text: str) -> None:
    """What goes to SNS, CloudWatch Logs or an EC2 parameter must be valid UTF-8 (no lone surrogate)."""
    text.encode("utf-8")


def log_line(message: str, **fields: Any) -> str:
    record = logging.LogRecord("remediator", logging.INFO, __file__, 0, message, None, None)
    record.fields = fields
    return JsonFormatter().format(record)


def exercise(call: SecurityGroupCall) -> None:
    """Everything the engine does with a read call short of AWS: screen, assess, decide, report, log."""
    reason = not_ours(call)
    if reason is not None:
        sendable(log_line("ignored", event_id=call.event_id, reason=reason))
    for identifier in (call.group_id, call.group_name, *call.modified_rule_ids):
        if identifier is not None:
            sendable(identifier)
    findings = []
    for entry in call.entries:
        # Each may go to EC2: the rule id to revoke, the description onto a narrowed rule.
        for text in (entry.source.value, entry.description, entry.rule_id, entry.ports_text()):
            sendable(text or "")
        risk = assess(entry, DEFAULTS.risky_ports, THRESHOLDS, PREFIX_LISTS)
        for policy in POLICIES:
            decision = decide(entry, policy, THRESHOLDS, PREFIX_LISTS)
            assert not (decision.narrow_to and decision.action != Action.NARROW)
        if risk is not None:
            decision = decide(entry, POLICIES[0], THRESHOLDS, {})
            findings.append(
                Finding(entry=entry, risk=risk.reason, decision=decision, outcome=Outcome.REVOKED, details=())
            )
    group = GroupState(
        group_id=call.group_id or "sg-x", group_name=call.group_name or "", vpc_id=None, tags={}, ingress=()
    )
    notes = (*call.skipped, *([call.group_note] if call.group_note else []))
    report = event_report(call, group, tuple(findings[:3]), dry_run=False, notes=notes)
    refusal = refusal_notification(call, "a reason")
    for text in (subject(report), body(report), *attributes(report).values(), refusal.subject, refusal.body):
        sendable(text)
    sendable(log_line("decision", event_id=call.event_id, notes=[f.risk for f in findings]))


ELASTIC = "elastic-AuthorizeSecurityGroupIngress-cli-tcp22-ruleset-arn.json"


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=mutated_real_events())
# Found by this property: a lone surrogate (json.loads reads the escape \ud800 as one) in any text the remediator
# sends on could not be encoded: by botocore when a group id, by SNS after the revoke, by the log line.
@example(
    case=(
        ELASTIC,
        {**EVENTS[ELASTIC], "awsRegion": "\ud800us-east-1"},
        ("insert unicode",),
    )
)
def test_a_mutated_real_event_is_read_or_refused_and_never_crashes_a_decision(
    case: tuple[str, Json, tuple[str, ...]],
) -> None:
    _name, data, mutations = case
    for name in mutations:
        event(f"mutation: {name}")
    call = read_call(data)
    assert isinstance(call, SecurityGroupCall | Unreadable)
    if isinstance(call, Unreadable):
        event("refused as unreadable")
        sendable(log_line("ignored", event_id="unknown", reason=call.reason))
        return
    exercise(call)


@settings(max_examples=60, deadline=None)
@given(data=json_value)
def test_any_json_value_at_all_is_read_or_refused(data: Json) -> None:
    call = read_call(data)
    assert isinstance(call, SecurityGroupCall | Unreadable)
    if isinstance(call, SecurityGroupCall):
        exercise(call)


def test_a_call_with_thousands_of_entries_is_read_in_linear_time() -> None:
    # Found by the "duplicate list items" mutation: the request's entries were each compared with every entry
    # of the rule set, so 2,000 of each took minutes, past the Lambda's timeout.
    record = copy.deepcopy(EVENTS[cloudtrail.RULE_SET_TEMPLATE])
    detail = record["detail"]
    detail["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"]["items"] = [
        {"cidrIp": f"10.{i // 256}.{i % 256}.0/24"} for i in range(2000)
    ]
    [rule] = detail["responseElements"]["securityGroupRuleSet"]["items"]
    detail["responseElements"]["securityGroupRuleSet"]["items"] = [
        {**rule, "securityGroupRuleId": f"sgr-{i:017x}", "cidrIpv4": f"11.{i // 256}.{i % 256}.0/24"}
        for i in range(2000)
    ]
    started = time.monotonic()
    call = read_call(record)
    elapsed = time.monotonic() - started
    assert isinstance(call, SecurityGroupCall)
    assert len(call.entries) == 4000
    assert elapsed < 10, f"{elapsed:.1f} s"
