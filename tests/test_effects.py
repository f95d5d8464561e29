"""Tests of the AWS effects: what counts as done, and what is raised for a retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import World

from remediator import effects
from remediator.effects import Aws, permission_for
from remediator.model import RuleEntry, Source, SourceKind

SSH = {
    "IpProtocol": "tcp",
    "FromPort": 22,
    "ToPort": 22,
    "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "0.0.0.0/1"}],
}


def fail_with(world: World, operation: str, code: str) -> None:
    """Make every call of one operation fail with an AWS error code, as the service would."""
    client: Any = world.aws.ec2
    original = client._make_api_call

    def failing(name: str, params: dict[str, Any]) -> Any:
        if name == operation:
            raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, name)
        return original(name, params)

    client._make_api_call = failing


def test_clients_retry_throttling_in_standard_mode(world: World) -> None:
    config: Any = world.aws.ec2.meta.config
    retries = config.retries
    assert retries["mode"] == "standard"
    assert retries["total_max_attempts"] == 6


def test_a_batch_revoke_with_one_rule_gone_still_revokes_the_others(world: World) -> None:
    group_id = world.group()
    rules = world.authorize(group_id, [SSH])
    ids = tuple(rule["SecurityGroupRuleId"] for rule in rules)
    world.ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=[ids[0]])
    result = world.aws.revoke(group_id, ids)
    assert result.already_gone == (ids[0],)
    assert result.revoked == ids[1:]
    assert world.ingress(group_id) == set()


def test_revoking_in_a_deleted_group_counts_as_done(world: World) -> None:
    group_id = world.group()
    ids = tuple(rule["SecurityGroupRuleId"] for rule in world.authorize(group_id, [SSH]))
    world.ec2.delete_security_group(GroupId=group_id)
    assert world.aws.revoke(group_id, ids).already_gone == ids


def test_an_unknown_rule_id_as_real_ec2_names_it_counts_as_gone(world: World) -> None:
    group_id = world.group()
    fail_with(world, "RevokeSecurityGroupIngress", "InvalidSecurityGroupRuleId.NotFound")
    assert world.aws.revoke(group_id, ("sgr-0123456789abcdef0",)).already_gone == ("sgr-0123456789abcdef0",)


@pytest.mark.parametrize("code", ["RequestLimitExceeded", "UnauthorizedOperation", "InternalError"])
def test_other_revoke_failures_are_raised_for_lambda_to_retry(world: World, code: str) -> None:
    group_id = world.group()
    fail_with(world, "RevokeSecurityGroupIngress", code)
    with pytest.raises(ClientError) as raised:
        world.aws.revoke(group_id, ("sgr-0123456789abcdef0",))
    assert raised.value.response["Error"]["Code"] == code


def test_authorizing_a_rule_that_exists_is_done_and_another_failure_is_reported(world: World) -> None:
    group_id = world.group()
    world.authorize(
        group_id, [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}]
    )
    entry = RuleEntry(
        protocol="tcp",
        from_port=22,
        to_port=22,
        source=Source(kind=SourceKind.IPV4, value="0.0.0.0/0"),
        description=None,
        rule_id=None,
    )
    assert world.aws.authorize(group_id, entry, Source(kind=SourceKind.IPV4, value="203.0.113.0/24")) is None
    fail_with(world, "AuthorizeSecurityGroupIngress", "RulesPerSecurityGroupLimitExceeded")
    failure = world.aws.authorize(group_id, entry, Source(kind=SourceKind.IPV4, value="198.51.100.0/24"))
    assert failure is not None
    assert failure.startswith("RulesPerSecurityGroupLimitExceeded")


def test_the_ingress_rules_of_many_groups_come_one_describe_per_batch_of_groups(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Aws, "GROUP_IDS_PER_RULES_CALL", 2)
    ssh, web, empty = world.group("ssh"), world.group("web"), world.group("empty")
    ssh_ids = {rule["SecurityGroupRuleId"] for rule in world.authorize(ssh, [SSH])}
    https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
    [web_rule] = world.authorize(web, [https])
    gone = "sg-0123456789abcdef0"

    found = world.aws.ingress_rules_of([ssh, web, empty, gone, ssh])

    # Four distinct groups, two to a call; each group's default egress rule is left out.
    assert world.calls == ["DescribeSecurityGroupRules", "DescribeSecurityGroupRules"]
    assert list(found) == [ssh, web, empty, gone]
    assert {rule.rule_id for rule in found[ssh]} == ssh_ids
    assert {rule.source.value for rule in found[ssh]} == {"0.0.0.0/0", "0.0.0.0/1"}
    assert [(rule.rule_id, rule.source.value, rule.ports_text()) for rule in found[web]] == [
        (web_rule["SecurityGroupRuleId"], "::/0", "tcp/443")
    ]
    assert world.egress(empty)
    assert found[empty] == ()
    assert found[gone] == ()


def test_describe_of_a_missing_or_malformed_group_is_none(world: World) -> None:
    assert world.aws.describe_group("sg-0123456789abcdef0", None) is None
    assert world.aws.describe_group(None, "no-such-group") is None
    assert world.aws.describe_group(None, None) is None


def test_the_group_state_flattens_every_kind_of_source(world: World) -> None:
    group_id = world.group(tags={"team": "web"})
    other = world.group("other")
    world.authorize(
        group_id,
        [
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "d"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                "UserIdGroupPairs": [{"GroupId": other}],
            }
        ],
    )
    state = world.aws.describe_group(group_id, None)
    assert state is not None
    assert state.tags == {"team": "web"}
    assert {(e.source.kind, e.source.value, e.description) for e in state.ingress} == {
        (SourceKind.IPV4, "0.0.0.0/0", "d"),
        (SourceKind.IPV6, "::/0", None),
        (SourceKind.SECURITY_GROUP, other, None),
    }


def test_a_missing_prefix_list_is_left_out_and_the_others_are_read(world: World) -> None:
    plist = world.ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=2, AddressFamily="IPv4", Entries=[{"Cidr": "203.0.113.0/24"}]
    )["PrefixList"]["PrefixListId"]
    client: Any = world.aws.ec2
    fail_once = client._make_api_call
    calls: list[str] = []

    def describe(name: str, params: dict[str, Any]) -> Any:
        calls.append(name)
        if name == "DescribeManagedPrefixLists" and len(params.get("PrefixListIds", [])) > 1:
            raise ClientError({"Error": {"Code": "InvalidPrefixListID.NotFound", "Message": "gone"}}, name)
        if name == "DescribeManagedPrefixLists" and params.get("PrefixListIds") == ["pl-00000000000000000"]:
            raise ClientError({"Error": {"Code": "InvalidPrefixListID.NotFound", "Message": "gone"}}, name)
        return fail_once(name, params)

    client._make_api_call = describe
    infos = world.aws.prefix_lists([plist, "pl-00000000000000000"])
    assert list(infos) == [plist]
    assert infos[plist].cidrs == ("203.0.113.0/24",)
    assert infos[plist].aws_managed is False


def test_the_replacement_permission_keeps_protocol_ports_and_description() -> None:
    entry = RuleEntry(
        protocol="-1",
        from_port=None,
        to_port=None,
        source=Source(kind=SourceKind.IPV6, value="::/0"),
        description="all",
        rule_id=None,
    )
    assert permission_for(entry, Source(kind=SourceKind.PREFIX_LIST, value="pl-0123456789abcdef0")) == {
        "IpProtocol": "-1",
        "PrefixListIds": [{"PrefixListId": "pl-0123456789abcdef0", "Description": "all"}],
    }


# The state table's calls, on embedded DynamoDB.

OPENING = "opened#sg-1#tcp#22-22#ipv4#0.0.0.0/0"
BY = "arn:aws:sts::123456789012:assumed-role/deploy/session"


def test_each_opening_of_a_rule_in_its_window_counts_one_more_in_one_call(world: World) -> None:
    table = world.state_table()
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    counts = []
    for hours in (0, 1, 23):
        world.calls.clear()
        counts.append(
            world.aws.count_opening(table, OPENING, start + timedelta(hours=hours), principal=BY, user_agent="ua")
        )
        assert world.calls == ["UpdateItem"]
    assert counts == [1, 2, 3]
    item = world.dynamodb.get_item(TableName=table, Key={"key": {"S": OPENING}})["Item"]
    assert item["last_by"] == {"S": BY}
    assert item["last_agent"] == {"S": "ua"}
    # Every write sets the TTL, past the window: DynamoDB deletes the item once nothing opens the rule for a while.
    assert int(item["expires_at"]["N"]) > int((start + timedelta(hours=23 + 24)).timestamp())


def test_an_opening_after_the_window_starts_the_count_again(world: World) -> None:
    table = world.state_table()
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert world.aws.count_opening(table, OPENING, start, principal=BY, user_agent=None) == 1
    assert world.aws.count_opening(table, OPENING, start + timedelta(hours=2), principal=BY, user_agent=None) == 2
    world.calls.clear()
    assert world.aws.count_opening(table, OPENING, start + timedelta(hours=25), principal=BY, user_agent=None) == 1
    assert world.calls == ["UpdateItem", "UpdateItem"]
    assert world.aws.count_opening(table, OPENING, start + timedelta(hours=26), principal=BY, user_agent=None) == 2


def test_rules_are_counted_each_under_its_own_key(world: World) -> None:
    table = world.state_table()
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert world.aws.count_opening(table, OPENING, now, principal=BY, user_agent=None) == 1
    assert world.aws.count_opening(table, OPENING + "x", now, principal=BY, user_agent=None) == 1


def test_the_first_notice_under_a_key_is_first_and_the_next_is_not(world: World) -> None:
    table = world.state_table()
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert world.aws.first_notice(table, "noticed#sg-1#2026-12-01", now) is True
    assert world.aws.first_notice(table, "noticed#sg-1#2026-12-01", now) is False
    assert world.aws.first_notice(table, "noticed#sg-1#2026-12-02", now) is True
    item = world.dynamodb.get_item(TableName=table, Key={"key": {"S": "noticed#sg-1#2026-12-01"}})["Item"]
    assert int(item["expires_at"]["N"]) > int(now.timestamp())


def test_a_missing_table_is_raised_not_taken_for_a_first_opening(world: World) -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with pytest.raises(ClientError):
        world.aws.count_opening("no-such-table", OPENING, now, principal=BY, user_agent=None)
    with pytest.raises(ClientError):
        world.aws.first_notice("no-such-table", "noticed#sg-1#2026-12-01", now)


def test_identical_listed_rules_share_one_entry_and_a_description_makes_another() -> None:
    def listing(group_id: str, description: str | None) -> dict[str, object]:
        cidr: dict[str, str] = {"CidrIp": "10.0.0.0/8"} | ({"Description": description} if description else {})
        return {
            "GroupId": group_id,
            "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [cidr]}],
        }

    [first] = effects.group_state(listing("sg-1", None)).ingress
    [same] = effects.group_state(listing("sg-2", None)).ingress
    [described] = effects.group_state(listing("sg-3", "office")).ingress

    assert first is same
    assert described is not first
    assert (described.description, described.source) == ("office", first.source)
    assert first.rule_id is None
