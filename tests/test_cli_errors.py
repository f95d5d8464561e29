"""The command line's errors of the setup: one line each, naming what is wrong and what would be right, exit 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import ClientError

from remediator.cli import cloudtrail
from remediator.cli.output import aws_error_message

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/sg-remediator-dlq"
FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
NO_CREDENTIALS = "error: no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n"


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def event_file(tmp_path: Path) -> str:
    """A risky call's event, of the account's own region."""
    event = cloudtrail.load_template(cloudtrail.RULE_SET_TEMPLATE)
    event["detail"]["awsRegion"] = event["region"] = "eu-west-1"
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    return str(path)


def command(home: Path, *args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m remediator ...` with no AWS setting but `env`: no config files, no instance metadata."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REMEDIATOR_"))}
    clean.update(
        {
            "HOME": str(home),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "remediator", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def commands(event_file: str) -> dict[str, list[str]]:
    """Each command that calls AWS, with arguments that are good input."""
    return {"replay": ["replay", event_file], "redrive": ["redrive", QUEUE]}


@pytest.mark.parametrize("name", ["replay", "redrive"])
def test_missing_credentials_say_which_variables_to_set(
    name: str, event_file: str, closed_port: int, tmp_path: Path
) -> None:
    # The endpoint is a closed port: were credentials found after all, the call would fail, not reach AWS.
    env = {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}"}

    finished = command(tmp_path, *commands(event_file)[name], env=env)

    assert (finished.returncode, finished.stderr, finished.stdout) == (2, NO_CREDENTIALS, "")


@pytest.mark.parametrize("name", ["replay", "redrive"])
def test_a_refused_connection_names_the_endpoint_and_asks_whether_it_is_right_and_up(
    name: str, event_file: str, closed_port: int, tmp_path: Path
) -> None:
    env = {**FAKE_KEYS, "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}"}

    finished = command(tmp_path, *commands(event_file)[name], env=env)

    expected = (
        f"error: cannot connect to http://127.0.0.1:{closed_port} (connection refused): is the endpoint right and up?\n"
    )
    assert (finished.returncode, finished.stderr, finished.stdout) == (2, expected, "")


@pytest.mark.parametrize("name", ["replay", "redrive"])
def test_an_endpoint_url_without_a_scheme_is_shown_with_the_scheme_it_needs(
    name: str, event_file: str, tmp_path: Path
) -> None:
    env = {**FAKE_KEYS, "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "localhost:5000"}

    finished = command(tmp_path, *commands(event_file)[name], env=env)

    assert finished.returncode == 2
    assert finished.stderr.startswith(
        "error: endpoint URL 'localhost:5000' has no scheme: write it as http://localhost:5000 (or https://"
    )
    assert finished.stderr.count("\n") == 1
    assert finished.stdout == ""


def test_a_malformed_configured_region_is_named_with_the_form_of_a_region_for_replay(
    event_file: str, closed_port: int, tmp_path: Path
) -> None:
    record = json.loads(Path(event_file).read_text(encoding="utf-8"))["detail"]
    del record["awsRegion"]
    bare = tmp_path / "record.json"
    bare.write_text(json.dumps(record), encoding="utf-8")
    env = {**FAKE_KEYS, "AWS_DEFAULT_REGION": "EU_WEST", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}"}

    finished = command(tmp_path, "replay", str(bare), env=env)

    assert finished.returncode == 2
    assert finished.stderr == (
        "error: the configured region (AWS_DEFAULT_REGION or the profile's) is 'EU_WEST', not an AWS region name: "
        "give one like eu-west-1 or us-east-1\n"
    )


def test_a_malformed_configured_region_is_named_for_a_queue_url_that_names_none(
    closed_port: int, tmp_path: Path
) -> None:
    env = {**FAKE_KEYS, "AWS_DEFAULT_REGION": "eu-west-1a", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}"}

    finished = command(tmp_path, "redrive", f"http://127.0.0.1:{closed_port}/123456789012/dlq", env=env)

    assert finished.returncode == 2
    assert "is 'eu-west-1a', not an AWS region name: give one like eu-west-1" in finished.stderr
    assert finished.stderr.count("\n") == 1


def test_botocores_invalid_region_error_is_a_setup_error_not_an_aws_answer() -> None:
    session = botocore.session.get_session()
    with pytest.raises(ValueError, match="EU_WEST") as raised:
        session.create_client("ec2", region_name="EU_WEST", aws_access_key_id="a", aws_secret_access_key="b")

    message, status = aws_error_message(raised.value)

    assert status == 2
    assert message.startswith("'EU_WEST' is not an AWS region name: give one like eu-west-1")
    assert "AWS said" not in message


def test_a_refusal_by_aws_keeps_aws_said_and_exit_status_1() -> None:
    error = ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeSecurityGroups")

    assert aws_error_message(error) == (
        "AWS said: An error occurred (UnauthorizedOperation) when calling the DescribeSecurityGroups operation: no",
        1,
    )
