"""Typed values the risk and policy logic works on: modes, sources, rule entries, decisions."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from enum import StrEnum

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Mode(StrEnum):
    """What to do with a risky rule, chosen per group by tag or by default."""

    REVOKE = "revoke"
    NARROW = "narrow"
    NOTIFY = "notify"
    IGNORE = "ignore"


# The modes that change rules; the sweep (and an event read in part) acts on existing rules only in these.
ACTING_MODES = (Mode.REVOKE, Mode.NARROW)


class Action(StrEnum):
    """What the policy decides for one risky rule entry."""

    REVOKE = "revoke"
    NARROW = "narrow"
    NOTIFY = "notify"
    IGNORE = "ignore"


class Outcome(StrEnum):
    """What became of one risky rule entry once the decision was acted on."""

    REVOKED = "revoked"
    NARROWED = "narrowed"
    NOTIFIED = "notified"
    IGNORED = "ignored"
    ALREADY_GONE = "already-gone"
    WOULD_REVOKE = "would-revoke"
    WOULD_NARROW = "would-narrow"
    # The sweep's: a rule to close that waits for the next sweep (out of time), or one the remediator could not change.
    DEFERRED = "deferred"
    FAILED = "failed"


class SourceKind(StrEnum):
    """Where a rule lets traffic in from."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    PREFIX_LIST = "prefix-list"
    SECURITY_GROUP = "security-group"


# The values below are frozen dataclasses: immutable, hashable, keyword-constructed, and cheap to define
# and to make. The boundaries validate (the event's items with pydantic-core's validators, the settings with
# their parsers); these values are built from them, already valid, so validating them again would only add to
# the Lambda's cold start.


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """One source of an ingress rule entry, as AWS spells it (a CIDR, `pl-…` or `sg-…`)."""

    kind: SourceKind
    value: str

    def network(self) -> IpNetwork | None:
        """The network of a CIDR source, read leniently (host bits set means the network)."""
        if self.kind not in (SourceKind.IPV4, SourceKind.IPV6):
            return None
        return network_of(self.value)


@functools.lru_cache(maxsize=4096)
def network_of(cidr: str) -> IpNetwork | None:
    """A CIDR read leniently, or None; cached, as a sweep reads the same few sources in thousands of rules."""
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def canonical_value(source: Source) -> str:
    """A source's value as rules are compared: a CIDR as its network (host bits cleared), anything else as given."""
    network = source.network()
    return str(network) if network is not None else source.value


@dataclass(frozen=True, slots=True, kw_only=True)
class PortRange:
    """An inclusive range of ports; all traffic is 0-65535."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if not (0 <= self.first <= 65535 and 0 <= self.last <= 65535):
            raise ValueError(f"port range {self.first}-{self.last} is outside 0-65535")

    def overlaps(self, other: PortRange) -> bool:
        """Whether the two ranges share at least one port."""
        return self.first <= other.last and other.first <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


ALL_PORTS = PortRange(first=0, last=65535)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleEntry:
    """One source of one ingress permission: the unit AWS gives a security-group rule id."""

    protocol: str
    from_port: int | None
    to_port: int | None
    source: Source
    description: str | None
    rule_id: str | None

    def same_rule(self, other: RuleEntry) -> bool:
        """Whether two entries denote the same rule, whatever their ids and descriptions."""
        return self.content_key() == other.content_key()

    def content_key(self) -> tuple[str, int | None, int | None, SourceKind, str]:
        """What identifies the rule: protocol, ports (None for all traffic), source kind and normalized source."""
        value = canonical_value(self.source)
        if self.protocol == "-1" or (self.from_port, self.to_port) == (-1, -1):
            # All traffic has no ports: rule listings say -1/-1 where group listings say nothing.
            return (self.protocol, None, None, self.source.kind, value)
        return (self.protocol, self.from_port, self.to_port, self.source.kind, value)

    def ports_text(self) -> str:
        """The protocol and ports for people, e.g. `tcp/22`, `tcp/80-443` or `all traffic`."""
        if self.protocol == "-1":
            return "all traffic"
        if self.from_port is None or self.to_port is None:
            return f"{self.protocol} (no ports)"
        span = str(self.from_port) if self.from_port == self.to_port else f"{self.from_port}-{self.to_port}"
        return f"{self.protocol}/{span}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Risk:
    """Why an entry is risky: the risky ports it exposes and how its source is open."""

    ports: tuple[PortRange, ...]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupPolicy:
    """The remediation policy of one group, read from its tags and the settings."""

    mode: Mode
    allowed_sources: tuple[Source, ...]
    expires_at: str | None
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What to do with one risky entry: the action, where narrow sends the traffic, and why."""

    action: Action
    mode: Mode
    narrow_to: tuple[Source, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupState:
    """A security group as AWS describes it now: identity, tags and flattened ingress entries."""

    group_id: str
    group_name: str
    vpc_id: str | None
    tags: dict[str, str]
    ingress: tuple[RuleEntry, ...]

    def has(self, entry: RuleEntry) -> bool:
        """Whether the group still has a rule with the entry's content."""
        return any(current.same_rule(entry) for current in self.ingress)
