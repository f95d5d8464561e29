"""`replay --rehearse`: the real events of tests/events/ run on embedded AWS, on groups made from the events."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import EVENTS_DIR, load_event

from remediator.cli.main import main

NUVIBIT = "nuvibit-AuthorizeSecurityGroupIngress-console-tcp0-65535-world-ruleset.json"
MODIFY = "constructed-ModifySecurityGroupRules-console.json"
WORLD_ROW = "tcp/0-65535 from 0.0.0.0/0"
HANDLED_FILES = sorted(
    path.name
    for pattern in ("*AuthorizeSecurityGroupIngress*.json", "*ModifySecurityGroupRules*.json")
    for path in EVENTS_DIR.glob(pattern)
)
NOT_HANDLED = {
    "elastic-AuthorizeSecurityGroupEgress-cli-instance-role-tcp4444-ruleset.json": "is not one of",
    "panther-AuthorizeSecurityGroupEgress-terraform-all-traffic-world-description.json": "is not one of",
    "panther-AuthorizeSecurityGroupIngress-console-RequestExpired.json": "the call failed (RequestExpired)",
    "panther-AuthorizeSecurityGroupIngress-console-UnauthorizedOperation.json": "the call failed (UnauthorizedOp",
}
# What each real event's call added, and what the remediator does to it: closed (every rule gone) or clean.
EXPECTED = {
    MODIFY: ("remediated", ["tcp/22 from 0.0.0.0/0"]),
    "elastic-AuthorizeSecurityGroupIngress-cli-tcp22-ruleset-arn.json": ("clean", ["tcp/22 from 203.0.113.0/24"]),
    "historical-AuthorizeSecurityGroupIngress-console-tcp0-65535-sourcegroup.json": ("clean", None),
    "kuali-AuthorizeSecurityGroupIngress-cfn-sourcegroup-ruleset.json": ("clean", None),
    NUVIBIT: ("remediated", [WORLD_ROW]),
    "panther-AuthorizeSecurityGroupIngress-console-tcp22-host32-description.json": (
        "clean",
        ["tcp/22 from 127.0.0.1/32"],
    ),
    "panther-AuthorizeSecurityGroupIngress-console-tcp443-cidr-0.0.0.0_16.json": ("clean", ["tcp/443 from 0.0.0.0/16"]),
    "panther-AuthorizeSecurityGroupIngress-gosdk-tcp22-world.json": ("remediated", ["tcp/22 from 0.0.0.0/0"]),
    "permiso-AuthorizeSecurityGroupIngress-launch-wizard-tcp22-world-ruleset-partial.json": (
        "remediated",
        ["tcp/22 from 0.0.0.0/0"],
    ),
    "reflex-AuthorizeSecurityGroupIngress-console-two-items-v4-v6-world.json": (
        "clean",
        ["tcp/55 from 0.0.0.0/0", "tcp/55 from ::/0"],
    ),
    "stratus-AuthorizeSecurityGroupIngress-flat-params-tcp22-ruleset.json": (
        "remediated",
        ["tcp/22 from 208.236.235.254/0"],
    ),
    "streamalert-AuthorizeSecurityGroupIngress-all-traffic-rfc1918.json": ("clean", ["all traffic from 10.0.0.0/8"]),
    "streamalert-AuthorizeSecurityGroupIngress-all-traffic-world-v4-v6.json": (
        "remediated",
        ["all traffic from 0.0.0.0/0", "all traffic from ::/0"],
    ),
}


def rehearse(*args: str) -> tuple[int, str, str]:
    """`replay --rehearse ...` in this process: its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["replay", "--rehearse", *args])
    return status, out.getvalue(), err.getvalue()


def event_file(name: str) -> str:
    return str(EVENTS_DIR / name)


def record_of(event: dict[str, Any]) -> dict[str, Any]:
    detail = event.get("detail")
    return detail if isinstance(detail, dict) else event


@pytest.fixture(scope="module")
def rehearsed() -> dict[str, dict[str, Any]]:
    """Every AuthorizeSecurityGroupIngress and ModifySecurityGroupRules file rehearsed in one run: the summaries."""
    status, out, err = rehearse("--json", *(event_file(name) for name in HANDLED_FILES))
    assert (status, err) == (0, "")
    summaries = json.loads(out)
    assert len(summaries) == len(HANDLED_FILES)
    return dict(zip(HANDLED_FILES, summaries, strict=True))


def test_every_real_ingress_and_modify_event_is_named_by_the_expected_outcomes() -> None:
    assert set(HANDLED_FILES) == set(EXPECTED) | {name for name in NOT_HANDLED if "Ingress" in name}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_real_event_is_rehearsed_on_a_group_made_with_the_rules_its_call_added(
    name: str, rehearsed: dict[str, dict[str, Any]]
) -> None:
    status, added = EXPECTED[name]
    summary = rehearsed[name]
    rehearsal = summary["rehearsal"]
    assert summary["status"] == status
    assert summary["group_id"] == rehearsal["group_id"]
    assert rehearsal["group_id"] != record_of(load_event(name))["requestParameters"].get("groupId")
    assert rehearsal["account"] == "123456789012"
    if added is not None:
        assert rehearsal["before"] == added
    else:
        # A source group is an empty stand-in made for the event's, named in a note.
        [rule] = rehearsal["before"]
        assert rule.split(" from ")[1].startswith("sg-")
        assert "made to stand in for it" in rehearsal["notes"][0]
    assert rehearsal["after"] == ([] if status == "remediated" else rehearsal["before"])
    assert len(rehearsal["notifications"]) == (1 if status == "remediated" else 0)


@pytest.mark.parametrize("name", sorted(name for name in NOT_HANDLED if "Ingress" in name))
def test_a_failed_call_among_the_real_events_is_reported_ignored_and_not_rehearsed(
    name: str, rehearsed: dict[str, dict[str, Any]]
) -> None:
    summary = rehearsed[name]
    assert summary["status"] == "ignored"
    assert NOT_HANDLED[name] in summary["reason"]
    assert summary["rehearsal"] is None


def test_events_the_remediator_does_not_handle_say_so_and_nothing_is_created() -> None:
    status, out, _ = rehearse(*(event_file(name) for name in sorted(NOT_HANDLED)))

    assert status == 0
    for name, reason in NOT_HANDLED.items():
        record = record_of(load_event(name))
        block = out[out.index(f"event {record['eventID']} in ") :]
        ignored, not_rehearsed = block.splitlines()[1:3]
        assert ignored.startswith("  ignored: ")
        assert reason in ignored
        assert not_rehearsed == "  not rehearsed: the remediator does not act on this event, so no group was created"
    assert "rehearsed on embedded AWS" not in out
    assert out.endswith("\n4 events: 4 handled, 0 failed\n")


def row_of(out: str, rule: str) -> list[str]:
    """The cells of the rules table's row of the rule: BEFORE, AFTER, OUTCOME."""
    [line] = [line for line in out.splitlines() if line.startswith(f"  {rule}  ")]
    return line[len(rule) + 2 :].split(maxsplit=2)


def test_the_nuvibit_world_rule_is_there_before_and_gone_after_with_the_notification_shown() -> None:
    status, out, err = rehearse(event_file(NUVIBIT))

    assert (status, err) == (0, "")
    assert row_of(out, WORLD_ROW) == ["present", "-", "revoked"]
    assert "  rehearsed on embedded AWS (moto), account 123456789012, region eu-west-1:\n" in out
    assert "made for the event's sg-b15kasfs, tags: none\n" in out
    assert "  --- [sg-remediator] closed 1 risky rule in sg-" in out
    assert "\n    Account:   123456789012\n" in out
    assert out.endswith("\n1 event: 1 handled, 0 failed\n")


def test_tagging_the_group_notify_leaves_the_world_rule_open_and_says_notify() -> None:
    status, out, _ = rehearse(event_file(NUVIBIT), "--tag", "remediator:mode=notify")

    assert status == 0
    assert row_of(out, WORLD_ROW) == ["present", "present", "left open (notify mode)"]
    assert "    mode notify; tcp/0-65535 exposes risky port" in out
    assert "tags: remediator:mode=notify\n" in out
    assert "  --- [sg-remediator] " in out


def test_a_dry_run_rehearsal_changes_no_rule_and_says_what_would_happen() -> None:
    status, out, _ = rehearse(event_file(NUVIBIT), "--dry-run")

    assert status == 0
    assert row_of(out, WORLD_ROW) == ["present", "present", "would be revoked (dry run: nothing changed)"]


def test_the_modified_rule_is_rehearsed_under_the_id_of_the_rule_made_for_it() -> None:
    original = hashlib.sha256((EVENTS_DIR / MODIFY).read_bytes()).hexdigest()

    status, out, _ = rehearse(event_file(MODIFY), "--json")

    [summary] = json.loads(out)
    [finding] = summary["findings"]
    assert status == 0
    assert finding["outcome"] == "revoked"
    assert finding["rule_id"].startswith("sgr-")
    assert finding["rule_id"] != "sgr-0c609eafsa2af10ea"
    # The file is read, never changed: the rewriting is of a copy.
    assert hashlib.sha256((EVENTS_DIR / MODIFY).read_bytes()).hexdigest() == original


def test_a_rehearsal_reaches_no_endpoint_or_profile_the_environment_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Nothing listens on the discard port, and the profile does not exist: either would fail a call that left.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    log = tmp_path / "log.json.gz"
    log.write_bytes(gzip.compress(json.dumps({"Records": [record_of(load_event(NUVIBIT))]}).encode()))

    status, out, err = rehearse(str(log))

    assert (status, err) == (0, "")
    assert row_of(out, WORLD_ROW) == ["present", "-", "revoked"]


def test_without_moto_rehearse_is_a_one_line_error_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "moto", None)

    status, out, err = rehearse(event_file(NUVIBIT))

    assert status == 2
    assert out == ""
    assert err == (
        "error: --rehearse needs moto, a development dependency: `make demo` or `pip install moto` installs it\n"
    )


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on the discard port: a call that should not happen fails instead of reaching AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")


@pytest.mark.usefixtures("no_aws")
def test_a_tag_without_rehearse_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", event_file(NUVIBIT), "--tag", "remediator:mode=notify"]) == 2
    assert capsys.readouterr().err == "error: --tag is for --rehearse: it tags the group a rehearsal creates\n"


@pytest.mark.usefixtures("no_aws")
def test_a_tag_that_is_not_key_equals_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", "--rehearse", event_file(NUVIBIT), "--tag", "remediator:mode"])
    assert exit_info.value.code == 2
    assert "argument --tag: 'remediator:mode' is not KEY=VALUE" in capsys.readouterr().err
