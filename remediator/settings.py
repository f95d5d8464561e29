"""Settings from the REMEDIATOR_* environment variables, validated once with errors that name the variable."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, InstanceOf

from remediator.model import Mode, PortRange, Source
from remediator.risk import OpenThresholds, cidr_is_open
from remediator.sources import parse_sources


class SettingsError(ValueError):
    """A REMEDIATOR_* variable has a value the remediator cannot use."""


class Settings(BaseModel):
    """Everything the remediator is configured with; the same for every event of a deployment."""

    # The values inside are already checked by the parsers below: pydantic checks only their types.
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_mode: Mode
    allowed_sources: tuple[InstanceOf[Source], ...]
    risky_ports: tuple[InstanceOf[PortRange], ...]
    topic_arn: str | None
    dry_run: bool
    thresholds: InstanceOf[OpenThresholds]
    sweep_mode: Mode


DEFAULT_RISKY_PORTS = "22,3389"
TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off", ""}

PrefixLength = Annotated[int, Field(ge=0, le=128)]


def parse_mode(name: str, raw: str, default: Mode) -> Mode:
    text = raw.strip().lower()
    if not text:
        return default
    try:
        return Mode(text)
    except ValueError:
        choices = ", ".join(mode.value for mode in Mode)
        raise SettingsError(f"{name}: {raw!r} is not one of {choices}") from None


def parse_ports(name: str, raw: str) -> tuple[PortRange, ...]:
    ranges: list[PortRange] = []
    for part in raw.replace(" ", ",").split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            port_range = PortRange(first=int(first), last=int(last or first))
        except ValueError:
            raise SettingsError(f"{name}: {part!r} is not a port (0-65535) or a range such as 8000-8100") from None
        if port_range.first > port_range.last:
            raise SettingsError(f"{name}: {part!r} is a range that ends before it starts")
        ranges.append(port_range)
    if not ranges:
        raise SettingsError(f"{name}: no port given; leave it unset for the default {DEFAULT_RISKY_PORTS}")
    return tuple(ranges)


def parse_bool(name: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise SettingsError(f"{name}: {raw!r} is not true or false")


def parse_prefix(name: str, raw: str, default: int, family_bits: int) -> int:
    text = raw.strip().lstrip("/")
    if not text:
        return default
    if not text.isdigit() or int(text) > family_bits:
        raise SettingsError(f"{name}: {raw!r} is not a prefix length from 0 to {family_bits}")
    return int(text)


def settings_from(env: Mapping[str, str]) -> Settings:
    """Read and validate the settings from an environment mapping."""
    thresholds = OpenThresholds(
        ipv4=parse_prefix("REMEDIATOR_IPV4_OPEN_PREFIX", env.get("REMEDIATOR_IPV4_OPEN_PREFIX", ""), 8, 32),
        ipv6=parse_prefix("REMEDIATOR_IPV6_OPEN_PREFIX", env.get("REMEDIATOR_IPV6_OPEN_PREFIX", ""), 32, 128),
    )
    allowed_raw = env.get("REMEDIATOR_ALLOWED_CIDRS", "")
    allowed, errors = parse_sources(allowed_raw)
    if errors:
        raise SettingsError(f"REMEDIATOR_ALLOWED_CIDRS: {errors[0]}")
    open_allowed = [source.value for source in allowed if cidr_is_open(source.value, thresholds)]
    if open_allowed:
        raise SettingsError(
            f"REMEDIATOR_ALLOWED_CIDRS: {open_allowed[0]} is itself open to the internet, so narrowing to it "
            "would change nothing"
        )
    topic_arn = env.get("REMEDIATOR_TOPIC_ARN", "").strip()
    if topic_arn and not topic_arn.startswith("arn:"):
        raise SettingsError(f"REMEDIATOR_TOPIC_ARN: {topic_arn!r} is not an SNS topic ARN")
    return Settings(
        default_mode=parse_mode("REMEDIATOR_DEFAULT_MODE", env.get("REMEDIATOR_DEFAULT_MODE", ""), Mode.REVOKE),
        allowed_sources=allowed,
        risky_ports=parse_ports("REMEDIATOR_RISKY_PORTS", env.get("REMEDIATOR_RISKY_PORTS", DEFAULT_RISKY_PORTS)),
        topic_arn=topic_arn or None,
        dry_run=parse_bool("REMEDIATOR_DRY_RUN", env.get("REMEDIATOR_DRY_RUN", "")),
        thresholds=thresholds,
        sweep_mode=parse_mode("REMEDIATOR_SWEEP_MODE", env.get("REMEDIATOR_SWEEP_MODE", ""), Mode.NOTIFY),
    )


@functools.cache
def current_settings() -> Settings:
    """The process's settings, read from the environment on first use (once per Lambda container)."""
    return settings_from(os.environ)
