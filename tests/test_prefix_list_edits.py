"""Prefix-list edits on embedded AWS: the rules on the list after the call in each group using it, and the messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import ACCOUNT, REGION, World, at_home, load_event
from moto_prefix_lists import with_prefix_list_calls

from remediator.cli import cloudtrail
from remediator.effects import default_aws
from remediator.handler import handler
from remediator.prefix_list_edits import read_edit, remediate_edit
from remediator.remediate import Home

NOW = datetime.now(UTC)
HOME = Home(region=REGION, account=ACCOUNT)
MODIFY_RECORD = "kodekloud-ModifyManagedPrefixList-console-add-entry.json"
MODIFY_CLI_RECORD = "constructed-ModifyManagedPrefixList-cli-add-list-remove-entry.json"
RESTORE_RECORD = "constructed-RestoreManagedPrefixListVersion-console.json"
CALLER = "arn:aws:iam::598274344262:user/michael"  # the principal of the kodekloud record
STILL_HELD = "The list itself still holds 0.0.0.0/0: the remediator does not change prefix lists"
OTHER_RULES = [
    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
]


@pytest.fixture
def pages(world: World, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """moto with GetManagedPrefixListAssociations (two associations a page) and RestoreManagedPrefixListVersion."""
    return with_prefix_list_calls(monkeypatch)


def new_list(world: World, cidrs: list[str], name: str = "admins") -> str:
    created = world.ec2.create_managed_prefix_list(
        PrefixListName=name, AddressFamily="IPv4", MaxEntries=10, Entries=[{"Cidr": cidr} for cidr in cidrs]
    )
    return str(created["PrefixList"]["PrefixListId"])


def add_to_list(world: World, list_id: str, cidr: str) -> None:
    version = world.ec2.describe_managed_prefix_lists(PrefixListIds=[list_id])["PrefixLists"][0]["Version"]
    world.ec2.modify_managed_prefix_list(PrefixListId=list_id, CurrentVersion=version, AddEntries=[{"Cidr": cidr}])


def ssh_from(list_id: str) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": list_id}]}


def https_from(list_id: str) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": list_id}]}


def group_on_list(world: World, list_id: str, name: str, tags: dict[str, str] | None = None) -> str:
    """A group with SSH and HTTPS from the list, and two rules that do not use it."""
    group_id = world.group(name, tags)
    world.authorize(group_id, [ssh_from(list_id), https_from(list_id), *OTHER_RULES])
    return group_id


def others(list_id: str) -> set[tuple[str, int | None, int | None, str]]:
    """The ingress a group keeps once its SSH rule on the list is closed."""
    return {("tcp", 443, 443, list_id), ("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 22, 22, "10.0.0.0/8")}


def enveloped(record: dict[str, Any]) -> dict[str, Any]:
    """The record as EventBridge delivers it, made in the embedded account and region."""
    return at_home(cloudtrail.envelope({}, record, ACCOUNT, REGION))


def modify_event(list_id: str, *cidrs: str) -> dict[str, Any]:
    """The real console record of an entry added to a list, pointed at the embedded list and given these entries."""
    record = load_event(MODIFY_RECORD)
    request = record["requestParameters"]["ModifyManagedPrefixListRequest"]
    request["PrefixListId"] = list_id
    entries = [{"Description": "My IP Range", "cidr": cidr, "tag": str(n)} for n, cidr in enumerate(cidrs, 1)]
    # The console gives one added entry as an object, several as a list.
    request["AddEntry"] = entries[0] if len(entries) == 1 else entries
    return enveloped(record)


def restore_event(list_id: str, previous: int, current: int) -> dict[str, Any]:
    record = load_event(RESTORE_RECORD)
    record["requestParameters"]["RestoreManagedPrefixListVersionRequest"].update(
        PrefixListId=list_id, PreviousVersion=str(previous), CurrentVersion=str(current)
    )
    return enveloped(record)


def run(world: World, event: object, **env: str) -> dict[str, Any]:
    world.calls.clear()
    return remediate_edit(event, world.settings(**env), world.aws, NOW, home=HOME)


def by_group(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {message["attributes"]["group_id"]: message for message in messages}


def test_an_open_entry_added_to_a_list_closes_its_ssh_rule_in_both_groups_that_use_it_and_nothing_else(
    world: World, pages: list[int]
) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    web, api = group_on_list(world, list_id, "web"), group_on_list(world, list_id, "api")
    egress = world.egress(web)
    add_to_list(world, list_id, "0.0.0.0/0")

    result = run(world, modify_event(list_id, "0.0.0.0/0"))

    assert world.ingress(web) == others(list_id)
    assert world.ingress(api) == others(list_id)
    assert world.egress(web) == egress
    assert result["status"] == "remediated"
    assert result["open_entries"] == ["0.0.0.0/0"]
    assert sorted(group["group_id"] for group in result["groups"]) == sorted([web, api])
    assert [f["outcome"] for group in result["groups"] for f in group["findings"]] == ["revoked", "revoked"]
    # Both groups' holes are closed before anyone is told; one describe of the rules serves both groups.
    assert world.calls.count("DescribeSecurityGroupRules") == 1
    assert world.calls.index("Publish") > max(i for i, c in enumerate(world.calls) if c == "RevokeSecurityGroupIngress")
    assert world.calls.count("Publish") == 2


def test_each_group_gets_a_message_naming_the_list_the_open_entry_the_caller_and_that_the_list_still_holds_it(
    world: World, pages: list[int]
) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    web, api = group_on_list(world, list_id, "web"), group_on_list(world, list_id, "api")
    add_to_list(world, list_id, "0.0.0.0/0")

    run(world, modify_event(list_id, "0.0.0.0/0"))

    messages = by_group(world.messages())
    assert set(messages) == {web, api}
    message = messages[web]
    body = message["body"]
    assert list_id in message["subject"]
    assert "0.0.0.0/0" in message["subject"]
    assert message["attributes"]["prefix_list_id"] == list_id
    assert f"Prefix list {list_id} was edited by {CALLER} (ModifyManagedPrefixList): the call added 0.0.0.0/0" in body
    assert STILL_HELD in body
    assert "a list may be shared with other accounts, or serve routes too" in body
    assert "removing the entry from the list is for the list's owner" in body
    assert f"aws ec2 modify-managed-prefix-list --prefix-list-id {list_id} --remove-entries Cidr=0.0.0.0/0" in body
    assert f"tcp/22 from {list_id}" in body
    assert "Outcome:   revoked" in body
    # The command that restores the rule puts back the rule on the list, as it was.
    assert f'"PrefixListIds":[{{"PrefixListId":"{list_id}"}}]' in body
    assert f"By:        {CALLER}" in body


def test_a_group_tagged_notify_is_only_told_and_keeps_its_rule_on_the_list(world: World, pages: list[int]) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    web = group_on_list(world, list_id, "web")
    watched = group_on_list(world, list_id, "watched", {"remediator:mode": "notify"})
    add_to_list(world, list_id, "0.0.0.0/0")

    result = run(world, modify_event(list_id, "0.0.0.0/0"))

    assert world.ingress(web) == others(list_id)
    assert world.ingress(watched) == {*others(list_id), ("tcp", 22, 22, list_id)}
    assert result["status"] == "left-open"
    body = by_group(world.messages())[watched]["body"]
    assert "Outcome:   left open (notify mode)" in body
    assert STILL_HELD in body
    assert "Restore:" not in body


def test_a_narrow_group_gets_its_allowed_source_on_the_rules_ports_and_loses_the_rule_on_the_list(
    world: World, pages: list[int]
) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    tags = {"remediator:mode": "narrow", "remediator:allowed-cidrs": "192.0.2.0/24"}
    narrow = group_on_list(world, list_id, "narrow", tags)
    add_to_list(world, list_id, "0.0.0.0/0")

    result = run(world, modify_event(list_id, "0.0.0.0/0"))

    assert world.ingress(narrow) == {*others(list_id), ("tcp", 22, 22, "192.0.2.0/24")}
    assert [f["outcome"] for f in result["groups"][0]["findings"]] == ["narrowed"]
    body = world.messages()[0]["body"]
    assert "allowed tcp/22 from 192.0.2.0/24 instead" in body
    assert STILL_HELD in body


def test_a_benign_entry_added_changes_nothing_tells_no_one_and_makes_no_call(world: World, pages: list[int]) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    web = group_on_list(world, list_id, "web")
    add_to_list(world, list_id, "10.0.0.0/8")

    result = run(world, modify_event(list_id, "10.0.0.0/8"))

    assert result["status"] == "clean"
    assert world.ingress(web) == {*others(list_id), ("tcp", 22, 22, list_id)}
    assert world.calls == []
    assert world.messages() == []


def test_a_failed_call_is_ignored_and_changes_nothing(world: World, pages: list[int]) -> None:
    list_id = new_list(world, ["198.51.100.0/24", "0.0.0.0/0"])
    web = group_on_list(world, list_id, "web")
    event = modify_event(list_id, "0.0.0.0/0")
    event["detail"].update(errorCode="Client.UnauthorizedOperation", errorMessage="You are not authorized")

    result = run(world, event)

    assert result["status"] == "ignored"
    assert "the call failed (Client.UnauthorizedOperation)" in result["reason"]
    assert world.ingress(web) == {*others(list_id), ("tcp", 22, 22, list_id)}
    assert world.calls == []
    assert world.messages() == []


def test_a_dry_run_changes_nothing_and_says_the_rule_would_be_revoked(world: World, pages: list[int]) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    web = group_on_list(world, list_id, "web")
    add_to_list(world, list_id, "0.0.0.0/0")

    result = run(world, modify_event(list_id, "0.0.0.0/0"), REMEDIATOR_DRY_RUN="true")

    assert result["status"] == "dry-run"
    assert world.ingress(web) == {*others(list_id), ("tcp", 22, 22, list_id)}
    assert "RevokeSecurityGroupIngress" not in world.calls
    assert "DescribeSecurityGroupRules" not in world.calls
    [message] = world.messages()
    assert message["subject"].startswith("[sg-remediator] would close 1 risky rule")
    assert "Outcome:   would be revoked (dry run: nothing changed)" in message["body"]
    assert "DRY RUN: the remediator changed nothing" in message["body"]
    assert STILL_HELD in message["body"]
    assert "revoked\n" not in message["body"]


def test_a_restored_version_that_holds_an_open_entry_closes_the_rules_on_the_list(
    world: World, pages: list[int]
) -> None:
    list_id = new_list(world, ["198.51.100.0/24", "0.0.0.0/0"])
    world.ec2.modify_managed_prefix_list(PrefixListId=list_id, CurrentVersion=1, RemoveEntries=[{"Cidr": "0.0.0.0/0"}])
    web = group_on_list(world, list_id, "web")
    world.ec2.restore_managed_prefix_list_version(PrefixListId=list_id, PreviousVersion=1, CurrentVersion=2)

    result = run(world, restore_event(list_id, previous=1, current=2))

    assert world.ingress(web) == others(list_id)
    assert result["status"] == "remediated"
    body = world.messages()[0]["body"]
    assert f"Prefix list {list_id} was restored to version 1 by {CALLER} (RestoreManagedPrefixListVersion)" in body
    assert "it now holds 0.0.0.0/0, open to the internet" in body
    assert STILL_HELD in body


def test_a_restored_version_without_an_open_entry_changes_nothing(world: World, pages: list[int]) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    add_to_list(world, list_id, "192.0.2.0/24")
    web = group_on_list(world, list_id, "web")
    world.ec2.restore_managed_prefix_list_version(PrefixListId=list_id, PreviousVersion=1, CurrentVersion=2)

    result = run(world, restore_event(list_id, previous=1, current=2))

    assert result["status"] == "clean"
    assert world.ingress(web) == {*others(list_id), ("tcp", 22, 22, list_id)}
    assert "GetManagedPrefixListAssociations" not in world.calls
    assert world.messages() == []


def test_a_list_no_group_references_is_clean_and_tells_no_one(world: World, pages: list[int]) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    bystander = world.group("bystander")
    world.authorize(bystander, OTHER_RULES)
    add_to_list(world, list_id, "0.0.0.0/0")

    result = run(world, modify_event(list_id, "0.0.0.0/0"))

    assert result["status"] == "clean"
    assert "GetManagedPrefixListAssociations" in world.calls
    assert "RevokeSecurityGroupIngress" not in world.calls
    assert world.ingress(bystander) == {("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 22, 22, "10.0.0.0/8")}
    assert world.messages() == []


def test_groups_that_use_the_list_only_on_other_ports_are_left_alone(world: World, pages: list[int]) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    web = world.group("web")
    world.authorize(web, [https_from(list_id)])
    add_to_list(world, list_id, "0.0.0.0/0")

    result = run(world, modify_event(list_id, "0.0.0.0/0"))

    assert result["status"] == "clean"
    assert world.ingress(web) == {("tcp", 443, 443, list_id)}
    assert world.messages() == []


def test_the_associations_are_read_page_by_page_and_every_page_s_groups_are_closed(
    world: World, pages: list[int]
) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    groups = [group_on_list(world, list_id, f"g{number}") for number in range(5)]
    add_to_list(world, list_id, "0.0.0.0/0")

    result = run(world, modify_event(list_id, "0.0.0.0/0"))

    # moto serves two associations a page here (as AWS serves MaxResults): three pages for five groups.
    assert pages == [2, 2, 1]
    assert world.calls.count("GetManagedPrefixListAssociations") == 3
    assert all(world.ingress(group_id) == others(list_id) for group_id in groups)
    assert len(result["groups"]) == 5
    assert len(world.messages()) == 5


def test_a_route_table_that_uses_the_list_is_not_taken_for_a_group(world: World, pages: list[int]) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    web = group_on_list(world, list_id, "web")
    table = world.ec2.create_route_table(VpcId=world.vpc_id)["RouteTable"]["RouteTableId"]
    gateway = world.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    world.ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=world.vpc_id)
    world.ec2.create_route(RouteTableId=table, DestinationPrefixListId=list_id, GatewayId=gateway)

    assert world.aws.prefix_list_associations(list_id) == (web,)
    assert world.aws.prefix_list_associations(list_id, owner="210987654321") == ()
    assert world.aws.prefix_list_associations("pl-0123456789abcdef0") == ()


def test_an_open_entry_the_list_does_not_show_yet_is_judged_present_and_said_so(world: World, pages: list[int]) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    web = group_on_list(world, list_id, "web")

    # The event arrives before the list shows the entry it added (AWS applies the change asynchronously).
    result = run(world, modify_event(list_id, "0.0.0.0/0"))

    assert world.ingress(web) == others(list_id)
    assert result["status"] == "remediated"
    body = world.messages()[0]["body"]
    assert "the list as read did not show 0.0.0.0/0, which this call added" in body


def test_the_cli_record_with_several_entries_added_and_one_removed_names_only_the_open_one(
    world: World, pages: list[int]
) -> None:
    list_id = new_list(world, ["203.0.113.0/24"])
    web = group_on_list(world, list_id, "web")
    world.ec2.modify_managed_prefix_list(
        PrefixListId=list_id,
        CurrentVersion=1,
        AddEntries=[{"Cidr": "198.51.100.0/24"}, {"Cidr": "0.0.0.0/0"}],
        RemoveEntries=[{"Cidr": "203.0.113.0/24"}],
    )
    record = load_event(MODIFY_CLI_RECORD)
    record["requestParameters"]["ModifyManagedPrefixListRequest"]["PrefixListId"] = list_id

    result = run(world, at_home(record))

    assert world.ingress(web) == others(list_id)
    assert result["open_entries"] == ["0.0.0.0/0"]
    assert "the call added 0.0.0.0/0, open to the internet" in world.messages()[0]["body"]


def test_the_other_spelling_of_the_request_is_read_as_well() -> None:
    record = {
        "eventName": "ModifyManagedPrefixList",
        "requestParameters": {"prefixListId": "pl-1", "addEntries": [{"Cidr": "0.0.0.0/0"}, {"Cidr": "10.0.0.0/8"}]},
    }

    edit = read_edit(record, "ModifyManagedPrefixList")

    assert edit.prefix_list_id == "pl-1"
    assert edit.added == ("0.0.0.0/0", "10.0.0.0/8")
    assert edit.skipped == ()


def test_a_request_that_names_no_list_is_refused_with_a_warning_and_a_message(
    world: World, pages: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    list_id = new_list(world, ["198.51.100.0/24", "0.0.0.0/0"])
    web = group_on_list(world, list_id, "web")
    event = modify_event(list_id, "0.0.0.0/0")
    del event["detail"]["requestParameters"]["ModifyManagedPrefixListRequest"]["PrefixListId"]

    result = run(world, event)

    assert result["status"] == "refused"
    assert world.ingress(web) == {*others(list_id), ("tcp", 22, 22, list_id)}
    warnings = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"WARNING"' in line]
    assert [line["message"] for line in warnings] == ["refused"]
    assert "PrefixListId: missing or not text" in warnings[0]["skipped"][0]
    [message] = world.messages()
    assert message["subject"].startswith("[sg-remediator] refused an event on prefix list unknown")
    assert "Nothing was checked or changed" in message["body"]
    assert "Not read: requestParameters.ModifyManagedPrefixListRequest.PrefixListId" in message["body"]


def test_an_added_entry_that_cannot_be_read_is_a_warning_and_the_list_is_judged_as_it_is_now(
    world: World, pages: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    web = group_on_list(world, list_id, "web")
    add_to_list(world, list_id, "0.0.0.0/0")
    event = modify_event(list_id, "0.0.0.0/0")
    event["detail"]["requestParameters"]["ModifyManagedPrefixListRequest"]["AddEntry"] = {"Description": "x"}

    result = run(world, event)

    assert world.ingress(web) == others(list_id)
    assert result["status"] == "remediated"
    assert '"level": "WARNING", "message": "event read in part"' in capsys.readouterr().out
    body = world.messages()[0]["body"]
    assert "the call could not be read in full, and the list now holds 0.0.0.0/0" in body
    assert "The event could not be read in full:" in body
    assert "AddEntry[0]: no readable cidr; skipped" in body


def test_an_event_read_in_part_that_opened_nothing_is_still_told(
    world: World, pages: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    group_on_list(world, list_id, "web")
    event = modify_event(list_id, "0.0.0.0/0")
    event["detail"]["requestParameters"]["ModifyManagedPrefixListRequest"]["AddEntry"] = ["not an entry"]

    result = run(world, event)

    assert result["status"] == "clean"
    assert '"message": "event read in part"' in capsys.readouterr().out
    [message] = world.messages()
    assert "it holds no entry open to the internet. Nothing was changed." in message["body"]
    assert "Not read: requestParameters.ModifyManagedPrefixListRequest.AddEntry[0]" in message["body"]


def test_an_edit_in_another_region_is_refused_and_nothing_is_read(world: World, pages: list[int]) -> None:
    list_id = new_list(world, ["198.51.100.0/24", "0.0.0.0/0"])
    web = group_on_list(world, list_id, "web")
    event = modify_event(list_id, "0.0.0.0/0")
    event["detail"]["awsRegion"] = "us-west-2"

    result = run(world, event)

    assert result["status"] == "refused"
    assert world.calls == ["Publish"]
    assert world.ingress(web) == {*others(list_id), ("tcp", 22, 22, list_id)}
    assert "event from us-west-2; this remediator acts in eu-west-1" in world.messages()[0]["body"]


def test_a_trusted_caller_s_edit_is_only_told(world: World, pages: list[int]) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    web = group_on_list(world, list_id, "web")
    add_to_list(world, list_id, "0.0.0.0/0")

    result = run(world, modify_event(list_id, "0.0.0.0/0"), REMEDIATOR_TRUSTED_PRINCIPALS=CALLER)

    assert world.ingress(web) == {*others(list_id), ("tcp", 22, 22, list_id)}
    assert result["status"] == "left-open"
    assert "Outcome:   left open (notify mode)" in world.messages()[0]["body"]


def test_the_handler_sends_a_prefix_list_edit_here(
    world: World, pages: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    list_id = new_list(world, ["198.51.100.0/24"])
    web = group_on_list(world, list_id, "web")
    add_to_list(world, list_id, "0.0.0.0/0")
    monkeypatch.setenv("REMEDIATOR_TOPIC_ARN", world.topic_arn)
    monkeypatch.setenv("AWS_REGION", REGION)
    default_aws.cache_clear()
    try:
        result = handler(modify_event(list_id, "0.0.0.0/0"), None)
    finally:
        default_aws.cache_clear()

    assert result["prefix_list_id"] == list_id
    assert world.ingress(web) == others(list_id)
