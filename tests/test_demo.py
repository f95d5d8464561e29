"""The demo end to end, as a newcomer runs it: exit status, the before/after rows, the notifications, the JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a user's shell may hold and the demo must not follow: a profile, an endpoint, the remediator's settings.
HOSTILE_ENV = {
    "AWS_PROFILE": "no-such-profile",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:9",
    "REMEDIATOR_DEFAULT_MODE": "notify",
    "REMEDIATOR_TOPIC_ARN": "arn:aws:sns:eu-west-1:111111111111:not-this-one",
}


def demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "remediator", "demo", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def text_run() -> subprocess.CompletedProcess[str]:
    return demo(env=HOSTILE_ENV)


@pytest.fixture(scope="module")
def json_run() -> dict[str, Any]:
    finished = demo("--json")
    assert finished.returncode == 0, finished.stderr
    data: dict[str, Any] = json.loads(finished.stdout)
    return data


@pytest.fixture(scope="module")
def dry_run() -> subprocess.CompletedProcess[str]:
    return demo("--json", "--dry-run", "--verbose")


def table(output: str, group: str) -> dict[str, tuple[str, str, str]]:
    """The rows of a group's table: rule -> (before, after, outcome)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{re.escape(group)}  sg-[0-9a-f]+$", line))
    header = next(i for i in range(start, len(lines)) if lines[i].split() == ["RULE", "BEFORE", "AFTER", "OUTCOME"])
    rows: dict[str, tuple[str, str, str]] = {}
    for line in lines[header + 1 :]:
        if not line.startswith("  ") or line.strip().startswith("note:"):
            break
        rule, before, after, outcome = re.split(r"\s{2,}", line.strip(), maxsplit=3)
        rows[rule] = (before, after, outcome)
    return rows


def section(output: str, group: str) -> str:
    """A group's block of the text report, from its header to the blank line after it."""
    match = re.search(rf"^{re.escape(group)}  sg-.*?(?=\n\n)", output, re.MULTILINE | re.DOTALL)
    assert match, group
    return match.group(0)


def by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {group["name"]: group for group in data["groups"]}


def test_the_demo_exits_0_and_says_first_what_is_simulated_and_what_is_real(
    text_run: subprocess.CompletedProcess[str],
) -> None:
    assert text_run.returncode == 0, text_run.stderr
    top = " ".join(text_run.stdout.splitlines()[:4])
    assert top.startswith("Simulated: the CloudTrail → EventBridge delivery")
    assert "built from real CloudTrail records, shipped with the command line" in top
    assert "Real: the EC2 and SNS API calls, made against moto, an in-process AWS emulator." in top


def test_the_demo_runs_on_the_emulator_whatever_profile_endpoint_and_settings_the_shell_has(
    text_run: subprocess.CompletedProcess[str],
) -> None:
    # HOSTILE_ENV would make any call fail (no such profile, nothing on port 9) and make the default mode notify.
    assert text_run.returncode == 0, text_run.stderr
    assert "revoke (the default: no remediator tags)" in section(text_run.stdout, "web")
    assert "not-this-one" not in text_run.stdout


def test_an_untagged_group_has_its_open_ssh_revoked_and_its_other_rules_kept(
    text_run: subprocess.CompletedProcess[str],
) -> None:
    assert table(text_run.stdout, "web") == {
        "tcp/443 from 0.0.0.0/0": ("present", "present", "untouched"),
        "tcp/22 from 10.0.0.0/8": ("present", "present", "untouched"),
        "tcp/22 from 0.0.0.0/0": ("present", "-", "revoked"),
        "tcp/22 from ::/0": ("present", "-", "revoked"),
    }


def test_a_narrow_group_gets_its_allowed_cidrs_instead_of_the_world(text_run: subprocess.CompletedProcess[str]) -> None:
    assert table(text_run.stdout, "bastion") == {
        "tcp/22 from 0.0.0.0/0": ("present", "-", "narrowed"),
        "tcp/22 from ::/0": ("present", "-", "narrowed"),
        "tcp/22 from 203.0.113.0/24": ("-", "present", "added by narrowing"),
        "tcp/22 from 2001:db8::/48": ("-", "present", "added by narrowing"),
    }


def test_a_notify_group_is_left_open_and_a_live_opt_out_is_left_open_until_it_expires(
    text_run: subprocess.CompletedProcess[str],
) -> None:
    assert table(text_run.stdout, "legacy-app")["tcp/3389 from 0.0.0.0/0"] == (
        "present",
        "present",
        "left open (notify mode)",
    )
    assert table(text_run.stdout, "vendor-vpn") == {
        "tcp/3389 from 0.0.0.0/0": ("present", "present", "left open (opted out)")
    }
    assert re.search(r"policy:\s+ignore \(opted out until \d{4}-\d\d-\d\d\)", section(text_run.stdout, "vendor-vpn"))


def test_an_expired_opt_out_is_revoked_with_a_note_on_the_expiry_from_an_old_format_event(
    text_run: subprocess.CompletedProcess[str],
) -> None:
    assert table(text_run.stdout, "old-exception") == {"tcp/22 from 0.0.0.0/0": ("present", "-", "revoked")}
    block = section(text_run.stdout, "old-exception")
    assert "note:    the exception expired on 2024-01-31" in block
    assert "old response format, no rule ids" in " ".join(block.split())


def test_a_rule_modified_to_open_ssh_is_revoked_and_a_harmless_call_changes_nothing(
    text_run: subprocess.CompletedProcess[str],
) -> None:
    assert table(text_run.stdout, "partner-sftp") == {"tcp/22 from 0.0.0.0/0": ("present", "-", "revoked")}
    assert "ModifySecurityGroupRules: changed rule sgr-" in section(text_run.stdout, "partner-sftp")
    assert table(text_run.stdout, "intranet")["tcp/8080 from 0.0.0.0/0"] == (
        "present",
        "present",
        "added by the call, not risky: untouched",
    )


def test_the_notifications_are_printed_for_every_group_but_the_opted_out_and_the_clean_one(
    text_run: subprocess.CompletedProcess[str],
) -> None:
    subjects = re.findall(r"^--- \d+\. (\[sg-remediator\] .*)$", text_run.stdout, re.MULTILINE)
    groups = [re.sub(r".*\((.*)\)$", r"\1", subject) for subject in subjects]
    assert groups == ["web", "bastion", "legacy-app", "old-exception", "partner-sftp"]
    assert subjects[0].startswith("[sg-remediator] closed 2 risky rules in sg-")
    assert "    Outcome:   left open (notify mode)" in text_run.stdout


def test_the_handlers_json_log_lines_are_kept_out_of_the_report(text_run: subprocess.CompletedProcess[str]) -> None:
    assert not [line for line in text_run.stdout.splitlines() if line.startswith("{")]
    assert text_run.stderr == ""


def test_the_table_part_of_the_report_fits_in_100_columns(text_run: subprocess.CompletedProcess[str]) -> None:
    report = text_run.stdout.split("\nNotifications:")[0]
    assert max(len(line) for line in report.splitlines()) <= 100


def test_the_json_output_gives_each_groups_rules_after_the_handler_ran(json_run: dict[str, Any]) -> None:
    groups = by_name(json_run)
    after = {name: set(group["after"]) for name, group in groups.items()}
    assert after == {
        "web": {"tcp/443 from 0.0.0.0/0", "tcp/22 from 10.0.0.0/8"},
        "bastion": {"tcp/22 from 203.0.113.0/24", "tcp/22 from 2001:db8::/48"},
        "legacy-app": {"tcp/443 from 0.0.0.0/0", "tcp/22 from 10.0.0.0/8", "tcp/3389 from 0.0.0.0/0"},
        "vendor-vpn": {"tcp/3389 from 0.0.0.0/0"},
        "old-exception": set(),
        "partner-sftp": set(),
        "intranet": {"tcp/443 from 0.0.0.0/0", "tcp/22 from 10.0.0.0/8", "tcp/8080 from 0.0.0.0/0"},
    }
    outcomes = {name: [f["outcome"] for f in group["result"]["findings"]] for name, group in groups.items()}
    assert outcomes == {
        "web": ["revoked", "revoked"],
        "bastion": ["narrowed", "narrowed"],
        "legacy-app": ["notified"],
        "vendor-vpn": ["ignored"],
        "old-exception": ["revoked"],
        "partner-sftp": ["revoked"],
        "intranet": [],
    }
    assert groups["intranet"]["result"]["status"] == "clean"


def test_the_json_output_carries_the_notifications_each_tied_to_its_group(json_run: dict[str, Any]) -> None:
    ids = {group["group_id"]: name for name, group in by_name(json_run).items()}
    assert [ids[n["group_id"]] for n in json_run["notifications"]] == [
        "web",
        "bastion",
        "legacy-app",
        "old-exception",
        "partner-sftp",
    ]
    assert all(n["subject"].startswith("[sg-remediator] ") and n["body"] for n in json_run["notifications"])
    assert json_run["simulated"].startswith("Simulated:")


def test_a_dry_run_changes_no_rule_says_what_it_would_do_and_logs_on_stderr_only(
    dry_run: subprocess.CompletedProcess[str],
) -> None:
    assert dry_run.returncode == 0, dry_run.stderr
    data = json.loads(dry_run.stdout)
    groups = by_name(data)
    assert data["dry_run"] is True
    assert all(group["after"] == group["before"] for group in groups.values())
    assert [f["outcome"] for f in groups["web"]["result"]["findings"]] == ["would-revoke", "would-revoke"]
    assert [f["outcome"] for f in groups["bastion"]["result"]["findings"]] == ["would-narrow", "would-narrow"]
    assert all(n["subject"].startswith("[sg-remediator] would close") for n in data["notifications"][:2])
    logged = [json.loads(line) for line in dry_run.stderr.splitlines()]
    assert {line["outcome"] for line in logged if line["message"] == "decision"} >= {"would-revoke", "would-narrow"}
