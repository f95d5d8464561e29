"""The deployment settings, read from CDK context and validated once, with a one-line error for a bad value."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from remediator.model import Mode
from remediator.permissions import PERMISSIONS
from remediator.settings import (
    DEFAULT_ADVISORY_PREFIX,
    DEFAULT_CONTACT_TAG,
    VARIABLE_FIELDS,
    SettingsError,
    Variables,
    settings_from,
    variable_name,
)

# Only used to check that the Lambda accepts the environment; the stack passes its real topic's ARN.
_PLACEHOLDER_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:placeholder"
_PLACEHOLDER_TABLE_NAME = "placeholder"
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_RATE = re.compile(r"^rate\((?P<value>\d+) (?P<unit>minute|hour|day)(?P<plural>s?)\)$")
_CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$")
# AWS Organizations' id patterns (Organizations API reference: OrganizationalUnit Id, Root Id, Organization Id).
_OU_OR_ROOT = re.compile(r"^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$")
_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:[A-Za-z0-9_-]{1,256}$")


class ContextError(ValueError):
    """A CDK context value the app cannot deploy with."""


def _words(value: object) -> object:
    """Lists may come from cdk.json as lists or from `-c key=a,b` as one string: split the string."""
    if isinstance(value, str):
        return tuple(part for part in re.split(r"[\s,]+", value.strip()) if part)
    if isinstance(value, int):
        return (str(value),)
    if isinstance(value, list | tuple):
        return tuple(str(item).strip() for item in value)
    return value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _region(value: str) -> str:
    if not _REGION.match(value):
        raise ValueError(f"{value!r} is not an AWS region name such as eu-west-1")
    return value


def _schedule(value: str) -> str:
    text = value.strip()
    if not text:
        return ""
    rate = _RATE.match(text)
    if rate:
        # EventBridge wants "rate(1 day)" but "rate(2 days)": singular exactly when the value is 1.
        amount = int(rate["value"])
        if amount < 1 or (amount == 1) == bool(rate["plural"]):
            raise ValueError(f"{value!r} is not a valid rate: use rate(1 day) or rate(2 days)")
        return text
    if _CRON.match(text):
        return text
    raise ValueError(f"{value!r} is neither rate(...) nor cron(...) (nor empty to disable the sweep)")


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _org_target(value: str) -> str:
    if not _OU_OR_ROOT.match(value):
        raise ValueError(f"{value!r} is neither an organizational unit id (ou-...) nor the root id (r-...)")
    return value


def _org_id(value: object) -> object:
    if not isinstance(value, str):
        return value  # not a string: pydantic's own error says so
    text = value.strip()
    if text and not _ORG_ID.match(text):
        raise ValueError(f"{value!r} is not an organization id such as o-a1b2c3d4e5")
    return text


def _account(value: str) -> str:
    if not _ACCOUNT.match(value):
        raise ValueError(f"{value!r} is not a 12-digit AWS account id")
    return value


def _topic_arn(value: object) -> object:
    if not isinstance(value, str):
        return value  # not a string: pydantic's own error says so
    text = value.strip()
    if text and not _TOPIC_ARN.match(text):
        raise ValueError(f"{value!r} is not the ARN of a standard SNS topic (arn:aws:sns:<region>:<account>:<name>)")
    return text


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    """The same value twice is a mistake: one stack per region, one subscription per address."""
    seen: set[str] = set()
    for value in values:
        # Addresses compare without case: two spellings of one mailbox would be two subscriptions.
        if value.casefold() in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.add(value.casefold())
    return values


def _own_key(key: str) -> bool:
    """Whether a context key can be ours: CDK's own ("aws:cdk:...") and feature flags ("@aws-cdk/...") are not."""
    return ":" not in key and "@" not in key


Words = Annotated[tuple[str, ...], BeforeValidator(_words)]
ModeSetting = Annotated[Mode, BeforeValidator(_lower)]
Email = Annotated[str, BeforeValidator(str.strip), BeforeValidator(_email)]
Region = Annotated[str, BeforeValidator(_region)]
OrgTarget = Annotated[str, BeforeValidator(_org_target)]
Account = Annotated[str, BeforeValidator(_account)]


class CallAs(StrEnum):
    """Whose StackSets the organisation stack manages: the management account's or a delegated administrator's."""

    SELF = "SELF"
    DELEGATED_ADMIN = "DELEGATED_ADMIN"


class RegionConcurrency(StrEnum):
    """How StackSets rolls out across the target regions: one after the other, or all at once."""

    SEQUENTIAL = "SEQUENTIAL"
    PARALLEL = "PARALLEL"


# The settings that only organisation mode (org_units given) reads: set to anything but their default without
# org_units, they would be silently ignored, so that is an error naming the key.
ORGANIZATION_ONLY = (
    "org_id",
    "call_as",
    "exclude_accounts",
    "region_concurrency",
    "failure_tolerance_percentage",
    "max_concurrent_percentage",
    "notification_topic_arn",
    "member_dashboard",
)


class Settings(BaseModel):
    """Every CDK context setting of the app, typed; the REMEDIATOR_* variables are derived from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_mode: ModeSetting = Field(
        Mode.REVOKE, description="What to do with a risky rule: revoke, narrow, notify or ignore."
    )
    allowed_cidrs: Words = Field(
        (), description="CIDRs or prefix-list ids (pl-...) that narrow mode opens to instead of the internet."
    )
    risky_ports: Words = Field(
        ("22", "3389"), description="Ports and ranges (8000-8100) that must not be open to the internet."
    )
    dry_run: bool = Field(False, description="Log and notify what would be done, change nothing.")
    notification_emails: Annotated[tuple[Email, ...], BeforeValidator(_words), AfterValidator(_unique)] = Field(
        (), description="Email addresses subscribed to the notification topic (each must confirm)."
    )
    sweep_mode: ModeSetting = Field(Mode.NOTIFY, description="What the scheduled sweep does with risky rules it finds.")
    sweep_schedule: Annotated[str, BeforeValidator(_schedule)] = Field(
        "rate(1 day)", description="EventBridge rate(...) or cron(...) of the sweep; empty disables it."
    )
    regions: Annotated[tuple[Region, ...], BeforeValidator(_words), AfterValidator(_unique)] = Field(
        (), description="Regions to deploy one stack each to; empty means the CLI's region."
    )
    ipv4_open_prefix: int = Field(
        8, ge=0, le=32, description="An IPv4 source with this prefix length or shorter is open."
    )
    ipv6_open_prefix: int = Field(
        32, ge=0, le=128, description="An IPv6 source with this prefix length or shorter is open."
    )
    dashboard: bool = Field(True, description="Deploy a CloudWatch dashboard of the remediator's metrics.")
    archive_retention_days: int = Field(
        30,
        ge=1,
        description="Days the EventBridge archive keeps the CloudTrail rule's events for replay; at least 1 "
        "(EventBridge would read 0 as forever: a finite retention is asked for explicitly).",
    )
    # Organisation mode: one StackSet of the member stack for every account of these OUs (docs/organization.md).
    org_units: Annotated[tuple[OrgTarget, ...], BeforeValidator(_words), AfterValidator(_unique)] = Field(
        (), description="Organizational units (ou-...) or the root (r-...) to deploy to; given, organisation mode."
    )
    org_id: Annotated[str, BeforeValidator(_org_id)] = Field(
        "", description="The organization id (o-...) whose accounts may read the code and publish notifications."
    )
    call_as: Annotated[CallAs, BeforeValidator(_upper)] = Field(
        CallAs.SELF, description="SELF in the management account, DELEGATED_ADMIN in a delegated administrator."
    )
    exclude_accounts: Annotated[tuple[Account, ...], BeforeValidator(_words), AfterValidator(_unique)] = Field(
        (), description="Accounts of the org_units that get no stack instance (account-level opt-out)."
    )
    region_concurrency: Annotated[RegionConcurrency, BeforeValidator(_upper)] = Field(
        RegionConcurrency.SEQUENTIAL, description="StackSets rolls out region by region (SEQUENTIAL) or all at once."
    )
    failure_tolerance_percentage: int = Field(
        0, ge=0, le=100, description="Percentage of accounts per region that may fail before StackSets stops."
    )
    max_concurrent_percentage: int = Field(
        25, ge=1, le=100, description="Most accounts per region StackSets deploys to at once, as a percentage."
    )
    notification_topic_arn: Annotated[str, BeforeValidator(_topic_arn)] = Field(
        "", description="An existing SNS topic the members publish to; empty: the organisation stack creates one."
    )
    member_dashboard: bool = Field(
        False, description="A CloudWatch dashboard in every member account and region (USD 3/month each)."
    )
    # Where security teams already look (docs/integrations.md).
    security_hub: bool = Field(
        False, description="Import each risky rule found as a Security Hub finding, resolved once it is closed."
    )
    outcome_events: bool = Field(
        True, description="Put one EventBridge event per outcome on the default bus (source sg-remediator)."
    )
    contact_tag: Annotated[str, BeforeValidator(_stripped)] = Field(
        DEFAULT_CONTACT_TAG,
        description="The tag whose value, the group's team, goes in the SNS message attribute contact.",
    )

    advisory_prefix: int = Field(
        DEFAULT_ADVISORY_PREFIX,
        ge=0,
        le=32,
        description="Risky ports open to a non-public range this wide or wider (prefix length at most this; for "
        "IPv6 at most this + 32) are advisory findings: listed, never acted on.",
    )
    trusted_principals: Words = Field(
        (),
        description="ARN patterns (* matches anything) of principals, such as a reviewed pipeline's role, whose "
        "calls are judged in notify mode unless the group's own tag says otherwise. A stolen pipeline role is "
        "trusted too.",
    )

    @model_validator(mode="after")
    def _lambda_accepts(self) -> Settings:
        """The Lambda validates its environment again at start; refuse to deploy what it would refuse."""
        try:
            settings_from(
                self.lambda_environment(topic_arn=_PLACEHOLDER_TOPIC_ARN, state_table=_PLACEHOLDER_TABLE_NAME)
            )
        except SettingsError as error:
            variable, _, reason = str(error).partition(": ")
            raise ValueError(f"{_CONTEXT_KEY_OF.get(variable, variable)}: {reason}") from None
        return self

    @model_validator(mode="after")
    def _organization_complete(self) -> Settings:
        """Organisation mode needs its organization and regions; its settings mean nothing without it."""
        if not self.organization:
            for key in ORGANIZATION_ONLY:
                if getattr(self, key) != type(self).model_fields[key].default:
                    raise ValueError(f"{key}: only organisation mode reads it; give org_units too, or leave it out")
            return self
        if not self.org_id:
            raise ValueError("org_id: organisation mode (org_units) needs the organization id (o-...)")
        if not self.regions:
            raise ValueError("regions: organisation mode (org_units) needs the regions to deploy the members to")
        return self

    @property
    def organization(self) -> bool:
        """Whether the app deploys to an organisation through StackSets (org_units given) instead of one account."""
        return bool(self.org_units)

    def lambda_environment(self, *, topic_arn: str, state_table: str) -> dict[str, str]:
        """The REMEDIATOR_* variables the Lambda reads, all strings (a context key is its variable's field).

        `topic_arn` and `state_table` are the stack's own resources, not settings.
        """
        values = Variables(
            default_mode=self.default_mode.value,
            allowed_cidrs=",".join(self.allowed_cidrs),
            risky_ports=",".join(self.risky_ports),
            topic_arn=topic_arn,
            dry_run="true" if self.dry_run else "false",
            ipv4_open_prefix=str(self.ipv4_open_prefix),
            ipv6_open_prefix=str(self.ipv6_open_prefix),
            sweep_mode=self.sweep_mode.value,
            security_hub="true" if self.security_hub else "false",
            outcome_events="true" if self.outcome_events else "false",
            contact_tag=self.contact_tag,
            advisory_prefix=str(self.advisory_prefix),
            trusted_principals=",".join(self.trusted_principals),
            state_table=state_table,
        )
        return {variable_name(field): value for field, value in asdict(values).items()}

    def enabled_settings(self) -> frozenset[str]:
        """The settings that turn AWS calls on (Permission.enabled_by) and are on: the role grants their calls."""
        switches = {p.enabled_by for p in PERMISSIONS.values() if p.enabled_by is not None}
        return frozenset(name for name in switches if getattr(self, name) is True)

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> Settings:
        """The settings among `context` (unset keys take their default), or a ContextError naming the key."""
        cls.check_keys(context)
        given = {key: context[key] for key in cls.model_fields if context.get(key) is not None}
        try:
            return cls.model_validate(given)
        except ValidationError as error:
            first = error.errors()[0]
            message = first["msg"].removeprefix("Value error, ")
            if not first["loc"]:
                # A check across settings: its message names the key itself.
                raise ContextError(f"cdk context {message}") from None
            if repr(first["input"]) not in message:
                message = f"{message} (got {first['input']!r})"
            raise ContextError(f"cdk context {first['loc'][0]}: {message}") from None

    @classmethod
    def check_keys(cls, context: Mapping[str, Any]) -> None:
        """A ContextError for a key of `context` that looks like a misspelt setting, naming the closest one."""
        # Only keys without ":" or "@" can be ours; one that resembles no setting (another tool's) passes.
        for key in sorted(filter(_own_key, context)):
            if key in cls.model_fields:
                continue
            closest = difflib.get_close_matches(key, cls.model_fields, n=1)
            if closest:
                raise ContextError(f"cdk context {key}: unknown setting; did you mean {closest[0]}?")


# The context key of each variable the Lambda validates: the same name (topic_arn is the stack's own).
_CONTEXT_KEY_OF = {variable_name(field): field for field in VARIABLE_FIELDS}
