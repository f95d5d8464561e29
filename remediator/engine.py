"""Planning and acting, shared by the event path, the sweep and the scan: pure planning, then the calls that act."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from remediator.effects import Aws
from remediator.model import Action, Decision, GroupPolicy, GroupState, Mode, Outcome, PortRange, RuleEntry, SourceKind
from remediator.policy import decide, policy_from_tags, trusted_pattern, trusted_policy
from remediator.risk import OpenThresholds, PrefixListInfo, assess
from remediator.settings import Settings

CLOSING = (Action.REVOKE, Action.NARROW)


@dataclass(frozen=True, slots=True, kw_only=True)
class Criteria:
    """What planning judges by: the risky ports, how wide is open, and the policy of an untagged group."""

    risky_ports: tuple[PortRange, ...]
    thresholds: OpenThresholds
    default_policy: GroupPolicy

    @classmethod
    def of(cls, settings: Settings, *, caller: str | None = None) -> Criteria:
        """The criteria of a deployment's settings, for a call by `caller` (a principal's ARN) when one made it.

        A trusted caller's call is judged in notify mode wherever the group's own tags do not say otherwise.
        """
        default = settings.default_policy()
        pattern = trusted_pattern(caller, settings.trusted_principals)
        if caller is not None and pattern is not None:
            default = trusted_policy(default, caller, pattern)
        return cls(risky_ports=settings.risky_ports, thresholds=settings.thresholds, default_policy=default)


@dataclass(frozen=True, slots=True, kw_only=True)
class Planned:
    """A risky entry with its decision, before anything is done; `present` is whether the group still has it."""

    entry: RuleEntry
    risk: str
    decision: Decision
    present: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One risky entry, why it is risky, what the policy decided and what became of it."""

    entry: RuleEntry
    risk: str
    decision: Decision
    outcome: Outcome
    details: tuple[str, ...]


def referenced_prefix_lists(entries: Iterable[RuleEntry]) -> set[str]:
    """The prefix lists the entries let traffic in from: their entries decide whether the rules are open."""
    return {entry.source.value for entry in entries if entry.source.kind == SourceKind.PREFIX_LIST}


def narrowing_prefix_lists(
    group: GroupState,
    entries: Iterable[RuleEntry],
    *,
    criteria: Criteria,
    now: datetime,
    prefix_lists: Mapping[str, PrefixListInfo],
) -> set[str]:
    """The allowed prefix lists that narrowing would send the group's risky entries to, not yet in `prefix_lists`.

    Only a narrow group with a risky entry needs them, so any other costs no call.
    """
    policy = policy_from_tags(group.tags, criteria.default_policy, now)
    if policy.mode != Mode.NARROW:
        return set()
    if not any(assess(entry, criteria.risky_ports, criteria.thresholds, prefix_lists) for entry in entries):
        return set()
    allowed = {source.value for source in policy.allowed_sources if source.kind == SourceKind.PREFIX_LIST}
    return allowed - prefix_lists.keys()


def plan_group(
    group: GroupState,
    entries: tuple[RuleEntry, ...],
    *,
    criteria: Criteria,
    now: datetime,
    prefix_lists: Mapping[str, PrefixListInfo],
) -> list[Planned]:
    """Assess each entry and decide on the risky ones by the group's policy; pure (prefix lists come resolved)."""
    risky = [
        (entry, risk)
        for entry in entries
        if (risk := assess(entry, criteria.risky_ports, criteria.thresholds, prefix_lists)) is not None
    ]
    if not risky:
        return []
    policy = policy_from_tags(group.tags, criteria.default_policy, now)
    return [
        Planned(
            entry=entry,
            risk=risk.reason,
            decision=decide(entry, policy, criteria.thresholds, prefix_lists),
            present=group.has(entry),
        )
        for entry, risk in risky
    ]


def with_rule_ids(
    plans: list[Planned], group_id: str, aws: Aws, *, current: tuple[RuleEntry, ...] | None = None
) -> list[Planned]:
    """Fill in the rule ids of entries to close that lack one (old response format) with one describe.

    `current` is the group's ingress rules when already described (the sweep's batched describe): no call then.
    """
    lacking = [p for p in plans if p.present and not p.entry.rule_id and p.decision.action in CLOSING]
    if not lacking:
        return plans
    if current is None:
        current = aws.ingress_rules(group_id)
    filled: list[Planned] = []
    for plan in plans:
        match = next((rule for rule in current if rule.same_rule(plan.entry)), None) if plan in lacking else None
        if match is None:
            filled.append(plan)
        else:
            filled.append(replace(plan, entry=replace(plan.entry, rule_id=match.rule_id)))
    return filled


def act(group: GroupState, plans: list[Planned], dry_run: bool, aws: Aws) -> list[Finding]:
    """Carry out the decisions: narrowing authorizations first, then one revoke of every rule to close."""
    live = [p.present and p.entry.rule_id is not None and p.decision.action in CLOSING for p in plans]
    details, allowed_any = narrow_first(group, plans, live, dry_run, aws)
    to_close = tuple(p.entry.rule_id for index, p in enumerate(plans) if live[index] and p.entry.rule_id)
    gone: set[str | None] = set()
    if to_close and not dry_run:
        gone = set(aws.revoke(group.group_id, to_close).already_gone)
    if gone:
        # An id AWS does not know (NotFound, Malformed) may still name a rule that is there: look once, and
        # revoke what is still there by its content, so that a wrong id in the event never leaves the hole open.
        still_there = aws.describe_group(group.group_id, None)
        stale = [i for i, p in enumerate(plans) if p.entry.rule_id in gone and still_there and still_there.has(p.entry)]
        if stale:
            aws.revoke_entries(group.group_id, [plans[i].entry for i in stale])
            for index in stale:
                details[index].append(
                    f"the rule id {plans[index].entry.rule_id} did not work, so it was revoked by content"
                )
            gone -= {plans[index].entry.rule_id for index in stale}
    closed = [live[index] and plan.entry.rule_id not in gone for index, plan in enumerate(plans)]
    return findings_of(plans, dry_run, closed=closed, narrowed=allowed_any, details=details)


def findings_of(
    plans: list[Planned], dry_run: bool, *, closed: list[bool], narrowed: list[bool], details: list[list[str]]
) -> list[Finding]:
    """The findings of planned entries, from what the calls did to each: closed now, narrowed, and the details."""
    return [
        Finding(
            entry=plan.entry,
            risk=plan.risk,
            decision=plan.decision,
            outcome=outcome_of(plan, dry_run, closed_now=closed[index], narrowed=narrowed[index]),
            details=tuple(details[index]),
        )
        for index, plan in enumerate(plans)
    ]


def narrow_first(
    group: GroupState, plans: list[Planned], live: list[bool], dry_run: bool, aws: Aws
) -> tuple[list[list[str]], list[bool]]:
    """The narrowing authorizations of the live entries to narrow: each entry's details, and whether any was added."""
    details: list[list[str]] = [[] for _ in plans]
    allowed_any = [False for _ in plans]
    if dry_run:
        for index, plan in enumerate(plans):
            if plan.present and plan.decision.action == Action.NARROW:
                details[index].append("would be narrowed to " + ", ".join(s.value for s in plan.decision.narrow_to))
        return details, allowed_any
    for index, plan in enumerate(plans):
        if not live[index] or plan.decision.action != Action.NARROW:
            continue
        for target in plan.decision.narrow_to:
            failure = aws.authorize(group.group_id, plan.entry, target)
            if failure is None:
                allowed_any[index] = True
                details[index].append(f"allowed {plan.entry.ports_text()} from {target.value} instead")
            else:
                # Closing the hole comes first: the revoke after goes ahead regardless.
                details[index].append(f"could not allow {target.value} ({failure}); add it by hand if needed")
    return details, allowed_any


def act_by_content(group: GroupState, plans: list[Planned], dry_run: bool, aws: Aws) -> list[Finding]:
    """As `act`, for entries read from a group listing (no rule ids): narrowing first, then one revoke by content.

    The sweep's way: the listing gives every rule's content, so no rule needs its id looked up first.
    """
    live = [p.present and p.decision.action in CLOSING for p in plans]
    details, allowed_any = narrow_first(group, plans, live, dry_run, aws)
    to_close = [index for index, is_live in enumerate(live) if is_live]
    gone: frozenset[int] = frozenset()
    if to_close and not dry_run:
        gone = frozenset(
            to_close[position]
            for position in aws.revoke_entries_reporting(group.group_id, [plans[index].entry for index in to_close])
        )
    closed = [is_live and index not in gone for index, is_live in enumerate(live)]
    return findings_of(plans, dry_run, closed=closed, narrowed=allowed_any, details=details)


def outcome_of(plan: Planned, dry_run: bool, *, closed_now: bool, narrowed: bool) -> Outcome:
    """What became of a planned entry, from its decision and what the calls did."""
    action = plan.decision.action
    if action == Action.IGNORE:
        return Outcome.IGNORED
    if not plan.present:
        return Outcome.ALREADY_GONE
    if action == Action.NOTIFY:
        return Outcome.NOTIFIED
    if dry_run:
        return Outcome.WOULD_NARROW if action == Action.NARROW else Outcome.WOULD_REVOKE
    if not closed_now:
        return Outcome.ALREADY_GONE
    # A narrowing none of whose allowed sources could be added has only revoked.
    return Outcome.NARROWED if action == Action.NARROW and narrowed else Outcome.REVOKED


def reported_only(plan: Planned) -> Outcome:
    """The outcome of an entry that is only reported: ignored for an opt-out, else notified."""
    return Outcome.IGNORED if plan.decision.action == Action.IGNORE else Outcome.NOTIFIED


def plan_entries(
    group: GroupState, entries: tuple[RuleEntry, ...], *, criteria: Criteria, now: datetime, aws: Aws
) -> list[Planned]:
    """Resolve the prefix lists the entries need (read-only calls), then plan them."""
    prefix_lists = aws.prefix_lists(referenced_prefix_lists(entries))
    wanted = narrowing_prefix_lists(group, entries, criteria=criteria, now=now, prefix_lists=prefix_lists)
    if wanted:
        prefix_lists = {**prefix_lists, **aws.prefix_lists(wanted)}
    return plan_group(group, entries, criteria=criteria, now=now, prefix_lists=prefix_lists)
