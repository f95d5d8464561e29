"""The scan of a region's existing rules, shared by the `scan` command and the scheduled sweep."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from remediator.effects import Aws, Interface
from remediator.engine import Criteria, Planned, narrowing_prefix_lists, plan_group, referenced_prefix_lists
from remediator.model import Action, GroupPolicy, GroupState, RuleEntry
from remediator.policy import policy_from_tags
from remediator.report import ACTION_WORDS, ADVISORY_ACTION, ADVISORY_STATUS, count_by_action, note_text
from remediator.risk import PrefixListInfo, assess, assess_advisory
from remediator.settings import Settings

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupScan:
    """A group with at least one risky ingress entry: its policy, the decision on each, the interfaces that use it."""

    group: GroupState
    attached: bool
    policy: GroupPolicy
    plans: tuple[Planned, ...]
    interfaces: tuple[Interface, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Advisory:
    """A risky port open to a broad internal range (docs/advisory.md): listed and counted, never acted on."""

    entry: RuleEntry
    risk: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupAdvisories:
    """A group with at least one advisory entry: its policy (for its mode), the entries, whether it is attached."""

    group: GroupState
    attached: bool
    policy: GroupPolicy
    # In the order of every listing (`rule_order`).
    advisories: tuple[Advisory, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Inventory:
    """What the scan of one region found: how many groups it read, and the groups with risky entries by id."""

    region: str
    groups_scanned: int
    findings: tuple[GroupScan, ...]
    # False when `out_of_time` stopped the paging: the groups not read are not in `findings`.
    complete: bool = True
    # Kept apart from `findings`, which is all that planning and acting ever read: nothing can act on an advisory.
    advisories: tuple[GroupAdvisories, ...] = ()

    @property
    def advisory_rules(self) -> int:
        """How many advisory entries the scan found, in every group."""
        return sum(len(found.advisories) for found in self.advisories)


class Judge:
    """The verdicts of one scan: whether an entry is risky, and its advisory; each distinct entry judged once.

    A region's thousands of rules repeat a few contents, and group listings share one entry per content.
    """

    def __init__(self, *, criteria: Criteria, prefix_lists: Mapping[str, PrefixListInfo], advisory_prefix: int) -> None:
        """Judge by the criteria, with the prefix lists the rules reference resolved."""
        self._criteria = criteria
        self._prefix_lists = prefix_lists
        self._advisory_prefix = advisory_prefix
        # By the entry's identity, with the entry kept (so its id is not reused): hashing a RuleEntry's content
        # (its fields, then its Source's) costs more than the lookup saves, and listings share one entry per content.
        self._verdicts: dict[int, tuple[RuleEntry, bool, Advisory | None]] = {}

    def verdict(self, entry: RuleEntry) -> tuple[bool, Advisory | None]:
        """Whether the entry is risky, and its advisory (None when it has none), one Advisory per entry."""
        known = self._verdicts.get(id(entry))
        if known is None:
            criteria = self._criteria
            risky = assess(entry, criteria.risky_ports, criteria.thresholds, self._prefix_lists) is not None
            advisory = assess_advisory(
                entry,
                criteria.risky_ports,
                criteria.thresholds,
                self._prefix_lists,
                advisory_prefix=self._advisory_prefix,
            )
            known = self._verdicts[id(entry)] = (
                entry,
                risky,
                None if advisory is None else Advisory(entry=entry, risk=advisory.reason),
            )
        return known[1], known[2]


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One risky ingress rule as the scan reports it."""

    region: str
    group_id: str
    group_name: str
    vpc_id: str | None
    attached: bool
    protocol: str
    ports: str
    source: str
    risk: str
    mode: str
    action: str
    would: str
    narrow_to: tuple[str, ...]
    notes: tuple[str, ...]

    def log_fields(self) -> dict[str, object]:
        """What a log line of the rule says of where it is and why it is risky."""
        return {
            "region": self.region,
            "group_id": self.group_id,
            "group_name": self.group_name,
            "vpc_id": self.vpc_id,
            "attached": self.attached,
            "protocol": self.protocol,
            "ports": self.ports,
            "source": self.source,
            "reason": self.risk,
            "mode": self.mode,
        }


def scan_region(
    aws: Aws,
    settings: Settings,
    now: datetime,
    *,
    progress: Progress | None = None,
    out_of_time: Callable[[], bool] | None = None,
) -> Inventory:
    """Read every group of the region in pages, resolve each prefix list once, and decide on every risky entry.

    Read-only: besides the pages of groups and network interfaces it calls only `aws.prefix_lists`, at most twice.
    """
    groups: list[GroupState] = []
    complete = True
    for group in aws.iter_groups():
        groups.append(group)
        if progress is not None:
            progress(len(groups))
        # Once a page: each page is one call, and the clock need not be read per group.
        if out_of_time is not None and len(groups) % aws.GROUPS_PER_PAGE == 0 and out_of_time():
            complete = False
            break
    criteria = Criteria.of(settings)
    prefix_lists = aws.prefix_lists(referenced_prefix_lists(entry for group in groups for entry in group.ingress))
    judge = Judge(criteria=criteria, prefix_lists=prefix_lists, advisory_prefix=settings.advisory_prefix)
    risky_groups: list[GroupState] = []
    advised: list[tuple[GroupState, GroupPolicy, list[Advisory]]] = []
    verdict = judge.verdict
    for group in sorted(groups, key=operator.attrgetter("group_id")):
        risky = False
        advisories: list[Advisory] = []
        for entry in group.ingress:
            is_risky, advisory = verdict(entry)
            risky = risky or is_risky
            if advisory is not None:
                advisories.append(advisory)
        if risky:
            risky_groups.append(group)
        if advisories:
            if len(advisories) > 1:
                advisories.sort(key=rule_order)
            advised.append((group, policy_from_tags(group.tags, criteria.default_policy, now), advisories))
    # Only the groups with a risky rule are planned; the others need neither their policy nor a prefix list more.
    wanted = set().union(
        *(
            narrowing_prefix_lists(group, group.ingress, criteria=criteria, now=now, prefix_lists=prefix_lists)
            for group in risky_groups
        )
    )
    if wanted:
        prefix_lists = {**prefix_lists, **aws.prefix_lists(wanted)}
    planned = [
        (group, policy_from_tags(group.tags, criteria.default_policy, now), plans)
        for group in risky_groups
        if (plans := plan_group(group, group.ingress, criteria=criteria, now=now, prefix_lists=prefix_lists))
    ]
    # Attachment only matters for what was found, so a clean region costs no call for it.
    interfaces = aws.interfaces_by_group() if planned or advised else {}
    return Inventory(
        region=aws.ec2.meta.region_name,
        groups_scanned=len(groups),
        findings=tuple(
            GroupScan(
                group=group,
                attached=group.group_id in interfaces,
                policy=policy,
                plans=tuple(plans),
                interfaces=interfaces.get(group.group_id, ()),
            )
            for group, policy, plans in planned
        ),
        complete=complete,
        advisories=tuple(
            GroupAdvisories(
                group=group, attached=group.group_id in interfaces, policy=policy, advisories=tuple(advisories)
            )
            for group, policy, advisories in advised
        ),
    )


def consequence(plan: Planned, policy: GroupPolicy) -> str:
    """What the handler (or a sweep that acts) would do with the entry: revoke, narrow to …, notify, ignored."""
    decision = plan.decision
    if decision.action == Action.NARROW:
        return "narrow to " + ", ".join(source.value for source in decision.narrow_to)
    if decision.action == Action.IGNORE:
        return f"ignored until {policy.expires_at}" if policy.expires_at else "ignored"
    return ACTION_WORDS[decision.action]


def row_of(region: str, found: GroupScan, plan: Planned) -> Row:
    """The row of one risky entry of a group."""
    group, entry, decision = found.group, plan.entry, plan.decision
    return Row(
        region=region,
        group_id=group.group_id,
        group_name=group.group_name,
        vpc_id=group.vpc_id,
        attached=found.attached,
        protocol=entry.protocol,
        ports=entry.ports_text(),
        source=entry.source.value,
        risk=plan.risk,
        mode=decision.mode.value,
        action=ACTION_WORDS[decision.action],
        would=consequence(plan, found.policy),
        narrow_to=tuple(source.value for source in decision.narrow_to),
        # The "opted out until" note says again what `would` says.
        notes=tuple(note_text(note, None) for note in decision.notes if not note.startswith("opted out")),
    )


def rows_of(inventory: Inventory) -> list[Row]:
    """One row per risky rule, by group id and then by rule."""
    return [
        row_of(inventory.region, found, plan)
        for found in inventory.findings
        for plan in sorted(found.plans, key=rule_order)
    ]


def advisory_row(region: str, found: GroupAdvisories, advisory: Advisory) -> Row:
    """The row of one advisory entry of a group: no action, and a `would` that says it is not acted on."""
    group, entry = found.group, advisory.entry
    return Row(
        region=region,
        group_id=group.group_id,
        group_name=group.group_name,
        vpc_id=group.vpc_id,
        attached=found.attached,
        protocol=entry.protocol,
        ports=entry.ports_text(),
        source=entry.source.value,
        risk=advisory.risk,
        mode=found.policy.mode.value,
        action=ADVISORY_ACTION,
        would=ADVISORY_STATUS,
        narrow_to=(),
        notes=(),
    )


def ordered_advisories(inventory: Inventory) -> Iterator[tuple[GroupAdvisories, Advisory]]:
    """Each advisory entry with its group, in the order of every listing: by group id, then by rule."""
    for found in inventory.advisories:
        for advisory in found.advisories:
            yield found, advisory


def advisory_rows(inventory: Inventory, *, limit: int | None = None) -> list[Row]:
    """One row per advisory entry, in listing order; the first `limit` only, when given."""
    rows = (advisory_row(inventory.region, found, advisory) for found, advisory in ordered_advisories(inventory))
    return list(itertools.islice(rows, limit))


def rule_order(plan: Planned | Advisory) -> tuple[str, int, int, str, str]:
    """The order of a group's rules in every listing: by protocol, ports and source."""
    entry = plan.entry
    # Ports may be absent (all traffic), and None does not compare with numbers.
    first = -1 if entry.from_port is None else entry.from_port
    last = -1 if entry.to_port is None else entry.to_port
    return (entry.protocol, first, last, entry.source.kind.value, entry.source.value)


def summary_line(rows: list[Row], groups_scanned: int) -> str:
    """E.g. `3 risky rules in 2 of 40 groups (1 attached to no interface): 2 revoke, 0 narrow, 1 notify, 0 ignored`."""
    groups = {(row.region, row.group_id) for row in rows}
    unattached = {(row.region, row.group_id) for row in rows if not row.attached}
    rules = "rule" if len(rows) == 1 else "rules"
    counts = ", ".join(f"{count} {word}" for word, count in count_by_action(rows).items())
    return (
        f"{len(rows)} risky {rules} in {len(groups)} of {groups_scanned} groups "
        f"({len(unattached)} attached to no interface): {counts}"
    )
