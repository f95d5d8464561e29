"""The remediation of one event on embedded AWS: the group's rules after the call, the messages, the calls."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import ACCOUNT, EVENTS_DIR, REGION, World, at_home, load_event

from remediator.cli import cloudtrail
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


def test_revoke_removes_exactly_the_risky_entry_in_three_calls(world: World) -> None:
    group_id = group_with_legit_rules(world)
    egress_before = world.egress(group_id)
    event = world.open_event(group_id, [SSH_WORLD])

    result = run(world, event)

    assert world.ingress(group_id) == LEGIT_ENTRIES
    assert world.egress(group_id) == egress_before
    assert world.calls == ["DescribeSecurityGroups", "RevokeSecurityGroupIngress", "Publish"]
    assert [f["outcome"] for f in result["findings"]] == ["revoked"]
    assert result["status"] == "remediated"


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
    assert message["attributes"] == {"mode": "revoke", "action": "revoked", "group_id": group_id}


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
        "Publish",
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
        "Publish",
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
    assert world.calls == ["DescribeSecurityGroups", "Publish"]


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
    assert world.calls == ["DescribeSecurityGroups", "Publish"]


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
        "Publish",
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
