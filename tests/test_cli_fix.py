"""`fix` on embedded AWS: the plan first, confirmation, the same engine as the sweep, a restore command per change."""

from __future__ import annotations

import argparse
import json
import shlex
from typing import Any

import pytest
from conftest import World

from remediator.cli import fix
from remediator.cli.main import build_parser, command_modules, main

SSH_WORLD: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
OPEN_SSH = ("tcp", 22, 22, "0.0.0.0/0")


class Groups:
    """A default group, a narrow one, a notify one and an opted-out one, each with SSH open to the world."""

    def __init__(self, world: World) -> None:
        self.plain = world.group("plain")
        self.narrow = world.group("narrow", {"remediator:mode": "narrow", "remediator:allowed-cidrs": "203.0.113.0/24"})
        self.notify = world.group("notify", {"remediator:mode": "notify"})
        self.ignore = world.group("ignore", {"remediator:mode": "ignore"})
        for group_id in (self.plain, self.narrow, self.notify, self.ignore):
            world.authorize(group_id, [SSH_WORLD])


@pytest.fixture
def groups(world: World) -> Groups:
    return Groups(world)


def args(*argv: str) -> argparse.Namespace:
    return build_parser(command_modules()).parse_args(["fix", *argv])


def test_the_plan_is_printed_first_and_nothing_changes_without_yes(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    status = fix.run(args(), ask=lambda prompt: "no")
    out = capsys.readouterr().out
    assert status == 1
    assert f"  - revoke  {groups.plain}  tcp/22 from 0.0.0.0/0" in out
    assert f"  ~ narrow  {groups.narrow}  tcp/22 from 0.0.0.0/0  ->  203.0.113.0/24" in out
    assert f"    keep    {groups.notify}" in out
    assert "2 rules to change." in out
    assert "Not confirmed: nothing was changed." in out
    for group_id in (groups.plain, groups.narrow, groups.notify, groups.ignore):
        assert OPEN_SSH in world.ingress(group_id)


def test_confirmed_it_closes_by_each_groups_policy_and_prints_how_to_restore(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []

    def answer(prompt: str) -> str:
        asked.append(prompt)
        return "yes"

    status = fix.run(args(), ask=answer)
    out = capsys.readouterr().out
    assert status == 0
    assert asked == ["Make these 2 changes? Only 'yes' is accepted: "]
    assert OPEN_SSH not in world.ingress(groups.plain)
    assert world.ingress(groups.narrow) == {("tcp", 22, 22, "203.0.113.0/24")}
    assert OPEN_SSH in world.ingress(groups.notify)
    assert OPEN_SSH in world.ingress(groups.ignore)
    restores = [line.split("restore: ", 1)[1] for line in out.splitlines() if "restore: " in line]
    assert len(restores) == 2
    # Each printed command puts its rule back exactly.
    for command in restores:
        words = shlex.split(command)
        group_id = words[words.index("--group-id") + 1]
        permissions = json.loads(words[words.index("--ip-permissions") + 1])
        world.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permissions])
        assert OPEN_SSH in world.ingress(group_id)


def test_yes_acts_without_asking_and_mode_overrides_the_default_of_untagged_groups(
    world: World, groups: Groups, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REMEDIATOR_ALLOWED_CIDRS", "198.51.100.0/24")

    def never(prompt: str) -> str:
        raise AssertionError("asked for confirmation despite --yes")

    assert fix.run(args("--yes", "--mode", "narrow"), ask=never) == 0
    assert world.ingress(groups.plain) == {("tcp", 22, 22, "198.51.100.0/24")}
    assert "narrowed" in capsys.readouterr().out


def test_dry_run_prints_the_plan_only(world: World, groups: Groups, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fix", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Dry run: nothing was changed." in out
    assert OPEN_SSH in world.ingress(groups.plain)


def test_without_a_terminal_or_yes_it_refuses_with_a_one_line_error(
    world: World, groups: Groups, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fix"]) == 2
    assert capsys.readouterr().err.startswith("error: no terminal to confirm the plan on: pass --yes")
    assert OPEN_SSH in world.ingress(groups.plain)


def test_nothing_to_change_says_so(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.authorize(world.group("told", {"remediator:mode": "notify"}), [SSH_WORLD])
    assert main(["fix", "--yes"]) == 0
    assert "Nothing to change" in capsys.readouterr().out
