"""Lambda entry point: a CloudTrail security-group call, or the scheduled sweep."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from remediator.effects import default_aws
from remediator.events import is_scheduled
from remediator.remediate import Home, remediate
from remediator.settings import current_settings


def home_of(context: object) -> Home:
    """The function's own region and account, from the Lambda context's ARN; else the region of AWS_REGION."""
    arn = getattr(context, "invoked_function_arn", None)
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) >= 5 and parts[0] == "arn" and parts[3] and parts[4]:
        return Home(region=parts[3], account=parts[4])
    return Home(region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"), account=None)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Remediate what the event's call opened, or run the sweep; returns the summary of what happened.

    The summary's `status` is one of remediator.report.Status. AWS failures are raised so that Lambda retries.
    """
    settings = current_settings()
    if is_scheduled(event):
        from remediator.sweep import budget_of, sweep  # noqa: PLC0415  (the sweep's code stays out of the event path)

        # The scheduled event names the account, which the notification tells people.
        return sweep(
            settings,
            default_aws(settings.topic_arn),
            datetime.now(UTC),
            account=event.get("account"),
            budget_seconds=budget_of(context),
        )
    return remediate(event, settings, default_aws(settings.topic_arn), datetime.now(UTC), home=home_of(context))
