"""The command line's shape: every command has --help, and a missing or unknown command is a usage error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from remediator.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["demo", "replay", "scan"]


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
