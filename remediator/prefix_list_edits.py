"""Prefix-list edits: an entry added to (or a version restored of) a managed prefix list opens every rule on it.

ModifyManagedPrefixList and RestoreManagedPrefixListVersion change every security-group rule that references the
list, with no security-group call. The rules of the groups that reference the list are judged as if just added,
by each group's policy; the list itself is left as it is (it may be shared, or serve routes too).
"""

from __future__ import annotations

import shlex
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from remediator import report as reporting
from remediator.effects import Aws
from remediator.engine import (
    CLOSING,
    Criteria,
    Finding,
    Planned,
    act,
    narrowing_prefix_lists,
    plan_group,
    with_rule_ids,
)
from remediator.event_names import MODIFY_PREFIX_LIST, PREFIX_LIST_EVENTS, RESTORE_PREFIX_LIST
from remediator.events import Reader, SecurityGroupCall, Unreadable, cloudtrail_record, read_call, text
from remediator.log import log_event, log_warning
from remediator.metrics import Metric, emit
from remediator.model import GroupState, RuleEntry, SourceKind
from remediator.remediate import Home, elsewhere, ignored, log_decision, report_elsewhere, summary, with_interfaces
from remediator.report import EventReport, Notification, Status
from remediator.risk import PrefixListInfo, cidr_is_open
from remediator.settings import Settings

# The request's spellings: the console's and the CLI's records wrap it in one object named after the call; an
# older or other writer may give its fields bare, in camel case, with an entry's CIDR as `cidr` or `Cidr`.
REQUEST_KEYS = {
    MODIFY_PREFIX_LIST: ("ModifyManagedPrefixListRequest", "modifyManagedPrefixListRequest"),
    RESTORE_PREFIX_LIST: ("RestoreManagedPrefixListVersionRequest", "restoreManagedPrefixListVersionRequest"),
}
LIST_ID_KEYS = ("PrefixListId", "prefixListId")
ADD_KEYS = ("AddEntry", "addEntry", "AddEntries", "addEntries")
REMOVE_KEYS = ("RemoveEntry", "removeEntry", "RemoveEntries", "removeEntries")
VERSION_KEYS = ("PreviousVersion", "previousVersion")
CIDR_KEYS = ("cidr", "Cidr")
STILL_HELD = (
    "the remediator does not change prefix lists (a list may be shared with other accounts, or serve routes "
    "too), so removing the entry from the list is for the list's owner"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefixListEdit:
    """What a prefix-list call asked for: the list, the CIDRs it added and removed, the version it restored.

    `skipped` names each part that could not be read.
    """

    event_name: str
    prefix_list_id: str | None
    added: tuple[str, ...]
    removed: tuple[str, ...]
    restored_version: str | None
    skipped: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Opening:
    """The list as judged: its entries now, and the open ones that made its rules open (with how they are known)."""

    prefix_list: PrefixListInfo
    open_entries: tuple[str, ...]
    # Added by this call (a ModifyManagedPrefixList read in full), rather than found in the list as it is now.
    added_by_call: bool
    notes: tuple[str, ...] = ()


def first_of(data: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, object] | None:
    """The first of the keys that `data` has, with its value."""
    return next(((key, data[key]) for key in keys if key in data), None)


def cidrs_of(body: dict[str, Any], keys: tuple[str, ...], where: str, reader: Reader) -> tuple[str, ...]:
    """The CIDRs of the entry list under the first of `keys` (one object or several), each read on its own."""
    found = first_of(body, keys)
    if found is None:
        return ()
    key, value = found
    cidrs: list[str] = []
    for place, item in reader.items(value, f"{where}.{key}"):
        cidr = next((text(item[k]) for k in CIDR_KEYS if k in item), None) if isinstance(item, dict) else None
        if cidr:
            cidrs.append(cidr)
        else:
            reader.skip(place, "no readable cidr")
    return tuple(cidrs)


def list_id_of_response(response: object) -> str | None:
    """The list id of the response (`{...Response: {prefixList: {prefixListId}}}`), where the request gave none."""
    if not isinstance(response, dict):
        return None
    for value in (response, *response.values()):
        listed = value.get("prefixList") if isinstance(value, dict) else None
        if isinstance(listed, dict):
            return text(listed.get("prefixListId"))
    return None


def read_edit(record: dict[str, Any], event_name: str) -> PrefixListEdit:
    """The prefix-list call of a CloudTrail record, read part by part in either spelling of its request."""
    reader = Reader()
    request = record.get("requestParameters")
    if not isinstance(request, dict):
        reader.skip("requestParameters", f"a JSON {type(request).__name__}, not an object")
        request = {}
    where = "requestParameters"
    body: object = request
    wrapped = first_of(request, REQUEST_KEYS.get(event_name, ()))
    if wrapped is not None:
        where = f"requestParameters.{wrapped[0]}"
        body = wrapped[1]
    if not isinstance(body, dict):
        reader.skip(where, f"a JSON {type(body).__name__}, not an object")
        body = {}
    given = first_of(body, LIST_ID_KEYS)
    list_id = text(given[1]) if given is not None else None
    if list_id is None:
        list_id = list_id_of_response(record.get("responseElements"))
    if list_id is None:
        reader.skip(f"{where}.PrefixListId", "missing or not text")
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    version: str | None = None
    if event_name == MODIFY_PREFIX_LIST:
        added = cidrs_of(body, ADD_KEYS, where, reader)
        removed = cidrs_of(body, REMOVE_KEYS, where, reader)
    else:
        found = first_of(body, VERSION_KEYS)
        version = text(found[1]) if found is not None else None
    return PrefixListEdit(
        event_name=event_name,
        prefix_list_id=list_id,
        added=added,
        removed=removed,
        restored_version=version,
        skipped=tuple(reader.skipped),
    )


def opening_of(edit: PrefixListEdit, info: PrefixListInfo, settings: Settings) -> Opening:
    """The entries that make the list's rules open: the open ones the call added, or for a restore the list's.

    An open entry the call added that the list as read does not show is judged present: the change may not have
    completed yet (AWS applies it asynchronously), and a hole left open costs more than a rule closed by mistake.
    """
    thresholds = settings.thresholds
    current_open = tuple(cidr for cidr in info.cidrs if cidr_is_open(cidr, thresholds))
    if edit.event_name == RESTORE_PREFIX_LIST or edit.skipped:
        return Opening(prefix_list=info, open_entries=current_open, added_by_call=False)
    added_open = tuple(cidr for cidr in edit.added if cidr_is_open(cidr, thresholds))
    missing = tuple(cidr for cidr in added_open if cidr not in info.cidrs)
    notes = tuple(
        f"the list as read did not show {cidr}, which this call added (the change may still have been in "
        "progress, or the entry was removed since): the rules were judged with it"
        for cidr in missing
    )
    judged = replace(info, cidrs=(*info.cidrs, *missing))
    return Opening(prefix_list=judged, open_entries=added_open, added_by_call=True, notes=notes)


def refused(
    call: SecurityGroupCall, edit: PrefixListEdit | None, reason: str, *, settings: Settings, aws: Aws, now: datetime
) -> dict[str, Any]:
    """A prefix-list event the remediator cannot act on: a WARNING, a metric, and a notification."""
    list_id = edit.prefix_list_id if edit is not None else None
    skipped = list(edit.skipped) if edit is not None else []
    log_warning("refused", event_id=call.event_id, prefix_list_id=list_id, reason=reason, skipped=skipped)
    emit({Metric.EVENTS_REFUSED: 1}, settings.default_mode.value, now)
    notification = refusal_notification(call, list_id, reason, tuple(skipped))
    notified = reporting.publish(notification, settings.topic_arn, aws, event_id=call.event_id)
    return {
        "event_id": call.event_id,
        "status": Status.REFUSED.value,
        "reason": reason,
        "prefix_list_id": list_id,
        "notified": notified,
    }


def refusal_notification(
    call: SecurityGroupCall, list_id: str | None, reason: str, skipped: tuple[str, ...]
) -> Notification:
    """The message about a prefix-list event that was refused: nothing was checked or changed."""
    named = list_id or "unknown"
    lines = [
        f"sg-remediator refused an event that changed prefix list {named}: {reason}.",
        "Nothing was checked or changed: the security-group rules that reference the list may be open. Check the "
        "list's entries and the groups that use it by hand, or run `python -m remediator scan` with credentials of "
        "the account and region the event names.",
        "",
        *reporting.call_facts(call, skipped),
    ]
    return Notification(
        subject=reporting.subject_line(f"[sg-remediator] refused an event on prefix list {named}: {reason}"),
        body="\n".join(lines),
        attributes={"action": Status.REFUSED.value, "prefix_list_id": named},
    )


def remove_command(list_id: str, cidrs: tuple[str, ...], region: str | None) -> str:
    """The AWS CLI command that removes the open entries from the list (for its owner to run), for a POSIX shell."""
    entries = " ".join(shlex.quote(f"Cidr={cidr}") for cidr in cidrs)
    command = f"aws ec2 modify-managed-prefix-list --prefix-list-id {shlex.quote(list_id)} --remove-entries {entries}"
    return command + (f" --region {shlex.quote(region)}" if region else "")


def edit_lines(report: EventReport, opening: Opening, edit: PrefixListEdit) -> list[str]:
    """What the prefix-list edit did and why the group's rules were judged: the lines before the event's body."""
    list_id = opening.prefix_list.prefix_list_id
    entries = reporting.listed(opening.open_entries)
    caller = report.actor.principal_arn or "an unknown principal"
    if edit.event_name == RESTORE_PREFIX_LIST:
        version = f" version {edit.restored_version}" if edit.restored_version else " an earlier version"
        what = f"Prefix list {list_id} was restored to{version} by {caller} ({edit.event_name}): it now holds {entries}"
    elif opening.added_by_call:
        what = f"Prefix list {list_id} was edited by {caller} ({edit.event_name}): the call added {entries}"
    else:
        what = (
            f"Prefix list {list_id} was edited by {caller} ({edit.event_name}); the call could not be read in full, "
            f"and the list now holds {entries}"
        )
    return [
        f"{what}, open to the internet. Every security-group rule that references the list now lets it in on the "
        "rule's ports, with no security-group call: the rules of this group that reference the list were judged "
        "as if just added, by the group's policy.",
        f"The list itself still holds {entries}: {STILL_HELD}. Until it is removed, a rule on the list in any "
        "group lets the internet in. The command the owner would run:",
        f"    {remove_command(list_id, opening.open_entries, report.region)}",
        *[f"Note: {note}." for note in opening.notes],
        "",
    ]


def edit_notification(report: EventReport, opening: Opening, edit: PrefixListEdit) -> Notification | None:
    """The message about one group's rules on the edited list: the edit, then the event's report of the group."""
    base = reporting.event_notification(report)
    if base is None:
        return None
    lines = edit_lines(report, opening, edit)
    chat = base.chat
    if chat is not None:
        content = chat["content"]
        description = "\n".join([*lines[:2], content["description"]])
        limit = reporting.CHAT_DESCRIPTION_LIMIT
        if len(description) > limit:
            description = description[: limit - 3] + "..."
        chat = {**chat, "content": {**content, "description": description}}
    list_id = opening.prefix_list.prefix_list_id
    return Notification(
        # Terse: SNS takes 100 characters, and a longer subject is cut at its end.
        subject=reporting.subject_line(
            f"[sg-remediator] {reporting.headline(report)} in {report.group.group_id}: "
            f"{', '.join(opening.open_entries)} in {list_id}"
        ),
        body="\n".join([*lines, base.body]),
        attributes={**base.attributes, "prefix_list_id": list_id},
        chat=chat,
    )


def checked_notification(call: SecurityGroupCall, edit: PrefixListEdit, checked: str) -> Notification:
    """The message about an event read in part that opened nothing: what was not read, and what was checked."""
    list_id = edit.prefix_list_id or "unknown"
    lines = [
        f"sg-remediator could not read all of an event that changed prefix list {list_id}, so it checked the list "
        f"as it is now: {checked}. Nothing was changed.",
        "",
        f"Account:   {call.account or 'unknown'}",
        f"Region:    {call.region or 'unknown'}",
        f"Call:      {call.event_name} at {call.actor.event_time or 'unknown time'} (event {call.event_id})",
        f"By:        {call.actor.principal_arn or 'unknown principal'}",
        "",
        *[f"Not read: {note}" for note in edit.skipped],
    ]
    return Notification(
        subject=reporting.subject_line(f"[sg-remediator] read in part an event on prefix list {list_id}: clean"),
        body="\n".join(lines),
        attributes={"action": Status.CLEAN.value, "prefix_list_id": list_id},
    )


def list_entries(group: GroupState, list_id: str) -> tuple[RuleEntry, ...]:
    """The group's ingress entries that let traffic in from the list."""
    return tuple(e for e in group.ingress if e.source.kind == SourceKind.PREFIX_LIST and e.source.value == list_id)


def plans_of(
    groups: dict[str, GroupState], opening: Opening, criteria: Criteria, now: datetime, aws: Aws
) -> dict[str, list[Planned]]:
    """Each group's plan for its rules on the list, the list judged with its entries as in `opening`."""
    lists = {opening.prefix_list.prefix_list_id: opening.prefix_list}
    plans: dict[str, list[Planned]] = {}
    for group_id, group in groups.items():
        entries = list_entries(group, opening.prefix_list.prefix_list_id)
        # A narrow group may narrow to allowed prefix lists: those are read once, for the groups that need them.
        wanted = narrowing_prefix_lists(group, entries, criteria=criteria, now=now, prefix_lists=lists)
        if wanted:
            lists = {**lists, **aws.prefix_lists(wanted)}
        planned = plan_group(group, entries, criteria=criteria, now=now, prefix_lists=lists)
        if planned:
            plans[group_id] = planned
    return plans


def remediate_edit(event: object, settings: Settings, aws: Aws, now: datetime, *, home: Home) -> dict[str, Any]:
    """Judge, act on and notify the rules that a prefix-list edit opened; returns a JSON-serialisable summary."""
    call = read_call(event)
    found = cloudtrail_record(event)
    if isinstance(call, Unreadable) or isinstance(found, Unreadable):
        return ignored("unknown", call.reason if isinstance(call, Unreadable) else "no CloudTrail record")
    if call.event_name not in PREFIX_LIST_EVENTS:
        return ignored(call.event_id, f"event {call.event_name} is not one of {', '.join(PREFIX_LIST_EVENTS)}")
    if call.error_code:
        return ignored(call.event_id, f"the call failed ({call.error_code}), so it changed nothing")
    edit = read_edit(found[0], call.event_name)
    reason = elsewhere(call, home)
    if reason is not None:
        return refused(call, edit, reason, settings=settings, aws=aws, now=now)
    if edit.prefix_list_id is None:
        reason = "the event names no prefix list that could be read"
        return refused(call, edit, reason, settings=settings, aws=aws, now=now)
    if edit.skipped:
        log_warning(
            "event read in part", event_id=call.event_id, prefix_list_id=edit.prefix_list_id, notes=edit.skipped
        )
    thresholds = settings.thresholds
    added_open = any(cidr_is_open(cidr, thresholds) for cidr in edit.added)
    if edit.event_name == MODIFY_PREFIX_LIST and not edit.skipped and not added_open:
        # Nothing open was added: no rule on the list is more open than before, so no call is made.
        log_event("no open entry added", event_id=call.event_id, prefix_list_id=edit.prefix_list_id)
        return clean(call, edit, "no entry it added is open to the internet")
    info = aws.prefix_lists([edit.prefix_list_id]).get(edit.prefix_list_id)
    if info is None:
        # A list that is referenced cannot be deleted: one that is gone opens nothing.
        return ignored(call.event_id, f"prefix list {edit.prefix_list_id} no longer exists")
    if info.aws_managed:
        return ignored(call.event_id, f"prefix list {edit.prefix_list_id} is AWS-managed: no one's edit opens it")
    opening = opening_of(edit, info, settings)
    if not opening.open_entries:
        log_event("no open entry", event_id=call.event_id, prefix_list_id=info.prefix_list_id)
        return clean(call, edit, "it holds no entry open to the internet", settings=settings, aws=aws)
    group_ids = aws.prefix_list_associations(info.prefix_list_id, owner=call.account or home.account)
    groups = aws.groups_by_id(group_ids)
    criteria = Criteria.of(settings, caller=call.actor.principal_arn)
    plans = plans_of(groups, opening, criteria, now, aws)
    if not plans:
        log_event("no risky rule on the list", event_id=call.event_id, prefix_list_id=info.prefix_list_id)
        checked = (
            f"it holds {reporting.listed(opening.open_entries)}, but no rule on the list in the "
            f"{reporting.counted(len(groups), 'security group')} that reference it lets in a risky port"
        )
        return clean(call, edit, checked, settings=settings, aws=aws)
    closing = [gid for gid, planned in plans.items() if any(p.decision.action in CLOSING for p in planned)]
    if not settings.dry_run and closing:
        # One paged describe for every group to close, not one per group: rules listed by describe have no ids.
        current = aws.ingress_rules_of(closing)
        plans = {gid: with_rule_ids(planned, gid, aws, current=current.get(gid, ())) for gid, planned in plans.items()}
    # Every group's holes are closed first; the notifications follow, none of which may delay a revoke.
    acted = {gid: tuple(act(groups[gid], planned, settings.dry_run, aws)) for gid, planned in plans.items()}
    results = [
        notify_group(call, edit, opening, groups[gid], findings, settings=settings, aws=aws, now=now, home=home)
        for gid, findings in acted.items()
    ]
    outcomes = [f.outcome for findings in acted.values() for f in findings]
    return {
        "event_id": call.event_id,
        "status": reporting.status_of(outcomes, dry_run=settings.dry_run).value,
        "prefix_list_id": info.prefix_list_id,
        "open_entries": list(opening.open_entries),
        "notified": any(result["notified"] for result in results),
        "groups": results,
    }


def clean(
    call: SecurityGroupCall,
    edit: PrefixListEdit,
    checked: str,
    *,
    settings: Settings | None = None,
    aws: Aws | None = None,
) -> dict[str, Any]:
    """The summary of an edit that opened no risky rule; an event read in part is still told (it was checked)."""
    notified = False
    if edit.skipped and settings is not None and aws is not None:
        notification = checked_notification(call, edit, checked)
        notified = reporting.publish(notification, settings.topic_arn, aws, event_id=call.event_id)
    return {
        "event_id": call.event_id,
        "status": Status.CLEAN.value,
        "prefix_list_id": edit.prefix_list_id,
        "reason": checked,
        "notified": notified,
        "groups": [],
    }


def notify_group(
    call: SecurityGroupCall,
    edit: PrefixListEdit,
    opening: Opening,
    group: GroupState,
    findings: tuple[Finding, ...],
    *,
    settings: Settings,
    aws: Aws,
    now: datetime,
    home: Home,
) -> dict[str, Any]:
    """Log, tell and report what became of one group's rules on the list.

    One message per group, not one per event: each group has its own policy, restore commands, users and contact
    tag, by which a team's subscription filter picks its own groups' messages.
    """
    report = reporting.event_report(
        call,
        group,
        findings,
        dry_run=settings.dry_run,
        notes=edit.skipped,
        acted_at=now,
        home_region=home.region,
        contact=group.tags.get(settings.contact_tag),
    )
    for finding in findings:
        log_decision(call.event_id, group.group_id, finding, prefix_list_id=opening.prefix_list.prefix_list_id)
    if reporting.needs_notification(report) and settings.topic_arn is not None:
        report = with_interfaces(report, aws)
    notification = edit_notification(report, opening, edit)
    notified = reporting.publish(notification, settings.topic_arn, aws, event_id=call.event_id)
    emit(reporting.metric_counts(Counter(f.outcome for f in findings)), findings[0].decision.mode.value, now)
    result = {**summary(report, notified), "prefix_list_id": opening.prefix_list.prefix_list_id}
    report_elsewhere(report, result, settings, aws, now=now, home=home)
    return result
