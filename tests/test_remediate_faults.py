"""Fault injection on embedded AWS: throttling, failures, deletions and races leave no hole open and lose nothing."""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError
from botocore.retries.standard import ExponentialBackoff
from conftest import ACCOUNT, REGION, World

from remediator.cli import cloudtrail
from remediator.effects import CLIENT_CONFIG, Aws
from remediator.remediate import remediate

NOW = datetime.now(UTC)
ATTEMPTS = 6  # CLIENT_CONFIG's max_attempts=5 is botocore's count of retries: one call and five retries.
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
LEGIT = [
    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]},
]
Rule = tuple[str, int | None, int | None, str]
LEGIT_RULES: set[Rule] = {
    ("tcp", 443, 443, "0.0.0.0/0"),
    ("tcp", 22, 22, "10.0.0.0/8"),
    ("tcp", 3389, 3389, "203.0.113.0/24"),
}
PARTNER = "203.0.113.0/24"

# Every operation the event path calls, with the service it belongs to.
OPERATIONS = {
    "DescribeSecurityGroups": "ec2",
    "DescribeManagedPrefixLists": "ec2",
    "GetManagedPrefixListEntries": "ec2",
    "DescribeSecurityGroupRules": "ec2",
    "AuthorizeSecurityGroupIngress": "ec2",
    "RevokeSecurityGroupIngress": "ec2",
    "DescribeNetworkInterfaces": "ec2",
    "Publish": "sns",
}
# Looked up after the hole is closed, for the message only: its failure is told, never raised.
AFTER_THE_FACT = "DescribeNetworkInterfaces"
EC2_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>'
    "</Error></Errors><RequestID>fault-injected</RequestID></Response>"
)
SNS_ERROR = (
    '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>{code}</Code>'
    "<Message>{message}</Message></Error><RequestId>fault-injected</RequestId></ErrorResponse>"
)
THROTTLING = {"ec2": ("RequestLimitExceeded", 503), "sns": ("Throttling", 400)}


class RawBody(io.BytesIO):
    """The raw HTTP body botocore reads a response from."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


@dataclass
class Fault:
    """An error AWS answers to an operation before doing anything, `failures` times (None: every time)."""

    service: str
    operation: str
    code: str
    status: int
    failures: int | None
    attempts: int = 0
    injected: int = 0

    def clear(self) -> None:
        """AWS recovers: from now on it answers."""
        self.failures = self.injected

    def __call__(self, request: AWSPreparedRequest) -> AWSResponse | None:
        self.attempts += 1
        if self.failures is not None and self.injected >= self.failures:
            return None  # moto answers
        self.injected += 1
        template = SNS_ERROR if self.service == "sns" else EC2_ERROR
        body = template.format(code=self.code, message=f"{self.code} (injected)")
        return AWSResponse(request.url, self.status, HTTPHeaders(), RawBody(body.encode()))


def inject(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, operation: str, code: str, status: int, failures: int | None
) -> Fault:
    """Answer `operation` with an HTTP error in place of AWS, below botocore's retries: nothing is done."""
    service = OPERATIONS[operation]
    fault = Fault(service=service, operation=operation, code=code, status=status, failures=failures)
    events: Any = (aws.sns if service == "sns" else aws.ec2).meta.events
    emit = events.emit
    wire = f"before-send.{service}.{operation}"

    # botocore asks every before-send handler, moto's included, and takes the first answer; moto must not
    # see a request AWS refused, so the fault answers in place of the whole event.
    def emit_with_fault(event_name: str, **kwargs: Any) -> Any:
        if event_name == wire and (answer := fault(kwargs["request"])) is not None:
            return [(fault, answer)]
        return emit(event_name, **kwargs)

    monkeypatch.setattr(events, "emit", emit_with_fault)
    return fault


def lose_response(monkeypatch: pytest.MonkeyPatch, aws: Aws, operation: str, code: str) -> list[int]:
    """AWS does the operation, then its answer is lost once (a timeout seen as a failure): the call raises."""
    client: Any = aws.sns if OPERATIONS[operation] == "sns" else aws.ec2
    original = client._make_api_call
    lost: list[int] = []

    def make_api_call(name: str, params: dict[str, Any]) -> Any:
        answer = original(name, params)
        if name == operation and not lost:
            lost.append(1)
            raise ClientError({"Error": {"Code": code, "Message": "answer lost (injected)"}}, name)
        return answer

    monkeypatch.setattr(client, "_make_api_call", make_api_call)
    return lost


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Botocore's retries still happen, without the seconds of back-off between them."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda _self, _context: 0)


@pytest.fixture
def aws(world: World) -> Aws:
    """Clients made as the Lambda makes them (standard retries), each call counted in world.calls."""
    made = Aws.from_environment(REGION)
    for client in (made.ec2, made.sns):
        client.meta.events.register("before-call", world.count_call)
    return made


@dataclass
class Scenario:
    """A narrowing group with legitimate rules, opened to the world twice; the call's event, and the safe end."""

    world: World
    group_id: str
    event: dict[str, Any]
    expected: set[Rule]
    opened: set[Rule]

    def rules(self) -> set[Rule]:
        return self.world.ingress(self.group_id)


def full_scenario(world: World) -> Scenario:
    """One event that makes every operation of the event path: prefix lists, the old format, narrowing."""
    ec2 = world.ec2
    office = ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "198.51.100.0/24"}]
    )["PrefixList"]["PrefixListId"]
    anyone = ec2.create_managed_prefix_list(
        PrefixListName="anyone", MaxEntries=5, AddressFamily="IPv4", Entries=[{"Cidr": "0.0.0.0/0"}]
    )["PrefixList"]["PrefixListId"]
    group_id = world.group(tags={"remediator:mode": "narrow", "remediator:allowed-cidrs": f"{PARTNER} {office}"})
    world.authorize(group_id, LEGIT)
    opened = {**SSH_WORLD, "PrefixListIds": [{"PrefixListId": anyone}]}
    event = world.open_event(group_id, [opened], rule_ids=False, template=cloudtrail.OLD_FORMAT_TEMPLATE)
    expected: set[Rule] = LEGIT_RULES | {("tcp", 22, 22, PARTNER), ("tcp", 22, 22, office)}
    opened_rules: set[Rule] = {("tcp", 22, 22, "0.0.0.0/0"), ("tcp", 22, 22, anyone)}
    return Scenario(world=world, group_id=group_id, event=event, expected=expected, opened=opened_rules)


def run(scenario: Scenario, aws: Aws, event: dict[str, Any] | None = None) -> dict[str, Any]:
    scenario.world.calls.clear()
    return remediate(copy.deepcopy(event or scenario.event), scenario.world.settings(), aws, NOW)


def hole_closed(scenario: Scenario) -> bool:
    return not scenario.rules() & scenario.opened


def test_the_full_scenario_calls_every_operation_of_the_event_path(world: World, aws: Aws) -> None:
    scenario = full_scenario(world)
    run(scenario, aws)
    assert set(world.calls) == set(OPERATIONS)
    assert scenario.rules() == scenario.expected
    assert len(world.messages()) == 1


def test_the_lambda_clients_retry_throttling_in_standard_mode() -> None:
    made = Aws.from_environment(REGION)
    for client in (made.ec2, made.sns):
        config: Any = client.meta.config
        assert config.retries == {"mode": "standard", "total_max_attempts": ATTEMPTS}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_persistent_throttling_raises_for_a_retry_and_the_retry_closes_the_hole(
    world: World, aws: Aws, operation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = full_scenario(world)
    code, status = THROTTLING[OPERATIONS[operation]]
    fault = inject(monkeypatch, aws, operation, code, status, failures=None)

    if operation == "AuthorizeSecurityGroupIngress":
        # Closing the hole comes first: a failed narrowing is reported, not retried; with no allowed source
        # added, the rules were only revoked.
        result = run(scenario, aws)
        assert [f["outcome"] for f in result["findings"]] == ["revoked", "revoked"]
        assert scenario.rules() == LEGIT_RULES
        assert f"could not allow {PARTNER} (RequestLimitExceeded" in world.messages()[0]["body"]
        assert fault.attempts == ATTEMPTS * 4  # two entries, each to two allowed sources
        return
    if operation == AFTER_THE_FACT:
        result = run(scenario, aws)
        assert scenario.rules() == scenario.expected
        assert result["notified"] is True
        assert "could not be listed" in world.messages()[0]["body"]
        assert fault.attempts == ATTEMPTS
        return
    with pytest.raises(ClientError) as raised:
        run(scenario, aws)
    assert raised.value.response["Error"]["Code"] == code
    # Botocore retried the first call of the operation, then gave up and let Lambda retry the event.
    assert fault.attempts == ATTEMPTS
    # Safe meanwhile: nothing legitimate lost, nothing added but the allowed sources; the hole is open only
    # while the error is on its way to Lambda's retry.
    assert LEGIT_RULES <= scenario.rules() <= scenario.expected | scenario.opened
    assert hole_closed(scenario) == (operation == "Publish")

    fault.clear()
    retried = run(scenario, aws)
    assert scenario.rules() == scenario.expected
    assert retried["notified"] is True
    assert len(world.messages()) == 1


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_transient_throttling_is_retried_by_botocore_without_the_handler_noticing(
    world: World, aws: Aws, operation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = full_scenario(world)
    code, status = THROTTLING[OPERATIONS[operation]]
    fault = inject(monkeypatch, aws, operation, code, status, failures=2)
    result = run(scenario, aws)
    assert fault.injected == 2
    assert fault.attempts >= 3
    assert scenario.rules() == scenario.expected
    assert [f["outcome"] for f in result["findings"]] == ["narrowed", "narrowed"]
    assert len(world.messages()) == 1


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_call_done_but_answered_with_an_error_is_safe_and_its_retry_converges(
    world: World, aws: Aws, operation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = full_scenario(world)
    lost = lose_response(monkeypatch, aws, operation, "RequestTimeout")
    if operation == "AuthorizeSecurityGroupIngress":
        result = run(scenario, aws)
        assert lost == [1]
        assert scenario.rules() == scenario.expected
        assert "could not allow" in " ".join(result["findings"][0]["notes"])
        return
    if operation == AFTER_THE_FACT:
        result = run(scenario, aws)
        assert lost == [1]
        assert scenario.rules() == scenario.expected
        assert "could not be listed" in world.messages()[0]["body"]
        return
    with pytest.raises(ClientError):
        run(scenario, aws)
    assert lost == [1]
    assert LEGIT_RULES <= scenario.rules() <= scenario.expected | scenario.opened
    retried = run(scenario, aws)
    assert scenario.rules() == scenario.expected
    assert retried["notified"] is True
    # The lost Publish was delivered all the same: people may be told twice, never not at all.
    assert len(world.messages()) == (2 if operation == "Publish" else 1)


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [
        ("Publish", "AuthorizationError", 403),
        ("Publish", "KMSAccessDenied", 400),
        ("Publish", "InternalError", 500),
        ("RevokeSecurityGroupIngress", "UnauthorizedOperation", 403),
        ("RevokeSecurityGroupIngress", "InternalError", 500),
        ("DescribeSecurityGroups", "UnauthorizedOperation", 403),
    ],
)
def test_other_aws_failures_raise_for_a_retry_without_losing_anything(
    world: World, aws: Aws, operation: str, code: str, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = full_scenario(world)
    fault = inject(monkeypatch, aws, operation, code, status, failures=None)
    with pytest.raises(ClientError) as raised:
        run(scenario, aws)
    assert raised.value.response["Error"]["Code"] == code
    # 5xx is retried by botocore; a denial is not.
    assert fault.attempts == (ATTEMPTS if status >= 500 else 1)
    assert LEGIT_RULES <= scenario.rules() <= scenario.expected | scenario.opened
    fault.clear()
    run(scenario, aws)
    assert scenario.rules() == scenario.expected


def opened_with_every_rule_id(world: World, group_id: str, permissions: list[dict[str, Any]]) -> dict[str, Any]:
    """The call's event with the id of every rule it added, as AWS gives them (moto answers only some)."""

    def rules() -> list[dict[str, Any]]:
        found = world.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
        return list(found["SecurityGroupRules"])

    known = {rule["SecurityGroupRuleId"] for rule in rules()}
    world.authorize(group_id, permissions)
    return cloudtrail.authorize_event(
        cloudtrail.load_template(cloudtrail.RULE_SET_TEMPLATE),
        group_id=group_id,
        permissions=permissions,
        rules=[rule for rule in rules() if rule["SecurityGroupRuleId"] not in known],
        account=ACCOUNT,
        region=REGION,
    )


def when_described(aws: Aws, then: Callable[[], None]) -> None:
    """Run `then` once, right after the remediator has described the group and before it acts."""
    done: list[int] = []

    def after_describe(**_: Any) -> None:
        if not done:
            done.append(1)
            then()

    aws.ec2.meta.events.register("after-call.ec2.DescribeSecurityGroups", after_describe)


@pytest.mark.parametrize("tags", [{}, {"remediator:mode": "narrow", "remediator:allowed-cidrs": PARTNER}])
def test_a_group_deleted_between_describe_and_revoke_is_already_gone_without_error(
    world: World, aws: Aws, tags: dict[str, str]
) -> None:
    group_id = world.group(tags=tags)
    event = world.open_event(group_id, [SSH_WORLD])
    when_described(aws, lambda: world.ec2.delete_security_group(GroupId=group_id))
    result = remediate(event, world.settings(), aws, NOW)
    assert [f["outcome"] for f in result["findings"]] == ["already-gone"]
    [message] = world.messages()
    assert "found already closed 1 risky rule" in message["subject"]


def test_a_group_deleted_before_its_rule_ids_are_looked_up_is_already_gone(world: World, aws: Aws) -> None:
    group_id = world.group()
    event = world.open_event(group_id, [SSH_WORLD], rule_ids=False, template=cloudtrail.OLD_FORMAT_TEMPLATE)
    when_described(aws, lambda: world.ec2.delete_security_group(GroupId=group_id))
    result = remediate(event, world.settings(), aws, NOW)
    assert [f["outcome"] for f in result["findings"]] == ["already-gone"]
    assert "RevokeSecurityGroupIngress" not in world.calls


def test_a_rule_revoked_by_someone_else_between_describe_and_revoke_leaves_the_other_revoked(
    world: World, aws: Aws
) -> None:
    group_id = world.group()
    world.authorize(group_id, LEGIT)
    rdp_world = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    event = opened_with_every_rule_id(world, group_id, [SSH_WORLD, rdp_world])
    when_described(aws, lambda: world.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[SSH_WORLD]))
    result = remediate(event, world.settings(), aws, NOW)
    outcomes = {f["ports"]: f["outcome"] for f in result["findings"]}
    assert outcomes == {"tcp/22": "already-gone", "tcp/3389": "revoked"}
    assert world.ingress(group_id) == LEGIT_RULES
    # The batch failed as a whole, so each id was revoked on its own.
    assert world.calls.count("RevokeSecurityGroupIngress") == 3


def lambda_clients() -> Aws:
    """A second Lambda container: clients of its own, on the same embedded AWS."""
    return Aws(
        ec2=boto3.client("ec2", region_name=REGION, config=CLIENT_CONFIG),
        sns=boto3.client("sns", region_name=REGION, config=CLIENT_CONFIG),
    )


def at_once(world: World, event: dict[str, Any], containers: list[Aws], *, lockstep: bool) -> list[Any]:
    """Run the handler on the same event in one thread per container; their results or exceptions."""
    outcomes: list[Any] = [None] * len(containers)
    if lockstep:
        # Each describes the group before any acts: the race at its worst. Only the first describe waits: the
        # loser of the race describes again to check for a rule id that did not work.
        barrier = threading.Barrier(len(containers), timeout=30)

        def wait_once(aws: Aws) -> None:
            waited = threading.Event()

            def wait(**_: Any) -> None:
                if not waited.is_set():
                    waited.set()
                    barrier.wait()

            aws.ec2.meta.events.register("after-call.ec2.DescribeSecurityGroups", wait)

        for aws in containers:
            wait_once(aws)

    def invoke(index: int) -> None:
        try:
            outcomes[index] = remediate(copy.deepcopy(event), world.settings(), containers[index], NOW)
        except Exception as error:  # noqa: BLE001 - the test reports whatever escaped
            outcomes[index] = error

    threads = [threading.Thread(target=invoke, args=(index,)) for index in range(len(containers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.parametrize("lockstep", [True, False])
def test_two_invocations_on_the_same_group_at_once_close_the_hole_once_and_keep_the_rest(
    world: World, lockstep: bool
) -> None:
    group_id = world.group()
    world.authorize(group_id, LEGIT)
    event = world.open_event(group_id, [SSH_WORLD])
    results = at_once(world, event, [lambda_clients(), lambda_clients()], lockstep=lockstep)
    assert all(isinstance(result, dict) for result in results), results
    outcomes = sorted(result["findings"][0]["outcome"] for result in results)
    assert world.ingress(group_id) == LEGIT_RULES
    if lockstep:
        assert outcomes == ["already-gone", "revoked"]
    else:
        assert "revoked" in outcomes
    assert len(world.messages()) == 2


def test_two_narrowing_invocations_at_once_add_the_allowed_source_once(world: World) -> None:
    group_id = world.group(tags={"remediator:mode": "narrow", "remediator:allowed-cidrs": PARTNER})
    world.authorize(group_id, LEGIT)
    event = world.open_event(group_id, [SSH_WORLD])
    results = at_once(world, event, [lambda_clients(), lambda_clients()], lockstep=True)
    assert all(isinstance(result, dict) for result in results), results
    assert world.ingress(group_id) == LEGIT_RULES | {("tcp", 22, 22, PARTNER)}
    # The second authorization was a duplicate, which counts as done.
    assert all("could not allow" not in " ".join(r["findings"][0]["notes"]) for r in results)


def test_an_authorize_failing_during_narrow_still_closes_the_hole_and_says_so(
    world: World, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    group_id = world.group(tags={"remediator:mode": "narrow", "remediator:allowed-cidrs": PARTNER})
    world.authorize(group_id, LEGIT)
    event = world.open_event(group_id, [SSH_WORLD])
    fault = inject(
        monkeypatch, aws, "AuthorizeSecurityGroupIngress", "RulesPerSecurityGroupLimitExceeded", 400, failures=None
    )
    result = remediate(event, world.settings(), aws, NOW)
    assert fault.attempts == 1  # not a throttle: not retried
    assert world.ingress(group_id) == LEGIT_RULES
    [message] = world.messages()
    assert f"could not allow {PARTNER} (RulesPerSecurityGroupLimitExceeded" in message["body"]
    assert "add it by hand if needed" in message["body"]
    assert result["findings"][0]["notes"]
    # No allowed source was added, so the rule was revoked, not narrowed.
    assert result["findings"][0]["outcome"] == "revoked"
