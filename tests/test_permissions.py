"""The declared IAM permissions match the AWS calls the code makes, no more and no fewer."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import World

from remediator.cli import cloudtrail
from remediator.effects import DECLARED_OPERATIONS
from remediator.permissions import PERMISSIONS, ResourceKind
from remediator.policy import ALLOWED_CIDRS_TAG, MODE_TAG
from remediator.remediate import remediate
from remediator.sweep import sweep


def test_every_declared_permission_is_used_by_some_aws_action() -> None:
    used = {operation for operations in DECLARED_OPERATIONS.values() for operation in operations}
    assert used == set(PERMISSIONS)


def test_each_iam_action_is_the_one_for_its_operation() -> None:
    for operation, permission in PERMISSIONS.items():
        service = "sns" if operation == "Publish" else "ec2"
        assert permission.action == f"{service}:{operation}"


def test_only_reads_are_granted_on_every_resource() -> None:
    unscoped = {p.action for p in PERMISSIONS.values() if p.resource == ResourceKind.ANY}
    assert all(action.split(":")[1].startswith("Describe") for action in unscoped)


def test_the_calls_made_on_every_path_are_all_declared(world: World) -> None:
    plist = world.ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=2, AddressFamily="IPv4", Entries=[{"Cidr": "203.0.113.0/24"}]
    )["PrefixList"]["PrefixListId"]
    narrow = world.group("narrow", {"remediator:mode": "narrow", "remediator:allowed-cidrs": plist})
    plain = world.group("plain")
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    with_list = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": plist}]}
    events = [
        world.open_event(narrow, [ssh]),
        world.open_event(plain, [with_list]),
        world.open_event(plain, [ssh], rule_ids=False, template=cloudtrail.OLD_FORMAT_TEMPLATE),
    ]
    events.append(world.modify_to_open_event(plain, 3389)[1])
    world.calls.clear()
    for event in events:
        remediate(event, world.settings(), world.aws, datetime.now(UTC))
    called = set(world.calls)
    assert called <= set(PERMISSIONS)
    assert {
        "AuthorizeSecurityGroupIngress",
        "RevokeSecurityGroupIngress",
        "Publish",
        "DescribeSecurityGroupRules",
    } <= called
    assert {"DescribeManagedPrefixLists", "GetManagedPrefixListEntries"} <= called


SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def test_every_declared_permission_is_used_by_some_call_and_no_call_is_undeclared() -> None:
    used = {operation for operations in DECLARED_OPERATIONS.values() for operation in operations}
    assert used == set(PERMISSIONS)
    assert {p.resource for p in PERMISSIONS.values() if p.action.split(":")[1].startswith(("Revoke", "Authorize"))} == {
        ResourceKind.SECURITY_GROUP
    }


def test_what_the_remediator_calls_on_embedded_aws_is_all_declared(world: World) -> None:
    office = world.ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "198.51.100.0/24"}]
    )["PrefixList"]["PrefixListId"]
    group_id = world.group(tags={MODE_TAG: "narrow", ALLOWED_CIDRS_TAG: f"203.0.113.0/24 {office}"})
    event = world.open_event(group_id, [SSH_WORLD], rule_ids=False, template=cloudtrail.OLD_FORMAT_TEMPLATE)
    remediate(event, world.settings(), world.aws, datetime.now(UTC))
    event_path = set(world.calls)
    world.calls.clear()
    world.authorize(world.group("old"), [SSH_WORLD])
    sweep(world.settings(REMEDIATOR_SWEEP_MODE="revoke"), world.aws, datetime.now(UTC))
    assert event_path | set(world.calls) <= set(PERMISSIONS)
    assert {"RevokeSecurityGroupIngress", "AuthorizeSecurityGroupIngress", "Publish"} <= event_path
