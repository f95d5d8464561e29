"""`replay` on saved events against a moto server on loopback, reached only through AWS_ENDPOINT_URL."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, REGION, World, load_event
from moto.server import ThreadedMotoServer

from remediator.cli import cloudtrail
from remediator.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
HTTPS_WORLD = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
# Nothing listens on the discard port: a call that should not happen fails instead of reaching AWS.
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    host, port = moto_server.get_host_and_port()
    yield f"http://{host}:{port}"
    moto_server.stop()


@pytest.fixture
def endpoint(server: str) -> str:
    """The server, emptied of what earlier tests made."""
    urllib.request.urlopen(urllib.request.Request(f"{server}/moto-api/reset", method="POST"), timeout=10).close()
    return server


class Account:
    """The account behind the server, driven with boto3 as an operator's tools would."""

    def __init__(self, endpoint: str, region: str = REGION) -> None:
        self.endpoint = endpoint
        self.region = region
        self.ec2 = self.client("ec2")

    def client(self, service: str) -> Any:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.region
        )
        make: Callable[..., Any] = session.client
        return make(service, endpoint_url=self.endpoint)

    def opened_group(self, name: str = "web") -> tuple[str, dict[str, Any]]:
        """A group with HTTPS and SSH open to the world, and the event of the call that opened them."""
        vpc_id = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        group_id = self.ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)["GroupId"]
        permissions = [HTTPS_WORLD, SSH_WORLD]
        rules = self.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        event = cloudtrail.authorize_event(
            cloudtrail.load_template(cloudtrail.RULE_SET_TEMPLATE),
            group_id=group_id,
            permissions=permissions,
            rules=rules["SecurityGroupRules"],
            account=ACCOUNT,
            region=self.region,
        )
        return group_id, event

    def ingress(self, group_id: str) -> set[tuple[int, str]]:
        group = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        return {(p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p.get("IpRanges", [])}


def replay(
    endpoint: str, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m remediator replay ...` in a process of its own, whose only way to AWS is AWS_ENDPOINT_URL."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REMEDIATOR_"))}
    clean.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **(env or {}),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "remediator", "replay", *args],
        cwd=ROOT,
        env=clean,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def invocation_record(event: Mapping[str, Any]) -> dict[str, Any]:
    """What Lambda sends its on-failure destination (the dead-letter queue) after the last retry of the event."""
    return {
        "version": "1.0",
        "timestamp": "2024-05-01T10:05:00.000Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4d22-8880-a18cdf61200e",
            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sg-remediator:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "Task timed out after 300.00 seconds"},
    }


def received_messages(bodies: Sequence[object]) -> dict[str, Any]:
    """What `aws sqs receive-message` prints for messages with these bodies."""
    return {
        "Messages": [
            {"MessageId": f"m-{index}", "ReceiptHandle": f"r-{index}", "MD5OfBody": "-", "Body": json.dumps(body)}
            for index, body in enumerate(bodies)
        ]
    }


def refusing_revokes_of(group_id: str) -> Callable[..., None]:
    """A botocore hook that answers RevokeSecurityGroupIngress on the group as AWS does a caller without the right."""

    def refuse(params: Mapping[str, Any], **_: Any) -> None:
        if params.get("GroupId") == group_id:
            message = "You are not authorized to perform this operation."
            raise ClientError(
                {"Error": {"Code": "UnauthorizedOperation", "Message": message}}, "RevokeSecurityGroupIngress"
            )

    return refuse


def refuse_revokes(monkeypatch: pytest.MonkeyPatch, group_id: str) -> None:
    """Every botocore session made from now on refuses revokes on the group."""
    original = botocore.session.get_session

    def session(*args: Any, **kwargs: Any) -> botocore.session.Session:
        made = original(*args, **kwargs)
        made.register("before-parameter-build.ec2.RevokeSecurityGroupIngress", refusing_revokes_of(group_id))
        return made

    monkeypatch.setattr(botocore.session, "get_session", session)


def saved(tmp_path: Path, data: object, name: str = "event.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def lookup_events_output(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What `aws cloudtrail lookup-events` prints: each record as a JSON string beside a few of its fields."""
    return {
        "Events": [
            {
                "EventId": record["eventID"],
                "EventName": record["eventName"],
                "ReadOnly": "false",
                "EventTime": "2024-05-01T10:00:00+00:00",
                "EventSource": "ec2.amazonaws.com",
                "Resources": [],
                "CloudTrailEvent": json.dumps(record),
            }
            for record in records
        ]
    }


def test_replay_revokes_the_open_ssh_on_the_endpoint_and_notifies(endpoint: str, tmp_path: Path) -> None:
    account = Account(endpoint)
    group_id, event = account.opened_group()
    sns, sqs = account.client("sns"), account.client("sqs")
    topic_arn = sns.create_topic(Name="alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    finished = replay(endpoint, saved(tmp_path, event), env={"REMEDIATOR_TOPIC_ARN": topic_arn})

    assert finished.returncode == 0, finished.stderr
    assert account.ingress(group_id) == {(443, "0.0.0.0/0")}
    assert f"{group_id}: remediated" in finished.stdout
    assert "tcp/22 from 0.0.0.0/0 (sgr-" in finished.stdout
    assert ": revoked" in finished.stdout
    assert f"notification: published to {topic_arn}" in finished.stdout
    [message] = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert json.loads(message["Body"])["Subject"].startswith(f"[sg-remediator] closed 1 risky rule in {group_id}")


def test_dry_run_leaves_the_rule_and_says_what_would_happen(endpoint: str, tmp_path: Path) -> None:
    account = Account(endpoint)
    group_id, event = account.opened_group()

    finished = replay(endpoint, saved(tmp_path, event), "--dry-run")

    assert finished.returncode == 0, finished.stderr
    assert account.ingress(group_id) == {(443, "0.0.0.0/0"), (22, "0.0.0.0/0")}
    assert f"{group_id}: dry run, nothing changed" in finished.stdout
    assert "would be revoked (dry run: nothing changed)" in finished.stdout
    assert "notification: none sent (REMEDIATOR_TOPIC_ARN is not set)" in finished.stdout


def test_json_output_is_a_list_of_the_handlers_summaries_undisturbed_by_the_logs(endpoint: str, tmp_path: Path) -> None:
    account = Account(endpoint)
    group_id, event = account.opened_group()

    finished = replay(endpoint, saved(tmp_path, event), "--json", "--verbose")

    assert finished.returncode == 0, finished.stderr
    [summary] = json.loads(finished.stdout)
    assert summary["status"] == "remediated"
    assert summary["group_id"] == group_id
    assert summary["region"] == REGION
    assert [(f["source"], f["outcome"]) for f in summary["findings"]] == [("0.0.0.0/0", "revoked")]
    assert '"message": "decision"' in finished.stderr


def test_every_event_of_lookup_events_output_is_replayed_and_other_calls_are_reported_ignored(
    endpoint: str, tmp_path: Path
) -> None:
    account = Account(endpoint)
    first, first_event = account.opened_group("first")
    second, second_event = account.opened_group("second")
    create = load_event("panther-CreateSecurityGroup-terraform.json")
    records = [first_event["detail"], create.get("detail", create), second_event["detail"]]

    finished = replay(endpoint, saved(tmp_path, lookup_events_output(records)), "--json")

    assert finished.returncode == 0, finished.stderr
    summaries = json.loads(finished.stdout)
    assert [s["status"] for s in summaries] == ["remediated", "ignored", "remediated"]
    assert "CreateSecurityGroup is not one of" in summaries[1]["reason"]
    assert account.ingress(first) == account.ingress(second) == {(443, "0.0.0.0/0")}


def test_a_bare_cloudtrail_record_is_read_from_standard_input(endpoint: str) -> None:
    account = Account(endpoint)
    group_id, event = account.opened_group()

    finished = replay(endpoint, "-", stdin=json.dumps(event["detail"]))

    assert finished.returncode == 0, finished.stderr
    assert account.ingress(group_id) == {(443, "0.0.0.0/0")}


def test_the_event_region_wins_over_boto3s_and_region_overrides_both(endpoint: str, tmp_path: Path) -> None:
    account = Account(endpoint, region="eu-central-1")
    group_id, event = account.opened_group()
    path = saved(tmp_path, event)

    elsewhere = replay(endpoint, path, "--region", "us-east-1", env={"AWS_DEFAULT_REGION": "us-east-1"})
    assert elsewhere.returncode == 0, elsewhere.stderr
    # Never a same-named group of another region: the event is refused, and says where it came from.
    assert "refused: event from eu-central-1; this remediator acts in us-east-1" in elsewhere.stdout
    assert account.ingress(group_id) == {(443, "0.0.0.0/0"), (22, "0.0.0.0/0")}

    finished = replay(endpoint, path, env={"AWS_DEFAULT_REGION": "us-east-1"})
    assert finished.returncode == 0, finished.stderr
    assert "eu-central-1" in finished.stdout
    assert account.ingress(group_id) == {(443, "0.0.0.0/0")}


def test_an_event_the_remediator_ignores_is_printed_with_its_reason_and_exits_0(tmp_path: Path) -> None:
    event = load_event("panther-AuthorizeSecurityGroupIngress-console-UnauthorizedOperation.json")
    finished = replay(NOWHERE, saved(tmp_path, event))
    assert finished.returncode == 0, finished.stderr
    assert "ignored: the call failed (UnauthorizedOperation), so it changed nothing" in finished.stdout


def test_a_missing_file_is_a_one_line_error_with_exit_status_2(tmp_path: Path) -> None:
    finished = replay(NOWHERE, str(tmp_path / "absent.json"))
    assert finished.returncode == 2
    assert finished.stderr == f"error: {tmp_path / 'absent.json'}: no such file\n"
    assert finished.stdout == ""


BAD_INPUTS = {
    "invalid JSON": ('{"detail": ', "is not valid JSON (Expecting value at line 1, column 12)"),
    "empty file": ("", "is not valid JSON"),
    "an object that is no event": ('{"hello": "world"}', "is neither an EventBridge event, a CloudTrail record nor"),
    "a list": ("[1, 2]", "is neither an EventBridge event"),
    "the sweep's trigger": (
        '{"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}',
        "is the scheduled sweep's trigger, not a CloudTrail event",
    ),
    "a malformed record": (
        '{"eventName": null, "requestParameters": "x"}',
        "the CloudTrail record has no readable eventName",
    ),
    "lookup-events without CloudTrailEvent": ('{"Events": [{"EventId": "1"}]}', "Events[0] has no CloudTrailEvent"),
    "lookup-events with a broken CloudTrailEvent": (
        '{"Events": [{"CloudTrailEvent": "{nope"}]}',
        "Events[0].CloudTrailEvent is not valid JSON",
    ),
    "a Lambda invocation record of no event": (
        '{"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": {"hello": "world"}}',
        ": requestPayload is neither an EventBridge event, a CloudTrail record nor",
    ),
    "receive-message output without a Body": ('{"Messages": [{"MessageId": "1"}]}', "Messages[0].Body is missing"),
    "receive-message output whose Body is no event": (
        '{"Messages": [{"Body": "[1]"}]}',
        "Messages[0].Body is neither an EventBridge event",
    ),
}


@pytest.mark.parametrize(("text", "expected"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_a_one_line_error_with_exit_status_2_and_no_aws_call(
    text: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", NOWHERE)
    path = tmp_path / "event.json"
    path.write_text(text, encoding="utf-8")

    status = main(["replay", str(path)])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.startswith(f"error: {path}")
    assert expected in captured.err
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_an_invalid_setting_is_a_one_line_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", NOWHERE)
    monkeypatch.setenv("REMEDIATOR_DEFAULT_MODE", "obliterate")
    path = saved(tmp_path, cloudtrail.load_template(cloudtrail.RULE_SET_TEMPLATE))

    assert main(["replay", path]) == 2
    assert capsys.readouterr().err.startswith("error: REMEDIATOR_DEFAULT_MODE: 'obliterate' is not one of")


def three_opened_groups(endpoint: str, tmp_path: Path) -> tuple[Account, list[str], str]:
    """Three groups with SSH open on the endpoint, and a lookup-events file of the three calls."""
    account = Account(endpoint)
    opened = [account.opened_group(name) for name in ("first", "second", "third")]
    path = saved(tmp_path, lookup_events_output([event["detail"] for _, event in opened]))
    return account, [group_id for group_id, _ in opened], path


def test_when_the_second_event_fails_at_aws_the_first_ones_revoke_is_shown_and_the_rest_go_on(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, (first, second, third), path = three_opened_groups(endpoint, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    refuse_revokes(monkeypatch, second)
    both = io.StringIO()

    with contextlib.redirect_stdout(both), contextlib.redirect_stderr(both):
        status = main(["replay", path])

    output = both.getvalue()
    assert status == 1
    assert account.ingress(first) == account.ingress(third) == {(443, "0.0.0.0/0")}
    assert account.ingress(second) == {(443, "0.0.0.0/0"), (22, "0.0.0.0/0")}
    error = f"error: {path}: Events[1] (event "
    # In the order it happened: the first's revoke, the second's one-line error, the third's revoke, the count.
    assert output.index(f"{first}: remediated") < output.index(error) < output.index(f"{third}: remediated")
    assert output.index(": revoked") < output.index(error)
    [line] = [line for line in output.splitlines() if line.startswith(error)]
    assert f"in {REGION}): AWS said: An error occurred (UnauthorizedOperation) when calling" in line
    assert output.endswith("\n3 events: 2 handled, 1 failed\n")
    assert "Traceback" not in output


def test_json_output_lists_a_failed_event_with_its_error_among_the_others(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, (first, second, third), path = three_opened_groups(endpoint, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    refuse_revokes(monkeypatch, second)

    status = main(["replay", path, "--json"])

    captured = capsys.readouterr()
    summaries = json.loads(captured.out)
    assert status == 1
    assert [s["status"] for s in summaries] == ["remediated", "failed", "remediated"]
    assert [summaries[0]["group_id"], summaries[2]["group_id"]] == [first, third]
    assert "AWS said: An error occurred (UnauthorizedOperation)" in summaries[1]["error"]
    assert "UnauthorizedOperation" in captured.err


UNRESOLVED_REGIONS = {
    "a malformed awsRegion": ("EU_WEST", REGION, "Events[1]: the event's region is 'EU_WEST', not an AWS region name"),
    "no region at all": (None, "", "Events[1]: no region: the event names none; pass --region"),
}


@pytest.mark.parametrize(("region", "configured", "expected"), UNRESOLVED_REGIONS.values(), ids=UNRESOLVED_REGIONS)
def test_an_event_whose_region_cannot_be_resolved_stops_the_replay_before_any_event_is_acted_on(
    region: str | None, configured: str, expected: str, endpoint: str, tmp_path: Path
) -> None:
    account = Account(endpoint)
    group_id, event = account.opened_group()
    other = dict(event["detail"])
    if region is None:
        del other["awsRegion"]
    else:
        other["awsRegion"] = region

    finished = replay(
        endpoint,
        saved(tmp_path, lookup_events_output([event["detail"], other])),
        env={"AWS_DEFAULT_REGION": configured},
    )

    assert finished.returncode == 2
    assert expected in finished.stderr
    assert finished.stderr.count("\n") == 1
    assert finished.stdout == ""
    assert account.ingress(group_id) == {(443, "0.0.0.0/0"), (22, "0.0.0.0/0")}


def test_a_notification_is_published_in_the_topics_region_when_the_event_is_in_another(
    endpoint: str, tmp_path: Path
) -> None:
    account = Account(endpoint)
    group_id, event = account.opened_group()
    elsewhere = Account(endpoint, region="us-east-1")
    sns, sqs = elsewhere.client("sns"), elsewhere.client("sqs")
    topic_arn = sns.create_topic(Name="alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    finished = replay(endpoint, saved(tmp_path, event), env={"REMEDIATOR_TOPIC_ARN": topic_arn})

    assert finished.returncode == 0, finished.stderr
    assert topic_arn.split(":")[3] == "us-east-1"
    assert f"notification: published to {topic_arn}" in finished.stdout
    assert account.ingress(group_id) == {(443, "0.0.0.0/0")}
    [message] = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert group_id in json.loads(message["Body"])["Subject"]


def test_a_lambda_invocation_record_of_the_dead_letter_queue_is_replayed_as_its_request_payload(
    endpoint: str, tmp_path: Path
) -> None:
    account = Account(endpoint)
    group_id, event = account.opened_group()

    finished = replay(endpoint, saved(tmp_path, invocation_record(event)))

    assert finished.returncode == 0, finished.stderr
    assert account.ingress(group_id) == {(443, "0.0.0.0/0")}
    assert f"{group_id}: remediated" in finished.stdout
    assert finished.stdout.endswith("\n1 event: 1 handled, 0 failed\n")


def test_sqs_receive_message_output_is_replayed_message_by_message_in_both_dead_letter_formats(
    endpoint: str, tmp_path: Path
) -> None:
    account = Account(endpoint)
    raw, raw_event = account.opened_group("raw")
    recorded, recorded_event = account.opened_group("recorded")

    finished = replay(endpoint, saved(tmp_path, received_messages([raw_event, invocation_record(recorded_event)])))

    assert finished.returncode == 0, finished.stderr
    assert account.ingress(raw) == account.ingress(recorded) == {(443, "0.0.0.0/0")}
    assert finished.stdout.endswith("\n2 events: 2 handled, 0 failed\n")


# ---- a group the target account does not have ----------------------------------------------------------------


def deleted_group_event(world: World, name: str = "gone") -> tuple[str, dict[str, Any]]:
    """The event of a call that opened SSH on a group that has been deleted since."""
    group_id = world.group(name)
    event = world.open_event(group_id, [SSH_WORLD])
    world.ec2.delete_security_group(GroupId=group_id)
    return group_id, event


def not_there(group_id: str, where: str) -> str:
    return (
        f"security group {group_id} does not exist in {where} (deleted since, or the event comes from another account)"
    )


def sts_calls(monkeypatch: pytest.MonkeyPatch, *, refuse: bool = False) -> list[str]:
    """Every GetCallerIdentity call of the botocore sessions made from now on (each refused, if asked)."""
    calls: list[str] = []
    original = botocore.session.get_session

    def identity(**_: Any) -> None:
        calls.append("GetCallerIdentity")
        if refuse:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetCallerIdentity")

    def session(*args: Any, **kwargs: Any) -> botocore.session.Session:
        made = original(*args, **kwargs)
        made.register("before-parameter-build.sts.GetCallerIdentity", identity)
        return made

    monkeypatch.setattr(botocore.session, "get_session", session)
    return calls


def test_a_group_the_account_does_not_have_is_said_to_not_exist_in_the_account_and_region_asked_of_sts_once(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = sts_calls(monkeypatch)
    first, first_event = deleted_group_event(world, "first")
    second, second_event = deleted_group_event(world, "second")
    path = saved(tmp_path, lookup_events_output([first_event["detail"], second_event["detail"]]))

    status = main(["replay", path])

    out = capsys.readouterr().out
    assert status == 0
    assert f"  ignored: {not_there(first, f'account {ACCOUNT} region {REGION}')}\n" in out
    assert f"  ignored: {not_there(second, f'account {ACCOUNT} region {REGION}')}\n" in out
    assert "no longer exists" not in out
    assert calls == ["GetCallerIdentity"]


def test_when_sts_cannot_tell_the_account_the_reason_names_the_region_alone(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = sts_calls(monkeypatch, refuse=True)
    group_id, event = deleted_group_event(world)

    status = main(["replay", saved(tmp_path, event), "--json"])

    [summary] = json.loads(capsys.readouterr().out)
    assert status == 0
    assert calls == ["GetCallerIdentity"]
    assert summary["status"] == "ignored"
    assert summary["reason"] == not_there(group_id, f"region {REGION}")


def test_an_event_whose_group_exists_asks_nothing_of_sts(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = sts_calls(monkeypatch)
    group_id = world.group()
    event = world.open_event(group_id, [SSH_WORLD])

    assert main(["replay", saved(tmp_path, event)]) == 0
    assert calls == []


def test_redrive_says_a_group_the_account_does_not_have_does_not_exist_there(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    group_id, event = deleted_group_event(world)
    url = world.sqs.create_queue(QueueName="dlq")["QueueUrl"]
    world.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))

    status = main(["redrive", url])

    out = capsys.readouterr().out
    assert status == 0
    assert f"  ignored: {not_there(group_id, f'account {ACCOUNT} region {REGION}')}\n" in out
    assert out.endswith("\n1 message: 1 handled, 0 failed; 1 deleted, 0 left in the queue\n")


def test_an_attachment_event_is_handled_as_the_lambda_handles_it_not_ignored(endpoint: str, tmp_path: Path) -> None:
    account = Account(endpoint)
    group_id, _ = account.opened_group()
    vpc_id = account.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["VpcId"]
    subnet_id = account.ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    interface = account.ec2.create_network_interface(SubnetId=subnet_id, Groups=[group_id])["NetworkInterface"]
    event = load_event("constructed-CreateNetworkInterface-cli-two-groups.json")
    record = event.get("detail", event)
    record.update(awsRegion=REGION, recipientAccountId=ACCOUNT)
    record["requestParameters"]["groupSet"] = {"items": [{"groupId": group_id}]}
    record["responseElements"]["networkInterface"].update(
        networkInterfaceId=interface["NetworkInterfaceId"], groupSet={"items": [{"groupId": group_id}]}
    )

    finished = replay(endpoint, saved(tmp_path, event), env={"REMEDIATOR_SWEEP_MODE": "revoke"})

    assert finished.returncode == 0, finished.stderr
    # The sweep mode acts: the rules the group already had are judged as the sweep judges them.
    assert account.ingress(group_id) == {(443, "0.0.0.0/0")}
    assert f"{group_id}: remediated" in finished.stdout
    assert "tcp/22 from 0.0.0.0/0" in finished.stdout
    assert "ignored" not in finished.stdout
