"""Pure policy decisions: a group's tags and the settings decide what happens to each risky entry."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from remediator.model import Action, Decision, GroupPolicy, Mode, RuleEntry, Source, SourceKind
from remediator.risk import OpenThresholds, PrefixListInfo, cidr_is_open
from remediator.sources import parse_sources

MODE_TAG = "remediator:mode"
ALLOWED_CIDRS_TAG = "remediator:allowed-cidrs"
EXPIRES_TAG = "remediator:expires"
TAG_KEYS = (MODE_TAG, ALLOWED_CIDRS_TAG, EXPIRES_TAG)
# Each key of ours by its lower-case spelling: what a near miss (other case, spaces around) is matched against.
LOWER_TAG_KEYS = {key.lower(): key for key in TAG_KEYS}
# The end of the note on a narrowing that cannot narrow. Its words depend on what became of the rule, so the report
# words it for where it is shown (`remediator.report.note_text`): "was revoked" only where the rule was revoked.
REVOKED_INSTEAD = "so it is revoked instead of narrowed"


def near_miss_tag_notes(tags: Mapping[str, str]) -> tuple[str, ...]:
    """A note for each tag key that is one of the remediator's but for case or surrounding spaces: it is not read."""
    return tuple(
        f"the tag {key!r} is not read: tag keys are exact, use {LOWER_TAG_KEYS[key.strip().lower()]}"
        for key in sorted(tags)
        if key not in TAG_KEYS and key.strip().lower() in LOWER_TAG_KEYS
    )


def parse_expiry(raw: str) -> datetime | None:
    """The moment an exception ends: a date means the end of that day (UTC); None if unreadable."""
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def policy_from_tags(tags: Mapping[str, str], default: GroupPolicy, now: datetime) -> GroupPolicy:
    """The group's policy: its tags while its exception lasts, else the default policy (of an untagged group)."""
    if not tags:
        # Most groups of a region: nothing to read (a sweep asks this of every group with a finding).
        return default
    policy = policy_of_tags(tags, default, now)
    near_misses = near_miss_tag_notes(tags)
    return replace(policy, notes=(*policy.notes, *near_misses)) if near_misses else policy


def policy_of_tags(tags: Mapping[str, str], default: GroupPolicy, now: datetime) -> GroupPolicy:
    """The policy the exactly spelt tags give (`policy_from_tags` adds the notes on misspelt keys)."""
    if MODE_TAG not in tags and ALLOWED_CIDRS_TAG not in tags:
        return default
    notes: list[str] = []
    expires_raw = tags.get(EXPIRES_TAG)
    expires_at: str | None = None
    if expires_raw is not None:
        expiry = parse_expiry(expires_raw)
        if expiry is None:
            # Failing closed: an exception whose end cannot be read does not hold.
            note = f"the {EXPIRES_TAG} tag {expires_raw!r} is not a date or ISO-8601 time, so the exception"
            return replace(default, notes=(f"{note} does not apply",))
        if expiry <= now:
            note = f"the exception expired on {expires_raw.strip()} ({EXPIRES_TAG}), so the default policy applies"
            return replace(default, notes=(note,))
        expires_at = expires_raw.strip()
    mode = default.mode
    if MODE_TAG in tags:
        raw_mode = tags[MODE_TAG].strip().lower()
        try:
            mode = Mode(raw_mode)
        except ValueError:
            choices = ", ".join(m.value for m in Mode)
            notes.append(
                f"the {MODE_TAG} tag {tags[MODE_TAG]!r} is not one of {choices}, "
                f"so the default mode {default.mode.value} applies"
            )
    allowed = default.allowed_sources
    if tags.get(ALLOWED_CIDRS_TAG, "").strip():
        parsed, errors = parse_sources(tags[ALLOWED_CIDRS_TAG])
        if errors:
            notes.append(f"the {ALLOWED_CIDRS_TAG} tag is invalid ({errors[0]}), so nothing is narrowed to it")
            allowed = ()
        else:
            allowed = parsed
    return GroupPolicy(mode=mode, allowed_sources=allowed, expires_at=expires_at, notes=tuple(notes))


def trusted_pattern(principal_arn: str | None, patterns: tuple[str, ...]) -> str | None:
    """The first pattern of REMEDIATOR_TRUSTED_PRINCIPALS that the call's principal matches, or None.

    An assumed role's session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) matches a pattern of its role
    (arn:aws:iam::ACCOUNT:role/ROLE) too, since a pipeline is configured by its role, not its sessions.
    """
    if not principal_arn or not patterns:
        return None
    names = [principal_arn]
    parts = principal_arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].removeprefix("assumed-role/").rsplit("/", 1)[0]
        names.append(f"arn:{parts[1]}:iam::{parts[4]}:role/{role}")
    for pattern in patterns:
        if any(fnmatch.fnmatchcase(name, pattern) for name in names):
            return pattern
    return None


def trusted_policy(default: GroupPolicy, principal_arn: str, pattern: str) -> GroupPolicy:
    """The default policy for a call by a trusted principal: notify, saying why."""
    note = (
        f"the caller {principal_arn} is a trusted principal (REMEDIATOR_TRUSTED_PRINCIPALS {pattern}), so the "
        "rule is judged in notify mode"
    )
    return replace(default, mode=Mode.NOTIFY, notes=(*default.notes, note))


def source_is_open(source: Source, thresholds: OpenThresholds, prefix_lists: Mapping[str, PrefixListInfo]) -> bool:
    """Whether an allowed source is open: an open CIDR, or a customer prefix list with one or that cannot be read."""
    if source.kind == SourceKind.PREFIX_LIST:
        info = prefix_lists.get(source.value)
        # An allowed prefix list that cannot be read is not trusted as a narrowing target.
        if info is None:
            return True
        return not info.aws_managed and any(cidr_is_open(cidr, thresholds) for cidr in info.cidrs)
    return cidr_is_open(source.value, thresholds)


def narrow_targets(entry: RuleEntry, allowed: tuple[Source, ...]) -> tuple[Source, ...]:
    """The allowed sources that can replace the entry's source: same address family, or a prefix list."""
    if entry.source.kind == SourceKind.PREFIX_LIST:
        return allowed
    return tuple(s for s in allowed if s.kind in (entry.source.kind, SourceKind.PREFIX_LIST))


def decide(
    entry: RuleEntry,
    policy: GroupPolicy,
    thresholds: OpenThresholds,
    prefix_lists: Mapping[str, PrefixListInfo],
) -> Decision:
    """What to do with one risky entry under the group's policy."""
    notes = policy.notes
    if policy.mode == Mode.IGNORE:
        until = f" until {policy.expires_at}" if policy.expires_at else ""
        return Decision(action=Action.IGNORE, mode=policy.mode, narrow_to=(), notes=(*notes, f"opted out{until}"))
    if policy.mode == Mode.NOTIFY:
        return Decision(action=Action.NOTIFY, mode=policy.mode, narrow_to=(), notes=notes)
    if policy.mode == Mode.REVOKE:
        return Decision(action=Action.REVOKE, mode=policy.mode, narrow_to=(), notes=notes)
    open_allowed = [s.value for s in policy.allowed_sources if source_is_open(s, thresholds, prefix_lists)]
    if open_allowed:
        note = f"the allowed source {open_allowed[0]} is itself open (or unreadable), {REVOKED_INSTEAD}"
        return Decision(action=Action.REVOKE, mode=policy.mode, narrow_to=(), notes=(*notes, note))
    targets = narrow_targets(entry, policy.allowed_sources)
    if not targets:
        family = "IPv6" if entry.source.kind == SourceKind.IPV6 else "IPv4"
        note = f"no allowed {family} source to narrow to, {REVOKED_INSTEAD}"
        return Decision(action=Action.REVOKE, mode=policy.mode, narrow_to=(), notes=(*notes, note))
    return Decision(action=Action.NARROW, mode=policy.mode, narrow_to=targets, notes=notes)
