"""The `demo` command: the remediator at work on embedded AWS (moto), from the risky API calls to the notifications."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import boto3

from remediator.cli import cloudtrail
from remediator.cli.output import CliError, print_json
from remediator.effects import CLIENT_CONFIG, Aws, default_aws
from remediator.log import diverted
from remediator.model import Mode, Outcome, RuleEntry
from remediator.policy import ALLOWED_CIDRS_TAG, EXPIRES_TAG, MODE_TAG, policy_from_tags
from remediator.report import OUTCOME_TEXT
from remediator.settings import current_settings

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import IpPermissionTypeDef, SecurityGroupRuleUpdateTypeDef

SIMULATED = (
    "Simulated: the CloudTrail → EventBridge delivery (events are built from real CloudTrail records, "
    "shipped with the command line, with this run's ids)."
)
REAL = "Real: the EC2 and SNS API calls, made against moto, an in-process AWS emulator."
DEMO_REGION = "eu-west-1"
WIDTH = 100
# Whatever could send the demo's calls past the in-process emulator: profiles, config files, endpoints.
AWS_SETTINGS_DROPPED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def tcp(port: int, *, v4: Sequence[str] = (), v6: Sequence[str] = ()) -> IpPermissionTypeDef:
    """The permission of one TCP port from the given IPv4 and IPv6 CIDRs."""
    permission: IpPermissionTypeDef = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if v4:
        permission["IpRanges"] = [{"CidrIp": cidr} for cidr in v4]
    if v6:
        permission["Ipv6Ranges"] = [{"CidrIpv6": cidr} for cidr in v6]
    return permission


LEGITIMATE = (tcp(443, v4=["0.0.0.0/0"]), tcp(22, v4=["10.0.0.0/8"]))
PARTNER_CIDR = "198.51.100.0/24"


@dataclass(frozen=True)
class Scenario:
    """One group of the demo: its tags, the rules it starts with, and the risky call made on it."""

    name: str
    tags: Mapping[str, str]
    existing: Sequence[IpPermissionTypeDef]
    opened: Sequence[IpPermissionTypeDef]
    # "rule-set": the current CloudTrail response with rule ids; "old-format": no rule ids;
    # "modify": ModifySecurityGroupRules turns the existing partner rule into an open one.
    call: Literal["rule-set", "old-format", "modify"] = "rule-set"


def scenarios(today: date) -> list[Scenario]:
    """The demo's groups in order; the vendor-vpn opt-out expires 30 days after today."""
    return [
        Scenario("web", {}, LEGITIMATE, [tcp(22, v4=["0.0.0.0/0"], v6=["::/0"])]),
        Scenario(
            "bastion",
            {MODE_TAG: "narrow", ALLOWED_CIDRS_TAG: "203.0.113.0/24 2001:db8::/48"},
            [],
            [tcp(22, v4=["0.0.0.0/0"], v6=["::/0"])],
        ),
        Scenario("legacy-app", {MODE_TAG: "notify"}, LEGITIMATE, [tcp(3389, v4=["0.0.0.0/0"])]),
        Scenario(
            "vendor-vpn",
            {MODE_TAG: "ignore", EXPIRES_TAG: (today + timedelta(days=30)).isoformat()},
            [],
            [tcp(3389, v4=["0.0.0.0/0"])],
        ),
        Scenario(
            "old-exception",
            {MODE_TAG: "ignore", EXPIRES_TAG: "2024-01-31"},
            [],
            [tcp(22, v4=["0.0.0.0/0"])],
            call="old-format",
        ),
        Scenario("partner-sftp", {}, [tcp(22, v4=[PARTNER_CIDR])], [], call="modify"),
        Scenario("intranet", {}, LEGITIMATE, [tcp(8080, v4=["0.0.0.0/0"])]),
    ]


@dataclass
class GroupRun:
    """What happened to one group: its rules before and after the handler ran, and the handler's summary."""

    scenario: Scenario
    group_id: str
    event_name: str
    call_text: str
    policy_text: str
    before_call: list[str]
    before: list[str]
    after: list[str]
    result: dict[str, Any]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `demo` command and its options to the command line's subcommands."""
    parser = commands.add_parser(
        "demo",
        help="see the remediator work on embedded AWS (moto): no AWS account needed, nothing leaves this process",
        description="Create security groups with different tag policies on moto (an in-process AWS emulator), "
        "open SSH/RDP to the world on each through the EC2 API, run the Lambda handler on the CloudTrail events "
        "those calls produce, and show each group's rules before and after, and the notifications sent. "
        f"{SIMULATED} {REAL}",
    )
    parser.add_argument("--json", action="store_true", help="print the machine-readable results instead of tables")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run the handler with REMEDIATOR_DRY_RUN=true: it decides, changes nothing",
    )
    parser.add_argument("--verbose", action="store_true", help="also show the handler's JSON log lines, on stderr")
    parser.set_defaults(run=run)


@contextlib.contextmanager
def demo_environment(dry_run: bool) -> Iterator[str]:
    """Fake credentials and no profile, config file or endpoint, so that no call can reach real AWS; restored after."""
    saved = dict(os.environ)
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEMO_REGION
    try:
        for name in list(os.environ):
            if name.startswith(("AWS_ENDPOINT_URL", "REMEDIATOR_")) or name in AWS_SETTINGS_DROPPED:
                del os.environ[name]
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "demo",
                "AWS_SECRET_ACCESS_KEY": "demo",
                "AWS_DEFAULT_REGION": region,
                # A profile in ~/.aws/config may name its own endpoint_url or credential process.
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
                "REMEDIATOR_DRY_RUN": "true" if dry_run else "false",
            }
        )
        yield region
    finally:
        os.environ.clear()
        os.environ.update(saved)
        # The handler's cached settings and clients belong to the demo only.
        current_settings.cache_clear()
        default_aws.cache_clear()


def rule_text(entry: RuleEntry) -> str:
    """The entry as `ports from source`, e.g. `tcp/22 from 0.0.0.0/0`."""
    return f"{entry.ports_text()} from {entry.source.value}"


def rules_of(aws: Aws, group_id: str) -> list[str]:
    """The group's ingress rules as they are now, each as text."""
    return [rule_text(entry) for entry in aws.ingress_rules(group_id)]


def permission_text(permissions: Sequence[IpPermissionTypeDef]) -> str:
    """The permissions as text: each protocol/from-port with its IPv4 and IPv6 sources, separated by `; `."""
    parts = []
    for permission in permissions:
        sources = [r.get("CidrIp", "") for r in permission.get("IpRanges", [])]
        sources += [r.get("CidrIpv6", "") for r in permission.get("Ipv6Ranges", [])]
        parts.append(f"{permission['IpProtocol']}/{permission.get('FromPort')} from {' and '.join(sources)}")
    return "; ".join(parts)


def policy_text(tags: Mapping[str, str]) -> str:
    """The policy as the engine reads it from the tags (the same function the handler uses)."""
    policy = policy_from_tags(tags, current_settings().default_policy(), datetime.now(UTC))
    if MODE_TAG not in tags and ALLOWED_CIDRS_TAG not in tags:
        return f"{policy.mode.value} (the default: no remediator tags)"
    if policy.notes:
        return f"{policy.mode.value} ({'; '.join(policy.notes)})"
    if policy.mode == Mode.NARROW:
        return f"narrow to {', '.join(s.value for s in policy.allowed_sources)}"
    if policy.mode == Mode.IGNORE and policy.expires_at:
        return f"ignore (opted out until {policy.expires_at})"
    return policy.mode.value


def make_call(
    aws: Aws, scenario: Scenario, group_id: str, account: str, region: str
) -> tuple[dict[str, Any], str, str]:
    """Make the scenario's risky call on embedded AWS; the event CloudTrail would deliver for it, and a description."""
    ec2 = aws.ec2
    if scenario.call == "modify":
        [partner] = aws.ingress_rules(group_id)
        rule_id = partner.rule_id or ""
        update: SecurityGroupRuleUpdateTypeDef = {
            "SecurityGroupRuleId": rule_id,
            "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0"},
        }
        ec2.modify_security_group_rules(GroupId=group_id, SecurityGroupRules=[update])
        event = cloudtrail.modify_event(
            cloudtrail.load_template(cloudtrail.MODIFY_TEMPLATE),
            group_id=group_id,
            updates=[update],
            account=account,
            region=region,
        )
        return event, "ModifySecurityGroupRules", f"changed rule {rule_id} from {PARTNER_CIDR} to 0.0.0.0/0"
    response = ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=list(scenario.opened))
    old = scenario.call == "old-format"
    event = cloudtrail.authorize_event(
        cloudtrail.load_template(cloudtrail.OLD_FORMAT_TEMPLATE if old else cloudtrail.RULE_SET_TEMPLATE),
        group_id=group_id,
        permissions=scenario.opened,
        rules=None if old else response.get("SecurityGroupRules", []),
        account=account,
        region=region,
    )
    shape = "old response format, no rule ids: the handler looks them up" if old else "rule ids in the response"
    return event, "AuthorizeSecurityGroupIngress", f"opened {permission_text(scenario.opened)} ({shape})"


def run_demo(dry_run: bool, verbose: bool) -> dict[str, Any]:
    """Set up the groups on moto, make the risky calls, run the handler on their events; the results as data."""
    with demo_environment(dry_run) as region:
        try:
            from moto import mock_aws  # noqa: PLC0415  (a development dependency, absent from the Lambda package)
        except ImportError:
            raise CliError("the demo needs moto: `make demo` installs it in .venv") from None
        from remediator.handler import handler  # noqa: PLC0415

        with mock_aws():
            ec2 = boto3.client("ec2", region_name=region, config=CLIENT_CONFIG)
            sns = boto3.client("sns", region_name=region, config=CLIENT_CONFIG)
            sqs = boto3.client("sqs", region_name=region, config=CLIENT_CONFIG)
            account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
            reader = Aws(ec2=ec2, sns=sns)
            vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            topic_arn = sns.create_topic(Name="sg-remediator-demo")["TopicArn"]
            queue_url = sqs.create_queue(QueueName="sg-remediator-demo-inbox")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
            os.environ["REMEDIATOR_TOPIC_ARN"] = topic_arn
            # The real entry point runs, with settings and clients made now, inside the emulator.
            current_settings.cache_clear()
            default_aws.cache_clear()

            runs: list[GroupRun] = []
            for scenario in scenarios(datetime.now(UTC).date()):
                tag_spec: Any = [
                    {
                        "ResourceType": "security-group",
                        "Tags": [{"Key": k, "Value": v} for k, v in scenario.tags.items()],
                    }
                ]
                group_id = ec2.create_security_group(
                    GroupName=scenario.name,
                    Description=f"sg-remediator demo: {scenario.name}",
                    VpcId=vpc_id,
                    TagSpecifications=tag_spec if scenario.tags else [],
                )["GroupId"]
                if scenario.existing:
                    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=list(scenario.existing))
                before_call = rules_of(reader, group_id)
                event, event_name, call_text = make_call(reader, scenario, group_id, account, region)
                before = rules_of(reader, group_id)
                with diverted(sys.stderr if verbose else None):
                    result = handler(event, None)
                runs.append(
                    GroupRun(
                        scenario=scenario,
                        group_id=group_id,
                        event_name=event_name,
                        call_text=call_text,
                        policy_text=policy_text(scenario.tags),
                        before_call=before_call,
                        before=before,
                        after=rules_of(reader, group_id),
                        result=result,
                    )
                )
            notifications = received(sqs, queue_url)
    return {
        "simulated": SIMULATED,
        "real": REAL,
        "region": region,
        "account": account,
        "vpc_id": vpc_id,
        "topic_arn": topic_arn,
        "dry_run": dry_run,
        "groups": [as_data(group_run) for group_run in runs],
        "notifications": notifications,
    }


def received(sqs: Any, queue_url: str) -> list[dict[str, str]]:
    """The notifications published to the topic, read back from the queue subscribed to it."""
    messages: list[dict[str, str]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages", []
    ):
        for message in batch:
            envelope = json.loads(message["Body"])
            attributes = envelope.get("MessageAttributes", {})
            messages.append(
                {
                    "group_id": attributes.get("group_id", {}).get("Value", ""),
                    "subject": envelope.get("Subject", ""),
                    "body": envelope["Message"],
                }
            )
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def as_data(group_run: GroupRun) -> dict[str, Any]:
    """One group's run as JSON data: scenario, policy, call, rules before and after, table rows and result."""
    return {
        "name": group_run.scenario.name,
        "group_id": group_run.group_id,
        "tags": dict(group_run.scenario.tags),
        "policy": group_run.policy_text,
        "event_name": group_run.event_name,
        "call": group_run.call_text,
        "rules_before_call": group_run.before_call,
        "before": group_run.before,
        "after": group_run.after,
        "rows": [{"rule": r, "before": b, "after": a, "outcome": o} for r, b, a, o in rows(group_run)],
        "result": group_run.result,
    }


PRESENT, ABSENT = "present", "-"


def rows(group_run: GroupRun) -> list[tuple[str, str, str, str]]:
    """(rule, before, after, outcome) for every ingress rule the group had before or has after the handler ran."""
    findings = {f"{f['ports']} from {f['source']}": f for f in group_run.result.get("findings", [])}
    table: list[tuple[str, str, str, str]] = []
    for rule in group_run.before:
        after = PRESENT if rule in group_run.after else ABSENT
        if rule in findings:
            outcome = OUTCOME_TEXT[Outcome(findings[rule]["outcome"])]
        elif rule in group_run.before_call:
            outcome = "untouched"
        else:
            outcome = "added by the call, not risky: untouched"
        table.append((rule, PRESENT, after, outcome))
    table += [(rule, ABSENT, PRESENT, "added by narrowing") for rule in group_run.after if rule not in group_run.before]
    return table


def fit(text: str, indent: str = "", hang: int = 0) -> list[str]:
    """The text in lines of at most WIDTH columns, continuation lines `hang` columns further in; ARNs stay whole."""
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=" " * (len(indent) + hang),
        break_on_hyphens=False,
        break_long_words=False,
    ) or [""]


def wrapped(label: str, text: str) -> list[str]:
    """The text after its label (indented, padded to 8 columns), wrapped with continuation lines under the text."""
    return fit(text, f"  {label:<8} ")


def result_text(result: Mapping[str, Any]) -> str:
    """The handler's result in one line: clean, ignored, or what it did to the rules and whether it notified."""
    status = result["status"]
    if status == "clean":
        return "clean: the call added no risky rule, nothing to do"
    if status == "ignored":
        return f"ignored: {result['reason']}"
    outcomes = {Outcome(f["outcome"]) for f in result["findings"]}
    if status == "dry-run":
        verdict = "dry run, nothing changed"
    elif outcomes & {Outcome.REVOKED, Outcome.NARROWED}:
        verdict = "closed the risky rules"
    else:
        verdict = "left the rules as they are"
    told = "notification sent" if result["notified"] else "no notification (opt-outs are only logged)"
    return f"{verdict}; {told}"


def group_lines(group: Mapping[str, Any]) -> list[str]:
    """One group's part of the report: its tags, policy, call, handler result, rule table and notes."""
    tags = "  ".join(f"{k}={v}" for k, v in group["tags"].items()) or "none"
    lines = [f"{group['name']}  {group['group_id']}"]
    lines += wrapped("tags:", tags)
    lines += wrapped("policy:", group["policy"])
    lines += wrapped("call:", f"{group['event_name']}: {group['call']}")
    lines += wrapped("handler:", result_text(group["result"]))
    width = max([len("RULE"), *(len(row["rule"]) for row in group["rows"])]) + 2
    lines.append(f"  {'RULE':<{width}}{'BEFORE':<9}{'AFTER':<9}OUTCOME")
    lines += [f"  {row['rule']:<{width}}{row['before']:<9}{row['after']:<9}{row['outcome']}" for row in group["rows"]]
    notes = dict.fromkeys(note for f in group["result"].get("findings", []) for note in f["notes"])
    for note in notes:
        lines += wrapped("note:", note)
    return lines


LABELLED = re.compile(r"^\s*(?:\d+\. )?[A-Za-z ]{1,12}:\s+")


def body_lines(body: str) -> list[str]:
    """The message body indented under its subject; a long line continues under its value, not its label."""
    lines: list[str] = []
    for line in body.splitlines():
        label = LABELLED.match(line)
        indent = "    " + line[: len(line) - len(line.lstrip())]
        if label and (" " not in line[label.end() :] or line.strip().startswith("Restore:")):
            # One long word (an ARN) stays on its label's line, however long; so does a command to copy.
            lines.append(indent + line.strip())
            continue
        hang = label.end() - (len(indent) - 4) if label else 2
        lines += fit(line.strip(), indent, hang)
    return lines


def text_report(results: Mapping[str, Any]) -> list[str]:
    """The demo's report for people: what is real, the setup, each group, the notifications and what to try next."""
    lines = [*fit(SIMULATED), *fit(REAL), ""]
    mode = (
        "DRY RUN (REMEDIATOR_DRY_RUN=true): the handler decides and notifies but changes no rule. "
        if results["dry_run"]
        else ""
    )
    lines += fit(
        f"{mode}Account {results['account']}, region {results['region']}, VPC {results['vpc_id']}. Each group "
        "below got a risky rule through the EC2 API; the Lambda handler then ran on the call's event. BEFORE and "
        "AFTER are the group's ingress rules just before and after the handler ran."
    )
    for group in results["groups"]:
        lines += ["", *group_lines(group)]
    notifications = results["notifications"]
    lines += [
        "",
        *fit(
            f"Notifications: {len(notifications)} published to {results['topic_arn']}, read back from an SQS "
            "queue subscribed to it. The caller (By, From) is the one of the real recorded event."
        ),
    ]
    for number, message in enumerate(notifications, start=1):
        lines += ["", f"--- {number}. {message['subject']}", *body_lines(message["body"])]
    lines += [
        "",
        *fit(
            "Next: `python -m remediator demo --dry-run`, `--json` or `--verbose`; "
            "`python -m remediator replay EVENT.json --dry-run` on a saved event."
        ),
    ]
    return lines


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its results as JSON or as the text report; returns 0."""
    results = run_demo(args.dry_run, args.verbose)
    if args.json:
        print_json(results)
    else:
        print("\n".join(text_report(results)))
    return 0
