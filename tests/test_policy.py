"""Table-driven tests of the pure policy: tags, expiry, and the decision per risky entry."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from remediator.model import Action, Mode, RuleEntry, Source, SourceKind
from remediator.policy import decide, near_miss_tag_notes, parse_expiry, policy_from_tags, trusted_pattern
from remediator.risk import OpenThresholds, PrefixListInfo
from remediator.settings import settings_from

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
THRESHOLDS = OpenThresholds(ipv4=8, ipv6=32)
SSH_V4 = RuleEntry(
    protocol="tcp",
    from_port=22,
    to_port=22,
    source=Source(kind=SourceKind.IPV4, value="0.0.0.0/0"),
    description="admin",
    rule_id="sgr-1",
)
SSH_V6 = replace(SSH_V4, source=Source(kind=SourceKind.IPV6, value="::/0"))


@pytest.mark.parametrize(
    ("tags", "mode", "noted"),
    [
        ({}, Mode.REVOKE, None),
        ({"remediator:mode": "narrow"}, Mode.NARROW, None),
        ({"remediator:mode": " NOTIFY "}, Mode.NOTIFY, None),
        ({"remediator:mode": "Ignore"}, Mode.IGNORE, None),
        ({"remediator:mode": "ignroe"}, Mode.REVOKE, "is not one of revoke, narrow, notify, ignore"),
        ({"remediator:mode": "ignore", "remediator:expires": "2027-03-31"}, Mode.IGNORE, None),
        ({"remediator:mode": "ignore", "remediator:expires": "2026-11-28"}, Mode.IGNORE, None),
        ({"remediator:mode": "ignore", "remediator:expires": "2026-11-27"}, Mode.REVOKE, "expired on 2026-11-27"),
        ({"remediator:mode": "ignore", "remediator:expires": "2026-11-28T11:59:00Z"}, Mode.REVOKE, "expired"),
        ({"remediator:mode": "ignore", "remediator:expires": "2026-11-28T13:00:00+00:00"}, Mode.IGNORE, None),
        ({"remediator:mode": "ignore", "remediator:expires": "next spring"}, Mode.REVOKE, "not a date"),
        ({"Remediator:Mode": "ignore"}, Mode.REVOKE, "the tag 'Remediator:Mode' is not read"),
    ],
)
def test_the_mode_comes_from_the_tag_while_the_exception_lasts(
    tags: dict[str, str], mode: Mode, noted: str | None
) -> None:
    policy = policy_from_tags(tags, settings_from({}).default_policy(), NOW)
    assert policy.mode == mode
    if noted is None:
        assert policy.notes == ()
    else:
        assert any(noted in note for note in policy.notes)


def test_an_expired_exception_drops_the_allowed_cidrs_tag_too() -> None:
    settings = settings_from({"REMEDIATOR_ALLOWED_CIDRS": "198.51.100.0/24"})
    tags = {
        "remediator:mode": "narrow",
        "remediator:allowed-cidrs": "203.0.113.0/24",
        "remediator:expires": "2020-01-01",
    }
    policy = policy_from_tags(tags, settings.default_policy(), NOW)
    assert policy.mode == Mode.REVOKE
    assert [s.value for s in policy.allowed_sources] == ["198.51.100.0/24"]


def test_the_group_allowed_cidrs_override_the_account_wide_ones() -> None:
    settings = settings_from({"REMEDIATOR_ALLOWED_CIDRS": "198.51.100.0/24"})
    own = policy_from_tags(
        {"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24"}, settings.default_policy(), NOW
    )
    fallback = policy_from_tags({"remediator:mode": "narrow"}, settings.default_policy(), NOW)
    assert [s.value for s in own.allowed_sources] == ["203.0.113.0/24"]
    assert [s.value for s in fallback.allowed_sources] == ["198.51.100.0/24"]


def test_an_invalid_allowed_cidrs_tag_allows_nothing_and_says_so() -> None:
    policy = policy_from_tags(
        {"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24 office"},
        settings_from({}).default_policy(),
        NOW,
    )
    assert policy.allowed_sources == ()
    assert any("'office'" in note for note in policy.notes)


@pytest.mark.parametrize(
    ("mode", "allowed", "entry", "action", "targets", "noted"),
    [
        ("revoke", "", SSH_V4, Action.REVOKE, [], None),
        ("notify", "", SSH_V4, Action.NOTIFY, [], None),
        ("ignore", "", SSH_V4, Action.IGNORE, [], "opted out"),
        ("narrow", "203.0.113.0/24", SSH_V4, Action.NARROW, ["203.0.113.0/24"], None),
        ("narrow", "203.0.113.0/24 2001:db8::/48", SSH_V6, Action.NARROW, ["2001:db8::/48"], None),
        ("narrow", "203.0.113.0/24 pl-0000000000000000b", SSH_V6, Action.NARROW, ["pl-0000000000000000b"], None),
        ("narrow", "203.0.113.0/24", SSH_V6, Action.REVOKE, [], "no allowed IPv6 source"),
        ("narrow", "", SSH_V4, Action.REVOKE, [], "no allowed IPv4 source"),
        ("narrow", "203.0.113.0/24 52.0.0.0/8", SSH_V4, Action.REVOKE, [], "52.0.0.0/8 is itself open"),
        ("narrow", "pl-0000000000000000a", SSH_V4, Action.REVOKE, [], "pl-0000000000000000a is itself open"),
        ("narrow", "pl-00000000000000fff", SSH_V4, Action.REVOKE, [], "open (or unreadable)"),
    ],
)
def test_the_decision_follows_the_mode_and_narrows_only_to_closed_sources_of_the_same_family(
    mode: str, allowed: str, entry: RuleEntry, action: Action, targets: list[str], noted: str | None
) -> None:
    prefix_lists = {
        "pl-0000000000000000a": PrefixListInfo(
            prefix_list_id="pl-0000000000000000a", aws_managed=False, cidrs=("0.0.0.0/0",)
        ),
        "pl-0000000000000000b": PrefixListInfo(
            prefix_list_id="pl-0000000000000000b", aws_managed=False, cidrs=("10.0.0.0/8",)
        ),
    }
    tags = {"remediator:mode": mode, "remediator:allowed-cidrs": allowed} if allowed else {"remediator:mode": mode}
    policy = policy_from_tags(tags, settings_from({}).default_policy(), NOW)
    decision = decide(entry, policy, THRESHOLDS, prefix_lists)
    assert decision.action == action
    assert [s.value for s in decision.narrow_to] == targets
    if noted is not None:
        assert any(noted in note for note in decision.notes)


def test_an_opt_out_with_an_expiry_says_until_when() -> None:
    policy = policy_from_tags(
        {"remediator:mode": "ignore", "remediator:expires": "2027-03-31"}, settings_from({}).default_policy(), NOW
    )
    decision = decide(SSH_V4, policy, THRESHOLDS, {})
    assert decision.notes == ("opted out until 2027-03-31",)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2027-03-31", datetime(2027, 4, 1, tzinfo=UTC)),
        ("2027-03-31T10:00:00Z", datetime(2027, 3, 31, 10, tzinfo=UTC)),
        ("2027-03-31T10:00:00", datetime(2027, 3, 31, 10, tzinfo=UTC)),
        ("2027-03-31T10:00:00+09:00", datetime(2027, 3, 31, 1, tzinfo=UTC)),
        ("31/03/2027", None),
        ("", None),
    ],
)
def test_an_expiry_date_lasts_to_the_end_of_that_day_in_utc(raw: str, expected: datetime | None) -> None:
    assert parse_expiry(raw) == expected


@pytest.mark.parametrize(
    ("tags", "notes"),
    [
        ({}, ()),
        ({"remediator:mode": "ignore", "remediator:allowed-cidrs": "", "remediator:expires": "2027-01-01"}, ()),
        ({"Name": "web", "remediator:owner": "ops", "remediator-mode": "ignore"}, ()),
        (
            {"Remediator:Mode": "ignore"},
            ("the tag 'Remediator:Mode' is not read: tag keys are exact, use remediator:mode",),
        ),
        (
            {" remediator:mode": "notify"},
            ("the tag ' remediator:mode' is not read: tag keys are exact, use remediator:mode",),
        ),
        (
            {"REMEDIATOR:ALLOWED-CIDRS ": "203.0.113.0/24"},
            ("the tag 'REMEDIATOR:ALLOWED-CIDRS ' is not read: tag keys are exact, use remediator:allowed-cidrs",),
        ),
        (
            {"remediator:mode": "ignore", "Remediator:Expires": "2027-01-01"},
            ("the tag 'Remediator:Expires' is not read: tag keys are exact, use remediator:expires",),
        ),
    ],
)
def test_a_tag_key_that_differs_only_in_case_or_spaces_is_noted_as_not_read(
    tags: dict[str, str], notes: tuple[str, ...]
) -> None:
    assert near_miss_tag_notes(tags) == notes


@pytest.mark.parametrize(
    "tags",
    [
        {"Remediator:Mode": "ignore"},
        {"remediator:mode": "notify", " remediator:expires": "2020-01-01"},
        {"remediator:mode": "ignore", "remediator:expires": "2020-01-01", "Remediator:Mode": "ignore"},
        {"remediator:mode": "ignore", "remediator:expires": "soon", "Remediator:Mode": "ignore"},
    ],
)
def test_the_note_on_a_misspelt_tag_key_reaches_the_policy_whatever_else_the_tags_say(tags: dict[str, str]) -> None:
    policy = policy_from_tags(tags, settings_from({}).default_policy(), NOW)
    assert any("is not read: tag keys are exact" in note for note in policy.notes)


# Trusted principals (REMEDIATOR_TRUSTED_PRINCIPALS): which callers a pattern trusts.

PIPELINE_ROLE = "arn:aws:iam::123456789012:role/infra-pipeline"


@pytest.mark.parametrize(
    ("principal", "patterns", "expected"),
    [
        (PIPELINE_ROLE, (PIPELINE_ROLE,), PIPELINE_ROLE),
        ("arn:aws:sts::123456789012:assumed-role/infra-pipeline/1733043600", (PIPELINE_ROLE,), PIPELINE_ROLE),
        (
            "arn:aws:sts::123456789012:assumed-role/infra-pipeline-prod/s",
            ("arn:aws:iam::123456789012:role/infra-*",),
            "arn:aws:iam::123456789012:role/infra-*",
        ),
        (
            "arn:aws:sts::123456789012:assumed-role/infra-pipeline/s",
            ("arn:aws:sts::123456789012:assumed-role/infra-pipeline/*",),
            "arn:aws:sts::123456789012:assumed-role/infra-pipeline/*",
        ),
        # The same role name in another account is another principal.
        ("arn:aws:sts::999999999999:assumed-role/infra-pipeline/s", (PIPELINE_ROLE,), None),
        ("arn:aws:iam::123456789012:user/alice", (PIPELINE_ROLE,), None),
        # A pattern matches the whole ARN, not a part of it.
        ("arn:aws:iam::123456789012:role/infra-pipeline-copy", (PIPELINE_ROLE,), None),
        ("arn:aws:iam::123456789012:role/Infra-Pipeline", (PIPELINE_ROLE,), None),
        (None, (PIPELINE_ROLE,), None),
        (PIPELINE_ROLE, (), None),
    ],
)
def test_a_pattern_trusts_exactly_the_principals_it_names(
    principal: str | None, patterns: tuple[str, ...], expected: str | None
) -> None:
    assert trusted_pattern(principal, patterns) == expected
