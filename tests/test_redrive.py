"""`redrive` on embedded AWS (moto): the dead-letter queue's events handled again, each deleted once handled."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from conftest import World
from test_replay import invocation_record, refuse_revokes

from remediator.cli.main import main

SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
RDP_WORLD = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
GARBAGE = '{"hello": "world"}'


class DeadLetters:
    """The remediator's dead-letter queue on embedded AWS, and the risky calls whose events wait in it."""

    def __init__(self, world: World) -> None:
        self.world = world
        # A visibility timeout of 0: a message left in the queue is at once visible again, as after a real timeout.
        self.url: str = world.sqs.create_queue(QueueName="sg-remediator-dlq", Attributes={"VisibilityTimeout": "0"})[
            "QueueUrl"
        ]

    def opened(self, name: str, permission: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """A group opened to the world on embedded AWS, and the EventBridge event of that call."""
        group_id = self.world.group(name)
        return group_id, self.world.open_event(group_id, [permission])

    def send(self, body: str) -> str:
        """Put a message in the queue, as EventBridge or Lambda would; its message id."""
        return str(self.world.sqs.send_message(QueueUrl=self.url, MessageBody=body)["MessageId"])

    def bodies(self) -> list[str]:
        """The bodies of every message still in the queue."""
        found: dict[str, str] = {}
        while True:
            batch = self.world.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            fresh = [message for message in batch if message["MessageId"] not in found]
            if not fresh:
                return sorted(found.values())
            found.update((message["MessageId"], message["Body"]) for message in fresh)


@pytest.fixture
def dead_letters(world: World) -> DeadLetters:
    return DeadLetters(world)


def test_redrive_closes_the_rules_of_both_formats_deletes_their_messages_and_leaves_a_message_of_no_event(
    dead_letters: DeadLetters, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    web, raw_event = dead_letters.opened("web", SSH_WORLD)
    desktop, recorded_event = dead_letters.opened("desktop", RDP_WORLD)
    dead_letters.send(json.dumps(raw_event))
    dead_letters.send(json.dumps(invocation_record(recorded_event)))
    garbage = dead_letters.send(GARBAGE)

    status = main(["redrive", dead_letters.url])

    captured = capsys.readouterr()
    assert status == 1
    assert world.ingress(web) == world.ingress(desktop) == set()
    assert dead_letters.bodies() == [GARBAGE]
    assert f"{web}: remediated" in captured.out
    assert f"{desktop}: remediated" in captured.out
    assert "tcp/3389 from 0.0.0.0/0 (sgr-" in captured.out
    assert captured.out.endswith("\n3 messages: 2 handled, 1 failed; 2 deleted, 1 left in the queue\n")
    assert f"error: message {garbage} is neither an EventBridge event" in captured.err
    assert captured.err.rstrip().endswith("; left in the queue")


def test_a_dry_run_changes_no_rule_and_deletes_no_message(
    dead_letters: DeadLetters, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    web, raw_event = dead_letters.opened("web", SSH_WORLD)
    desktop, recorded_event = dead_letters.opened("desktop", RDP_WORLD)
    bodies = sorted([json.dumps(raw_event), json.dumps(invocation_record(recorded_event)), GARBAGE])
    for body in bodies:
        dead_letters.send(body)

    status = main(["redrive", dead_letters.url, "--dry-run"])

    captured = capsys.readouterr()
    assert status == 1
    assert world.ingress(web) == {("tcp", 22, 22, "0.0.0.0/0")}
    assert world.ingress(desktop) == {("tcp", 3389, 3389, "0.0.0.0/0")}
    assert dead_letters.bodies() == bodies
    assert captured.out.count("would be revoked (dry run: nothing changed)") == 2
    assert captured.out.endswith("\n3 messages: 2 handled, 1 failed; dry run: none deleted\n")


def test_a_queue_of_handled_events_is_drained_and_exits_0(
    dead_letters: DeadLetters, world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REMEDIATOR_TOPIC_ARN", world.topic_arn)
    web, raw_event = dead_letters.opened("web", SSH_WORLD)
    desktop, recorded_event = dead_letters.opened("desktop", RDP_WORLD)
    dead_letters.send(json.dumps(raw_event))
    dead_letters.send(json.dumps(invocation_record(recorded_event)))

    status = main(["redrive", dead_letters.url, "--json"])

    summaries = json.loads(capsys.readouterr().out)
    assert status == 0
    assert dead_letters.bodies() == []
    assert sorted(s["group_id"] for s in summaries) == sorted([web, desktop])
    assert [(s["status"], s["deleted"], s["notified"]) for s in summaries] == [("remediated", True, True)] * 2
    subjects = [message["subject"] for message in world.messages()]
    assert len(subjects) == 2
    assert all(any(group_id in subject for subject in subjects) for group_id in (web, desktop))


def test_a_message_whose_event_fails_at_aws_stays_in_the_queue_and_the_others_go_on(
    dead_letters: DeadLetters, world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refused, refused_event = dead_letters.opened("refused", SSH_WORLD)
    web, raw_event = dead_letters.opened("web", SSH_WORLD)
    refused_id = dead_letters.send(json.dumps(refused_event))
    dead_letters.send(json.dumps(raw_event))
    refuse_revokes(monkeypatch, refused)

    status = main(["redrive", dead_letters.url])

    captured = capsys.readouterr()
    assert status == 1
    assert world.ingress(refused) == {("tcp", 22, 22, "0.0.0.0/0")}
    assert world.ingress(web) == set()
    assert dead_letters.bodies() == [json.dumps(refused_event)]
    [line] = captured.err.splitlines()
    assert line.startswith(f"error: message {refused_id} (event ")
    assert "AWS said: An error occurred (UnauthorizedOperation)" in line
    assert line.endswith("; left in the queue")
    assert captured.out.endswith("\n2 messages: 1 handled, 1 failed; 1 deleted, 1 left in the queue\n")


def test_a_message_handled_but_not_deleted_shows_its_result_then_the_error_and_exits_1(
    dead_letters: DeadLetters, world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    web, raw_event = dead_letters.opened("web", SSH_WORLD)
    message_id = dead_letters.send(json.dumps(raw_event))
    original = botocore.session.get_session

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "DeleteMessage")

    def session(*args: Any, **kwargs: Any) -> botocore.session.Session:
        made = original(*args, **kwargs)
        made.register("before-parameter-build.sqs.DeleteMessage", refuse)
        return made

    monkeypatch.setattr(botocore.session, "get_session", session)

    status = main(["redrive", dead_letters.url])

    captured = capsys.readouterr()
    assert status == 1
    assert world.ingress(web) == set()
    assert dead_letters.bodies() == [json.dumps(raw_event)]
    assert ": revoked" in captured.out
    [line] = captured.err.splitlines()
    assert line.startswith(f"error: message {message_id} (event ")
    assert "handled, but not deleted: AWS said: An error occurred (AccessDenied)" in line
    assert captured.out.endswith("\n1 message: 0 handled, 1 failed; 0 deleted, 1 left in the queue\n")


def test_max_messages_stops_the_redrive_after_that_many(
    dead_letters: DeadLetters, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    opened = [dead_letters.opened(name, SSH_WORLD) for name in ("one", "two", "three")]
    for _, event in opened:
        dead_letters.send(json.dumps(event))

    status = main(["redrive", dead_letters.url, "--max-messages", "2"])

    assert status == 0
    assert len(dead_letters.bodies()) == 1
    assert sorted(len(world.ingress(group_id)) for group_id, _ in opened) == [0, 0, 1]
    assert capsys.readouterr().out.endswith("\n2 messages: 2 handled, 0 failed; 2 deleted, 0 left in the queue\n")


def test_an_empty_queue_is_said_to_be_empty_and_exits_0(
    dead_letters: DeadLetters, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["redrive", dead_letters.url]) == 0
    assert capsys.readouterr().out == f"{dead_letters.url}: no messages\n"


def test_a_queue_that_does_not_exist_is_what_aws_said_with_exit_status_1(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = world.queue_url.rsplit("/", 1)[0] + "/no-such-queue"

    assert main(["redrive", missing]) == 1
    assert capsys.readouterr().err.startswith("error: AWS said: An error occurred (")


BAD_QUEUES = {
    "a queue name": ("sg-remediator-dlq", [], "'sg-remediator-dlq' is not an SQS queue URL"),
    "a URL without a path": ("https://sqs.eu-west-1.amazonaws.com", [], "is not an SQS queue URL"),
    "a URL of another region than --region": (
        "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq",
        ["--region", "us-east-1"],
        "the queue URL is in eu-west-1, not in --region us-east-1",
    ),
}


@pytest.mark.parametrize(("url", "options", "expected"), BAD_QUEUES.values(), ids=BAD_QUEUES)
def test_a_queue_url_that_is_not_one_is_a_one_line_error_with_exit_status_2(
    url: str, options: list[str], expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on the discard port: a call that should not happen fails instead of reaching AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")

    assert main(["redrive", url, *options]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert expected in captured.err
    assert captured.err.count("\n") == 1
    assert captured.out == ""
