"""The state's pure values: item keys, the sentence on a rule that came back, and who is likely behind it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from remediator.model import RuleEntry, Source, SourceKind
from remediator.state import Reopened, likely_source, notice_key, opening_key

TERRAFORM = "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0"
ROLE = "arn:aws:sts::123456789012:assumed-role/deploy/session"


def entry(protocol: str, first: int | None, last: int | None, cidr: str) -> RuleEntry:
    kind = SourceKind.IPV6 if ":" in cidr else SourceKind.IPV4
    return RuleEntry(
        protocol=protocol,
        from_port=first,
        to_port=last,
        source=Source(kind=kind, value=cidr),
        description=None,
        rule_id=None,
    )


def test_one_rule_has_one_key_whatever_its_id_description_or_host_bits() -> None:
    plain = entry("tcp", 22, 22, "0.0.0.0/0")
    spelt_otherwise = RuleEntry(
        protocol="tcp",
        from_port=22,
        to_port=22,
        source=Source(kind=SourceKind.IPV4, value=" 0.0.0.0/0"),
        description="admin",
        rule_id="sgr-0123",
    )
    assert opening_key("sg-1", plain) == opening_key("sg-1", spelt_otherwise) == "opened#sg-1#tcp#22-22#ipv4#0.0.0.0/0"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (entry("tcp", 22, 22, "0.0.0.0/0"), entry("tcp", 3389, 3389, "0.0.0.0/0")),
        (entry("tcp", 22, 22, "0.0.0.0/0"), entry("udp", 22, 22, "0.0.0.0/0")),
        (entry("tcp", 22, 22, "0.0.0.0/0"), entry("tcp", 22, 22, "::/0")),
        (entry("tcp", 22, 22, "0.0.0.0/0"), entry("tcp", 0, 65535, "0.0.0.0/0")),
    ],
)
def test_rules_that_differ_in_protocol_ports_or_source_are_counted_apart(one: RuleEntry, other: RuleEntry) -> None:
    assert opening_key("sg-1", one) != opening_key("sg-1", other)


def test_the_same_rule_in_another_group_is_counted_apart() -> None:
    assert opening_key("sg-1", entry("tcp", 22, 22, "0.0.0.0/0")) != opening_key(
        "sg-2", entry("tcp", 22, 22, "0.0.0.0/0")
    )


def test_all_traffic_has_one_key_whether_its_ports_are_absent_or_minus_one() -> None:
    assert opening_key("sg-1", entry("-1", None, None, "0.0.0.0/0")) == opening_key(
        "sg-1", entry("-1", -1, -1, "0.0.0.0/0")
    )


def test_a_group_has_one_notice_key_per_utc_day() -> None:
    morning = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)
    evening = datetime(2026, 12, 1, 23, 55, tzinfo=UTC)
    next_day = datetime(2026, 12, 2, 0, 5, tzinfo=UTC)
    assert notice_key("sg-1", morning) == notice_key("sg-1", evening) == "noticed#sg-1#2026-12-01"
    assert notice_key("sg-1", next_day) != notice_key("sg-1", morning)
    assert notice_key("sg-2", morning) != notice_key("sg-1", morning)


@pytest.mark.parametrize(
    ("reopenings", "agent", "expected"),
    [
        (0, "aws-cli/2.15.0", None),
        (1, "aws-cli/2.15.0", f"re-opened 1 time in 24 h, last by {ROLE} (aws-cli/2.15.0)"),
        (3, "aws-cli/2.15.0", f"re-opened 3 times in 24 h, last by {ROLE} (aws-cli/2.15.0)"),
        (2, None, f"re-opened 2 times in 24 h, last by {ROLE}"),
        (
            1,
            TERRAFORM,
            f"re-opened 1 time in 24 h, last by {ROLE} ({TERRAFORM}); likely Terraform, which will add it again: "
            "change it there",
        ),
        (None, TERRAFORM, "whether this rule was opened before could not be read (the state table was unavailable)"),
    ],
)
def test_the_sentence_on_a_rule_that_came_back(reopenings: int | None, agent: str | None, expected: str | None) -> None:
    assert Reopened(reopenings=reopenings, principal=ROLE, user_agent=agent, invoked_by=None).text() == expected


def test_an_unknown_principal_is_named_as_unknown_not_left_out() -> None:
    sentence = Reopened(reopenings=1, principal=None, user_agent=None, invoked_by=None).text()
    assert sentence == "re-opened 1 time in 24 h, last by an unknown principal"


@pytest.mark.parametrize(
    ("user_agent", "invoked_by", "principal", "expected"),
    [
        (TERRAFORM, None, ROLE, "Terraform"),
        ("AWS Internal", "cloudformation.amazonaws.com", ROLE, "CloudFormation (a stack's template or drift repair)"),
        ("fms.amazonaws.com", "fms.amazonaws.com", None, "AWS Firewall Manager"),
        (
            "aws-sdk-go/1.44",
            None,
            "arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForFMS/FMSSession",
            "an AWS service (its service-linked role)",
        ),
        ("Boto3/1.34 md/Botocore#1.34", "ssm.amazonaws.com", ROLE, "the AWS service ssm.amazonaws.com"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64)", None, "arn:aws:iam::123456789012:user/alice", None),
        (None, None, None, None),
    ],
)
def test_the_likely_source_is_read_from_what_the_call_carries(
    user_agent: str | None, invoked_by: str | None, principal: str | None, expected: str | None
) -> None:
    assert likely_source(user_agent, invoked_by, principal) == expected
