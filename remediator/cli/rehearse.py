"""`replay --rehearse`: each event run on embedded AWS (moto), on a group created with the rules its call added."""

from __future__ import annotations

import argparse
import copy
import itertools
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from botocore.exceptions import ClientError

from remediator.cli.demo import body_lines, demo_environment, received, rule_text
from remediator.cli.output import CliError, aws_error_message, is_region_name
from remediator.cli.replay import (
    Bad,
    Failed,
    Job,
    Report,
    attempt,
    empty_text,
    first_jobs,
    jobs_from,
    readable,
)
from remediator.effects import CLIENT_CONFIG, Aws
from remediator.event_names import MODIFY_RULES
from remediator.events import SecurityGroupCall, unwrap_items
from remediator.log import diverted
from remediator.model import Outcome, RuleEntry, Source, SourceKind
from remediator.remediate import not_ours
from remediator.report import OUTCOME_TEXT
from remediator.settings import Settings

MISSING_MOTO = "--rehearse needs moto, a development dependency: `make demo` or `pip install moto` installs it"
# The region of a rehearsal whose event names none that is a region name (and no --region is given).
REHEARSAL_REGION = "eu-west-1"
# The keys whose values are ids of groups or rules, rewritten to the ids of the embedded ones.
ID_KEYS = frozenset(
    {"groupId", "GroupId", "securityGroupRuleId", "SecurityGroupRuleId", "referencedGroupId", "ReferencedGroupId"}
)
RULE_ARN_KEY = "securityGroupRuleArn"
PRESENT, ABSENT = "present", "-"
NOT_REHEARSED = "  not rehearsed: the remediator does not act on this event, so no group was created"
SOURCE_FIELDS = (
    ("CidrIpv4", SourceKind.IPV4),
    ("CidrIpv6", SourceKind.IPV6),
    ("PrefixListId", SourceKind.PREFIX_LIST),
    ("ReferencedGroupId", SourceKind.SECURITY_GROUP),
)


def rehearsal_region(call: SecurityGroupCall, override: str | None) -> str:
    """Where the event is rehearsed: --region, else the event's region when it is a region name, else eu-west-1."""
    if override:
        return override
    if call.region and is_region_name(call.region):
        return call.region
    return REHEARSAL_REGION


@dataclass
class Region:
    """One region of embedded AWS: its clients, the account, and a topic whose messages land in a queue."""

    name: str
    ec2: Any
    sqs: Any
    aws: Aws
    account: str
    topic_arn: str
    queue_url: str

    @classmethod
    def made(cls, name: str) -> Region:
        """The region's clients, and a topic subscribed to by a queue that the notifications are read back from."""
        ec2 = boto3.client("ec2", region_name=name, config=CLIENT_CONFIG)
        sns = boto3.client("sns", region_name=name, config=CLIENT_CONFIG)
        sqs = boto3.client("sqs", region_name=name, config=CLIENT_CONFIG)
        account = str(boto3.client("sts", region_name=name).get_caller_identity()["Account"])
        topic_arn = str(sns.create_topic(Name="sg-remediator-rehearsal")["TopicArn"])
        queue_url = str(sqs.create_queue(QueueName="sg-remediator-rehearsal-inbox")["QueueUrl"])
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=attributes["QueueArn"])
        return cls(name, ec2, sqs, Aws(ec2=ec2, sns=sns), account, topic_arn, queue_url)


@dataclass
class Setup:
    """A rehearsal's group on embedded AWS: its id and VPC, the event's ids mapped to the embedded ones, and notes."""

    group_id: str
    vpc_id: str
    ids: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class Wanted:
    """A rule the call added, to be created: the entry, and the id the event gives it (if any)."""

    entry: RuleEntry
    rule_id: str | None


def record_of(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The CloudTrail record of an EventBridge envelope, or the bare record itself."""
    detail = event.get("detail")
    return detail if isinstance(detail, Mapping) else event


def modified_rules(record: Mapping[str, Any]) -> tuple[list[Wanted], list[str]]:
    """The rules of a ModifySecurityGroupRules request as they are after the call, and what could not be read."""
    request = record.get("requestParameters")
    request = request if isinstance(request, Mapping) else {}
    modify = request.get("ModifySecurityGroupRulesRequest", request.get("modifySecurityGroupRulesRequest"))
    rules = unwrap_items(modify.get("SecurityGroupRule", modify.get("securityGroupRule"))) if modify else ()
    wanted: list[Wanted] = []
    notes: list[str] = []
    for rule in rules if isinstance(rules, list | tuple) else ():
        rule_id = rule.get("SecurityGroupRuleId") if isinstance(rule, Mapping) else None
        content = rule.get("SecurityGroupRule") if isinstance(rule, Mapping) else None
        entry = modified_entry(content) if isinstance(content, Mapping) else None
        if entry is None:
            notes.append(f"rule {rule_id}: the request gives no protocol and source for it, so it was not created")
            continue
        wanted.append(Wanted(entry=entry, rule_id=str(rule_id) if rule_id else None))
    return wanted, notes


def modified_entry(content: Mapping[str, Any]) -> RuleEntry | None:
    """The rule a modification describes (protocol, ports, one source), or None when it names no protocol or source."""
    protocol = content.get("IpProtocol")
    source = next(((kind, content[key]) for key, kind in SOURCE_FIELDS if content.get(key)), None)
    if not isinstance(protocol, str) or source is None:
        return None
    return RuleEntry(
        protocol=protocol,
        from_port=port_of(content.get("FromPort")),
        to_port=port_of(content.get("ToPort")),
        source=Source(kind=source[0], value=str(source[1])),
        description=str(content.get("Description") or "") or None,
        rule_id=None,
    )


def port_of(value: object) -> int | None:
    """A port as the request gives it (a number, or its text), or None."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return int(text) if text.lstrip("-").isdigit() else None


def permission_of(entry: RuleEntry, source: str) -> dict[str, Any]:
    """The boto3 IpPermissions element that creates the entry, from `source` (a group source already embedded)."""
    permission: dict[str, Any] = {"IpProtocol": entry.protocol}
    if entry.protocol != "-1" and entry.from_port is not None:
        permission["FromPort"] = entry.from_port
        permission["ToPort"] = entry.to_port if entry.to_port is not None else entry.from_port
    described = {"Description": entry.description} if entry.description else {}
    if entry.source.kind == SourceKind.IPV4:
        permission["IpRanges"] = [{"CidrIp": source, **described}]
    elif entry.source.kind == SourceKind.IPV6:
        permission["Ipv6Ranges"] = [{"CidrIpv6": source, **described}]
    elif entry.source.kind == SourceKind.PREFIX_LIST:
        permission["PrefixListIds"] = [{"PrefixListId": source, **described}]
    else:
        permission["UserIdGroupPairs"] = [{"GroupId": source, **described}]
    return permission


def made_group(region: Region, call: SecurityGroupCall, tags: Mapping[str, str], number: int) -> Setup:
    """The group the event names, created with the tags: in a VPC of its own, or the default VPC if only named."""
    ec2 = region.ec2
    spec = [{"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    if call.group_id:
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        name = call.group_name or f"rehearsal-{number}"
    else:
        # A group named without its id is looked up by name, which names a group of the default VPC only.
        [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        vpc_id, name = vpc["VpcId"], call.group_name or f"rehearsal-{number}"
        for old in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]:
            ec2.delete_security_group(GroupId=old["GroupId"])
    group_id = str(
        ec2.create_security_group(
            GroupName=name,
            Description=f"sg-remediator rehearsal of {call.group_id or call.group_name}",
            VpcId=vpc_id,
            TagSpecifications=spec if tags else [],
        )["GroupId"]
    )
    setup = Setup(group_id=group_id, vpc_id=vpc_id)
    if call.group_id:
        setup.ids[call.group_id] = group_id
    return setup


def embedded_source(region: Region, setup: Setup, entry: RuleEntry) -> str:
    """The entry's source on embedded AWS: a source group is the created group itself, or a stand-in made for it."""
    value = entry.source.value
    if entry.source.kind != SourceKind.SECURITY_GROUP:
        return value
    if value not in setup.ids:
        stand_in = region.ec2.create_security_group(
            GroupName=f"rehearsal-source-{len(setup.ids)}",
            Description=f"sg-remediator rehearsal: stands in for the source group {value}",
            VpcId=setup.vpc_id,
        )["GroupId"]
        setup.ids[value] = str(stand_in)
        setup.notes.append(f"the source group {value} is {stand_in} here, an empty group made to stand in for it")
    return setup.ids[value]


def set_up(region: Region, job: Job, tags: Mapping[str, str], number: int) -> tuple[Setup, dict[str, Any]]:
    """Create the event's group with the rules its call added; the setup, and the event rewritten to point at it."""
    call = job.call
    record = record_of(job.event) if isinstance(job.event, Mapping) else {}
    if call.event_name == MODIFY_RULES:
        wanted, notes = modified_rules(record)
    else:
        wanted, notes = [Wanted(entry=entry, rule_id=entry.rule_id) for entry in call.entries], []
    setup = made_group(region, call, tags, number)
    setup.notes += notes
    for rule in wanted:
        permission = permission_of(rule.entry, embedded_source(region, setup, rule.entry))
        answer = region.ec2.authorize_security_group_ingress(GroupId=setup.group_id, IpPermissions=[permission])
        created = answer.get("SecurityGroupRules", [])
        if rule.rule_id and created:
            setup.ids[rule.rule_id] = str(created[0]["SecurityGroupRuleId"])
    return setup, rewritten(job.event, setup.ids, region)


def with_ids(value: Any, ids: Mapping[str, str], region: Region) -> Any:
    """The JSON value with every group and rule id of `ids` replaced (in id fields and rule ARNs only)."""
    if isinstance(value, list):
        return [with_ids(item, ids, region) for item in value]
    if not isinstance(value, dict):
        return value
    found: dict[str, Any] = {}
    for key, item in value.items():
        if key in ID_KEYS and isinstance(item, str) and item in ids:
            found[key] = ids[item]
        elif key == RULE_ARN_KEY and isinstance(item, str) and item.rsplit("/", 1)[-1] in ids:
            rule_id = ids[item.rsplit("/", 1)[-1]]
            found[key] = f"arn:aws:ec2:{region.name}:{region.account}:security-group-rule/{rule_id}"
        else:
            found[key] = with_ids(item, ids, region)
    return found


def rewritten(event: object, ids: Mapping[str, str], region: Region) -> dict[str, Any]:
    """The event as if made in the embedded account and region, on the embedded group and rules."""
    copied = with_ids(copy.deepcopy(event), ids, region)
    record = copied["detail"] if isinstance(copied.get("detail"), dict) else copied
    record.update(awsRegion=region.name, recipientAccountId=region.account)
    if record is not copied:
        copied.update(region=region.name, account=region.account)
    result: dict[str, Any] = copied
    return result


def rows(before: Sequence[str], after: Sequence[str], summary: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each rule the group had before or has after the handler ran: present or not, and what happened to it."""
    findings = {f"{f['ports']} from {f['source']}": f for f in summary.get("findings", [])}
    table = [
        {
            "rule": rule,
            "before": PRESENT,
            "after": PRESENT if rule in after else ABSENT,
            "outcome": OUTCOME_TEXT[Outcome(findings[rule]["outcome"])] if rule in findings else "untouched",
        }
        for rule in before
    ]
    table += [
        {"rule": rule, "before": ABSENT, "after": PRESENT, "outcome": "added by narrowing"}
        for rule in after
        if rule not in before
    ]
    return table


def rehearsal_lines(rehearsal: Mapping[str, Any]) -> list[str]:
    """A person's reading of a rehearsal: where, the group and its tags, its rules before and after, notifications."""
    tags = "  ".join(f"{k}={v}" for k, v in rehearsal["tags"].items()) or "none"
    lines = [
        f"  rehearsed on embedded AWS (moto), account {rehearsal['account']}, region {rehearsal['region']}:",
        f"  group {rehearsal['group_id']} made for the event's {rehearsal['event_group']}, tags: {tags}",
    ]
    width = max([len("RULE"), *(len(row["rule"]) for row in rehearsal["rows"])]) + 2
    lines.append(f"  {'RULE':<{width}}{'BEFORE':<9}{'AFTER':<9}OUTCOME")
    lines += [f"  {r['rule']:<{width}}{r['before']:<9}{r['after']:<9}{r['outcome']}" for r in rehearsal["rows"]]
    lines += [f"  note: {note}" for note in rehearsal["notes"]]
    for message in rehearsal["notifications"]:
        lines += [f"  --- {message['subject']}", *body_lines(message["body"])]
    return lines


class Rehearsal:
    """One run of --rehearse: embedded AWS of each region used, the tags, the settings, and the report."""

    def __init__(self, settings: Settings, report: Report, tags: Mapping[str, str]) -> None:
        self.settings = settings
        self.report = report
        self.tags = dict(tags)
        self.regions: dict[str, Region] = {}
        self.count = 0

    def region(self, name: str) -> Region:
        """The embedded region, made when first used."""
        if name not in self.regions:
            self.regions[name] = Region.made(name)
        return self.regions[name]

    def failure(self, job: Job, message: str) -> None:
        """An event that could not be rehearsed: its one-line error."""
        self.report.failure(f"{job.described()}: {message}", {"event_id": job.call.event_id, "region": job.region})

    def event(self, job: Job) -> None:
        """Rehearse one event: set up its group, run the handler's logic on it, and print what happened."""
        self.count += 1
        region = self.region(job.region)
        settings = replace(self.settings, topic_arn=region.topic_arn)
        if not_ours(job.call) is not None:
            outcome = attempt(job, settings, region.aws)
            if isinstance(outcome, Failed):
                self.failure(job, outcome.message)
            else:
                self.report.result(job.call, {**outcome, "rehearsal": None}, extra=[NOT_REHEARSED])
            return
        try:
            setup, event = set_up(region, job, self.tags, self.count)
        except ClientError as error:
            self.failure(job, f"could not set up the rehearsal: {aws_error_message(error)[0]}")
            return
        call = readable(job.label, event)
        rehearsed = Job(label=job.label, event=event, call=call, region=region.name)
        before = [rule_text(entry) for entry in region.aws.ingress_rules(setup.group_id)]
        outcome = attempt(rehearsed, settings, region.aws)
        if isinstance(outcome, Failed):
            self.failure(rehearsed, outcome.message)
            return
        after = [rule_text(entry) for entry in region.aws.ingress_rules(setup.group_id)]
        rehearsal = {
            "account": region.account,
            "region": region.name,
            "group_id": setup.group_id,
            "event_group": job.call.group_id or job.call.group_name,
            "tags": self.tags,
            "before": before,
            "after": after,
            "rows": rows(before, after, outcome),
            "notes": setup.notes,
            "notifications": [
                {"subject": m["subject"], "body": m["body"]} for m in received(region.sqs, region.queue_url)
            ],
        }
        self.report.result(
            call, {**outcome, "rehearsal": rehearsal}, extra=rehearsal_lines(rehearsal), settings=settings
        )


def rehearse(names: Sequence[str], settings: Settings, args: argparse.Namespace) -> int:
    """Rehearse every event of the inputs on embedded AWS; 0 when all were handled, 1 if any failed."""
    try:
        from moto import mock_aws  # noqa: PLC0415  (a development dependency, absent from the Lambda package)
    except ImportError:
        raise CliError(MISSING_MOTO) from None
    head, rest = first_jobs(jobs_from(names, lambda _, call: rehearsal_region(call, args.region)))
    report = Report(settings, as_json=args.json)
    rehearsal = Rehearsal(settings, report, dict(args.tag))
    # Fake credentials and no endpoint or profile: no call of a rehearsal can leave this process.
    with demo_environment(settings.dry_run), mock_aws(), diverted(sys.stderr if args.verbose else None):
        for item in itertools.chain(head, rest):
            if isinstance(item, Bad):
                report.failure(item.message, {"event_id": None, "region": None})
            else:
                rehearsal.event(item)
    return report.close(empty=empty_text(names))
