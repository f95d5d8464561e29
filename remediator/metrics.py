"""The remediator's CloudWatch metrics, written as Embedded Metric Format log lines (no API call)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from remediator.log import log_event

NAMESPACE = "sg-remediator"
MODE_DIMENSION = "Mode"


class Metric(StrEnum):
    """The metrics each event and each sweep emit, counted in rules (EventsRefused in events)."""

    RISKS_FOUND = "RisksFound"
    RULES_REVOKED = "RulesRevoked"
    RULES_NARROWED = "RulesNarrowed"
    # Notify, ignore, failed, deferred: risky rules that are still open after the remediator ran.
    RULES_LEFT_OPEN = "RulesLeftOpen"
    EVENTS_REFUSED = "EventsRefused"
    # Rules opened again within 24 h of an earlier opening: a fight with an automation that re-adds them.
    RULES_REOPENED = "RulesReopened"


def emf_fields(counts: Mapping[Metric, int], mode: str, now: datetime) -> dict[str, Any]:
    """The fields of one Embedded Metric Format line: each metric by Mode, and again with no dimension.

    The dimensionless copy is what the stack's alarms watch: an alarm on a dimensioned metric needs the value.
    """
    return {
        "_aws": {
            "Timestamp": int(now.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[MODE_DIMENSION], []],
                    "Metrics": [{"Name": metric.value, "Unit": "Count"} for metric in counts],
                }
            ],
        },
        MODE_DIMENSION: mode,
        **{metric.value: count for metric, count in counts.items()},
    }


def emit(counts: Mapping[Metric, int], mode: str, now: datetime) -> None:
    """Write the counts as one EMF log line, which CloudWatch turns into metrics (no API call)."""
    log_event("metrics", **emf_fields(counts, mode, now))
