"""Where security teams look, on embedded AWS: Security Hub findings, outcome events, chat and per-team messages."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, REGION, World
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from remediator import integrations
from remediator.cli import cloudtrail
from remediator.effects import Aws
from remediator.events import SecurityGroupCall, read_call
from remediator.findings import FINDING_TYPE, GENERATOR_ID, REMEDIATION, RESTORE_FIELD, product_arn
from remediator.inventory import Row, scan_region
from remediator.model import Mode, Outcome
from remediator.remediate import remediate
from remediator.report import (
    SNS_MESSAGE_LIMIT_BYTES,
    Notification,
    SweepLine,
    SweepReport,
    message_bytes,
    per_protocol,
    refusal_notification,
    sweep_notification,
)
from remediator.sweep import sweep

NOW = datetime(2025, 1, 1, 3, 0, tzinfo=UTC)
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
WIDE_RDP = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/1"}]}
PRODUCT = product_arn("aws", REGION, ACCOUNT)


def run(world: World, event: object, *, now: datetime = NOW, **env: str) -> dict[str, Any]:
    world.calls.clear()
    return remediate(event, world.settings(**env), world.aws, now)


def run_sweep(world: World, *, now: datetime = NOW, **env: str) -> dict[str, Any]:
    world.calls.clear()
    return sweep(world.settings(**env), world.aws, now, account=ACCOUNT)


def findings_of(hub: Any, group_id: str) -> list[dict[str, Any]]:
    """The stored findings about a group, as GetFindings returns them."""
    found = hub.get_findings(Filters={"GeneratorId": [{"Value": GENERATOR_ID, "Comparison": "EQUALS"}]})["Findings"]
    return [f for f in found if f["Resources"][0]["Details"]["AwsEc2SecurityGroup"]["GroupId"] == group_id]


def warnings(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if line["level"] == "WARNING"]


# ---- Security Hub --------------------------------------------------------------------------------------------------


def test_a_revoked_rule_is_a_passed_resolved_finding_with_what_was_done_and_its_restore_command(
    world: World, security_hub: Any
) -> None:
    group_id = world.group()
    run(world, world.open_event(group_id, [SSH_WORLD]), REMEDIATOR_SECURITY_HUB="true")

    [finding] = findings_of(security_hub, group_id)
    [message] = world.messages()

    assert finding["Id"].startswith(f"sg-remediator/{REGION}/{group_id}/")
    assert finding["ProductArn"] == PRODUCT
    assert finding["GeneratorId"] == GENERATOR_ID
    assert finding["AwsAccountId"] == ACCOUNT
    assert finding["Types"] == [FINDING_TYPE]
    assert finding["FindingProviderFields"] == {"Severity": {"Label": "HIGH"}, "Types": [FINDING_TYPE]}
    assert finding["Severity"] == {"Label": "HIGH"}
    [resource] = finding["Resources"]
    assert resource["Type"] == "AwsEc2SecurityGroup"
    assert resource["Id"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group_id}"
    assert resource["Details"]["AwsEc2SecurityGroup"] == {
        "GroupId": group_id,
        "GroupName": "web",
        "VpcId": world.vpc_id,
    }
    assert finding["Compliance"] == {"Status": "PASSED"}
    assert finding["RecordState"] == "ACTIVE"
    assert finding["Workflow"] == {"Status": "RESOLVED"}
    assert finding["Note"]["UpdatedBy"] == "sg-remediator"
    assert f"sg-remediator revoked this rule at {NOW:%Y-%m-%dT%H:%M:%SZ}" in finding["Note"]["Text"]
    assert finding["Remediation"]["Recommendation"]["Text"] == REMEDIATION
    restore = next(line.split("Restore:", 1)[1].strip() for line in message["body"].splitlines() if "Restore:" in line)
    assert finding["ProductFields"][RESTORE_FIELD] == restore
    assert "revoked" in finding["Description"]


def test_a_rule_left_open_is_a_failed_new_finding_and_a_rerun_updates_it_without_a_second(
    world: World, security_hub: Any
) -> None:
    group_id = world.group(tags={"remediator:mode": "notify"})
    event = world.open_event(group_id, [SSH_WORLD, WIDE_RDP])
    run(world, event, REMEDIATOR_SECURITY_HUB="true")
    first = {f["Id"]: f for f in findings_of(security_hub, group_id)}

    run(world, copy.deepcopy(event), now=NOW + timedelta(hours=1), REMEDIATOR_SECURITY_HUB="true")
    second = {f["Id"]: f for f in findings_of(security_hub, group_id)}

    assert len(first) == 2
    assert second.keys() == first.keys()
    for finding in second.values():
        assert finding["Compliance"] == {"Status": "FAILED"}
        assert finding["Workflow"] == {"Status": "NEW"}
        assert "Note" not in finding
        assert RESTORE_FIELD not in finding["ProductFields"]
        assert finding["UpdatedAt"] == "2025-01-01T04:00:00.000Z"
    assert sorted(f["Severity"]["Label"] for f in second.values()) == ["HIGH", "MEDIUM"]
    # Left open: no workflow to set, so no BatchUpdateFindings.
    assert "BatchUpdateFindings" not in world.calls


def test_an_opted_out_rule_is_a_failed_finding_too(world: World, security_hub: Any) -> None:
    group_id = world.group(tags={"remediator:mode": "ignore"})
    run(world, world.open_event(group_id, [SSH_WORLD]), REMEDIATOR_SECURITY_HUB="true")

    [finding] = findings_of(security_hub, group_id)

    assert finding["Compliance"] == {"Status": "FAILED"}
    assert world.messages() == []


def test_a_rule_first_left_open_then_revoked_becomes_passed_and_resolved(world: World, security_hub: Any) -> None:
    group_id = world.group(tags={"remediator:mode": "notify"})
    event = world.open_event(group_id, [SSH_WORLD])
    run(world, event, REMEDIATOR_SECURITY_HUB="true")
    world.ec2.create_tags(Resources=[group_id], Tags=[{"Key": "remediator:mode", "Value": "revoke"}])

    run(world, copy.deepcopy(event), now=NOW + timedelta(minutes=5), REMEDIATOR_SECURITY_HUB="true")

    [finding] = findings_of(security_hub, group_id)
    assert finding["Compliance"] == {"Status": "PASSED"}
    assert finding["Workflow"] == {"Status": "RESOLVED"}
    assert world.ingress(group_id) == set()


def test_the_sweep_resolves_an_open_finding_whose_rule_is_gone_and_keeps_the_others_open(
    world: World, security_hub: Any
) -> None:
    gone = world.group("gone", {"remediator:mode": "notify"})
    kept = world.group("kept", {"remediator:mode": "notify"})
    run(world, world.open_event(gone, [SSH_WORLD]), REMEDIATOR_SECURITY_HUB="true")
    run(world, world.open_event(kept, [SSH_WORLD]), REMEDIATOR_SECURITY_HUB="true")
    [opened] = findings_of(security_hub, kept)
    world.ec2.revoke_security_group_ingress(GroupId=gone, IpPermissions=[SSH_WORLD])

    run_sweep(world, now=NOW + timedelta(days=1), REMEDIATOR_SECURITY_HUB="true")

    [resolved] = findings_of(security_hub, gone)
    assert resolved["Compliance"] == {"Status": "PASSED"}
    assert resolved["Workflow"] == {"Status": "RESOLVED"}
    assert "no longer finds this rule among the risky ones" in resolved["Note"]["Text"]
    # The event's finding and the sweep's are one: same id, created when the event found it.
    [still_open] = findings_of(security_hub, kept)
    assert still_open["Id"] == opened["Id"]
    assert still_open["Compliance"] == {"Status": "FAILED"}
    assert still_open["Workflow"] == {"Status": "NEW"}
    assert still_open["CreatedAt"] == opened["CreatedAt"]
    assert still_open["UpdatedAt"] == "2025-01-02T03:00:00.000Z"
    assert world.calls[-4:] == ["GetFindings", "BatchImportFindings", "BatchUpdateFindings", "PutEvents"]


def test_a_revoking_sweep_resolves_what_it_closed(world: World, security_hub: Any) -> None:
    group_id = world.group()
    world.authorize(group_id, [SSH_WORLD])

    run_sweep(world, REMEDIATOR_SECURITY_HUB="true", REMEDIATOR_SWEEP_MODE="revoke")

    [finding] = findings_of(security_hub, group_id)
    assert finding["Compliance"] == {"Status": "PASSED"}
    assert finding["Workflow"] == {"Status": "RESOLVED"}
    assert "(the scheduled sweep)" in finding["Note"]["Text"]
    assert finding["ProductFields"][RESTORE_FIELD].startswith("aws ec2 authorize-security-group-ingress")


def test_a_sweep_that_ran_out_of_time_resolves_nothing_it_did_not_read(
    world: World, security_hub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    group_id = world.group(tags={"remediator:mode": "notify"})
    run(world, world.open_event(group_id, [SSH_WORLD]), REMEDIATOR_SECURITY_HUB="true")
    world.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[SSH_WORLD])
    still_open = world.group("other")
    world.authorize(still_open, [SSH_WORLD])

    def stopped_early(*args: Any, **kwargs: Any) -> Any:
        return dataclasses.replace(scan_region(*args, **kwargs), complete=False)

    monkeypatch.setattr("remediator.sweep.scan_region", stopped_early)

    result = run_sweep(world, REMEDIATOR_SECURITY_HUB="true")

    assert result["scan_complete"] is False
    [finding] = findings_of(security_hub, group_id)
    assert finding["Compliance"] == {"Status": "FAILED"}
    assert "GetFindings" not in world.calls
    assert findings_of(security_hub, still_open)[0]["Compliance"] == {"Status": "FAILED"}


def test_the_sweep_imports_and_resolves_in_calls_of_at_most_100_findings(
    world: World, security_hub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Aws, "FINDINGS_PER_CALL", 2)
    for number in range(5):
        world.authorize(world.group(f"g{number}"), [SSH_WORLD])

    run_sweep(world, REMEDIATOR_SECURITY_HUB="true", REMEDIATOR_SWEEP_MODE="revoke")

    assert world.calls.count("BatchImportFindings") == 3
    assert world.calls.count("BatchUpdateFindings") == 3
    assert world.calls.count("GetFindings") == 1


def test_security_hub_failing_is_a_warning_and_the_rule_stays_closed(
    world: World, security_hub: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def denied(aws: Aws, findings: Any) -> dict[str, str]:
        error = {
            "Error": {"Code": "InvalidAccessException", "Message": "Account is not subscribed to AWS Security Hub"}
        }
        raise ClientError(error, "BatchImportFindings")  # type: ignore[arg-type]

    monkeypatch.setattr(Aws, "import_findings", denied)
    group_id = world.group()

    result = run(world, world.open_event(group_id, [SSH_WORLD]), REMEDIATOR_SECURITY_HUB="true")

    assert result["status"] == "remediated"
    assert world.ingress(group_id) == set()
    [warning] = warnings(capsys)
    assert warning["message"] == "security hub not updated"
    assert "InvalidAccessException" in warning["reason"]


# ---- EventBridge ---------------------------------------------------------------------------------------------------


@pytest.fixture
def outcome_queue(world: World) -> str:
    """A queue that an EventBridge rule on the default bus fills with the remediator's outcome events."""
    events = boto3.client("events", region_name=REGION)
    queue_url = world.sqs.create_queue(QueueName="outcomes")["QueueUrl"]
    queue_arn = world.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="outcomes", EventPattern=json.dumps({"source": ["sg-remediator"]}))
    events.put_targets(Rule="outcomes", Targets=[{"Id": "queue", "Arn": queue_arn}])
    return str(queue_url)


def received(world: World, queue_url: str) -> list[dict[str, Any]]:
    messages = world.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_each_outcome_is_one_event_on_the_default_bus_that_a_rule_delivers(world: World, outcome_queue: str) -> None:
    closed = world.group("closed")
    watched = world.group("watched", {"remediator:mode": "notify"})
    first = run(world, world.open_event(closed, [SSH_WORLD]))
    second = run(world, world.open_event(watched, [SSH_WORLD]))

    remediated, left_open = received(world, outcome_queue)

    assert remediated["source"] == "sg-remediator"
    assert remediated["detail-type"] == "Security Group Rule Remediated"
    assert remediated["resources"] == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{closed}"]
    assert remediated["detail"] == first
    assert left_open["detail-type"] == "Security Group Rule Left Open"
    assert left_open["detail"] == second
    assert world.calls.count("PutEvents") == 1


def test_an_event_that_found_nothing_sends_no_outcome_event(world: World, outcome_queue: str) -> None:
    group_id = world.group()
    clean = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}

    result = run(world, world.open_event(group_id, [clean]))

    assert result["status"] == "clean"
    assert received(world, outcome_queue) == []
    assert "PutEvents" not in world.calls


def test_outcome_events_off_sends_none(world: World, outcome_queue: str) -> None:
    run(world, world.open_event(world.group(), [SSH_WORLD]), REMEDIATOR_OUTCOME_EVENTS="false")

    assert received(world, outcome_queue) == []
    assert "PutEvents" not in world.calls


def test_a_sweep_that_found_something_sends_one_outcome_event_naming_its_groups(
    world: World, outcome_queue: str
) -> None:
    groups = sorted(world.group(f"g{number}") for number in range(2))
    for group_id in groups:
        world.authorize(group_id, [SSH_WORLD])

    result = run_sweep(world)

    [event] = received(world, outcome_queue)
    assert event["detail-type"] == "Security Group Rule Left Open"
    assert event["detail"] == result
    assert event["resources"] == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{g}" for g in groups]
    assert world.calls.count("PutEvents") == 1


def test_eventbridge_failing_is_a_warning_and_the_rule_stays_closed(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused(aws: Aws, source: str, detail_type: str, detail: str, resources: Any) -> str:
        return "ThrottlingException: Rate exceeded"

    monkeypatch.setattr(Aws, "put_event", refused)
    group_id = world.group()

    result = run(world, world.open_event(group_id, [SSH_WORLD]))

    assert result["status"] == "remediated"
    assert world.ingress(group_id) == set()
    [warning] = warnings(capsys)
    assert warning == {
        "level": "WARNING",
        "message": "outcome event not sent",
        "reason": "ThrottlingException: Rate exceeded",
        "event_id": result["event_id"],
    }


def test_a_detail_too_large_for_eventbridge_has_its_findings_cut_and_counted() -> None:
    summary = {"status": "left-open", "findings": [{"notes": ["x" * 1000]} for _ in range(500)]}

    detail = json.loads(integrations.fitted(summary))

    assert len(json.dumps(detail).encode()) <= integrations.DETAIL_BUDGET_BYTES
    assert detail["findings_left_out"] == 500 - len(detail["findings"])
    assert detail["findings"]


# ---- Chat: the https entry, and the e-mail text everywhere else ------------------------------------------------------


class Inbox:
    """An https endpoint on loopback that keeps what SNS posts to it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.posts: list[dict[str, Any]] = []


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, for the loopback https endpoint."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def https_inbox(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """An https subscriber of the topic on 127.0.0.1 (moto delivers to it), trusted through REQUESTS_CA_BUNDLE."""
    cert_path, key_path = self_signed(tmp_path)
    posts: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            posts.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path))
    inbox = Inbox(f"https://127.0.0.1:{server.server_address[1]}/sns")
    inbox.posts = posts
    world.sns.subscribe(TopicArn=world.topic_arn, Protocol="https", Endpoint=inbox.url)
    try:
        yield inbox
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def raw_queue(world: World, name: str, filter_policy: dict[str, Any] | None = None) -> str:
    """A queue subscribed to the topic with raw delivery (the message as sent, as an e-mail gets it)."""
    queue_url = world.sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = world.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes = {"RawMessageDelivery": "true"}
    if filter_policy is not None:
        attributes["FilterPolicy"] = json.dumps(filter_policy)
    world.sns.subscribe(TopicArn=world.topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes)
    return str(queue_url)


def raw_messages(world: World, queue_url: str) -> list[dict[str, Any]]:
    found = world.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages", []
    )
    return [
        {"body": m["Body"], "attributes": {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}}
        for m in found
    ]


def published(world: World) -> list[dict[str, Any]]:
    """What the remediator hands to SNS Publish, call by call."""
    calls: list[dict[str, Any]] = []
    world.aws.sns.meta.events.register("provide-client-params.sns.Publish", lambda params, **_: calls.append(params))
    return calls


def test_the_email_like_subscriber_gets_the_text_and_the_https_one_the_chat_notification(
    world: World, https_inbox: Inbox
) -> None:
    mail = raw_queue(world, "mail")
    calls = published(world)
    group_id = world.group()

    result = run(world, world.open_event(group_id, [SSH_WORLD]))

    [params] = calls
    assert params["MessageStructure"] == "json"
    assert params["Subject"] == f"[sg-remediator] closed 1 risky rule in {group_id} (web)"
    entries = json.loads(params["Message"])
    # E-mail gets the `default`: the body is in the message once.
    assert set(entries) == {"default", "https"}
    [text] = raw_messages(world, mail)
    assert text["body"] == entries["default"]
    assert text["body"].startswith(f"sg-remediator closed 1 risky rule in security group {group_id}.")
    [post] = https_inbox.posts
    assert post["Type"] == "Notification"
    chat = json.loads(post["Message"])
    assert chat == json.loads(entries["https"])
    # The fields Amazon Q Developer in chat applications requires, and what it renders.
    assert chat["version"] == "1.0"
    assert chat["source"] == "custom"
    content = chat["content"]
    assert isinstance(content["description"], str)
    assert content["description"]
    assert content["textType"] == "client-markdown"
    assert content["title"] == f"sg-remediator closed 1 risky rule in {group_id} (web)"
    assert "`tcp/22` from `0.0.0.0/0`: revoked" in content["description"]
    assert all(isinstance(step, str) for step in content["nextSteps"])
    assert any("aws ec2 authorize-security-group-ingress" in step for step in content["nextSteps"])
    assert content["keywords"] == ["sg-remediator", "remediated", "revoke", group_id]
    assert chat["metadata"]["relatedResources"] == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group_id}"]
    assert result["notified"] is True


def test_every_chat_notification_has_the_required_fields_of_the_documented_schema() -> None:
    lines = tuple(SweepLine(row=row, outcome=Outcome.NOTIFIED, details=()) for row in (big_row(n) for n in range(30)))
    report = SweepReport(
        account=ACCOUNT, region=REGION, sweep_mode=Mode.NOTIFY, dry_run=False, groups_scanned=30, lines=lines
    )
    call = read_call(
        cloudtrail.authorize_event(
            cloudtrail.load_template(cloudtrail.RULE_SET_TEMPLATE),
            group_id="sg-00000000000000001",
            permissions=[SSH_WORLD],
            rules=None,
            account=ACCOUNT,
            region="us-east-1",
        )
    )
    assert isinstance(call, SecurityGroupCall)
    notifications = [sweep_notification(report), refusal_notification(call, "event from us-east-1")]

    for notification in notifications:
        assert notification is not None
        assert notification.chat is not None
        chat = notification.chat
        assert (chat["version"], chat["source"]) == ("1.0", "custom")
        assert isinstance(chat["content"]["description"], str)
        assert chat["content"]["description"]
        assert len(chat["content"]["description"]) <= 3000
        assert json.loads(per_protocol(notification)["https"]) == chat


def big_row(number: int) -> Row:
    return Row(
        region=REGION,
        group_id=f"sg-{number:017x}",
        group_name="n" * 255,
        vpc_id="vpc-00000000000000001",
        attached=False,
        protocol="tcp",
        ports="tcp/22",
        source="0.0.0.0/0",
        risk="r" * 300,
        mode="revoke",
        action="revoke",
        would="revoke",
        narrow_to=(),
        notes=("x" * 2000,),
    )


def test_the_whole_message_of_the_largest_sweep_fits_in_sns_256_kb() -> None:
    lines = tuple(SweepLine(row=big_row(n), outcome=Outcome.NOTIFIED, details=()) for n in range(300))
    report = SweepReport(
        account=ACCOUNT, region=REGION, sweep_mode=Mode.NOTIFY, dry_run=False, groups_scanned=5000, lines=lines
    )
    notification = sweep_notification(report)
    assert notification is not None

    entries = per_protocol(notification)

    assert message_bytes(notification, entries) <= SNS_MESSAGE_LIMIT_BYTES
    assert set(entries) == {"https"}


def test_a_message_that_would_not_fit_with_its_chat_goes_without_it() -> None:
    chat = {"version": "1.0", "source": "custom", "content": {"description": "d" * 2000}}
    fits = Notification(subject="s", body="b" * (SNS_MESSAGE_LIMIT_BYTES - 4000), attributes={}, chat=chat)
    too_big = Notification(subject="s", body="b" * (SNS_MESSAGE_LIMIT_BYTES - 1000), attributes={}, chat=chat)

    assert set(per_protocol(fits)) == {"https"}
    assert per_protocol(too_big) == {}
    assert per_protocol(Notification(subject="s", body="b", attributes={})) == {}


# ---- Per-team routing --------------------------------------------------------------------------------------------


def test_filter_policies_on_the_contact_tag_route_each_groups_message_to_its_team_only(world: World) -> None:
    team_a = raw_queue(world, "team-a", {"contact": ["team-a"]})
    team_b = raw_queue(world, "team-b", {"contact": ["team-b"]})
    group_a = world.group("a", {"remediator:contact": "team-a"})
    group_b = world.group("b", {"remediator:contact": "team-b"})
    run(world, world.open_event(group_a, [SSH_WORLD]))
    run(world, world.open_event(group_b, [SSH_WORLD]))

    [for_a] = raw_messages(world, team_a)
    [for_b] = raw_messages(world, team_b)

    assert group_a in for_a["body"]
    assert group_b in for_b["body"]
    assert for_a["attributes"] == {
        "mode": "revoke",
        "action": "revoked",
        "group_id": group_a,
        "contact": "team-a",
        "vpc_id": world.vpc_id,
    }
    assert for_b["attributes"]["contact"] == "team-b"


def test_the_contact_tag_key_is_a_setting(world: World) -> None:
    team = raw_queue(world, "owners", {"contact": ["payments"]})
    group_id = world.group(tags={"owner": "payments", "remediator:contact": "someone-else"})

    run(world, world.open_event(group_id, [SSH_WORLD]), REMEDIATOR_CONTACT_TAG="owner")

    [message] = raw_messages(world, team)
    assert message["attributes"]["contact"] == "payments"


# ---- The clients ---------------------------------------------------------------------------------------------------


def test_the_security_hub_and_eventbridge_clients_are_made_only_when_first_used(world: World) -> None:
    aws = Aws(ec2=world.ec2, sns=world.sns)
    off = {"REMEDIATOR_SECURITY_HUB": "false", "REMEDIATOR_OUTCOME_EVENTS": "false"}

    remediate(world.open_event(world.group("one"), [SSH_WORLD]), world.settings(**off), aws, NOW)
    made_when_off = (aws._securityhub, aws._events)
    remediate(world.open_event(world.group("two"), [SSH_WORLD]), world.settings(), aws, NOW)

    assert made_when_off == (None, None)
    assert aws._securityhub is None
    assert aws.events.meta.region_name == REGION
