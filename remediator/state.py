"""What the remediator remembers between invocations, as pure values: item keys, windows, who is behind a call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from remediator.model import RuleEntry

# The table's attribute names: the partition key and the TTL (epoch seconds) DynamoDB deletes items by.
KEY_ATTRIBUTE = "key"
TTL_ATTRIBUTE = "expires_at"
# Re-openings of a rule are counted in a window this long from its first opening.
REOPEN_WINDOW = timedelta(hours=24)
# An item outlives its window by a day, so that a count is never read from an item DynamoDB is about to delete
# (TTL deletion runs within a few days, not at the second; the window's end is checked by the condition).
ITEM_LIFETIME = REOPEN_WINDOW + timedelta(days=1)


def opening_key(group_id: str, entry: RuleEntry) -> str:
    """The item of one rule's openings: the group and the rule's content (protocol, ports, source)."""
    protocol, from_port, to_port, kind, source = entry.content_key()
    ports = "all" if from_port is None and to_port is None else f"{from_port}-{to_port}"
    return f"opened#{group_id}#{protocol}#{ports}#{kind.value}#{source}"


def notice_key(group_id: str, now: datetime) -> str:
    """The item that says a group was reported today (UTC): one notice per group and day."""
    return f"noticed#{group_id}#{now.date().isoformat()}"


def epoch(moment: datetime) -> int:
    """Seconds since the epoch, as DynamoDB's TTL reads them."""
    return int(moment.timestamp())


@dataclass(frozen=True, slots=True, kw_only=True)
class Reopened:
    """How often a rule was opened again within the window, and by whom the last time (None: unknown)."""

    reopenings: int | None
    principal: str | None
    user_agent: str | None
    invoked_by: str | None

    def text(self) -> str | None:
        """The notification's sentence on a rule that keeps coming back; None the first time it is opened."""
        if self.reopenings is None:
            return "whether this rule was opened before could not be read (the state table was unavailable)"
        if self.reopenings < 1:
            return None
        times = "1 time" if self.reopenings == 1 else f"{self.reopenings} times"
        by = self.principal or "an unknown principal"
        agent = f" ({self.user_agent})" if self.user_agent else ""
        sentence = f"re-opened {times} in 24 h, last by {by}{agent}"
        likely = likely_source(self.user_agent, self.invoked_by, self.principal)
        if likely:
            sentence += f"; likely {likely}, which will add it again: change it there"
        return sentence


# Automation that re-adds what was revoked, by what its calls carry (user agent, invokedBy, the principal's ARN).
_SOURCES = (
    ("terraform", "Terraform"),
    ("cloudformation", "CloudFormation (a stack's template or drift repair)"),
    ("fms.amazonaws.com", "AWS Firewall Manager"),
    ("awsservicerolefor", "an AWS service (its service-linked role)"),
    ("pulumi", "Pulumi"),
    ("aws-cdk", "the AWS CDK"),
    ("ansible", "Ansible"),
)


def likely_source(user_agent: str | None, invoked_by: str | None, principal: str | None) -> str | None:
    """The automation most likely behind a call, from its user agent, invokedBy and principal; None if none shows."""
    seen = " ".join(part for part in (user_agent, invoked_by, principal) if part).lower()
    for marker, name in _SOURCES:
        if marker in seen:
            return name
    if invoked_by and invoked_by.endswith(".amazonaws.com"):
        return f"the AWS service {invoked_by}"
    return None
