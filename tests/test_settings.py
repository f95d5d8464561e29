"""Tests of the settings read from REMEDIATOR_* variables."""

from __future__ import annotations

import pytest

from remediator.model import Mode, PortRange
from remediator.settings import SettingsError, current_settings, settings_from


def test_defaults_revoke_ssh_and_rdp_and_log_only() -> None:
    settings = settings_from({})
    assert settings.default_mode == Mode.REVOKE
    assert settings.risky_ports == (PortRange(first=22, last=22), PortRange(first=3389, last=3389))
    assert settings.topic_arn is None
    assert settings.dry_run is False
    assert settings.allowed_sources == ()
    assert (settings.thresholds.ipv4, settings.thresholds.ipv6) == (8, 32)
    assert settings.sweep_mode == Mode.NOTIFY
    assert settings.security_hub is False
    assert settings.outcome_events is True
    assert settings.contact_tag == "remediator:contact"


def test_every_setting_is_read() -> None:
    settings = settings_from(
        {
            "REMEDIATOR_DEFAULT_MODE": " Narrow ",
            "REMEDIATOR_ALLOWED_CIDRS": "203.0.113.0/24, pl-0123456789abcdef0",
            "REMEDIATOR_RISKY_PORTS": "22, 8000-8100",
            "REMEDIATOR_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:remediator",
            "REMEDIATOR_DRY_RUN": "TRUE",
            "REMEDIATOR_IPV4_OPEN_PREFIX": "12",
            "REMEDIATOR_IPV6_OPEN_PREFIX": "/48",
            "REMEDIATOR_SWEEP_MODE": "revoke",
            "REMEDIATOR_SECURITY_HUB": "yes",
            "REMEDIATOR_OUTCOME_EVENTS": "off",
            "REMEDIATOR_CONTACT_TAG": " team ",
        }
    )
    assert settings.default_mode == Mode.NARROW
    assert [s.value for s in settings.allowed_sources] == ["203.0.113.0/24", "pl-0123456789abcdef0"]
    assert settings.risky_ports == (PortRange(first=22, last=22), PortRange(first=8000, last=8100))
    assert settings.topic_arn == "arn:aws:sns:eu-west-1:123456789012:remediator"
    assert settings.dry_run is True
    assert (settings.thresholds.ipv4, settings.thresholds.ipv6) == (12, 48)
    assert settings.sweep_mode == Mode.REVOKE
    assert settings.security_hub is True
    assert settings.outcome_events is False
    assert settings.contact_tag == "team"


def test_an_empty_switch_or_contact_tag_is_its_default() -> None:
    settings = settings_from(
        {"REMEDIATOR_SECURITY_HUB": "", "REMEDIATOR_OUTCOME_EVENTS": " ", "REMEDIATOR_CONTACT_TAG": ""}
    )
    assert (settings.security_hub, settings.outcome_events, settings.contact_tag) == (False, True, "remediator:contact")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("REMEDIATOR_DEFAULT_MODE", "delete", "'delete' is not one of revoke, narrow, notify, ignore"),
        ("REMEDIATOR_SWEEP_MODE", "fix", "'fix' is not one of"),
        ("REMEDIATOR_RISKY_PORTS", "22,ssh", "'ssh' is not a port"),
        ("REMEDIATOR_RISKY_PORTS", "70000", "'70000' is not a port"),
        ("REMEDIATOR_RISKY_PORTS", "3389-22", "ends before it starts"),
        ("REMEDIATOR_RISKY_PORTS", " , ", "no port given"),
        ("REMEDIATOR_DRY_RUN", "maybe", "'maybe' is not true or false"),
        ("REMEDIATOR_ALLOWED_CIDRS", "office", "'office' is neither a CIDR nor a prefix-list id"),
        ("REMEDIATOR_ALLOWED_CIDRS", "0.0.0.0/0", "is itself open to the internet"),
        ("REMEDIATOR_TOPIC_ARN", "my-topic", "is not an SNS topic ARN"),
        ("REMEDIATOR_IPV4_OPEN_PREFIX", "33", "not a prefix length from 0 to 32"),
        ("REMEDIATOR_IPV6_OPEN_PREFIX", "wide", "not a prefix length from 0 to 128"),
        ("REMEDIATOR_SECURITY_HUB", "sometimes", "'sometimes' is not true or false"),
        ("REMEDIATOR_OUTCOME_EVENTS", "2", "'2' is not true or false"),
        ("REMEDIATOR_CONTACT_TAG", "t" * 129, "a tag key has at most 128 characters, this one 129"),
        ("REMEDIATOR_CONTACT_TAG", "aws:team", "starts with aws:"),
    ],
)
def test_a_bad_value_is_a_one_line_error_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_from({name: value})
    text = str(raised.value)
    assert text.startswith(f"{name}: ")
    assert message in text
    assert "\n" not in text


def test_a_value_that_is_not_text_is_an_error_naming_the_variable() -> None:
    # An environment holds only text; a template's Variables may hold an object (a Ref) where text belongs.
    with pytest.raises(SettingsError, match=r"^REMEDIATOR_TOPIC_ARN: a dict, where its value as text was expected$"):
        settings_from({"REMEDIATOR_TOPIC_ARN": {"Ref": "Topic"}})  # type: ignore[dict-item]


def test_the_process_settings_are_read_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDIATOR_DEFAULT_MODE", "notify")
    first = current_settings()
    monkeypatch.setenv("REMEDIATOR_DEFAULT_MODE", "ignore")
    assert current_settings() is first
    assert first.default_mode == Mode.NOTIFY
