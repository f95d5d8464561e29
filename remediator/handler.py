"""Lambda entry point: a CloudTrail security-group call, or the scheduled sweep."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from remediator.effects import Aws, default_aws
from remediator.event_names import ATTACH_EVENTS, PREFIX_LIST_EVENTS
from remediator.events import event_name_of, is_scheduled
from remediator.remediate import Home, remediate
from remediator.settings import Settings, current_settings


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
    return handle_call(event, settings, default_aws(settings.topic_arn), datetime.now(UTC), home=home_of(context))


def handle_call(
    event: object, settings: Settings, aws: Aws, now: datetime, *, home: Home | None = None
) -> dict[str, Any]:
    """One CloudTrail call, to the code of its kind: rules added, a prefix list edited, a group put to use.

    The handler's, and the command line's (replay, redrive): an event of any kind the rule delivers is handled
    alike wherever it comes from. `home` defaults to the EC2 client's region.
    """
    home = home or Home(region=aws.ec2.meta.region_name, account=None)
    # The other calls' code stays off the path of the commonest and most urgent one (a rule added).
    name = event_name_of(event)
    if name in PREFIX_LIST_EVENTS:
        from remediator.prefix_list_edits import remediate_edit  # noqa: PLC0415

        return remediate_edit(event, settings, aws, now, home=home)
    if name in ATTACH_EVENTS:
        from remediator.attachments import check_attachment  # noqa: PLC0415

        return check_attachment(event, settings, aws, now, home=home)
    return remediate(event, settings, aws, now, home=home)
