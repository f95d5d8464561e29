"""Settings from the REMEDIATOR_* environment variables, validated once with errors that name the variable."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from remediator.model import GroupPolicy, Mode, PortRange, Source
from remediator.risk import OpenThresholds, cidr_is_open
from remediator.sources import parse_sources

# The tag whose value names the team of a group, by default: the SNS message attribute `contact`.
DEFAULT_CONTACT_TAG = "remediator:contact"
# The guidance asks SSH to be restricted "to some extent" even without a public address: a /16 or wider is not.
DEFAULT_ADVISORY_PREFIX = 16


class SettingsError(ValueError):
    """A REMEDIATOR_* variable has a value the remediator cannot use."""


# The variables are text, so what validates them is the parsers below, whose errors name the variable; the values
# they make are typed (mypy checks them) and frozen. A pydantic model here would only check their types again (and
# pydantic's model layer is kept off the event path: see remediator/events.py).
@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the remediator is configured with; the same for every event of a deployment."""

    default_mode: Mode
    allowed_sources: tuple[Source, ...]
    risky_ports: tuple[PortRange, ...]
    topic_arn: str | None
    dry_run: bool
    thresholds: OpenThresholds
    sweep_mode: Mode
    # Where security teams look: findings in Security Hub, an EventBridge event per outcome, and the tag whose
    # value routes a notification to its team (the SNS message attribute `contact`).
    security_hub: bool = False
    outcome_events: bool = True
    contact_tag: str = DEFAULT_CONTACT_TAG
    # Risky ports open to a non-public range this wide (prefix length at most this) are advisory findings.
    advisory_prefix: int = DEFAULT_ADVISORY_PREFIX
    # ARN patterns (`*` matches any run of characters) of principals whose calls are judged in notify mode.
    trusted_principals: tuple[str, ...] = ()
    # The DynamoDB table that remembers re-openings and notices between invocations; None: nothing remembered.
    state_table: str | None = None

    def default_policy(self) -> GroupPolicy:
        """The policy of a group without remediator tags (or whose exception has ended)."""
        return GroupPolicy(mode=self.default_mode, allowed_sources=self.allowed_sources, expires_at=None, notes=())


DEFAULT_RISKY_PORTS = "22,3389"
TAG_KEY_LIMIT = 128  # AWS tag keys are at most 128 characters.
TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off", ""}
PREFIX = "REMEDIATOR_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Variables:
    """The REMEDIATOR_* variables as text, one field per variable (its name without the prefix, lower case).

    The one list of the settings' names: the variables' names, the CDK context keys and the docs follow from it.
    """

    default_mode: str = ""
    allowed_cidrs: str = ""
    risky_ports: str = DEFAULT_RISKY_PORTS
    topic_arn: str = ""
    dry_run: str = ""
    ipv4_open_prefix: str = ""
    ipv6_open_prefix: str = ""
    sweep_mode: str = ""
    security_hub: str = ""
    outcome_events: str = ""
    contact_tag: str = ""
    advisory_prefix: str = ""
    trusted_principals: str = ""
    state_table: str = ""


def variable_name(field: str) -> str:
    """The environment variable of a field of Variables: default_mode -> REMEDIATOR_DEFAULT_MODE."""
    return PREFIX + field.upper()


# The fields of Variables: the settings' names.
VARIABLE_FIELDS = tuple(field.name for field in dataclasses.fields(Variables))
VARIABLE_NAMES = tuple(variable_name(field) for field in VARIABLE_FIELDS)


def parse_mode(name: str, raw: str, default: Mode) -> Mode:
    """A mode's name, or the default when empty."""
    text = raw.strip().lower()
    if not text:
        return default
    try:
        return Mode(text)
    except ValueError:
        choices = ", ".join(mode.value for mode in Mode)
        raise SettingsError(f"{name}: {raw!r} is not one of {choices}") from None


def parse_ports(name: str, raw: str) -> tuple[PortRange, ...]:
    """Ports and ranges separated by commas or spaces: `22,3389`, `8000-8100`."""
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


def parse_bool(name: str, raw: str, default: bool = False) -> bool:
    """true/false and their usual spellings; empty is the default."""
    text = raw.strip().lower()
    if not text:
        return default
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise SettingsError(f"{name}: {raw!r} is not true or false")


def parse_tag_key(name: str, raw: str, default: str) -> str:
    """A tag key (at most 128 characters), or the default when empty."""
    text = raw.strip()
    if not text:
        return default
    if len(text) > TAG_KEY_LIMIT:
        raise SettingsError(f"{name}: a tag key has at most {TAG_KEY_LIMIT} characters, this one {len(text)}")
    if text.lower().startswith("aws:"):
        raise SettingsError(f"{name}: {raw!r} starts with aws:, which AWS keeps for its own tags")
    return text


def parse_prefix(name: str, raw: str, default: int, family_bits: int) -> int:
    """A prefix length (a leading / allowed), or the default when empty."""
    text = raw.strip().lstrip("/")
    if not text:
        return default
    if not text.isdigit() or int(text) > family_bits:
        raise SettingsError(f"{name}: {raw!r} is not a prefix length from 0 to {family_bits}")
    return int(text)


def parse_principal_patterns(name: str, raw: str) -> tuple[str, ...]:
    """ARN patterns separated by commas or spaces, each an ARN (`arn:...`) where `*` matches any characters."""
    patterns = tuple(part for part in raw.replace(",", " ").split() if part)
    for pattern in patterns:
        if not pattern.startswith("arn:") or pattern.count(":") < 5:
            raise SettingsError(
                f"{name}: {pattern!r} is not an ARN pattern such as arn:aws:iam::123456789012:role/deploy-*"
            )
        if pattern.replace("*", "") in ("arn:::::", "arn:aws:iam:::", "arn:aws:sts:::"):
            raise SettingsError(f"{name}: {pattern!r} would trust every principal; name the pipeline's role")
    return patterns


def unknown_variable(env: Mapping[str, str]) -> str | None:
    """Why a REMEDIATOR_* variable that is not a setting is refused (a typo would otherwise fall back silently)."""
    for name in sorted(env):
        if name.startswith(PREFIX) and name not in VARIABLE_NAMES:
            closest = difflib.get_close_matches(name, VARIABLE_NAMES, n=1)
            hint = f"did you mean {closest[0]}?" if closest else f"the settings are {', '.join(VARIABLE_NAMES)}"
            return f"{name}: not a setting of the remediator; {hint}"
    return None


def settings_from(env: Mapping[str, str]) -> Settings:
    """Read and validate the settings from an environment mapping."""
    unknown = unknown_variable(env)
    if unknown is not None:
        raise SettingsError(unknown)
    given = {field: env[variable_name(field)] for field in VARIABLE_FIELDS if variable_name(field) in env}
    # An environment holds only text, but a mapping given here (a template's, say) may hold anything.
    for field, value in given.items():
        if not isinstance(value, str):
            raise SettingsError(
                f"{variable_name(field)}: a {type(value).__name__}, where its value as text was expected"
            )
    raw = Variables(**given)
    name = variable_name
    thresholds = OpenThresholds(
        ipv4=parse_prefix(name("ipv4_open_prefix"), raw.ipv4_open_prefix, 8, 32),
        ipv6=parse_prefix(name("ipv6_open_prefix"), raw.ipv6_open_prefix, 32, 128),
    )
    allowed, errors = parse_sources(raw.allowed_cidrs)
    if errors:
        raise SettingsError(f"{name('allowed_cidrs')}: {errors[0]}")
    open_allowed = [source.value for source in allowed if cidr_is_open(source.value, thresholds)]
    if open_allowed:
        raise SettingsError(
            f"{name('allowed_cidrs')}: {open_allowed[0]} is itself open to the internet, so narrowing to it "
            "would change nothing"
        )
    topic_arn = raw.topic_arn.strip()
    if topic_arn and not topic_arn.startswith("arn:"):
        raise SettingsError(f"{name('topic_arn')}: {topic_arn!r} is not an SNS topic ARN")
    return Settings(
        default_mode=parse_mode(name("default_mode"), raw.default_mode, Mode.REVOKE),
        allowed_sources=allowed,
        risky_ports=parse_ports(name("risky_ports"), raw.risky_ports),
        topic_arn=topic_arn or None,
        dry_run=parse_bool(name("dry_run"), raw.dry_run),
        thresholds=thresholds,
        sweep_mode=parse_mode(name("sweep_mode"), raw.sweep_mode, Mode.NOTIFY),
        security_hub=parse_bool(name("security_hub"), raw.security_hub),
        outcome_events=parse_bool(name("outcome_events"), raw.outcome_events, default=True),
        contact_tag=parse_tag_key(name("contact_tag"), raw.contact_tag, DEFAULT_CONTACT_TAG),
        advisory_prefix=parse_prefix(name("advisory_prefix"), raw.advisory_prefix, DEFAULT_ADVISORY_PREFIX, 32),
        trusted_principals=parse_principal_patterns(name("trusted_principals"), raw.trusted_principals),
        state_table=raw.state_table.strip() or None,
    )


@functools.cache
def current_settings() -> Settings:
    """The process's settings, read from the environment on first use (once per Lambda container)."""
    return settings_from(os.environ)
