"""Tests of the notification text: short subjects SNS accepts, readable bodies."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from remediator.effects import Interface
from remediator.engine import Finding
from remediator.events import Actor
from remediator.model import Action, Decision, GroupState, Mode, Outcome, RuleEntry, Source, SourceKind
from remediator.policy import REVOKED_INSTEAD
from remediator.report import (
    EventReport,
    attributes,
    body,
    console_link,
    listed,
    needs_notification,
    note_text,
    ports_phrase,
    restore_command,
    subject,
)

ENTRY = RuleEntry(
    protocol="tcp",
    from_port=3389,
    to_port=3389,
    source=Source(kind=SourceKind.IPV6, value="::/0"),
    description="rdp for vendor",
    rule_id="sgr-0123",
)


ACTED_AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def report(
    outcomes: list[Outcome],
    name: str = "web",
    dry_run: bool = False,
    *,
    mode: Mode = Mode.REVOKE,
    tags: dict[str, str] | None = None,
    entries: tuple[RuleEntry, ...] = (ENTRY,),
) -> EventReport:
    decision = Decision(action=Action(mode.value), mode=mode, narrow_to=(), notes=("a note",))
    return EventReport(
        event_id="e-1",
        event_name="AuthorizeSecurityGroupIngress",
        account="123456789012",
        region="eu-west-1",
        group=GroupState(group_id="sg-1", group_name=name, vpc_id="vpc-1", tags=tags or {}, ingress=()),
        actor=Actor(
            principal_arn="arn:aws:iam::123456789012:user/alice",
            source_ip="198.51.100.1",
            user_agent="cli",
            event_time="t",
        ),
        dry_run=dry_run,
        findings=tuple(
            Finding(entry=entry, risk="why", decision=decision, outcome=o, details=("detail",))
            for o in outcomes
            for entry in entries
        ),
        acted_at=ACTED_AT,
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
    assert attributes(report([Outcome.REVOKED])) == {
        "mode": "revoke",
        "action": "revoked",
        "group_id": "sg-1",
        "vpc_id": "vpc-1",
    }


def test_the_groups_contact_is_an_attribute_a_teams_filter_policy_reads() -> None:
    contacted = replace(report([Outcome.NOTIFIED], mode=Mode.NOTIFY), contact="team-a")
    assert attributes(contacted)["contact"] == "team-a"


def ssh(first: int, last: int | None = None, protocol: str = "tcp") -> RuleEntry:
    return replace(ENTRY, protocol=protocol, from_port=first, to_port=first if last is None else last)


@pytest.mark.parametrize(
    ("words", "sentence"),
    [
        ([], ""),
        (["a"], "a"),
        (["a", "b"], "a and b"),
        (["a", "b", "c"], "a, b and c"),
        (["a", "b", "c", "d"], "a, b, c and d"),
    ],
)
def test_a_list_of_words_reads_as_in_a_sentence(words: list[str], sentence: str) -> None:
    assert listed(words) == sentence


@pytest.mark.parametrize(
    ("entries", "phrase"),
    [
        ((ssh(22),), "port 22"),
        ((ssh(22), ssh(22)), "port 22"),
        ((ssh(3389), ssh(22)), "ports 22 and 3389"),
        ((ssh(22), ssh(80), ssh(3389)), "ports 22, 80 and 3389"),
        ((ssh(20, 30),), "ports 20-30"),
        ((ssh(22), replace(ENTRY, protocol="-1", from_port=None, to_port=None)), "all ports"),
    ],
)
def test_ports_are_named_in_the_singular_or_the_plural(entries: tuple[RuleEntry, ...], phrase: str) -> None:
    assert ports_phrase(entries) == phrase


def test_the_body_says_one_risky_rule_or_two_risky_rules_and_the_ports_they_open() -> None:
    assert "1 risky rule let the internet reach port 3389." in body(report([Outcome.REVOKED]))
    two = body(report([Outcome.REVOKED], entries=(ENTRY, ssh(22))))
    assert "2 risky rules let the internet reach ports 22 and 3389." in two
    assert "a shell on an instance reaches what is in the VPC" in two


@pytest.mark.parametrize(
    ("mode", "tags", "outcome", "said", "not_said"),
    [
        (Mode.REVOKE, {}, Outcome.REVOKED, "To opt this group out: tag it remediator:mode=ignore (or notify)", None),
        (Mode.NARROW, {}, Outcome.NARROWED, "To opt this group out", "does it for you"),
        (
            Mode.NOTIFY,
            {"remediator:mode": "notify"},
            Outcome.NOTIFIED,
            "This group is in notify mode: its risky rules are reported and left open. To have them closed, tag it "
            "remediator:mode=revoke",
            "(or notify)",
        ),
        (
            Mode.IGNORE,
            {"remediator:mode": "ignore", "remediator:expires": "2999-01-01"},
            Outcome.IGNORED,
            "This group is opted out (remediator:mode=ignore until 2999-01-01): its risky rules are only logged.",
            "To opt this group out",
        ),
        (
            Mode.REVOKE,
            {"remediator:mode": "ignore", "remediator:expires": "2020-01-31"},
            Outcome.REVOKED,
            "The group's exception expired on 2020-01-31 (remediator:expires), so the default policy applied. To "
            "renew it, set remediator:expires to a later date (YYYY-MM-DD, valid through that day, UTC)",
            "To opt this group out",
        ),
        (
            Mode.REVOKE,
            {"remediator:mode": "notify", "remediator:expires": "next spring"},
            Outcome.REVOKED,
            "its remediator:expires tag 'next spring' is not a date or an ISO-8601 time, so the default policy "
            "applied. To renew it",
            "To opt this group out",
        ),
    ],
)
def test_the_advice_fits_the_state_of_the_group(
    mode: Mode, tags: dict[str, str], outcome: Outcome, said: str, not_said: str | None
) -> None:
    text = body(report([outcome], mode=mode, tags=tags))
    assert said in text
    if not_said is not None:
        assert not_said not in text


@pytest.mark.parametrize(
    ("region", "link"),
    [
        ("eu-west-1", "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#SecurityGroup:groupId=sg-1"),
        (
            "il-central-1",
            "https://il-central-1.console.aws.amazon.com/ec2/home?region=il-central-1#SecurityGroup:groupId=sg-1",
        ),
        ("us-gov-west-1", None),
        ("cn-north-1", None),
        ("us-iso-east-1", None),
        (None, None),
    ],
)
def test_the_console_link_is_given_in_the_aws_partition_only(region: str | None, link: str | None) -> None:
    assert console_link(region, "sg-1") == link


def test_outside_the_aws_partition_the_body_says_why_there_is_no_link() -> None:
    text = body(replace(report([Outcome.REVOKED]), region="cn-north-1"))
    assert "Console:   none: the console address of region cn-north-1 is not known to the remediator" in text


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        (Outcome.REVOKED, "so the rule was revoked instead of narrowed"),
        (Outcome.WOULD_REVOKE, "so it would be revoked instead of narrowed"),
        (Outcome.NOTIFIED, "so it would be revoked instead of narrowed"),
        (None, "so it would be revoked instead of narrowed"),
    ],
)
def test_a_note_on_a_narrowing_that_cannot_narrow_says_revoked_only_where_it_was(
    outcome: Outcome | None, words: str
) -> None:
    note = f"no allowed IPv4 source to narrow to, {REVOKED_INSTEAD}"
    assert note_text(note, outcome) == f"no allowed IPv4 source to narrow to, {words}"
    # Worded once for the scan, a note is worded again for what acting did.
    assert note_text(note_text(note, None), outcome) == note_text(note, outcome)
    assert note_text("another note", outcome) == "another note"


def test_the_restore_command_survives_a_quote_in_the_description() -> None:
    entry = replace(ENTRY, description="bob's box; rm -rf /")
    command = shlex.split(restore_command(entry, "sg-1", "eu-west-1"))
    assert command == [
        "aws",
        "ec2",
        "authorize-security-group-ingress",
        "--group-id",
        "sg-1",
        "--ip-permissions",
        command[6],
        "--region",
        "eu-west-1",
    ]
    assert json.loads(command[6]) == {
        "IpProtocol": "tcp",
        "FromPort": 3389,
        "ToPort": 3389,
        "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "bob's box; rm -rf /"}],
    }


@pytest.mark.parametrize(
    ("outcome", "restored"),
    [
        (Outcome.REVOKED, True),
        (Outcome.NARROWED, True),
        (Outcome.WOULD_REVOKE, False),
        (Outcome.WOULD_NARROW, False),
        (Outcome.NOTIFIED, False),
        (Outcome.ALREADY_GONE, False),
    ],
)
def test_only_a_rule_the_remediator_closed_gets_a_restore_command(outcome: Outcome, restored: bool) -> None:
    assert ("Restore:   aws ec2 authorize-security-group-ingress" in body(report([outcome]))) is restored


def test_the_time_of_the_action_is_utc_iso_8601() -> None:
    assert "Acted at:  2026-11-28T12:00:00Z" in body(report([Outcome.REVOKED]))
    assert "Checked:   2026-11-28T12:00:00Z" in body(report([Outcome.NOTIFIED], mode=Mode.NOTIFY))


def test_the_users_of_the_group_are_listed_or_said_to_be_unlisted() -> None:
    found = report([Outcome.REVOKED])
    many = tuple(Interface(interface_id=f"eni-{n}", instance_id=None, description="") for n in range(25))
    one = (Interface(interface_id="eni-1", instance_id="i-1", description="web"),)

    assert "Used by:" not in body(found)
    assert "Used by:   1 network interface: eni-1 (instance i-1, 'web')" in body(replace(found, interfaces=one))
    assert "eni-19 (no instance); 5 more" in body(replace(found, interfaces=many))
    assert "eni-20" not in body(replace(found, interfaces=many))
    unlisted = body(replace(found, interfaces_error="UnauthorizedOperation"))
    assert "Used by:   the users of the group could not be listed (UnauthorizedOperation)" in unlisted
