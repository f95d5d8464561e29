"""The organisation-mode settings: defaults, spellings, and one-line errors naming the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from aws_cdk import App
from org_support import ORG_CONTEXT, ORG_ID, OU, ROOT
from stack_support import REPO_ROOT, cdk_context

from infra.deployment import build
from infra.settings import ORGANIZATION_ONLY, CallAs, ContextError, RegionConcurrency, Settings

ORG = {"org_units": [OU], "org_id": ORG_ID, "regions": ["eu-west-1"]}


def test_organisation_mode_is_off_and_its_settings_default_to_a_cautious_rollout() -> None:
    settings = Settings.from_context({})
    assert not settings.organization
    assert settings.org_units == ()
    assert settings.call_as is CallAs.SELF
    assert settings.region_concurrency is RegionConcurrency.SEQUENTIAL
    assert (settings.failure_tolerance_percentage, settings.max_concurrent_percentage) == (0, 25)
    assert settings.member_dashboard is False
    assert (settings.org_id, settings.notification_topic_arn, settings.exclude_accounts) == ("", "", ())


def test_org_units_select_organisation_mode_and_take_their_command_line_spellings() -> None:
    settings = Settings.from_context(
        {
            "org_units": f"{OU}, {ROOT}",
            "org_id": ORG_ID,
            "regions": "eu-west-1,us-east-1",
            "exclude_accounts": "012345678901 222222222222",
            "call_as": "delegated_admin",
            "region_concurrency": "parallel",
            "failure_tolerance_percentage": "10",
            "max_concurrent_percentage": "100",
            "notification_topic_arn": "arn:aws:sns:eu-west-1:333333333333:secops",
            "member_dashboard": "true",
        }
    )
    assert settings.organization
    assert settings.org_units == (OU, ROOT)
    assert settings.exclude_accounts == ("012345678901", "222222222222")
    assert settings.call_as is CallAs.DELEGATED_ADMIN
    assert settings.region_concurrency is RegionConcurrency.PARALLEL
    assert (settings.failure_tolerance_percentage, settings.max_concurrent_percentage) == (10, 100)
    assert settings.notification_topic_arn == "arn:aws:sns:eu-west-1:333333333333:secops"
    assert settings.member_dashboard is True


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"org_units": ["ou-nope"]}, "cdk context org_units: 'ou-nope' is neither an organizational unit id"),
        ({"org_units": ["123456789012"]}, "cdk context org_units: '123456789012' is neither"),
        ({"org_units": [OU, OU]}, f"cdk context org_units: '{OU}' is listed twice"),
        ({"org_id": "org-1"}, "cdk context org_id: 'org-1' is not an organization id"),
        ({"org_id": 1234567890}, "cdk context org_id: "),
        ({"call_as": "ADMIN"}, "cdk context call_as: "),
        ({"exclude_accounts": ["12345"]}, "cdk context exclude_accounts: '12345' is not a 12-digit AWS account id"),
        ({"exclude_accounts": "222222222222,222222222222"}, "cdk context exclude_accounts: '222222222222' is listed"),
        ({"region_concurrency": "ALL"}, "cdk context region_concurrency: "),
        ({"failure_tolerance_percentage": 101}, "cdk context failure_tolerance_percentage: "),
        ({"failure_tolerance_percentage": "some"}, "cdk context failure_tolerance_percentage: "),
        ({"max_concurrent_percentage": 0}, "cdk context max_concurrent_percentage: "),
        ({"notification_topic_arn": "secops"}, "cdk context notification_topic_arn: 'secops' is not the ARN"),
        (
            {"notification_topic_arn": "arn:aws:sns:eu-west-1:333333333333:alerts.fifo"},
            "cdk context notification_topic_arn: ",
        ),
        ({"member_dashboard": "perhaps"}, "cdk context member_dashboard: "),
        ({"org_id": ""}, "cdk context org_id: organisation mode (org_units) needs the organization id"),
        ({"regions": []}, "cdk context regions: organisation mode (org_units) needs the regions"),
        ({"member_dashbaord": True}, "cdk context member_dashbaord: unknown setting; did you mean member_dashboard?"),
        ({"exclude_account": ["222222222222"]}, "cdk context exclude_account: unknown setting; did you mean"),
    ],
)
def test_a_bad_organisation_setting_is_one_line_naming_the_key(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ContextError) as raised:
        Settings.from_context({**ORG, **context})
    text = str(raised.value)
    assert text.startswith(message), text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("org_id", ORG_ID),
        ("call_as", "DELEGATED_ADMIN"),
        ("exclude_accounts", ["222222222222"]),
        ("region_concurrency", "PARALLEL"),
        ("failure_tolerance_percentage", 5),
        ("max_concurrent_percentage", 50),
        ("notification_topic_arn", "arn:aws:sns:eu-west-1:333333333333:secops"),
        ("member_dashboard", True),
    ],
)
def test_an_organisation_setting_without_org_units_is_refused_not_ignored(key: str, value: object) -> None:
    with pytest.raises(ContextError) as raised:
        Settings.from_context({key: value})
    assert str(raised.value) == (
        f"cdk context {key}: only organisation mode reads it; give org_units too, or leave it out"
    )


def test_every_organisation_only_setting_is_checked_and_its_default_passes_without_org_units() -> None:
    assert set(ORGANIZATION_ONLY) <= set(Settings.model_fields)
    defaults = {key: Settings.model_fields[key].default for key in ORGANIZATION_ONLY}
    assert Settings.from_context(defaults) == Settings()


def test_organisation_mode_needs_the_account_and_region_it_deploys_from() -> None:
    app = App(context=cdk_context(**ORG_CONTEXT))
    with pytest.raises(ContextError, match=r"^cdk context org_units: organisation mode needs the account and region"):
        build(app, account=None, default_region="eu-west-1")


def test_app_exits_with_the_one_line_error_without_credentials_in_organisation_mode() -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CDK_DEFAULT_")}
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env={**environment, "CDK_CONTEXT_JSON": json.dumps(ORG_CONTEXT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: cdk context org_units: organisation mode needs")
