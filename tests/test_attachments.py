"""An open group put to use, on embedded AWS: the group's rules after the call, the messages, the state table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from conftest import ACCOUNT, REGION, World, at_home, load_event

from remediator import effects, handler
from remediator.attachments import check_attachment
from remediator.remediate import Home
from remediator.settings import current_settings
from remediator.state import KEY_ATTRIBUTE

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
HOME = Home(region=REGION, account=ACCOUNT)
TABLE = "sg-remediator-state"
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
HTTPS_WORLD = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
NARROW_TAGS = {"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24"}
# Each real (or constructed) record, its group ids (the first one is made the open group, any other a clean one)
# and the instance, interface or VPC id it attached them to.
RECORDS = {
    "custodian-RunInstances-console-top-level-groupset.json": (["sg-6c7fa917"], "i-0f7c711dc84bedda0"),
    "custodian-RunInstances-autoscaling-root-two-instances.json": (["sg-bd2d87d9"], "i-784cdacd"),
    "panther-RunInstances-console-eni-groupset.json": (["sg-00000000000000000"], "i-00000000000000000"),
    "elastic-RunInstances-cli-default-sg-response-only.json": (["sg-4e483165"], "i-0f2f135de18b555e3"),
    "permiso-RunInstances-launch-wizard-eni-groupset-partial.json": (["sg-db0c0ffeec0e67ce0"], None),
    "constructed-CreateNetworkInterface-cli-two-groups.json": (
        ["sg-0a1b2c3d4e5f60718", "sg-4e483165"],
        "eni-0d2f6c8a1b3e5f709",
    ),
    "awsdocs-CreateNetworkInterface-efs-service-role-empty-request-groupset.json": (
        ["sg-c16d65b6"],
        "eni-0123456789abcdef0",
    ),
    "constructed-ModifyNetworkInterfaceAttribute-cli-replace-groups.json": (
        ["sg-0a1b2c3d4e5f60718", "sg-0f9e8d7c6b5a43210"],
        "eni-043138569d4a31e90",
    ),
    "constructed-ModifyInstanceAttribute-console-groupset.json": (
        ["sg-b15kasfs", "sg-0c2d4e6f8a0b1c3d5"],
        "i-0b7e3c5d9a1f24680",
    ),
    "constructed-AssociateSecurityGroupVpc-console.json": (["sg-b15kasfs"], "vpc-0e1d2c3b4a5968778"),
}


def retarget(event: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """The event with each id replaced by an embedded one (whole JSON strings only: i-0… is inside eni-0…)."""
    text = json.dumps(event)
    for old, new in ids.items():
        text = text.replace(json.dumps(old), json.dumps(new))
    return at_home(json.loads(text))


@dataclass
class Site:
    """An open group (SSH from anywhere), a clean one, and an instance and an interface that use the open group."""

    world: World
    open: str
    clean: str
    instance: str
    interface: str

    def event(self, name: str, *, group: str | None = None) -> dict[str, Any]:
        """The record `name` with its groups, instance and interface made the embedded ones."""
        groups, target = RECORDS[name]
        ids = {groups[0]: group or self.open, **dict.fromkeys(groups[1:], self.clean)}
        if target is not None:
            embedded = {"i": self.instance, "eni": self.interface, "vpc": self.world.vpc_id}[target.split("-")[0]]
            ids[target] = embedded
        return retarget(load_event(name), ids)

    def run(self, event: dict[str, Any], *, now: datetime = NOW, **env: str) -> dict[str, Any]:
        self.world.calls.clear()
        return check_attachment(event, self.world.settings(**env), self.world.aws, now, home=HOME)

    def run_at(self, now: datetime, event: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        return self.run(event, now=now, **env)


def open_group(world: World, name: str, tags: dict[str, str] | None = None) -> str:
    group_id = world.group(name, tags)
    world.authorize(group_id, [SSH_WORLD, HTTPS_WORLD])
    return group_id


@pytest.fixture
def site(world: World) -> Site:
    subnet = world.ec2.create_subnet(VpcId=world.vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group_id = open_group(world, "launch-wizard-1")
    clean = world.group("app")
    world.authorize(clean, [HTTPS_WORLD])
    [instance] = world.ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[group_id]
    )["Instances"]
    interface = world.ec2.create_network_interface(SubnetId=subnet, Groups=[group_id])["NetworkInterface"]
    return Site(
        world=world,
        open=group_id,
        clean=clean,
        instance=instance["InstanceId"],
        interface=interface["NetworkInterfaceId"],
    )


@pytest.fixture
def table(world: World) -> Any:
    """The state table in the embedded account, keyed as the stack's."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


def items(dynamodb: Any) -> list[str]:
    return sorted(item[KEY_ATTRIBUTE]["S"] for item in dynamodb.scan(TableName=TABLE)["Items"])


SSH = ("tcp", 22, 22, "0.0.0.0/0")
HTTPS = ("tcp", 443, 443, "0.0.0.0/0")
LAUNCH = "custodian-RunInstances-console-top-level-groupset.json"


def test_by_default_an_open_group_launched_is_reported_with_the_instance_and_the_principal_and_left_open(
    site: Site,
) -> None:
    result = site.run(site.event(LAUNCH))

    assert site.world.ingress(site.open) == {SSH, HTTPS}
    [message] = site.world.messages()
    assert site.open in message["subject"]
    assert site.instance in message["subject"]
    body = message["body"]
    assert f"was just attached to instance {site.instance}" in body
    assert "arn:aws:iam::644160558196:user/c7nbot" in body
    assert "using signin.amazonaws.com" in body
    assert "REMEDIATOR_SWEEP_MODE is notify" in body
    assert "Done:      1 rule left open (notify mode)" in body
    assert "cannot know whether this group was already reported today" in body
    assert result["status"] == "left-open"
    assert [group["group_id"] for group in result["groups"]] == [site.open]


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_each_attaching_call_has_its_open_group_revoked_in_revoke_sweep_mode_and_the_clean_one_untouched(
    site: Site, name: str
) -> None:
    result = site.run(site.event(name), REMEDIATOR_SWEEP_MODE="revoke")

    assert site.world.ingress(site.open) == {HTTPS}
    assert site.world.ingress(site.clean) == {HTTPS}
    [message] = site.world.messages()
    assert "Done:      1 rule revoked" in message["body"]
    assert "REMEDIATOR_SWEEP_MODE is revoke" in message["body"]
    assert "Restore:   aws ec2 authorize-security-group-ingress" in message["body"]
    assert result["status"] == "remediated"
    target = RECORDS[name][1]
    if target is not None:
        embedded = {"i": site.instance, "eni": site.interface, "vpc": site.world.vpc_id}[target.split("-")[0]]
        attached = next(line for line in message["body"].splitlines() if line.startswith("Attached:"))
        assert embedded in attached


def test_a_launch_of_two_instances_names_both(site: Site) -> None:
    site.run(site.event("custodian-RunInstances-autoscaling-root-two-instances.json"))

    [message] = site.world.messages()
    assert f"instance {site.instance} (network interface eni-6a08d837) and instance i-7b4cdace" in message["body"]
    assert "invoked by autoscaling.amazonaws.com" in message["body"]


def test_narrow_sweep_mode_applies_the_groups_narrow_tags(site: Site) -> None:
    narrow = open_group(site.world, "partner", NARROW_TAGS)

    site.run(site.event(LAUNCH, group=narrow), REMEDIATOR_SWEEP_MODE="narrow")

    assert site.world.ingress(narrow) == {HTTPS, ("tcp", 22, 22, "203.0.113.0/24")}
    [message] = site.world.messages()
    assert "Done:      1 rule narrowed" in message["body"]


def test_revoke_sweep_mode_leaves_a_group_tagged_notify_open_and_reports_it(site: Site) -> None:
    watched = open_group(site.world, "watched", {"remediator:mode": "notify"})

    site.run(site.event(LAUNCH, group=watched), REMEDIATOR_SWEEP_MODE="revoke")

    assert site.world.ingress(watched) == {SSH, HTTPS}
    [message] = site.world.messages()
    assert "Done:      1 rule left open (notify mode)" in message["body"]


@pytest.mark.parametrize("sweep_mode", ["notify", "revoke"])
def test_a_group_opted_out_is_only_logged_with_no_message_and_no_table_write(
    site: Site, table: Any, sweep_mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bastion = open_group(site.world, "bastion", {"remediator:mode": "ignore"})

    result = site.run(site.event(LAUNCH, group=bastion), REMEDIATOR_SWEEP_MODE=sweep_mode, REMEDIATOR_STATE_TABLE=TABLE)

    assert site.world.ingress(bastion) == {SSH, HTTPS}
    assert site.world.messages() == []
    assert items(table) == []
    assert result["groups"][0]["notified"] is False
    assert '"outcome": "ignored"' in capsys.readouterr().out


def test_the_same_group_is_told_once_a_day_and_again_the_next_day(site: Site, table: Any) -> None:
    env = {"REMEDIATOR_STATE_TABLE": TABLE}
    first = site.run_at(NOW, site.event(LAUNCH), env)
    [message] = site.world.messages()
    assert "first message about this group today (UTC)" in message["body"]
    assert items(table) == [f"noticed#{site.open}#2026-12-01"]

    second = site.run_at(
        NOW.replace(hour=23), site.event("constructed-CreateNetworkInterface-cli-two-groups.json"), env
    )
    assert site.world.messages() == []
    assert (first["groups"][0]["notice"], second["groups"][0]["notice"]) == ("first", "already-sent")

    site.run_at(NOW + timedelta(days=1), site.event(LAUNCH), env)
    [again] = site.world.messages()
    assert "first message about this group today (UTC)" in again["body"]


def test_a_second_attachment_the_same_day_is_still_revoked_though_not_told(site: Site, table: Any) -> None:
    env = {"REMEDIATOR_STATE_TABLE": TABLE, "REMEDIATOR_SWEEP_MODE": "revoke"}
    site.run_at(NOW, site.event(LAUNCH), env)
    site.world.authorize(site.open, [SSH_WORLD])
    site.world.messages()

    result = site.run_at(NOW, site.event(LAUNCH), env)

    assert site.world.ingress(site.open) == {HTTPS}
    assert site.world.messages() == []
    assert result["status"] == "remediated"


def test_the_table_is_written_only_after_the_revoke(site: Site, table: Any) -> None:
    seen: list[str] = []
    site.world.aws.dynamodb.meta.events.register("before-call", lambda model, **_: seen.append(model.name))
    site.world.aws.ec2.meta.events.register("before-call", lambda model, **_: seen.append(model.name))

    site.run(site.event(LAUNCH), REMEDIATOR_STATE_TABLE=TABLE, REMEDIATOR_SWEEP_MODE="revoke")

    assert seen.index("RevokeSecurityGroupIngress") < seen.index("UpdateItem")


def test_an_unavailable_table_still_revokes_and_the_message_says_it_is_unknown_whether_already_told(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    # No table was created: every UpdateItem fails with ResourceNotFoundException.
    result = site.run(site.event(LAUNCH), REMEDIATOR_STATE_TABLE=TABLE, REMEDIATOR_SWEEP_MODE="revoke")

    assert site.world.ingress(site.open) == {HTTPS}
    [message] = site.world.messages()
    assert f"it is unknown whether this group was already reported today: the state table {TABLE}" in message["body"]
    assert result["groups"][0]["notice"] == "unknown"
    assert '"level": "WARNING", "message": "state table unavailable"' in capsys.readouterr().out


def test_dry_run_says_would_be_revoked_and_changes_nothing(site: Site) -> None:
    result = site.run(site.event(LAUNCH), REMEDIATOR_SWEEP_MODE="revoke", REMEDIATOR_DRY_RUN="true")

    assert site.world.ingress(site.open) == {SSH, HTTPS}
    [message] = site.world.messages()
    assert "Done:      1 rule would be revoked (dry run: nothing changed)" in message["body"]
    assert " revoked." not in message["body"].split("Done:")[1].split("\n")[0].replace("would be revoked", "")
    assert result["status"] == "dry-run"


def test_a_clean_group_attached_gives_nothing_to_tell(site: Site) -> None:
    result = site.run(site.event(LAUNCH, group=site.clean), REMEDIATOR_SWEEP_MODE="revoke")

    assert result["status"] == "clean"
    assert site.world.messages() == []
    assert site.world.ingress(site.clean) == {HTTPS}
    assert site.world.calls == ["DescribeSecurityGroups"]


def test_a_failed_call_is_ignored_without_any_aws_call(site: Site) -> None:
    event = site.event(LAUNCH)
    event.update(errorCode="Client.UnauthorizedOperation", responseElements=None)

    result = site.run(event, REMEDIATOR_SWEEP_MODE="revoke")

    assert result["status"] == "ignored"
    assert "the call failed" in result["reason"]
    assert site.world.calls == []
    assert site.world.ingress(site.open) == {SSH, HTTPS}


def test_a_modify_instance_attribute_of_another_attribute_is_ignored_quietly(site: Site) -> None:
    # No public record of this shape: the constructed record's groupSet replaced by the instanceType the API
    # reference gives ModifyInstanceAttribute (`instanceType: {value}`).
    event = site.event("constructed-ModifyInstanceAttribute-console-groupset.json")
    request = event["detail"]["requestParameters"]
    del request["groupSet"]
    request["instanceType"] = {"value": "t3.large"}

    result = site.run(event)

    assert result["status"] == "ignored"
    assert site.world.calls == []
    assert site.world.messages() == []


def test_a_group_deleted_since_is_ignored(site: Site) -> None:
    gone = site.world.group("gone")
    site.world.ec2.delete_security_group(GroupId=gone)

    result = site.run(site.event(LAUNCH, group=gone))

    assert result["status"] == "ignored"
    assert "no longer exists" in result["reason"]
    assert site.world.messages() == []


def test_a_group_deleted_since_beside_an_open_one_is_noted_and_the_open_one_checked(site: Site) -> None:
    gone = site.world.group("gone")
    site.world.ec2.delete_security_group(GroupId=gone)
    event = site.event("constructed-ModifyNetworkInterfaceAttribute-cli-replace-groups.json")
    event["requestParameters"]["groupSet"]["items"][1]["groupId"] = gone

    site.run(event, REMEDIATOR_SWEEP_MODE="revoke")

    assert site.world.ingress(site.open) == {HTTPS}
    [message] = site.world.messages()
    assert f"security group {gone} no longer exists; skipped" in message["body"]


def test_groups_that_cannot_be_read_at_all_are_refused_with_a_warning_and_a_message(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    event = site.event("elastic-RunInstances-cli-default-sg-response-only.json")
    # The default group was attached, but the event without its response names none.
    event["responseElements"] = None

    result = site.run(event, REMEDIATOR_SWEEP_MODE="revoke")

    assert result["status"] == "refused"
    [message] = site.world.messages()
    assert "could not check the security groups that RunInstances attached" in message["body"]
    assert "Nothing was checked or changed" in message["body"]
    assert '"level": "WARNING", "message": "refused"' in capsys.readouterr().out
    assert site.world.calls == ["Publish"]


def test_an_id_that_is_not_a_group_id_is_skipped_and_noted_in_the_message(site: Site) -> None:
    event = site.event("constructed-ModifyNetworkInterfaceAttribute-cli-replace-groups.json")
    event["requestParameters"]["groupSet"]["items"][1] = {"groupName": "default"}

    site.run(event)

    [message] = site.world.messages()
    assert "requestParameters.groupSet[1]: names group 'default' by name only; skipped" in message["body"]


def test_an_event_of_another_region_is_refused(site: Site) -> None:
    event = site.event(LAUNCH)
    event["awsRegion"] = "us-east-1"

    result = site.run(event, REMEDIATOR_SWEEP_MODE="revoke")

    assert result["status"] == "refused"
    assert site.world.ingress(site.open) == {SSH, HTTPS}
    [message] = site.world.messages()
    assert site.open in message["body"]


def test_sweep_mode_ignore_tells_nobody_and_changes_nothing(site: Site, table: Any) -> None:
    result = site.run(site.event(LAUNCH), REMEDIATOR_SWEEP_MODE="ignore", REMEDIATOR_STATE_TABLE=TABLE)

    assert site.world.ingress(site.open) == {SSH, HTTPS}
    assert site.world.messages() == []
    assert items(table) == []
    assert result["groups"][0]["findings"][0]["outcome"] == "ignored"


def test_the_lambda_handler_sends_an_attaching_call_here(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDIATOR_TOPIC_ARN", site.world.topic_arn)
    monkeypatch.setenv("REMEDIATOR_SWEEP_MODE", "revoke")
    current_settings.cache_clear()
    effects.default_aws.cache_clear()
    try:
        result = handler.handler(site.event("constructed-AssociateSecurityGroupVpc-console.json"), None)
    finally:
        current_settings.cache_clear()
        effects.default_aws.cache_clear()

    assert result["status"] == "remediated"
    assert site.world.ingress(site.open) == {HTTPS}
    [message] = site.world.messages()
    assert f"was just attached to VPC {site.world.vpc_id}" in message["body"]
