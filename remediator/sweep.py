"""The scheduled sweep over existing rules (to be built on the scan)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from remediator.effects import Aws
from remediator.settings import Settings


def sweep(settings: Settings, aws: Aws, now: datetime) -> dict[str, Any]:
    raise NotImplementedError
