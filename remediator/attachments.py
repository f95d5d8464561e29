"""An open group put to use: the groups an attaching call names, their risky rules judged as existing rules."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from remediator import report as reporting
from remediator.effects import Aws
from remediator.engine import Criteria, Finding, Planned, act_by_content, plan_entries
from remediator.event_names import ASSOCIATE_VPC, CREATE_INTERFACE, MODIFY_INSTANCE, MODIFY_INTERFACE, RUN_INSTANCES
from remediator.events import Actor, SecurityGroupCall, Unreadable, cloudtrail_record, read_call, text, unwrap_items
from remediator.inventory import rule_order
from remediator.log import log_event, log_warning
from remediator.metrics import Metric, emit
from remediator.model import ACTING_MODES, GroupState, Outcome
from remediator.remediate import Home, elsewhere, existing_findings, ignored, log_decision, report_elsewhere, summary
from remediator.report import SWEEP_MODE_SETTING, EventReport, Notification, Status
from remediator.settings import Settings
from remediator.state import notice_key

# The keys under which the calls' records list security groups: CloudTrail's groupSet, and the SDK spellings of
# the newer shapes (a list of ids, or of objects that name one).
GROUP_LIST_KEYS = ("groupSet", "securityGroupIdSet", "securityGroupId", "SecurityGroupId", "securityGroupIds")
GROUP_ID_KEYS = ("groupId", "GroupId", "securityGroupId", "SecurityGroupId")


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """What an attaching call put to use: the groups it named, what it attached them to, and what was not read.

    `changes_groups` is False for a Modify…Attribute call that changed another attribute (none of ours).
    """

    group_ids: tuple[str, ...]
    targets: tuple[str, ...]
    notes: tuple[str, ...]
    changes_groups: bool = True


class Notice(StrEnum):
    """Whether a person is told about a group today: the state table's answer, or why it has none."""

    FIRST = "first"  # recorded now: the first notice about the group today
    ALREADY_SENT = "already-sent"  # one was sent today: this attachment is only logged
    UNKNOWN = "unknown"  # the state table could not be read or written
    UNTRACKED = "untracked"  # no state table is set


@dataclass(frozen=True, slots=True, kw_only=True)
class Judged:
    """One attached group with risky rules: its report, and whether anyone should hear of it."""

    report: EventReport

    @property
    def worth_telling(self) -> bool:
        """Opt-outs are only logged, as for new rules and the sweep."""
        return any(finding.outcome != Outcome.IGNORED for finding in self.report.findings)


class Ids:
    """The group ids of one record, in the order first seen, and a note for each one that could not be used."""

    def __init__(self) -> None:
        self.found: dict[str, None] = {}
        self.notes: list[str] = []

    def add(self, value: object, where: str) -> None:
        """One element of a group list: an id, or an object that names one (by id; a name alone is not used)."""
        if isinstance(value, dict):
            named = next((value[key] for key in GROUP_ID_KEYS if key in value), None)
            if named is None:
                name = text(value.get("groupName"))
                why = f"names group {name!r} by name only" if name else "names no group id"
                self.notes.append(f"{where}: {why}; skipped")
                return
            value = named
        group_id = text(value)
        if group_id is None or not group_id.startswith("sg-"):
            self.notes.append(f"{where}: {group_id or type(value).__name__!r} is not a security group id; skipped")
            return
        self.found.setdefault(group_id, None)

    def read(self, holder: object, where: str) -> None:
        """The groups an object of the record lists under any of the group keys."""
        if not isinstance(holder, dict):
            return
        for key in GROUP_LIST_KEYS:
            if key in holder:
                for place, item in elements(holder[key], f"{where}.{key}", self.notes):
                    self.add(item, place)


def elements(value: object, where: str, notes: list[str]) -> list[tuple[str, object]]:
    """The elements of a CloudTrail list ({"items": [...]}, a list, one bare object or value, none), with places."""
    found = unwrap_items(value)
    if isinstance(found, list | tuple):
        return [(f"{where}[{index}]", item) for index, item in enumerate(found)]
    if isinstance(found, str):
        return [(where, found)]
    notes.append(f"{where}: a JSON {type(found).__name__} where a list was expected; skipped")
    return []


def as_object(value: object) -> dict[str, Any]:
    """A part of the record that should be an object, or {} (a missing or odd part names nothing)."""
    return value if isinstance(value, dict) else {}


def read_attachment(event_name: str, record: dict[str, Any]) -> Attachment:
    """The groups the call attached and to what, from its request and (where it has one) its response."""
    request = as_object(record.get("requestParameters"))
    response = as_object(record.get("responseElements"))
    ids = Ids()
    targets: list[str] = []
    if event_name == RUN_INSTANCES:
        ids.read(request, "requestParameters")
        for place, interface in elements(
            request.get("networkInterfaceSet"), "requestParameters.networkInterfaceSet", ids.notes
        ):
            ids.read(interface, place)
        for place, item in elements(response.get("instancesSet"), "responseElements.instancesSet", ids.notes):
            instance = as_object(item)
            ids.read(instance, place)
            interfaces: list[str] = []
            for where, interface in elements(instance.get("networkInterfaceSet"), f"{place}.networkInterfaceSet", []):
                ids.read(interface, where)
                interfaces += filter(None, [text(as_object(interface).get("networkInterfaceId"))])
            instance_id = text(instance.get("instanceId"))
            if instance_id:
                named = f" (network interface {', '.join(interfaces)})" if interfaces else ""
                targets.append(f"instance {instance_id}{named}")
        if not targets:
            targets.append("the instances this call launched (the event gives no instance id)")
    elif event_name == CREATE_INTERFACE:
        ids.read(request, "requestParameters")
        interface = as_object(response.get("networkInterface"))
        ids.read(interface, "responseElements.networkInterface")
        interface_id = text(interface.get("networkInterfaceId"))
        targets.append(
            f"network interface {interface_id}"
            if interface_id
            else "the network interface this call created (the event gives no id)"
        )
    elif event_name in (MODIFY_INTERFACE, MODIFY_INSTANCE):
        if not any(key in request for key in GROUP_LIST_KEYS):
            # Another attribute (instanceType, sourceDestCheck, …): the groups in use did not change.
            return Attachment(group_ids=(), targets=(), notes=(), changes_groups=False)
        ids.read(request, "requestParameters")
        kind, key = (
            ("network interface", "networkInterfaceId")
            if event_name == MODIFY_INTERFACE
            else ("instance", "instanceId")
        )
        targets.append(f"{kind} {text(request.get(key)) or '(its id is not in the event)'}")
    elif event_name == ASSOCIATE_VPC:
        associate = as_object(
            request.get("AssociateSecurityGroupVpcRequest", request.get("associateSecurityGroupVpcRequest", request))
        )
        for key in GROUP_ID_KEYS:
            if key in associate:
                ids.add(associate[key], f"requestParameters.AssociateSecurityGroupVpcRequest.{key}")
        vpc_id = text(associate.get("VpcId", associate.get("vpcId")))
        targets.append(f"VPC {vpc_id}" if vpc_id else "a VPC (its id is not in the event)")
    return Attachment(group_ids=tuple(ids.found), targets=tuple(targets), notes=tuple(ids.notes))


def check_attachment(
    event: object, settings: Settings, aws: Aws, now: datetime, *, home: Home | None = None
) -> dict[str, Any]:
    """Judge the risky rules of each group the call attached as existing rules; tell people once a group and day."""
    call = read_call(event)
    found = cloudtrail_record(event)
    if isinstance(call, Unreadable) or isinstance(found, Unreadable):
        return ignored("unknown", call.reason if isinstance(call, Unreadable) else "the event is not a record")
    if call.error_code:
        return ignored(call.event_id, f"the call failed ({call.error_code}), so it attached nothing")
    attachment = read_attachment(call.event_name, found[0])
    if not attachment.changes_groups:
        return ignored(call.event_id, f"{call.event_name} changed another attribute, not the security groups")
    home = home or Home(region=aws.ec2.meta.region_name, account=None)
    reason = elsewhere(call, home)
    if reason is None and not attachment.group_ids:
        reason = "the event names no security group id that could be read, so the attached groups are not known"
    if reason is not None:
        return refused(call, attachment, reason, settings, aws, now=now)
    if attachment.notes:
        log_warning("event read in part", event_id=call.event_id, notes=list(attachment.notes))
    groups = aws.groups_by_id(attachment.group_ids)
    gone = [group_id for group_id in attachment.group_ids if group_id not in groups]
    if not groups:
        # Nothing is open in a group that is not there.
        return ignored(call.event_id, f"security group {', '.join(gone)} no longer exists")
    criteria = Criteria.of(settings, caller=call.actor.principal_arn)
    notes = (*attachment.notes, *(f"security group {group_id} no longer exists; skipped" for group_id in gone))
    # Every hole is closed first; the state table and the messages come after, so that they never delay a revoke.
    judged = [
        judge(call, group, plans, settings, aws, now=now, notes=notes, home=home)
        for group in sorted(groups.values(), key=lambda group: group.group_id)
        if (plans := plan_entries(group, group.ingress, criteria=criteria, now=now, aws=aws))
    ]
    if not judged:
        log_event("no risky entry", event_id=call.event_id, groups=sorted(groups), targets=list(attachment.targets))
        return {
            "event_id": call.event_id,
            "status": Status.CLEAN.value,
            "groups": [],
            "targets": list(attachment.targets),
        }
    results = [tell(one, attachment, settings, aws, now) for one in judged]
    outcomes = Counter(finding.outcome for one in judged for finding in one.report.findings)
    emit(reporting.metric_counts(outcomes), settings.sweep_mode.value, now)
    for one, result in zip(judged, results, strict=True):
        report_elsewhere(one.report, result, settings, aws, now=now, home=home)
    return {
        "event_id": call.event_id,
        "status": reporting.status_of(outcomes.elements(), dry_run=settings.dry_run).value,
        "sweep_mode": settings.sweep_mode.value,
        "targets": list(attachment.targets),
        "notes": list(notes),
        "groups": results,
    }


def judge(
    call: SecurityGroupCall,
    group: GroupState,
    plans: list[Planned],
    settings: Settings,
    aws: Aws,
    *,
    now: datetime,
    notes: tuple[str, ...],
    home: Home,
) -> Judged:
    """The group's risky rules judged as the sweep judges existing rules: reported, or the group's policy applied."""
    plans = sorted(plans, key=rule_order)
    findings: list[Finding]
    if settings.sweep_mode not in ACTING_MODES:
        findings = existing_findings(plans, settings.sweep_mode)
    else:
        # As the sweep acts: the rules come from the group's listing, so they are revoked by content in one call,
        # with no rule-id lookup before it.
        findings = act_by_content(group, plans, settings.dry_run, aws)
    for finding in findings:
        log_decision(call.event_id, group.group_id, finding)
    report = reporting.event_report(
        call,
        group,
        tuple(findings),
        dry_run=settings.dry_run,
        notes=notes,
        acted_at=now,
        home_region=home.region,
        contact=group.tags.get(settings.contact_tag),
    )
    return Judged(report=report)


def tell(one: Judged, attachment: Attachment, settings: Settings, aws: Aws, now: datetime) -> dict[str, Any]:
    """Notify about the group unless it is opted out or was reported today; the group's summary."""
    report = one.report
    notice: Notice | None = None
    notified = False
    if one.worth_telling:
        notice = notice_of(report, settings, aws, now)
        if notice == Notice.ALREADY_SENT:
            log_event("already reported today", event_id=report.event_id, group_id=report.group.group_id)
        else:
            notification = attachment_notification(report, attachment, notice, settings)
            notified = reporting.publish(notification, settings.topic_arn, aws, event_id=report.event_id)
    return {**summary(report, notified), "notice": notice.value if notice else None}


def notice_of(report: EventReport, settings: Settings, aws: Aws, now: datetime) -> Notice:
    """Record today's notice about the group in the state table: first, already sent, or unknown (no table)."""
    if settings.state_table is None:
        return Notice.UNTRACKED
    try:
        first = aws.first_notice(settings.state_table, notice_key(report.group.group_id, now), now)
    except (ClientError, BotoCoreError) as error:
        # The holes are closed already: a table that cannot be reached costs a repeated message at worst.
        log_warning(
            "state table unavailable",
            event_id=report.event_id,
            group_id=report.group.group_id,
            table=settings.state_table,
            reason=" ".join(str(error).split()),
        )
        return Notice.UNKNOWN
    return Notice.FIRST if first else Notice.ALREADY_SENT


def refused(
    call: SecurityGroupCall, attachment: Attachment, reason: str, settings: Settings, aws: Aws, *, now: datetime
) -> dict[str, Any]:
    """An attaching call the remediator cannot check: a WARNING, a metric, and a notification."""
    log_warning("refused", event_id=call.event_id, reason=reason, skipped=list(attachment.notes))
    emit({Metric.EVENTS_REFUSED: 1}, settings.sweep_mode.value, now)
    notification = refusal_notification(call, attachment, reason)
    notified = reporting.publish(notification, settings.topic_arn, aws, event_id=call.event_id)
    return {
        "event_id": call.event_id,
        "status": Status.REFUSED.value,
        "reason": reason,
        "groups": list(attachment.group_ids),
        "notified": notified,
    }


# ---- The notifications of an attachment: the event's notification, headed by what the attaching call did ----------


def targets_text(targets: Iterable[str]) -> str:
    """What the call attached the group to, in a sentence: `instance i-1 and instance i-2`."""
    return reporting.listed(targets)


def short_target(target: str) -> str:
    """A target as the subject names it: its id alone (`i-1`), else its whole text."""
    return next((word for word in target.split() if word.startswith(("i-", "eni-", "vpc-"))), target)


def caller_text(actor: Actor) -> str:
    """Who made the call: the principal, with the user agent and the service that called for it, where known."""
    about = [
        f"using {actor.user_agent}" if actor.user_agent else "",
        f"invoked by {actor.invoked_by}" if actor.invoked_by else "",
    ]
    extra = ", ".join(part for part in about if part)
    return (actor.principal_arn or "an unknown principal") + (f" ({extra})" if extra else "")


def done_text(findings: Iterable[Finding]) -> str:
    """What became of the rules, in the outcome words: `1 rule revoked`, `2 rules left open (notify mode)`."""
    counts = Counter(finding.outcome for finding in findings)
    return reporting.listed(
        f"{reporting.counted(count, 'rule')} {reporting.OUTCOME_TEXT[outcome]}" for outcome, count in counts.items()
    )


def sweep_mode_text(settings: Settings) -> str:
    """How the rules were judged: as existing rules, by REMEDIATOR_SWEEP_MODE."""
    mode = settings.sweep_mode.value
    judged = (
        "as existing rules (this call did not add them), as the scheduled sweep judges a group: "
        f"REMEDIATOR_SWEEP_MODE is {mode} ({SWEEP_MODE_SETTING})"
    )
    if settings.sweep_mode in ACTING_MODES:
        return f"{judged}, so the group's policy (its remediator: tags, else the default mode) was applied."
    return f"{judged}, so they were reported and left open; sweep_mode revoke or narrow applies the group's policy."


def notice_text(notice: Notice, settings: Settings) -> str:
    """What the notification says about being told once a group and day."""
    if notice == Notice.FIRST:
        return (
            "this is the first message about this group today (UTC): further attachments of it today are only logged."
        )
    if notice == Notice.UNKNOWN:
        return (
            f"it is unknown whether this group was already reported today: the state table {settings.state_table} "
            "could not be reached, so this message may repeat an earlier one."
        )
    return (
        "no state table is set (REMEDIATOR_STATE_TABLE), so the remediator cannot know whether this group was "
        "already reported today: every attachment of it is reported."
    )


def attachment_notification(
    report: EventReport, attachment: Attachment, notice: Notice, settings: Settings
) -> Notification:
    """The message about an open group just put to use: where, by whom, how judged, what was done, then the rules."""
    group = report.group
    where = targets_text(attachment.targets)
    head = [
        f"Security group {group.group_id} ({group.group_name}), which lets the internet reach "
        f"{reporting.ports_phrase(f.entry for f in report.findings)}, was just attached to {where} by "
        f"{report.actor.principal_arn or 'an unknown principal'}: its exposure is real now (a group not in use "
        "is a risk because it gets attached later, by mistake).",
        "",
        f"Attached:  {where} ({report.event_name})",
        f"By:        {caller_text(report.actor)}",
        f"Judged:    {sweep_mode_text(settings)}",
        f"Done:      {done_text(report.findings)}",
        f"Notice:    {notice_text(notice, settings)}",
        "",
    ]
    chat = reporting.event_chat(report)
    content = chat["content"]
    lead = f"Just attached to {where} by `{report.actor.principal_arn or 'unknown principal'}`. "
    content["description"] = (lead + content["description"])[: reporting.CHAT_DESCRIPTION_LIMIT]
    first = short_target(attachment.targets[0]) if len(attachment.targets) == 1 else "several"
    return Notification(
        subject=reporting.subject_line(
            f"[sg-remediator] {reporting.headline(report)}: {group.group_id} just attached to {first}"
        ),
        body="\n".join([*head, reporting.body(report)]),
        attributes={**reporting.attributes(report), "event": "attachment"},
        chat=chat,
    )


def refusal_notification(call: SecurityGroupCall, attachment: Attachment, reason: str) -> Notification:
    """The message about an attaching call whose groups could not be checked: nothing was checked or changed."""
    where = targets_text(attachment.targets) or "something"
    groups = ", ".join(attachment.group_ids) or "unknown"
    lines = [
        f"sg-remediator could not check the security groups that {call.event_name} attached to {where}: {reason}.",
        "Nothing was checked or changed: an open group may be in use now. Check the groups of what it names by "
        "hand, or run `python -m remediator scan` with credentials of the account and region the event names.",
        "",
        f"Groups:    {groups}",
        *reporting.call_facts(call, attachment.notes),
    ]
    return Notification(
        subject=reporting.subject_line(f"[sg-remediator] could not check the groups {call.event_name} attached"),
        body="\n".join(lines),
        attributes={"action": Status.REFUSED.value, "event": "attachment"},
        chat=reporting.chat_notification(
            title=f"sg-remediator could not check the groups {call.event_name} attached",
            description="\n".join(lines[:2]),
            next_steps=["Check the groups by hand, or run `python -m remediator scan`."],
            keywords=["sg-remediator", Status.REFUSED.value, call.event_name],
            summary=f"could not check the groups {call.event_name} attached",
        ),
    )
