"""No credential of an event reaches what the remediator sends: notifications, log lines, results."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import EVENTS_DIR, World, load_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediator.engine import Finding
from remediator.events import SecurityGroupCall, read_call
from remediator.model import Action, Decision, GroupState, Mode, Outcome
from remediator.policy import ALLOWED_CIDRS_TAG, MODE_TAG
from remediator.remediate import remediate
from remediator.report import attributes, body, event_report, subject

NOW = datetime.now(UTC)
REPO = Path(__file__).resolve().parent.parent
ACCESS_KEY = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
HTTPS_WORLD = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}

# --- Notifications and logs carry no credentials ------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str

    def values(self) -> tuple[str, str, str]:
        return (self.access_key_id, self.secret_access_key, self.session_token)


credentials = st.builds(
    Credentials,
    access_key_id=st.from_regex(r"(AKIA|ASIA)[A-Z0-9]{16}", fullmatch=True),
    secret_access_key=st.from_regex(r"[A-Za-z0-9/+]{40}", fullmatch=True),
    session_token=st.from_regex(r"(FwoGZXIvYXdz|IQoJb3JpZ2luX2Vj)[A-Za-z0-9/+=]{60,120}", fullmatch=True),
)
PLACES = ("userIdentity", "sessionContext", "additionalEventData", "responseElements")


def with_credentials(event: dict[str, Any], secret: Credentials, places: set[str]) -> dict[str, Any]:
    """The event with the credentials wherever a CloudTrail record (or a careless pipeline) could carry them."""
    detail = event["detail"]
    identity = detail.setdefault("userIdentity", {})
    identity["accessKeyId"] = secret.access_key_id
    full = {
        "accessKeyId": secret.access_key_id,
        "secretAccessKey": secret.secret_access_key,
        "sessionToken": secret.session_token,
    }
    if "userIdentity" in places:
        identity.update(full)
    if "sessionContext" in places:
        identity.setdefault("sessionContext", {})["credentials"] = full
        identity["sessionContext"]["sessionToken"] = secret.session_token
    if "additionalEventData" in places:
        detail["additionalEventData"] = {"credentials": full, "x-amz-security-token": secret.session_token}
    if "responseElements" in places:
        detail.setdefault("responseElements", {})["credentials"] = full
    return event


SCENARIOS = ("revoke", "narrow", "narrow-to-unknown-list", "notify", "ignore", "dry-run", "clean", "unreadable")
QUIET = {"ignore", "clean", "unreadable"}
SERIAL = itertools.count()


def scenario_event(world: World, scenario: str) -> tuple[dict[str, Any], dict[str, str]]:
    tags = {
        "narrow": {MODE_TAG: "narrow", ALLOWED_CIDRS_TAG: "198.51.100.0/24"},
        "narrow-to-unknown-list": {MODE_TAG: "narrow", ALLOWED_CIDRS_TAG: "pl-00000000000000000"},
        "notify": {MODE_TAG: "notify"},
        "ignore": {MODE_TAG: "ignore"},
    }.get(scenario)
    group_id = world.group(f"{scenario}-{next(SERIAL)}", tags)
    event = world.open_event(group_id, [HTTPS_WORLD if scenario == "clean" else SSH_WORLD])
    if scenario == "unreadable":
        del event["detail"]["eventName"]
    return event, ({"REMEDIATOR_DRY_RUN": "true"} if scenario == "dry-run" else {})


@settings(
    max_examples=40,
    deadline=None,
    # The embedded account is shared on purpose: each example makes a group of its own.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(secret=credentials, places=st.sets(st.sampled_from(PLACES)), scenario=st.sampled_from(SCENARIOS))
def test_no_credential_of_the_event_reaches_a_notification_a_log_line_or_the_result(
    world: World, capsys: pytest.CaptureFixture[str], secret: Credentials, places: set[str], scenario: str
) -> None:
    event, env = scenario_event(world, scenario)
    capsys.readouterr()
    result = remediate(with_credentials(event, secret, places), world.settings(**env), world.aws, NOW)
    messages = world.messages()
    sent = [json.dumps(result), capsys.readouterr().out]
    for message in messages:
        sent += [message["subject"], message["body"], json.dumps(message["attributes"])]
    text = "\n".join(sent)
    assert not any(value in text for value in secret.values())
    # Not this event's key, nor any other (the template's own) that looks like one.
    assert ACCESS_KEY.search(text) is None
    # Each scenario that tells people did: the message above was checked, not skipped.
    assert bool(messages) == (scenario not in QUIET)


def events_with_keys() -> Iterator[str]:
    """The real events whose access key id looks like one (others have placeholders such as "1" or "...")."""
    for path in sorted(EVENTS_DIR.glob("*.json")):
        found = re.search(r'"accessKeyId": "([A-Z0-9]{12,})"', path.read_text())
        if found:
            yield path.name


@pytest.mark.parametrize("name", list(events_with_keys()))
def test_a_real_event_is_read_without_its_access_key(name: str) -> None:
    event = load_event(name)
    record = event.get("detail", event)
    key = record.get("userIdentity", record.get("useridentity", {})).get("accessKeyId") or record.get(
        "userIdentity", {}
    ).get("accesskeyid")
    call = read_call(event)
    assert isinstance(call, SecurityGroupCall)
    group = GroupState(group_id="sg-1", group_name="web", vpc_id=None, tags={}, ingress=())
    decision = Decision(action=Action.REVOKE, mode=Mode.REVOKE, narrow_to=(), notes=())
    findings = tuple(
        Finding(entry=e, risk="risky", decision=decision, outcome=Outcome.REVOKED, details=()) for e in call.entries
    )
    report = event_report(call, group, findings, dry_run=False)
    # The whole call as read, not only what today's notification shows of it.
    everything = "\n".join(
        [json.dumps(asdict(call), default=str), subject(report), body(report), json.dumps(attributes(report))]
    )
    assert key
    assert key not in everything
