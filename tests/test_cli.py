"""The command line's shape: every command has --help, and a missing or unknown command is a usage error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from remediator.cli.main import main
from remediator.cli.output import region_name

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["demo", "replay", "redrive", "scan"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_that_names_it_and_exits_0(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m remediator {command}")


def test_python_dash_m_remediator_help_lists_every_command() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "remediator", "--help"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0
    assert finished.stdout.startswith("usage: python -m remediator")
    for command in COMMANDS:
        assert f"    {command}" in finished.stdout


@pytest.mark.parametrize("argv", [[], ["no-such-command"]])
def test_a_missing_or_unknown_command_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: python -m remediator" in capsys.readouterr().err


REGION_OPTIONS = {
    "replay": ["replay", "event.json"],
    "redrive": ["redrive", "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq"],
    "scan": ["scan"],
    "fix": ["fix"],
}


@pytest.mark.parametrize("region", ["EU_WEST", "eu-west-1a", "eu west 1", "europe"])
@pytest.mark.parametrize("argv", REGION_OPTIONS.values(), ids=REGION_OPTIONS)
def test_a_region_option_that_is_no_region_name_is_a_usage_error_naming_the_form_of_one(
    argv: list[str], region: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on the discard port: were the region taken, no call would reach AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--region", region])
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.endswith(
        f"error: argument --region: {region!r} is not an AWS region name: give one like eu-west-1 or us-east-1"
    )


@pytest.mark.parametrize("region", ["eu-west-1", "us-gov-west-1", "ap-southeast-4", "cn-north-1"])
def test_a_region_name_is_accepted_by_the_region_option(region: str) -> None:
    assert region_name(region) == region
