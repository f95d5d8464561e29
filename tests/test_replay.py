"""`replay` on saved events against a moto server on loopback, reached only through AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import ACCOUNT, REGION, load_event
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
