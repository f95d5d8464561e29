"""Tests of the notification text: short subjects SNS accepts, readable bodies."""

from __future__ import annotations

from remediator.engine import Finding
from remediator.events import Actor
from remediator.model import Action, Decision, GroupState, Mode, Outcome, RuleEntry, Source, SourceKind
from remediator.report import EventReport, attributes, body, needs_notification, subject

ENTRY = RuleEntry(
    protocol="tcp",
    from_port=3389,
    to_port=3389,
    source=Source(kind=SourceKind.IPV6, value="::/0"),
    description="rdp for vendor",
    rule_id="sgr-0123",
)


def report(outcomes: list[Outcome], name: str = "web", dry_run: bool = False) -> EventReport:
    decision = Decision(action=Action.REVOKE, mode=Mode.REVOKE, narrow_to=(), notes=("a note",))
    return EventReport(
        event_id="e-1",
        event_name="AuthorizeSecurityGroupIngress",
        account="123456789012",
        region="eu-west-1",
        group=GroupState(group_id="sg-1", group_name=name, vpc_id="vpc-1", tags={}, ingress=()),
        actor=Actor(
            principal_arn="arn:aws:iam::123456789012:user/alice",
            source_ip="198.51.100.1",
            user_agent="cli",
            event_time="t",
        ),
        dry_run=dry_run,
        findings=tuple(
            Finding(entry=ENTRY, risk="why", decision=decision, outcome=o, details=("detail",)) for o in outcomes
        ),
    )


def test_the_subject_is_at_most_100_printable_ascii_characters() -> None:
    long = subject(report([Outcome.REVOKED], name="グループ" + "x" * 200))
    assert len(long) <= 100
    assert all(32 <= ord(ch) < 127 for ch in long[:-1])
    assert "\n" not in long


def test_the_subject_says_what_happened() -> None:
    assert "closed 2 risky rules" in subject(report([Outcome.REVOKED, Outcome.NARROWED]))
    assert "would close 1 risky rule" in subject(report([Outcome.WOULD_REVOKE], dry_run=True))
    assert "found open 1 risky rule" in subject(report([Outcome.NOTIFIED]))
    assert "found already closed" in subject(report([Outcome.ALREADY_GONE]))


def test_the_body_lists_each_rule_its_risk_outcome_and_notes() -> None:
    text = body(report([Outcome.REVOKED]))
    assert "tcp/3389 from ::/0 (sgr-0123), description 'rdp for vendor'" in text
    assert "Why risky: why" in text
    assert "Note:      a note" in text
    assert "Note:      detail" in text
    assert "arn:aws:iam::123456789012:user/alice" in text


def test_a_dry_run_is_said_in_the_body() -> None:
    assert "DRY RUN" in body(report([Outcome.WOULD_REVOKE], dry_run=True))
    assert "DRY RUN" not in body(report([Outcome.REVOKED]))


def test_opt_outs_alone_send_no_message() -> None:
    assert not needs_notification(report([Outcome.IGNORED]))
    assert needs_notification(report([Outcome.IGNORED, Outcome.NOTIFIED]))


def test_attributes_allow_subscription_filters() -> None:
    assert attributes(report([Outcome.REVOKED])) == {"mode": "revoke", "action": "revoked", "group_id": "sg-1"}
