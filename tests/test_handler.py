"""The Lambda entry point: settings from the environment, clients from the standard chain."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import World

from remediator import effects
from remediator import handler as handler_module
from remediator.effects import default_aws
from remediator.settings import SettingsError

ROOT = Path(__file__).resolve().parents[1]
SSH = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    default_aws.cache_clear()
    yield
    default_aws.cache_clear()


def test_the_handler_remediates_with_settings_from_the_environment(
    world: World, fresh_clients: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMEDIATOR_TOPIC_ARN", world.topic_arn)
    monkeypatch.setenv("REMEDIATOR_DEFAULT_MODE", "notify")
    group_id = world.group()
    result = handler_module.handler(world.open_event(group_id, [SSH]), None)
    assert result["findings"][0]["outcome"] == "notified"
    assert world.ingress(group_id) == {("tcp", 22, 22, "0.0.0.0/0")}
    assert len(world.messages()) == 1


def test_a_bad_setting_fails_the_invocation_with_the_variable_named(
    world: World, fresh_clients: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMEDIATOR_RISKY_PORTS", "ssh")
    group_id = world.group()
    with pytest.raises(SettingsError, match=r"^REMEDIATOR_RISKY_PORTS: 'ssh' is not a port"):
        handler_module.handler(world.open_event(group_id, [SSH]), None)
    # Nothing was done on a configuration the operator did not mean.
    assert world.ingress(group_id) == {("tcp", 22, 22, "0.0.0.0/0")}


def test_the_handler_imports_nothing_of_cdk_tests_the_cli_or_pydantics_model_layer() -> None:
    # pydantic's model layer (`pydantic`, not its engine `pydantic_core`) would cost the cold start more than the
    # remediator's own modules: the event path reads the event with pydantic-core's validators alone.
    unwanted = "aws_cdk constructs jsii moto pytest pydantic remediator.cli remediator.sweep remediator.inventory"
    code = (
        "import sys, remediator.handler\n"
        f"unwanted = {unwanted.split()!r}\n"
        "print(' '.join(m for m in sorted(sys.modules) if any(m == u or m.startswith(u + '.') for u in unwanted)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_the_sns_client_is_made_in_the_topics_region_for_a_central_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    central = "arn:aws:sns:us-east-1:111122223333:sg-remediator-central"
    aws = effects.Aws.from_environment(topic_arn=central)
    assert aws.ec2.meta.region_name == "eu-west-1"
    assert aws.sns.meta.region_name == "us-east-1"
    assert effects.Aws.from_environment().sns.meta.region_name == "eu-west-1"
    assert effects.topic_region("not an arn") is None
