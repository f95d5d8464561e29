"""The context settings: defaults, accepted spellings, one-line errors, and one stack per region."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from aws_cdk import App, Token
from stack_support import REPO_ROOT, cdk_context

from infra.deployment import STACK_NAME, add_stacks, settings_of
from infra.settings import ContextError, Settings
from remediator.model import Mode
from remediator.settings import settings_from


def test_cdk_json_sets_every_setting_to_its_default() -> None:
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    assert set(Settings.model_fields) <= set(context)
    assert Settings.from_context(context) == Settings()


def test_every_setting_is_documented_in_the_settings_page() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name
    documentation = (REPO_ROOT / "docs" / "settings.md").read_text()
    for name in Settings.model_fields:
        assert f"`{name}`" in documentation, name


def test_the_defaults_are_the_documented_ones() -> None:
    settings = Settings.from_context({})
    assert settings.default_mode is Mode.REVOKE
    assert settings.sweep_mode is Mode.NOTIFY
    assert settings.sweep_schedule == "rate(1 day)"
    assert settings.risky_ports == ("22", "3389")
    assert settings.regions == ()
    assert not settings.dry_run
    assert settings.dashboard
    assert settings.archive_retention_days == 30
    assert settings.security_hub is False
    assert settings.outcome_events is True
    assert settings.contact_tag == "remediator:contact"


def test_settings_accept_their_command_line_spellings() -> None:
    # `cdk synth -c key=value` hands every value over as a string.
    settings = Settings.from_context(
        {
            "default_mode": "Narrow",
            "allowed_cidrs": "10.0.0.0/8, pl-0123456789abcdef0",
            "risky_ports": "22 3389 8000-8100",
            "dry_run": "true",
            "notification_emails": "ops@example.com,sec@example.org",
            "sweep_schedule": "cron(0 3 * * ? *)",
            "regions": "eu-west-1,us-east-1",
            "ipv4_open_prefix": "16",
            "ipv6_open_prefix": "48",
            "dashboard": "false",
            "archive_retention_days": "90",
            "@aws-cdk/core:someFeatureFlag": True,
        }
    )
    assert settings.default_mode is Mode.NARROW
    assert settings.allowed_cidrs == ("10.0.0.0/8", "pl-0123456789abcdef0")
    assert settings.risky_ports == ("22", "3389", "8000-8100")
    assert settings.dry_run
    assert settings.notification_emails == ("ops@example.com", "sec@example.org")
    assert settings.regions == ("eu-west-1", "us-east-1")
    assert (settings.ipv4_open_prefix, settings.ipv6_open_prefix) == (16, 48)
    assert settings.dashboard is False
    assert settings.archive_retention_days == 90


def test_environment_is_what_the_lambda_reads() -> None:
    settings = Settings.from_context(
        {"default_mode": "narrow", "allowed_cidrs": ["10.0.0.0/8"], "risky_ports": [22, "8000-8100"], "dry_run": True}
    )
    environment = settings.lambda_environment(
        topic_arn="arn:aws:sns:eu-west-1:123456789012:t", state_table="sg-remediator-state"
    )
    assert environment == {
        "REMEDIATOR_DEFAULT_MODE": "narrow",
        "REMEDIATOR_ALLOWED_CIDRS": "10.0.0.0/8",
        "REMEDIATOR_RISKY_PORTS": "22,8000-8100",
        "REMEDIATOR_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:t",
        "REMEDIATOR_DRY_RUN": "true",
        "REMEDIATOR_IPV4_OPEN_PREFIX": "8",
        "REMEDIATOR_IPV6_OPEN_PREFIX": "32",
        "REMEDIATOR_SWEEP_MODE": "notify",
        "REMEDIATOR_SECURITY_HUB": "false",
        "REMEDIATOR_OUTCOME_EVENTS": "true",
        "REMEDIATOR_CONTACT_TAG": "remediator:contact",
        "REMEDIATOR_ADVISORY_PREFIX": "16",
        "REMEDIATOR_TRUSTED_PRINCIPALS": "",
        "REMEDIATOR_STATE_TABLE": "sg-remediator-state",
    }
    lambda_settings = settings_from(environment)
    assert lambda_settings.dry_run
    assert lambda_settings.default_mode is Mode.NARROW


def test_the_switches_and_the_contact_tag_reach_the_function_and_the_role() -> None:
    settings = Settings.from_context({"security_hub": "true", "outcome_events": "false", "contact_tag": "owner"})
    environment = settings.lambda_environment(
        topic_arn="arn:aws:sns:eu-west-1:123456789012:t", state_table="sg-remediator-state"
    )
    assert environment["REMEDIATOR_SECURITY_HUB"] == "true"
    assert environment["REMEDIATOR_OUTCOME_EVENTS"] == "false"
    assert environment["REMEDIATOR_CONTACT_TAG"] == "owner"
    lambda_settings = settings_from(environment)
    assert (lambda_settings.security_hub, lambda_settings.outcome_events) == (True, False)
    assert settings.enabled_settings() == {"security_hub"}
    assert Settings().enabled_settings() == {"outcome_events"}


def test_trusted_principals_and_the_advisory_prefix_reach_the_function() -> None:
    settings = Settings.from_context(
        {
            "trusted_principals": "arn:aws:iam::123456789012:role/infra-*, arn:aws:iam::123456789012:role/deploy",
            "advisory_prefix": 12,
        }
    )
    environment = settings.lambda_environment(topic_arn="arn:aws:sns:eu-west-1:123456789012:t", state_table="t")
    lambda_settings = settings_from(environment)
    assert lambda_settings.trusted_principals == (
        "arn:aws:iam::123456789012:role/infra-*",
        "arn:aws:iam::123456789012:role/deploy",
    )
    assert lambda_settings.advisory_prefix == 12
    assert lambda_settings.state_table == "t"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"trusted_principals": "infra-pipeline"}, "cdk context trusted_principals: 'infra-pipeline' is not an ARN"),
        ({"advisory_prefix": 33}, "cdk context advisory_prefix: "),
        ({"default_mode": "delete"}, "cdk context default_mode: "),
        ({"sweep_mode": "sometimes"}, "cdk context sweep_mode: "),
        ({"allowed_cidrs": "10.0.0.0/33"}, "cdk context allowed_cidrs: "),
        ({"allowed_cidrs": "0.0.0.0/0"}, "cdk context allowed_cidrs: "),
        ({"risky_ports": "ssh"}, "cdk context risky_ports: "),
        ({"risky_ports": "90-80"}, "cdk context risky_ports: "),
        ({"dry_run": "perhaps"}, "cdk context dry_run: "),
        ({"notification_emails": "ops@example.com,nobody"}, "cdk context notification_emails: "),
        ({"sweep_schedule": "every day"}, "cdk context sweep_schedule: "),
        ({"sweep_schedule": "rate(2 day)"}, "cdk context sweep_schedule: "),
        ({"regions": ["eu-west-1", "Europe"]}, "cdk context regions: "),
        ({"ipv4_open_prefix": 33}, "cdk context ipv4_open_prefix: "),
        ({"ipv6_open_prefix": "x"}, "cdk context ipv6_open_prefix: "),
        ({"regions": "eu-west-1,us-east-1,eu-west-1"}, "cdk context regions: 'eu-west-1' is listed twice"),
        (
            {"notification_emails": ["ops@example.com", "OPS@example.com"]},
            "cdk context notification_emails: 'OPS@example.com' is listed twice",
        ),
        ({"dashboard": "perhaps"}, "cdk context dashboard: "),
        ({"archive_retention_days": 0}, "cdk context archive_retention_days: "),
        ({"archive_retention_days": "30 days"}, "cdk context archive_retention_days: "),
        ({"security_hub": "perhaps"}, "cdk context security_hub: "),
        ({"outcome_events": "never"}, "cdk context outcome_events: "),
        ({"contact_tag": "aws:owner"}, "cdk context contact_tag: 'aws:owner' starts with aws:"),
        ({"defualt_mode": "revoke"}, "cdk context defualt_mode: unknown setting; did you mean default_mode?"),
    ],
)
def test_bad_value_is_one_line_naming_the_key(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ContextError) as raised:
        Settings.from_context(context)
    text = str(raised.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_a_misspelt_key_is_refused_naming_the_setting_it_resembles() -> None:
    with pytest.raises(ContextError) as raised:
        Settings.from_context({"default_mode": "notify", "notification_email": "ops@example.com"})
    assert str(raised.value) == "cdk context notification_email: unknown setting; did you mean notification_emails?"
    with pytest.raises(ContextError, match="did you mean archive_retention_days"):
        Settings.from_context({"archive_retention": 7})


def test_keys_of_cdk_of_feature_flags_and_of_other_tools_are_not_settings() -> None:
    # Only keys without ":" or "@" can be ours; of those, one that resembles no setting is another tool's.
    context = {
        "@aws-cdk/core:dashboard": True,
        "aws:cdk:regions": ["x"],
        "dashbord:x": 1,
        "@dashbord": 1,
        "acknowledged-issue-numbers": [32775],
        "dashboard": True,
    }
    assert Settings.from_context(context) == Settings()


def test_a_misspelt_key_stops_the_stack_from_being_built() -> None:
    # The settings are read from the app's whole context, so a key that is nearly a setting's is caught there.
    app = App(context=cdk_context(sweep_shedule="rate(2 days)"))
    with pytest.raises(ContextError) as raised:
        settings_of(app)
    assert str(raised.value) == "cdk context sweep_shedule: unknown setting; did you mean sweep_schedule?"


def test_app_exits_with_the_one_line_error() -> None:
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps({"default_mode": "delete"})},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: cdk context default_mode: ")


def test_app_exits_naming_the_setting_a_misspelt_key_resembles() -> None:
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps({"dashbaord": False})},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: cdk context dashbaord: unknown setting; did you mean dashboard?"
    )


def test_there_is_one_stack_per_region() -> None:
    app = App(context=cdk_context(regions=["eu-west-1", "us-east-1"]))
    settings = Settings.from_context({"regions": ["eu-west-1", "us-east-1"]})
    stacks = add_stacks(app, settings=settings, account="123456789012", default_region="eu-central-1")
    assert [(s.stack_name, s.region, s.account) for s in stacks] == [
        (f"{STACK_NAME}-eu-west-1", "eu-west-1", "123456789012"),
        (f"{STACK_NAME}-us-east-1", "us-east-1", "123456789012"),
    ]


def test_without_regions_one_stack_in_the_cli_region_or_agnostic() -> None:
    (stack,) = add_stacks(App(context=cdk_context()), settings=Settings(), account=None, default_region="eu-central-1")
    assert (stack.stack_name, stack.region) == (STACK_NAME, "eu-central-1")
    assert Token.is_unresolved(stack.account)
    (agnostic,) = add_stacks(App(context=cdk_context()), settings=Settings(), account=None, default_region=None)
    assert Token.is_unresolved(agnostic.region)
