"""Lambda entry point: a CloudTrail security-group call, or the scheduled sweep."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from remediator.effects import default_aws
from remediator.events import is_scheduled
from remediator.remediate import remediate
from remediator.settings import current_settings


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Remediate what the event's call opened; AWS failures are raised so that Lambda retries."""
    settings = current_settings()
    if is_scheduled(event):
        from remediator.sweep import sweep  # noqa: PLC0415  (the sweep's code stays out of the event path)

        # The scheduled event names the account, which the notification tells people.
        return sweep(settings, default_aws(), datetime.now(UTC), account=event.get("account"))
    return remediate(event, settings, default_aws(), datetime.now(UTC))
