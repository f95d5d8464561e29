"""The scheduled sweep through the Lambda handler: one summary by default, each group's policy when asked."""

from __future__ import annotations

import itertools
import json
import shlex
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from conftest import REGION, World

from remediator import effects, handler
from remediator import sweep as sweep_module
from remediator.effects import Aws
from remediator.inventory import Advisory, GroupAdvisories, Inventory, Row, scan_region
from remediator.model import GroupState, Mode, Outcome, RuleEntry, Source, SourceKind
from remediator.report import LISTED_ADVISORIES, LISTED_RULES, SweepLine, SweepReport, sweep_notification
from remediator.settings import current_settings
from remediator.sweep import sweep

SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2025-01-01T03:00:00Z",
    "region": REGION,
    "resources": ["arn:aws:events:eu-west-1:123456789012:rule/sweep"],
    "detail": {},
}
SSH_WORLD: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
HTTPS_WORLD: dict[str, Any] = {
    "IpProtocol": "tcp",
    "FromPort": 443,
    "ToPort": 443,
    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
}
NARROW_TAGS = {"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24"}


class Groups:
    """An untagged group, one to narrow, one to notify about and one opted out, each with SSH open to the world."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.plain = world.group("plain")
        self.narrow = world.group("narrow", NARROW_TAGS)
        self.watched = world.group("watched", {"remediator:mode": "notify"})
        self.bastion = world.group("bastion", {"remediator:mode": "ignore"})
        for group_id in self.ids():
            world.authorize(group_id, [SSH_WORLD, HTTPS_WORLD])

    def ids(self) -> list[str]:
        return [self.plain, self.narrow, self.watched, self.bastion]

    def rules(self) -> dict[str, set[tuple[str, int | None, int | None, str]]]:
        return {group_id: self.world.ingress(group_id) for group_id in self.ids()}


@pytest.fixture
def groups(world: World) -> Groups:
    return Groups(world)


@pytest.fixture
def lambda_env(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The Lambda's environment: the topic set, settings and clients read afresh by the handler."""
    monkeypatch.setenv("REMEDIATOR_TOPIC_ARN", world.topic_arn)
    current_settings.cache_clear()
    effects.default_aws.cache_clear()
    yield monkeypatch
    current_settings.cache_clear()
    effects.default_aws.cache_clear()


def run_sweep(world: World, env: pytest.MonkeyPatch, **variables: str) -> dict[str, Any]:
    """The handler invoked by the schedule, on the world's counted clients."""
    for name, value in variables.items():
        env.setenv(name, value)
    current_settings.cache_clear()
    env.setattr(handler, "default_aws", lambda *_: world.aws)
    world.calls.clear()
    return handler.handler(SCHEDULED, None)


def test_by_default_the_sweep_changes_nothing_and_sends_one_summary(
    world: World, groups: Groups, lambda_env: pytest.MonkeyPatch
) -> None:
    before = groups.rules()

    # The handler's own clients, as in Lambda.
    result = handler.handler(SCHEDULED, None)

    assert groups.rules() == before
    [message] = world.messages()
    assert message["subject"] == f"[sg-remediator] sweep found 3 risky rules in {REGION}"
    body = message["body"]
    assert (
        "Sweep mode: notify (CDK context sweep_mode; REMEDIATOR_SWEEP_MODE in the function): nothing was changed."
        in body
    )
    assert "Were the sweep to act (sweep_mode=revoke)" in body
    assert f"in {REGION} (account 123456789012)" in body
    assert "each group's policy would give: 1 revoke, 1 narrow, 1 notify." in body
    assert f"{groups.plain} (plain), VPC {world.vpc_id}, attached to no network interface" in body
    assert "Mode:      revoke; were the sweep to act, the rule would be revoked" in body
    assert "Mode:      narrow; were the sweep to act, the rule would be narrowed to 203.0.113.0/24" in body
    assert "Mode:      notify; were the sweep to act, the rule would be left open (notify mode)" in body
    assert "Restore:" not in body
    assert groups.bastion not in body
    assert "Not listed: 1 risky rule in groups opted out (remediator:mode=ignore)." in body
    assert message["attributes"] == {"mode": "notify", "action": "sweep"}
    assert result["sweep_mode"] == "notify"
    assert result["risky_rules"] == 4
    assert result["by_action"] == {"revoke": 1, "narrow": 1, "notify": 1, "ignored": 1}
    assert result["by_outcome"] == {"ignored": 1, "notified": 3}
    assert result["notified"] is True
    json.dumps(result)


def test_the_notify_sweep_reads_pages_and_publishes_once(
    world: World, groups: Groups, lambda_env: pytest.MonkeyPatch
) -> None:
    run_sweep(world, lambda_env)

    assert world.calls == ["DescribeSecurityGroups", "DescribeNetworkInterfaces", "Publish", "PutEvents"]


def test_a_clean_region_sends_nothing(world: World, lambda_env: pytest.MonkeyPatch) -> None:
    world.authorize(world.group("web"), [HTTPS_WORLD])

    result = run_sweep(world, lambda_env)

    assert world.messages() == []
    assert result["notified"] is False
    assert result["risky_rules"] == 0
    assert world.calls == ["DescribeSecurityGroups"]


def test_only_opted_out_rules_send_nothing(world: World, lambda_env: pytest.MonkeyPatch) -> None:
    world.authorize(world.group("bastion", {"remediator:mode": "ignore"}), [SSH_WORLD])

    result = run_sweep(world, lambda_env)

    assert world.messages() == []
    assert result["by_outcome"] == {"ignored": 1}


def test_the_ignore_sweep_only_logs_one_line_per_finding(
    world: World, groups: Groups, lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = groups.rules()

    result = run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="ignore")

    assert groups.rules() == before
    assert world.messages() == []
    assert result["notified"] is False
    assert "Publish" not in world.calls
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    findings = [line for line in logged if line["message"] == "sweep finding"]
    assert sorted(line["group_id"] for line in findings) == sorted(
        [groups.plain, groups.narrow, groups.watched, groups.bastion]
    )
    plain = next(line for line in findings if line["group_id"] == groups.plain)
    assert plain["would"] == "revoke"
    assert plain["attached"] is False
    assert plain["sweep_mode"] == "ignore"
    assert [line["message"] for line in logged][-1] == "sweep done"


@pytest.mark.parametrize("mode", ["revoke", "narrow"])
def test_an_acting_sweep_applies_each_groups_policy_as_the_handler_does(
    world: World, groups: Groups, lambda_env: pytest.MonkeyPatch, mode: str
) -> None:
    before = groups.rules()

    result = run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE=mode)

    after = groups.rules()
    assert after[groups.plain] == {("tcp", 443, 443, "0.0.0.0/0")}
    assert after[groups.narrow] == {("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 22, 22, "203.0.113.0/24")}
    assert after[groups.watched] == before[groups.watched]
    assert after[groups.bastion] == before[groups.bastion]
    assert result["by_outcome"] == {"ignored": 1, "narrowed": 1, "notified": 1, "revoked": 1}
    [message] = world.messages()
    assert message["subject"] == f"[sg-remediator] sweep closed 2 of 3 risky rules in {REGION}"
    assert f"Sweep mode: {mode} (CDK context sweep_mode; REMEDIATOR_SWEEP_MODE in the function)" in message["body"]
    assert "Outcome:   revoked" in message["body"]
    assert "Outcome:   narrowed" in message["body"]
    assert "Outcome:   left open (notify mode)" in message["body"]


def test_an_acting_sweep_costs_one_revoke_per_group_it_closes_and_no_describe_of_rules(
    world: World, groups: Groups, lambda_env: pytest.MonkeyPatch
) -> None:
    run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="revoke")

    # The listing gives every rule's content, so no rule id is looked up; groups come by id, their calls in order.
    per_group = {
        groups.plain: ["RevokeSecurityGroupIngress"],
        groups.narrow: ["AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"],
    }
    acting = [call for group_id in sorted(per_group) for call in per_group[group_id]]
    reads = ["DescribeSecurityGroups", "DescribeNetworkInterfaces"]
    assert world.calls == [*reads, *acting, "Publish", "PutEvents"]


def revokes_sent(world: World) -> list[dict[str, Any]]:
    """The parameters of every RevokeSecurityGroupIngress the world's EC2 client sends from now on."""
    sent: list[dict[str, Any]] = []

    def keep(params: dict[str, Any], **_: Any) -> None:
        sent.append(json.loads(json.dumps(params)))

    world.aws.ec2.meta.events.register("provide-client-params.ec2.RevokeSecurityGroupIngress", keep)
    return sent


SSH_WORLD_V6: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
RDP_WORLD: dict[str, Any] = {
    "IpProtocol": "tcp",
    "FromPort": 3389,
    "ToPort": 3389,
    "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "remote desktop"}],
}


def test_the_sweep_revokes_each_groups_rules_by_content_in_one_call_per_group(
    world: World, lambda_env: pytest.MonkeyPatch
) -> None:
    opened = [world.group(f"g{number}") for number in range(3)]
    for group_id in opened:
        world.authorize(group_id, [SSH_WORLD, SSH_WORLD_V6, RDP_WORLD, HTTPS_WORLD])
    sent = revokes_sent(world)

    result = run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="revoke")

    assert all(world.ingress(group_id) == {("tcp", 443, 443, "0.0.0.0/0")} for group_id in opened)
    assert result["by_outcome"] == {"revoked": 9}
    assert world.calls.count("RevokeSecurityGroupIngress") == len(opened)
    assert "DescribeSecurityGroupRules" not in world.calls
    assert [call["GroupId"] for call in sent] == sorted(opened)
    for call in sent:
        assert "SecurityGroupRuleIds" not in call
        # By content only: a description is not part of what a revoke matches.
        assert sorted(call["IpPermissions"], key=json.dumps) == sorted(
            [
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
                {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            ],
            key=json.dumps,
        )


def test_a_rule_gone_before_the_revoke_is_already_gone_and_the_groups_others_are_revoked(
    world: World, lambda_env: pytest.MonkeyPatch
) -> None:
    group_id = world.group("racing")
    world.authorize(group_id, [SSH_WORLD, RDP_WORLD])

    # Someone closes tcp/22 by hand between the scan and the sweep's revoke.
    def scan_then_close(*args: Any, **kwargs: Any) -> Any:
        inventory = scan_region(*args, **kwargs)
        world.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[SSH_WORLD])
        return inventory

    lambda_env.setattr(sweep_module, "scan_region", scan_then_close)

    result = run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="revoke")

    assert world.ingress(group_id) == set()
    assert result["by_outcome"] == {"already-gone": 1, "revoked": 1}
    assert result["failed"] == []


def test_rules_a_revoke_reports_unknown_are_already_gone(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    group_id = world.group("unknown")
    world.authorize(group_id, [SSH_WORLD, RDP_WORLD])
    entries = list(world.aws.describe_group(group_id, None).ingress)  # type: ignore[union-attr]
    real_call = world.aws.ec2.revoke_security_group_ingress

    # A VPC group's revoke answers success and lists what it did not find, as AWS does (moto raises instead).
    def revoke(**params: Any) -> Any:
        response = dict(real_call(GroupId=params["GroupId"], IpPermissions=params["IpPermissions"][1:]))
        return {**response, "UnknownIpPermissions": [params["IpPermissions"][0]]}

    monkeypatch.setattr(world.aws.ec2, "revoke_security_group_ingress", revoke)

    gone = world.aws.revoke_entries_reporting(group_id, entries)

    assert gone == {0}
    assert len(world.ingress(group_id)) == 1


def test_a_dry_run_sweep_changes_nothing_and_says_what_it_would_close(
    world: World, groups: Groups, lambda_env: pytest.MonkeyPatch
) -> None:
    before = groups.rules()

    result = run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="revoke", REMEDIATOR_DRY_RUN="true")

    assert groups.rules() == before
    assert result["by_outcome"] == {"ignored": 1, "notified": 1, "would-narrow": 1, "would-revoke": 1}
    [message] = world.messages()
    assert message["subject"] == f"[sg-remediator] sweep would close 2 of 3 risky rules in {REGION}"
    assert "DRY RUN: the remediator changed nothing" in message["body"]
    # Only reads, the notification and the outcome event: nothing that changes a group.
    assert not [
        call for call in world.calls if not call.startswith("Describe") and call not in ("Publish", "PutEvents")
    ]


def test_a_second_acting_sweep_finds_only_what_policy_leaves_open(
    world: World, groups: Groups, lambda_env: pytest.MonkeyPatch
) -> None:
    run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="revoke")
    world.messages()

    result = run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="revoke")

    assert result["by_outcome"] == {"ignored": 1, "notified": 1}
    assert "RevokeSecurityGroupIngress" not in world.calls


def test_a_group_the_sweep_cannot_change_does_not_stop_the_others(
    world: World, groups: Groups, lambda_env: pytest.MonkeyPatch
) -> None:
    real_revoke = Aws.revoke_entries_reporting

    def revoke(aws: Aws, group_id: str, entries: Sequence[RuleEntry]) -> frozenset[int]:
        if group_id == groups.plain:
            error = {"Error": {"Code": "UnauthorizedOperation", "Message": "denied by an SCP"}}
            raise ClientError(error, "RevokeSecurityGroupIngress")  # type: ignore[arg-type]
        return real_revoke(aws, group_id, entries)

    lambda_env.setattr(Aws, "revoke_entries_reporting", revoke)

    result = run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="revoke")

    assert ("tcp", 22, 22, "0.0.0.0/0") in world.ingress(groups.plain)
    assert ("tcp", 22, 22, "203.0.113.0/24") in world.ingress(groups.narrow)
    assert result["failed"] == [groups.plain]
    [message] = world.messages()
    assert "left open: the remediator could not change it" in message["body"]
    assert "UnauthorizedOperation" in message["body"]


def test_every_group_is_closed_before_the_first_finding_is_reported(
    world: World, groups: Groups, lambda_env: pytest.MonkeyPatch
) -> None:
    happened: list[tuple[str, str]] = []
    real_revoke = Aws.revoke_entries_reporting
    real_log = sweep_module.log_finding

    def revoke(aws: Aws, group_id: str, entries: Sequence[RuleEntry]) -> frozenset[int]:
        happened.append(("revoke", group_id))
        return real_revoke(aws, group_id, entries)

    def log(line: SweepLine, sweep_mode: Mode) -> None:
        happened.append(("log", line.row.group_id))
        real_log(line, sweep_mode)

    lambda_env.setattr(Aws, "revoke_entries_reporting", revoke)
    lambda_env.setattr(sweep_module, "log_finding", log)

    run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="revoke")

    kinds = [kind for kind, _ in happened]
    assert kinds == sorted(kinds, key=lambda kind: kind == "log")
    assert {group for kind, group in happened if kind == "revoke"} == {groups.plain, groups.narrow}
    assert {group for kind, group in happened if kind == "log"} == set(groups.ids())


def test_a_sweep_an_error_stops_still_logs_the_rules_it_closed_before(
    world: World, groups: Groups, lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = sorted([groups.plain, groups.narrow])
    real_revoke = Aws.revoke_entries_reporting

    def revoke(aws: Aws, group_id: str, entries: Sequence[RuleEntry]) -> frozenset[int]:
        if group_id == second:
            raise EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com/")
        return real_revoke(aws, group_id, entries)

    lambda_env.setattr(Aws, "revoke_entries_reporting", revoke)

    with pytest.raises(EndpointConnectionError):
        run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="revoke")

    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    findings = {line["group_id"]: line["outcome"] for line in logged if line["message"] == "sweep finding"}
    assert ("tcp", 22, 22, "0.0.0.0/0") not in world.ingress(first)
    assert findings[first] == ("narrowed" if first == groups.narrow else "revoked")
    assert second not in findings


def test_out_of_time_the_sweep_leaves_the_rest_for_the_next_one(world: World, groups: Groups) -> None:
    ticks = itertools.count()

    # Each look at the clock is a second later; with a budget of 1.5 s only the first group to close is closed.
    def clock() -> float:
        return float(next(ticks))

    settings = world.settings(REMEDIATOR_SWEEP_MODE="revoke")
    result = sweep(settings, world.aws, datetime.now(UTC), budget_seconds=1.5, clock=clock)

    first, second = sorted([groups.plain, groups.narrow])
    assert ("tcp", 22, 22, "0.0.0.0/0") not in world.ingress(first)
    assert ("tcp", 22, 22, "0.0.0.0/0") in world.ingress(second)
    assert result["by_outcome"]["deferred"] == 1
    [message] = world.messages()
    assert "1 rule left for the next sweep" in message["body"]


def test_a_group_the_sweep_has_no_time_for_costs_no_call(world: World, groups: Groups) -> None:
    ticks = itertools.count()

    def clock() -> float:
        return float(next(ticks))

    settings = world.settings(REMEDIATOR_SWEEP_MODE="revoke")
    world.calls.clear()
    result = sweep(settings, world.aws, datetime.now(UTC), budget_seconds=1.5, clock=clock)

    assert result["by_outcome"]["deferred"] == 1
    assert world.calls.count("RevokeSecurityGroupIngress") == 1


def test_the_listing_is_capped_and_says_how_to_see_the_rest(world: World, lambda_env: pytest.MonkeyPatch) -> None:
    for number in range(LISTED_RULES + 5):
        world.authorize(world.group(f"g{number:03}"), [SSH_WORLD])

    run_sweep(world, lambda_env)

    [message] = world.messages()
    body = message["body"]
    assert f"\n{LISTED_RULES}. sg-" in body
    assert f"\n{LISTED_RULES + 1}. sg-" not in body
    assert "... and 5 more risky rules, not listed here." in body
    assert f"python -m remediator scan --region {REGION}" in body


def big_line(number: int) -> SweepLine:
    row = Row(
        region=REGION,
        group_id=f"sg-{number:017x}",
        group_name="n" * 255,
        vpc_id="vpc-00000000000000001",
        attached=False,
        protocol="tcp",
        ports="tcp/22",
        source="0.0.0.0/0",
        risk="r" * 300,
        mode="revoke",
        action="revoke",
        would="revoke",
        narrow_to=(),
        notes=("x" * 2000,),
    )
    return SweepLine(row=row, outcome=Outcome.NOTIFIED, details=())


def test_the_message_fits_sns_however_long_the_names_and_notes() -> None:
    report = SweepReport(
        account="123456789012",
        region=REGION,
        sweep_mode=Mode.NOTIFY,
        dry_run=False,
        groups_scanned=5000,
        lines=tuple(big_line(number) for number in range(LISTED_RULES)),
    )

    message = sweep_notification(report)
    assert message is not None
    subject, body = message.subject, message.body

    assert len(body.encode()) < 256 * 1024 - 2048
    assert "more risky rules, not listed here" in body
    assert subject == f"[sg-remediator] sweep found {LISTED_RULES} risky rules in {REGION}"
    assert len(subject) <= 100
    assert subject.isascii()


class LambdaContext:
    """The part of Lambda's context the sweep reads."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_budget_is_the_invocations_remaining_time_less_room_for_one_slow_call_and_the_summary() -> None:
    assert sweep_module.budget_of(LambdaContext(300_000)) == 300 - sweep_module.RESERVE_SECONDS
    assert effects.CONNECT_TIMEOUT_SECONDS + effects.READ_TIMEOUT_SECONDS <= sweep_module.RESERVE_SECONDS
    assert sweep_module.budget_of(LambdaContext(10_000)) == 0.0
    assert sweep_module.budget_of(None) == sweep_module.TIME_BUDGET_SECONDS


def test_the_budget_bounds_the_scan_too_and_the_summary_says_what_was_not_read(
    world: World, groups: Groups, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Aws, "GROUPS_PER_PAGE", 5)  # EC2's smallest page
    for number in range(15):
        world.group(f"extra{number}")
    ticks = itertools.count()

    # Each look at the clock is a second later: the scan stops at the second look, after ten groups.
    def clock() -> float:
        return float(next(ticks))

    result = sweep(world.settings(), world.aws, datetime.now(UTC), budget_seconds=1.5, clock=clock)

    assert result["scan_complete"] is False
    assert result["groups_scanned"] == 10
    assert len(world.ec2.describe_security_groups()["SecurityGroups"]) > 10
    [message] = world.messages()
    assert "The scan stopped early" in message["body"]
    assert f"only {result['groups_scanned']} groups were read" in message["body"]


def test_an_acting_sweep_gives_each_closed_rule_its_restore_command_console_link_and_users(
    world: World, groups: Groups, lambda_env: pytest.MonkeyPatch
) -> None:
    subnet = world.ec2.create_subnet(VpcId=world.vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    interface = world.ec2.create_network_interface(SubnetId=subnet, Groups=[groups.plain], Description="web")
    interface_id = interface["NetworkInterface"]["NetworkInterfaceId"]
    before = world.ingress(groups.plain)

    run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="revoke")

    body = world.messages()[0]["body"]
    commands = [shlex.split(line.split("Restore:", 1)[1]) for line in body.splitlines() if "   Restore:" in line]
    assert len(commands) == 2
    [plain] = [command for command in commands if command[command.index("--group-id") + 1] == groups.plain]
    assert plain[plain.index("--region") + 1] == REGION
    world.ec2.authorize_security_group_ingress(
        GroupId=groups.plain, IpPermissions=[json.loads(plain[plain.index("--ip-permissions") + 1])]
    )
    assert world.ingress(groups.plain) == before
    console = f"https://{REGION}.console.aws.amazon.com/ec2/home?region={REGION}#SecurityGroup:groupId={groups.plain}"
    assert f"   Console:   {console}" in body
    assert f"   Used by:   1 network interface: {interface_id} (no instance, 'web')" in body
    assert "   Used by:   no network interface today" in body
    assert "Acted at: " in body


def test_the_notify_sweep_says_what_acting_would_do_and_never_that_a_rule_was_revoked(
    world: World, lambda_env: pytest.MonkeyPatch
) -> None:
    group_id = world.group("wide", {"remediator:mode": "narrow", "remediator:allowed-cidrs": "0.0.0.0/1"})
    world.authorize(group_id, [SSH_WORLD])

    run_sweep(world, lambda_env)

    body = world.messages()[0]["body"]
    assert "Mode:      narrow; were the sweep to act, the rule would be revoked" in body
    assert "Note:      the allowed source 0.0.0.0/1 is itself open (or unreadable), so it would be revoked" in body
    assert "Checked at: " in body
    assert "was revoked" not in body
    assert "Acted at" not in body


def test_a_dry_run_sweep_says_where_a_rule_would_be_narrowed_to(
    world: World, groups: Groups, lambda_env: pytest.MonkeyPatch
) -> None:
    run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="narrow", REMEDIATOR_DRY_RUN="true")

    body = world.messages()[0]["body"]
    assert "Outcome:   would be narrowed (dry run: nothing changed)" in body
    assert "Note:      would be narrowed to 203.0.113.0/24" in body
    assert "Restore:" not in body
    assert "Checked at: " in body


def test_the_sweep_writes_its_counts_as_embedded_metrics(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    sweep(world.settings(REMEDIATOR_SWEEP_MODE="revoke"), world.aws, datetime.now(UTC))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [metrics] = lines
    assert metrics["Mode"] == "revoke"
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Mode"], []]
    assert metrics["RisksFound"] == metrics["RulesRevoked"] + metrics["RulesNarrowed"] + metrics["RulesLeftOpen"]
    assert metrics["RulesRevoked"] + metrics["RulesNarrowed"] >= 1


SSH_INTERNAL: dict[str, Any] = {
    "IpProtocol": "tcp",
    "FromPort": 22,
    "ToPort": 22,
    "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
}


def test_a_revoke_sweep_never_acts_on_an_advisory_rule_and_its_summary_counts_and_lists_it(
    world: World, lambda_env: pytest.MonkeyPatch
) -> None:
    plain = world.group("plain")
    world.authorize(plain, [SSH_WORLD, SSH_INTERNAL])
    jump = world.group("jump")
    world.authorize(jump, [SSH_INTERNAL])

    result = run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="revoke")

    assert world.ingress(plain) == {("tcp", 22, 22, "10.0.0.0/8")}
    assert world.ingress(jump) == {("tcp", 22, 22, "10.0.0.0/8")}
    assert result["risky_rules"] == 1
    assert result["by_outcome"] == {"revoked": 1}
    assert result["advisory_rules"] == 2
    assert sorted(result["advisory"], key=lambda item: item["group_id"]) == sorted(
        (
            {"group_id": plain, "ports": "tcp/22", "source": "10.0.0.0/8"},
            {"group_id": jump, "ports": "tcp/22", "source": "10.0.0.0/8"},
        ),
        key=lambda item: item["group_id"],
    )
    [message] = world.messages()
    body = message["body"]
    assert (
        "Advisory, not acted on: 2 rules open a risky port to broad internal sources (a wide range of non-public "
        "address space; REMEDIATOR_ADVISORY_PREFIX). The sweep never changes them, whatever its mode;" in body
    )
    assert f"- {jump} (jump): tcp/22 from 10.0.0.0/8" in body
    assert f"- {plain} (plain): tcp/22 from 10.0.0.0/8" in body
    json.dumps(result)


def test_advisory_rules_alone_send_no_message_and_the_result_still_counts_them(
    world: World, lambda_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    jump = world.group("jump")
    world.authorize(jump, [SSH_INTERNAL])

    result = run_sweep(world, lambda_env, REMEDIATOR_SWEEP_MODE="revoke")

    assert world.ingress(jump) == {("tcp", 22, 22, "10.0.0.0/8")}
    assert world.messages() == []
    assert (result["status"], result["risky_rules"], result["advisory_rules"]) == ("clean", 0, 1)
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [advisories] = [line for line in logged if line["message"] == "sweep advisories"]
    assert (advisories["advisory_rules"], advisories["part"], advisories["parts"]) == (1, 1, 1)
    assert advisories["outcome"] == "advisory: not acted on"
    [rule] = advisories["rules"]
    assert (rule["group_id"], rule["ports"], rule["source"]) == (jump, "tcp/22", "10.0.0.0/8")


def advisory_row(number: int) -> Row:
    return Row(
        region=REGION,
        group_id=f"sg-{number:017x}",
        group_name="internal",
        vpc_id="vpc-00000000000000001",
        attached=True,
        protocol="tcp",
        ports="tcp/22",
        source="10.0.0.0/8",
        risk="tcp/22 exposes risky port 22; source 10.0.0.0/8 spans /8 of non-public address space",
        mode="revoke",
        action="none",
        would="advisory: not acted on",
        narrow_to=(),
        notes=(),
    )


def advisory_inventory(groups: int) -> Inventory:
    entry = RuleEntry(
        protocol="tcp",
        from_port=22,
        to_port=22,
        source=Source(kind=SourceKind.IPV4, value="10.0.0.0/8"),
        description=None,
        rule_id=None,
    )
    policy = current_settings().default_policy()
    return Inventory(
        region=REGION,
        groups_scanned=groups,
        findings=(),
        advisories=tuple(
            GroupAdvisories(
                group=GroupState(
                    group_id=f"sg-{number:017x}", group_name="internal", vpc_id=None, tags={}, ingress=(entry,)
                ),
                attached=number % 2 == 0,
                policy=policy,
                advisories=(Advisory(entry=entry, risk="broad"),),
            )
            for number in range(groups)
        ),
    )


def test_advisories_are_logged_a_hundred_a_line_each_line_with_the_exact_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    inventory = advisory_inventory(2 * sweep_module.ADVISORIES_PER_LINE + 50)

    sweep_module.log_advisories(inventory)

    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["message"] for line in logged] == ["sweep advisories"] * 3
    assert [(line["part"], line["parts"], len(line["rules"])) for line in logged] == [
        (1, 3, 100),
        (2, 3, 100),
        (3, 3, 50),
    ]
    assert {line["advisory_rules"] for line in logged} == {250}
    assert [rule["group_id"] for line in logged for rule in line["rules"]] == [
        found.group.group_id for found in inventory.advisories
    ]
    assert logged[0]["rules"][0] == {
        "group_id": "sg-00000000000000000",
        "group_name": "internal",
        "attached": True,
        "ports": "tcp/22",
        "source": "10.0.0.0/8",
    }
    assert {line["outcome"] for line in logged} == {"advisory: not acted on"}


def test_no_advisory_logs_no_advisory_line(capsys: pytest.CaptureFixture[str]) -> None:
    sweep_module.log_advisories(advisory_inventory(0))

    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("listed", "counted"),
    [
        # More rows than a message shows, and no count: the rows are the count.
        (LISTED_ADVISORIES + 7, None),
        # The sweep's way: the first rows only, and the count of them all.
        (LISTED_ADVISORIES, 8000),
    ],
)
def test_the_advisory_list_is_capped_in_the_result_and_the_message_and_the_count_stays_exact(
    listed: int, counted: int | None
) -> None:
    report = SweepReport(
        account="123456789012",
        region=REGION,
        sweep_mode=Mode.NOTIFY,
        dry_run=False,
        groups_scanned=9000,
        lines=(big_line(0),),
        advisories=tuple(advisory_row(number) for number in range(listed)),
        advisory_rules=counted,
    )
    total = listed if counted is None else counted

    result = sweep_module.summary(report, notified=True)
    message = sweep_notification(report)

    assert result["advisory_rules"] == total
    assert len(result["advisory"]) == LISTED_ADVISORIES
    assert message is not None
    assert message.body.count(": tcp/22 from 10.0.0.0/8") == LISTED_ADVISORIES
    more = total - LISTED_ADVISORIES
    assert (
        f"... and {more} more, not listed here: python -m remediator scan --region {REGION} --advisory" in message.body
    )
    assert message.chat is not None
    assert (
        f"Advisory, not acted on: {total} rules open a risky port to broad internal sources"
        in message.chat["content"]["description"]
    )
