"""The remediation of one event on embedded AWS: the group's rules after the call, the messages, the calls."""

from __future__ import annotations

import copy
import json
import shlex
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, EVENTS_DIR, REGION, World, at_home, load_event

from remediator.cli import cloudtrail
from remediator.effects import Aws
from remediator.remediate import remediate

NOW = datetime.now(UTC)
SSH_WORLD = {
    "IpProtocol": "tcp",
    "FromPort": 22,
    "ToPort": 22,
    "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "admin"}],
}
LEGIT = [
    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]},
]
LEGIT_ENTRIES = {
    ("tcp", 443, 443, "0.0.0.0/0"),
    ("tcp", 22, 22, "10.0.0.0/8"),
    ("tcp", 3389, 3389, "203.0.113.0/24"),
}


def group_with_legit_rules(world: World, tags: dict[str, str] | None = None, name: str = "web") -> str:
    group_id = world.group(name, tags)
    world.authorize(group_id, LEGIT)
    return group_id


def run(world: World, event: object, **env: str) -> dict[str, Any]:
    world.calls.clear()
    return remediate(event, world.settings(**env), world.aws, NOW)


def test_revoke_removes_exactly_the_risky_entry_as_the_second_of_five_calls(world: World) -> None:
    group_id = group_with_legit_rules(world)
    egress_before = world.egress(group_id)
    event = world.open_event(group_id, [SSH_WORLD])

    result = run(world, event)

    assert world.ingress(group_id) == LEGIT_ENTRIES
    assert world.egress(group_id) == egress_before
    # The interfaces that use the group are looked up after the revoke, which nothing delays; the outcome event last.
    assert world.calls == [
        "DescribeSecurityGroups",
        "RevokeSecurityGroupIngress",
        "DescribeNetworkInterfaces",
        "Publish",
        "PutEvents",
    ]
    assert world.calls[1] == "RevokeSecurityGroupIngress"
    assert [f["outcome"] for f in result["findings"]] == ["revoked"]
    assert result["status"] == "remediated"


EVENT_PATH = ["DescribeSecurityGroups", "RevokeSecurityGroupIngress", "DescribeNetworkInterfaces", "Publish"]
SECURITY_HUB = ["BatchImportFindings", "BatchUpdateFindings"]


@pytest.mark.parametrize(
    ("hub", "outcome_events", "after"),
    [
        ("false", "true", ["PutEvents"]),
        ("false", "false", []),
        ("true", "true", [*SECURITY_HUB, "PutEvents"]),
        ("true", "false", SECURITY_HUB),
    ],
)
def test_the_event_path_makes_these_calls_with_each_setting_and_the_revoke_stays_second(
    world: World, request: pytest.FixtureRequest, hub: str, outcome_events: str, after: list[str]
) -> None:
    request.getfixturevalue("security_hub")
    group_id = world.group()
    event = world.open_event(group_id, [SSH_WORLD])

    run(world, event, REMEDIATOR_SECURITY_HUB=hub, REMEDIATOR_OUTCOME_EVENTS=outcome_events)

    # Describe, revoke, then everything else: who uses the group, the notification, Security Hub, the outcome event.
    assert world.calls == [*EVENT_PATH, *after]
    assert world.calls[1] == "RevokeSecurityGroupIngress"
    assert world.ingress(group_id) == set()


@pytest.mark.parametrize(
    ("hub", "outcome_events", "after"),
    [
        ("false", "true", ["PutEvents"]),
        ("false", "false", []),
        ("true", "true", ["BatchImportFindings", "PutEvents"]),
        ("true", "false", ["BatchImportFindings"]),
    ],
)
def test_a_notify_event_makes_these_calls_with_each_setting(
    world: World, request: pytest.FixtureRequest, hub: str, outcome_events: str, after: list[str]
) -> None:
    request.getfixturevalue("security_hub")
    group_id = world.group(tags={"remediator:mode": "notify"})
    event = world.open_event(group_id, [SSH_WORLD])

    run(world, event, REMEDIATOR_SECURITY_HUB=hub, REMEDIATOR_OUTCOME_EVENTS=outcome_events)

    # Nothing to resolve: the finding stays open, so no BatchUpdateFindings.
    assert world.calls == ["DescribeSecurityGroups", "DescribeNetworkInterfaces", "Publish", *after]


def test_the_notification_tells_a_person_what_happened_and_what_to_do(world: World) -> None:
    group_id = group_with_legit_rules(world)
    event = world.open_event(group_id, [SSH_WORLD])
    run(world, event)

    [message] = world.messages()
    assert message["subject"] == f"[sg-remediator] closed 1 risky rule in {group_id} (web)"
    body = message["body"]
    detail = event["detail"]
    for expected in (
        ACCOUNT,
        REGION,
        group_id,
        "(web)",
        world.vpc_id,
        detail["userIdentity"]["arn"],
        detail["sourceIPAddress"],
        detail["userAgent"],
        detail["eventTime"],
        "tcp/22 from 0.0.0.0/0",
        "the whole internet",
        "Outcome:   revoked",
        "remediator:mode=ignore",
        "Session Manager",
    ):
        assert expected in body, expected
    assert detail["userIdentity"]["accessKeyId"] not in body
    assert message["attributes"] == {
        "mode": "revoke",
        "action": "revoked",
        "group_id": group_id,
        "vpc_id": world.vpc_id,
    }


def test_other_sources_of_the_same_permission_are_untouched(world: World) -> None:
    group_id = world.group()
    permission = {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "IpRanges": [
            {"CidrIp": "0.0.0.0/0"},
            {"CidrIp": "198.51.100.0/24"},
            {"CidrIp": "0.0.0.0/1"},
            {"CidrIp": "128.0.0.0/1"},
        ],
    }
    event = world.open_event(group_id, [permission])
    result = run(world, event)
    assert world.ingress(group_id) == {("tcp", 22, 22, "198.51.100.0/24")}
    assert sorted(f["source"] for f in result["findings"]) == ["0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1"]


def test_the_old_response_format_finds_rule_ids_with_one_describe(world: World) -> None:
    group_id = group_with_legit_rules(world)
    event = world.open_event(group_id, [SSH_WORLD], rule_ids=False, template=cloudtrail.OLD_FORMAT_TEMPLATE)
    assert "securityGroupRuleSet" not in event["detail"]["responseElements"]

    run(world, event)

    assert world.ingress(group_id) == LEGIT_ENTRIES
    assert world.calls == [
        "DescribeSecurityGroups",
        "DescribeSecurityGroupRules",
        "RevokeSecurityGroupIngress",
        "DescribeNetworkInterfaces",
        "Publish",
        "PutEvents",
    ]


def test_all_traffic_from_ipv4_and_ipv6_anywhere_is_revoked(world: World) -> None:
    group_id = group_with_legit_rules(world)
    permission = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
    run(world, world.open_event(group_id, [permission]))
    assert world.ingress(group_id) == LEGIT_ENTRIES


def test_a_port_range_containing_ssh_is_revoked_and_one_without_is_not(world: World) -> None:
    group_id = world.group()
    risky = {"IpProtocol": "udp", "FromPort": 20, "ToPort": 30, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    safe = {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8100, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    run(world, world.open_event(group_id, [risky, safe]))
    assert world.ingress(group_id) == {("tcp", 8000, 8100, "0.0.0.0/0")}


def test_narrow_replaces_the_open_source_with_the_allowed_ones_keeping_the_description(world: World) -> None:
    tags = {"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24, 198.51.100.7 2001:db8::/48"}
    group_id = world.group(tags=tags)
    permission = {**SSH_WORLD, "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "admin v6"}]}
    result = run(world, world.open_event(group_id, [permission]))

    assert world.ingress(group_id) == {
        ("tcp", 22, 22, "203.0.113.0/24"),
        ("tcp", 22, 22, "198.51.100.7/32"),
        ("tcp", 22, 22, "2001:db8::/48"),
    }
    described = world.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    descriptions = {
        r.get("CidrIpv4") or r.get("CidrIpv6"): r.get("Description") for r in described["SecurityGroupRules"]
    }
    assert descriptions["203.0.113.0/24"] == "admin"
    assert descriptions["2001:db8::/48"] == "admin v6"
    assert [f["outcome"] for f in result["findings"]] == ["narrowed", "narrowed"]
    # One describe, one authorize per allowed source, one revoke, one publish.
    assert world.calls == [
        "DescribeSecurityGroups",
        *["AuthorizeSecurityGroupIngress"] * 3,
        "RevokeSecurityGroupIngress",
        "DescribeNetworkInterfaces",
        "Publish",
        "PutEvents",
    ]


def test_narrow_without_an_allowed_source_of_the_family_revokes_and_says_so(world: World) -> None:
    group_id = world.group(tags={"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24"})
    permission = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
    run(world, world.open_event(group_id, [permission]))
    assert world.ingress(group_id) == set()
    [message] = world.messages()
    assert "no allowed IPv6 source to narrow to, so the rule was revoked" in message["body"]


def test_the_account_wide_allowed_cidrs_serve_groups_without_their_own(world: World) -> None:
    group_id = world.group(tags={"remediator:mode": "narrow"})
    run(world, world.open_event(group_id, [SSH_WORLD]), REMEDIATOR_ALLOWED_CIDRS="198.51.100.0/24")
    assert world.ingress(group_id) == {("tcp", 22, 22, "198.51.100.0/24")}


def test_narrowing_leads_to_no_loop_the_remediators_own_call_is_clean(world: World) -> None:
    group_id = world.group(tags={"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24"})
    run(world, world.open_event(group_id, [SSH_WORLD]))
    world.messages()
    # The authorize the remediator made produces an event of its own, which must change nothing.
    own_call = cloudtrail.authorize_event(
        cloudtrail.load_template(cloudtrail.RULE_SET_TEMPLATE),
        group_id=group_id,
        permissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}],
        rules=None,
        account=ACCOUNT,
        region=REGION,
    )
    result = run(world, own_call)
    assert result["status"] == "clean"
    assert world.calls == ["DescribeSecurityGroups"]
    assert world.messages() == []


def test_notify_changes_nothing_and_notifies(world: World) -> None:
    group_id = group_with_legit_rules(world, {"remediator:mode": "notify"})
    run(world, world.open_event(group_id, [SSH_WORLD]))
    assert world.ingress(group_id) == {*LEGIT_ENTRIES, ("tcp", 22, 22, "0.0.0.0/0")}
    [message] = world.messages()
    assert message["attributes"]["mode"] == "notify"
    assert "left open (notify mode)" in message["body"]
    assert world.calls == ["DescribeSecurityGroups", "DescribeNetworkInterfaces", "Publish", "PutEvents"]


def test_ignore_changes_nothing_and_only_logs(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    group_id = world.group(tags={"remediator:mode": "ignore", "remediator:expires": "2999-01-01"})
    result = run(world, world.open_event(group_id, [SSH_WORLD]))
    assert world.ingress(group_id) == {("tcp", 22, 22, "0.0.0.0/0")}
    assert world.messages() == []
    assert result["findings"][0]["outcome"] == "ignored"
    assert '"outcome": "ignored"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("tags", "said"),
    [
        ({"remediator:mode": "narrow", "remediator:allowed-cidrs": "0.0.0.0/1"}, "0.0.0.0/1 is itself open"),
        ({"remediator:mode": "ignore", "remediator:expires": "2020-01-31"}, "the exception expired on 2020-01-31"),
        ({"remediator:mode": "ignroe"}, "the remediator:mode tag 'ignroe' is not one of"),
    ],
)
def test_a_policy_that_cannot_hold_falls_back_to_revoke_and_says_why(
    world: World, tags: dict[str, str], said: str
) -> None:
    group_id = world.group(tags=tags)
    run(world, world.open_event(group_id, [SSH_WORLD]), REMEDIATOR_DEFAULT_MODE="revoke")
    assert world.ingress(group_id) == set()
    assert said in world.messages()[0]["body"]


def test_dry_run_decides_and_notifies_but_changes_nothing(world: World) -> None:
    group_id = world.group(tags={"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24"})
    result = run(world, world.open_event(group_id, [SSH_WORLD]), REMEDIATOR_DRY_RUN="true")
    assert world.ingress(group_id) == {("tcp", 22, 22, "0.0.0.0/0")}
    assert result["status"] == "dry-run"
    [message] = world.messages()
    assert message["subject"].startswith("[sg-remediator] would close 1 risky rule")
    assert "would be narrowed (dry run: nothing changed)" in message["body"]
    assert "Note:      would be narrowed to 203.0.113.0/24" in message["body"]
    assert result["findings"][0]["notes"] == ["would be narrowed to 203.0.113.0/24"]
    assert world.calls == ["DescribeSecurityGroups", "DescribeNetworkInterfaces", "Publish", "PutEvents"]


def test_without_a_topic_the_notification_is_only_logged(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    group_id = world.group()
    event = world.open_event(group_id, [SSH_WORLD])
    world.calls.clear()
    result = remediate(event, world.settings(REMEDIATOR_TOPIC_ARN=""), world.aws, NOW)
    assert result["notified"] is False
    assert "Publish" not in world.calls
    assert "notification (no topic configured)" in capsys.readouterr().out


def test_the_same_event_twice_gives_the_same_end_state_without_error(world: World) -> None:
    group_id = group_with_legit_rules(world)
    event = world.open_event(group_id, [SSH_WORLD])
    first = run(world, event)
    second = run(world, copy.deepcopy(event))
    assert world.ingress(group_id) == LEGIT_ENTRIES
    assert [f["outcome"] for f in first["findings"]] == ["revoked"]
    assert [f["outcome"] for f in second["findings"]] == ["already-gone"]
    # The second delivery still tells people, in case the first message was lost.
    assert [m["attributes"]["action"] for m in world.messages()] == ["revoked", "already-gone"]


def test_a_rule_revoked_by_someone_else_first_is_success(world: World) -> None:
    group_id = world.group()
    event = world.open_event(group_id, [SSH_WORLD])
    world.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[SSH_WORLD])
    result = run(world, event)
    assert result["findings"][0]["outcome"] == "already-gone"
    assert "RevokeSecurityGroupIngress" not in world.calls


def test_a_deleted_group_is_ignored_with_a_reason(world: World) -> None:
    group_id = world.group()
    event = world.open_event(group_id, [SSH_WORLD])
    world.ec2.delete_security_group(GroupId=group_id)
    result = run(world, event)
    assert result["status"] == "ignored"
    assert f"security group {group_id} no longer exists" in result["reason"]


def test_a_group_named_in_the_default_vpc_is_found_by_name(world: World) -> None:
    created = world.ec2.create_security_group(GroupName="legacy", Description="default VPC group")
    event = world.open_event(created["GroupId"], [SSH_WORLD], rule_ids=False, template=cloudtrail.OLD_FORMAT_TEMPLATE)
    parameters = event["detail"]["requestParameters"]
    parameters["groupName"] = "legacy"
    del parameters["groupId"]
    run(world, event)
    assert world.ingress(created["GroupId"]) == set()


def test_the_legacy_flat_parameters_are_remediated(world: World) -> None:
    group_id = world.group()
    rules = world.authorize(group_id, [SSH_WORLD])
    event = at_home(load_event("stratus-AuthorizeSecurityGroupIngress-flat-params-tcp22-ruleset.json"))
    event["requestParameters"].update({"groupId": group_id, "cidrIp": "0.0.0.0/0"})
    event["responseElements"]["securityGroupRuleSet"]["items"] = [cloudtrail.cloudtrail_rule(rule) for rule in rules]
    run(world, event)
    assert world.ingress(group_id) == set()


def test_the_legacy_flat_parameters_without_rule_set_are_remediated(world: World) -> None:
    group_id = world.group()
    world.authorize(group_id, [SSH_WORLD])
    event = at_home(load_event("stratus-AuthorizeSecurityGroupIngress-flat-params-tcp22-ruleset.json"))
    event["requestParameters"].update({"groupId": group_id, "cidrIp": "0.0.0.0/0", "fromPort": "22", "toPort": "22"})
    event["responseElements"] = {"_return": True}
    run(world, event)
    assert world.ingress(group_id) == set()


def test_a_rule_modified_to_open_ssh_is_revoked(world: World) -> None:
    group_id = group_with_legit_rules(world)
    rule_id, event = world.modify_to_open_event(group_id, 22)
    result = run(world, event)
    assert world.ingress(group_id) == LEGIT_ENTRIES
    assert [f["rule_id"] for f in result["findings"]] == [rule_id]
    assert world.calls == [
        "DescribeSecurityGroups",
        "DescribeSecurityGroupRules",
        "RevokeSecurityGroupIngress",
        "DescribeNetworkInterfaces",
        "Publish",
        "PutEvents",
    ]


def test_a_modify_whose_request_looks_open_but_whose_rule_is_now_closed_changes_nothing(world: World) -> None:
    group_id = world.group()
    # The event claims the rule became open; the rule as AWS has it now is what counts.
    _, event = world.modify_to_open_event(group_id, 22, apply=False)
    result = run(world, event)
    assert result["status"] == "clean"
    assert world.ingress(group_id) == {("tcp", 22, 22, "198.51.100.0/24")}


def test_a_customer_prefix_list_with_an_open_entry_is_revoked_and_aws_managed_lists_are_not(world: World) -> None:
    open_list = world.ec2.create_managed_prefix_list(
        PrefixListName="anyone",
        MaxEntries=5,
        AddressFamily="IPv4",
        Entries=[{"Cidr": "198.51.100.0/24"}, {"Cidr": "0.0.0.0/0"}],
    )["PrefixList"]["PrefixListId"]
    closed_list = world.ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "198.51.100.0/24"}]
    )["PrefixList"]["PrefixListId"]
    aws_list = next(
        p["PrefixListId"] for p in world.ec2.describe_managed_prefix_lists()["PrefixLists"] if p["OwnerId"] == "AWS"
    )
    group_id = world.group()
    permission = {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "PrefixListIds": [{"PrefixListId": open_list}, {"PrefixListId": closed_list}, {"PrefixListId": aws_list}],
    }
    result = run(world, world.open_event(group_id, [permission]))
    assert world.ingress(group_id) == {("tcp", 22, 22, closed_list), ("tcp", 22, 22, aws_list)}
    assert [f["source"] for f in result["findings"]] == [open_list]
    assert "prefix list" in result["findings"][0]["risk"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "panther-AuthorizeSecurityGroupIngress-console-UnauthorizedOperation.json",
            "the call failed (UnauthorizedOperation)",
        ),
        ("panther-AuthorizeSecurityGroupIngress-console-RequestExpired.json", "the call failed (RequestExpired)"),
        (
            "panther-AuthorizeSecurityGroupEgress-terraform-all-traffic-world-description.json",
            "AuthorizeSecurityGroupEgress is not one of",
        ),
        (
            "elastic-AuthorizeSecurityGroupEgress-cli-instance-role-tcp4444-ruleset.json",
            "AuthorizeSecurityGroupEgress is not one of",
        ),
        ("panther-CreateSecurityGroup-terraform.json", "CreateSecurityGroup is not one of"),
        ("reflex-CreateSecurityGroup-console.json", "CreateSecurityGroup is not one of"),
    ],
)
def test_failed_calls_and_other_events_are_ignored_without_any_aws_call(world: World, name: str, reason: str) -> None:
    result = run(world, load_event(name))
    assert result["status"] == "ignored"
    assert reason in result["reason"]
    assert world.calls == []


def test_a_redacted_group_id_is_ignored_as_a_group_that_does_not_exist(world: World) -> None:
    result = run(world, at_home(load_event("streamalert-AuthorizeSecurityGroupIngress-all-traffic-world-v4-v6.json")))
    assert result["status"] == "ignored"
    assert "security group ... no longer exists" in result["reason"]


def test_every_real_event_is_handled_without_error_and_changes_nothing_it_should_not(world: World) -> None:
    group_id = group_with_legit_rules(world)
    for path in sorted(EVENTS_DIR.glob("*.json")):
        result = run(world, at_home(load_event(path.name)))
        assert result["status"] in {"ignored", "clean"}, path.name
    assert world.ingress(group_id) == LEGIT_ENTRIES


def test_all_traffic_in_a_rule_set_with_minus_one_ports_matches_the_group_listing(world: World) -> None:
    group_id = world.group()
    permission = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    event = world.open_event(group_id, [permission])
    for item in event["detail"]["responseElements"]["securityGroupRuleSet"]["items"]:
        item.update({"fromPort": -1, "toPort": -1})
    result = run(world, event)
    assert [f["outcome"] for f in result["findings"]] == ["revoked"]
    assert world.ingress(group_id) == set()


RDP_WORLD = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def restore_commands(body: str) -> list[list[str]]:
    """The restore commands of a notification, each split as a POSIX shell splits it."""
    return [shlex.split(line.split("Restore:", 1)[1]) for line in body.splitlines() if "Restore:" in line[:15]]


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def described_rules(world: World, group_id: str) -> set[tuple[Any, ...]]:
    """The group's ingress rules with their descriptions."""
    rules = world.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return {
        (r["IpProtocol"], r["FromPort"], r["ToPort"], r.get("CidrIpv4") or r.get("CidrIpv6"), r.get("Description"))
        for r in rules["SecurityGroupRules"]
        if not r["IsEgress"]
    }


def test_running_the_restore_command_of_a_revoked_rule_puts_back_exactly_that_rule(world: World) -> None:
    group_id = group_with_legit_rules(world)
    before = described_rules(world, group_id)
    run(world, world.open_event(group_id, [SSH_WORLD]))
    opened = described_rules(world, group_id) | {("tcp", 22, 22, "0.0.0.0/0", "admin")}
    assert described_rules(world, group_id) == before

    [message] = world.messages()
    [command] = restore_commands(message["body"])
    assert command[:3] == ["aws", "ec2", "authorize-security-group-ingress"]
    assert option(command, "--group-id") == group_id
    assert option(command, "--region") == REGION
    world.ec2.authorize_security_group_ingress(
        GroupId=option(command, "--group-id"), IpPermissions=[json.loads(option(command, "--ip-permissions"))]
    )

    assert described_rules(world, group_id) == opened


def test_the_restore_command_is_json_of_one_permission_single_quoted_for_the_shell(world: World) -> None:
    group_id = world.group()
    run(world, world.open_event(group_id, [SSH_WORLD]))

    body = world.messages()[0]["body"]

    permission = (
        '{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"0.0.0.0/0","Description":"admin"}]}'
    )
    assert (
        f"   Restore:   aws ec2 authorize-security-group-ingress --group-id {group_id} --ip-permissions '{permission}' "
        f"--region {REGION}"
    ) in body


def test_running_the_restore_commands_of_narrowed_rules_puts_the_open_sources_back(world: World) -> None:
    tags = {"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24 2001:db8::/48"}
    group_id = world.group(tags=tags)
    permission = {**SSH_WORLD, "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "admin v6"}]}
    run(world, world.open_event(group_id, [permission]))
    narrowed = world.ingress(group_id)

    commands = restore_commands(world.messages()[0]["body"])
    for command in commands:
        world.ec2.authorize_security_group_ingress(
            GroupId=option(command, "--group-id"), IpPermissions=[json.loads(option(command, "--ip-permissions"))]
        )

    assert len(commands) == 2
    assert world.ingress(group_id) == narrowed | {("tcp", 22, 22, "0.0.0.0/0"), ("tcp", 22, 22, "::/0")}


def test_the_notification_links_the_group_in_the_console_and_says_when_it_acted(world: World) -> None:
    group_id = world.group()
    run(world, world.open_event(group_id, [SSH_WORLD]))

    body = world.messages()[0]["body"]

    console = f"https://{REGION}.console.aws.amazon.com/ec2/home?region={REGION}#SecurityGroup:groupId={group_id}"
    assert f"Console:   {console}" in body
    assert f"Acted at:  {NOW:%Y-%m-%dT%H:%M:%SZ}" in body


def test_the_notification_names_the_network_interfaces_and_instances_that_use_the_group(world: World) -> None:
    group_id = world.group()
    subnet = world.ec2.create_subnet(VpcId=world.vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    interface = world.ec2.create_network_interface(SubnetId=subnet, Groups=[group_id], Description="web server")
    interface_id = interface["NetworkInterface"]["NetworkInterfaceId"]
    image = world.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    [instance] = world.ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[group_id]
    )["Instances"]
    world.group("unused")
    run(world, world.open_event(group_id, [SSH_WORLD]))

    [used_by] = [line for line in world.messages()[0]["body"].splitlines() if line.startswith("Used by:")]

    assert used_by.startswith("Used by:   2 network interfaces: ")
    assert f"{interface_id} (no instance, 'web server')" in used_by
    assert f"(instance {instance['InstanceId']}, " in used_by


def test_a_group_no_interface_uses_is_said_to_be_used_by_none(world: World) -> None:
    group_id = world.group()
    run(world, world.open_event(group_id, [SSH_WORLD]))

    assert "Used by:   no network interface today" in world.messages()[0]["body"]


def test_interfaces_that_cannot_be_listed_leave_the_rule_closed_and_the_message_says_so(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(aws: Any, group_id: str) -> tuple[Any, ...]:
        error = {"Error": {"Code": "UnauthorizedOperation", "Message": "denied by an SCP"}}
        raise ClientError(error, "DescribeNetworkInterfaces")  # type: ignore[arg-type]

    monkeypatch.setattr(Aws, "interfaces_using", denied)
    group_id = world.group()

    result = run(world, world.open_event(group_id, [SSH_WORLD]))

    assert world.ingress(group_id) == set()
    assert result["status"] == "remediated"
    assert result["notified"] is True
    body = world.messages()[0]["body"]
    assert "Used by:   the users of the group could not be listed (An error occurred (UnauthorizedOperation)" in body


def test_without_a_topic_the_interfaces_are_not_looked_up(world: World) -> None:
    group_id = world.group()
    event = world.open_event(group_id, [SSH_WORLD])
    world.calls.clear()

    remediate(event, world.settings(REMEDIATOR_TOPIC_ARN=""), world.aws, NOW)

    assert world.calls == ["DescribeSecurityGroups", "RevokeSecurityGroupIngress", "PutEvents"]


def test_a_notify_mode_message_restores_nothing_and_does_not_advise_the_mode_it_is_in(world: World) -> None:
    group_id = world.group(tags={"remediator:mode": "notify"})
    run(world, world.open_event(group_id, [SSH_WORLD]))

    body = world.messages()[0]["body"]

    assert "Restore:" not in body
    assert f"Checked:   {NOW:%Y-%m-%dT%H:%M:%SZ}" in body
    assert "Used by:   no network interface today" in body
    assert "This group is in notify mode: its risky rules are reported and left open." in body
    assert "tag it remediator:mode=revoke" in body
    assert "(or notify)" not in body
    assert "To opt this group out" not in body


def test_a_dry_run_of_revoke_says_would_be_revoked_and_gives_no_restore_command(world: World) -> None:
    group_id = world.group()
    result = run(world, world.open_event(group_id, [SSH_WORLD]), REMEDIATOR_DRY_RUN="true")

    body = world.messages()[0]["body"]

    assert world.ingress(group_id) == {("tcp", 22, 22, "0.0.0.0/0")}
    assert "Outcome:   would be revoked (dry run: nothing changed)" in body
    assert "Restore:" not in body
    assert "Acted at:" not in body
    assert "Checked:" in body
    assert "was revoked" not in body
    assert result["status"] == "dry-run"


@pytest.mark.parametrize(
    ("env", "said", "not_said"),
    [
        ({}, "no allowed IPv6 source to narrow to, so the rule was revoked instead of narrowed", "would be revoked"),
        (
            {"REMEDIATOR_DRY_RUN": "true"},
            "no allowed IPv6 source to narrow to, so it would be revoked instead of narrowed",
            "was revoked",
        ),
    ],
)
def test_a_narrowing_that_cannot_narrow_says_revoked_only_when_it_was(
    world: World, env: dict[str, str], said: str, not_said: str
) -> None:
    group_id = world.group(tags={"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24"})
    permission = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}

    result = run(world, world.open_event(group_id, [permission]), **env)

    body = world.messages()[0]["body"]
    assert said in body
    assert not_said not in body
    assert said in result["findings"][0]["notes"]


def test_an_expired_exception_says_it_expired_and_how_to_renew_it(world: World) -> None:
    group_id = world.group(tags={"remediator:mode": "ignore", "remediator:expires": "2020-01-31"})
    run(world, world.open_event(group_id, [SSH_WORLD]))

    body = world.messages()[0]["body"]

    assert "The group's exception expired on 2020-01-31 (remediator:expires), so the default policy applied." in body
    assert "To renew it, set remediator:expires to a later date (YYYY-MM-DD" in body
    assert "To opt this group out" not in body


def test_a_tag_key_in_the_wrong_case_is_not_read_and_the_message_says_so(world: World) -> None:
    group_id = world.group(tags={"Remediator:Mode": "ignore"})
    result = run(world, world.open_event(group_id, [SSH_WORLD]))

    assert world.ingress(group_id) == set()
    note = "the tag 'Remediator:Mode' is not read: tag keys are exact, use remediator:mode"
    assert f"Note:      {note}" in world.messages()[0]["body"]
    assert note in result["findings"][0]["notes"]


def test_the_message_counts_rules_and_names_ports_in_plain_english(world: World) -> None:
    one, two = world.group("one"), world.group("two")
    run(world, world.open_event(one, [SSH_WORLD]))
    run(world, world.open_event(two, [SSH_WORLD, RDP_WORLD]))

    first, second = (message["body"] for message in world.messages())

    exposure = (
        "What an open port exposes: Anyone on the internet can try to log in to what listens on it; a shell on an "
        "instance reaches what is in the VPC, such as databases, and the AWS permissions of the instance's role."
    )
    assert f"1 risky rule let the internet reach port 22. {exposure}" in first
    assert f"2 risky rules let the internet reach ports 22 and 3389. {exposure}" in second
