"""The declared IAM permissions match the AWS calls the code makes, no more and no fewer."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import ACCOUNT, World

from remediator.cli import cloudtrail
from remediator.effects import DECLARED_OPERATIONS
from remediator.permissions import PERMISSIONS, ResourceKind, enabled_permissions
from remediator.policy import ALLOWED_CIDRS_TAG, MODE_TAG
from remediator.remediate import remediate
from remediator.settings import VARIABLE_FIELDS, settings_from
from remediator.sweep import sweep


def test_every_declared_permission_is_used_by_some_aws_action() -> None:
    used = {operation for operations in DECLARED_OPERATIONS.values() for operation in operations}
    assert used == set(PERMISSIONS)


SERVICES = {
    "Publish": "sns",
    "BatchImportFindings": "securityhub",
    "BatchUpdateFindings": "securityhub",
    "GetFindings": "securityhub",
    "PutEvents": "events",
    "UpdateItem": "dynamodb",
}


def test_each_iam_action_is_the_one_for_its_operation() -> None:
    for operation, permission in PERMISSIONS.items():
        service = SERVICES.get(operation, "ec2")
        assert permission.action == f"{service}:{operation}"


def test_a_call_a_setting_turns_on_names_a_true_or_false_setting_of_the_function_and_of_the_stack() -> None:
    switches = {p.enabled_by for p in PERMISSIONS.values() if p.enabled_by is not None}
    assert switches == {"security_hub", "outcome_events"}
    for name in switches:
        assert name in VARIABLE_FIELDS
        assert isinstance(getattr(settings_from({}), name), bool)
    assert {op for op, p in PERMISSIONS.items() if p.enabled_by == "security_hub"} == {
        "BatchImportFindings",
        "BatchUpdateFindings",
        "GetFindings",
    }
    assert {op for op, p in PERMISSIONS.items() if p.enabled_by == "outcome_events"} == {"PutEvents"}


def test_the_enabled_settings_add_their_calls_to_those_always_granted() -> None:
    always = {op for op, p in PERMISSIONS.items() if p.enabled_by is None}
    assert set(enabled_permissions(())) == always
    assert set(enabled_permissions({"outcome_events"})) == always | {"PutEvents"}
    assert set(enabled_permissions({"security_hub", "outcome_events"})) == set(PERMISSIONS)


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


def test_what_the_remediator_calls_on_embedded_aws_is_all_declared(world: World, security_hub: object) -> None:
    office = world.ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "198.51.100.0/24"}]
    )["PrefixList"]["PrefixListId"]
    group_id = world.group(tags={MODE_TAG: "narrow", ALLOWED_CIDRS_TAG: f"203.0.113.0/24 {office}"})
    event = world.open_event(group_id, [SSH_WORLD], rule_ids=False, template=cloudtrail.OLD_FORMAT_TEMPLATE)
    everything_on = {
        "REMEDIATOR_SECURITY_HUB": "true",
        "REMEDIATOR_OUTCOME_EVENTS": "true",
        "REMEDIATOR_STATE_TABLE": world.state_table(),
    }
    world.calls.clear()
    remediate(event, world.settings(**everything_on), world.aws, datetime.now(UTC))
    event_path = set(world.calls)
    world.calls.clear()
    world.authorize(world.group("old"), [SSH_WORLD])
    sweep(
        world.settings(REMEDIATOR_SWEEP_MODE="revoke", **everything_on), world.aws, datetime.now(UTC), account=ACCOUNT
    )
    assert event_path | set(world.calls) <= set(PERMISSIONS)
    assert {"RevokeSecurityGroupIngress", "AuthorizeSecurityGroupIngress", "Publish"} <= event_path
    assert {"BatchImportFindings", "BatchUpdateFindings", "PutEvents", "UpdateItem"} <= event_path
    assert {"GetFindings", "BatchImportFindings", "BatchUpdateFindings", "PutEvents"} <= set(world.calls)
