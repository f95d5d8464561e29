"""Structured logging: one JSON object per line, as CloudWatch Logs Insights reads it."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

LOGGER_NAME = "remediator"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"level": record.levelname, "message": record.getMessage()}
        fields.update(getattr(record, "fields", {}))
        return json.dumps(fields, default=str, ensure_ascii=False)


class StdoutHandler(logging.Handler):
    """Writes to whatever sys.stdout is at the time (Lambda ships stdout to CloudWatch Logs)."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(self.format(record) + "\n")


def logger() -> logging.Logger:
    log = logging.getLogger(LOGGER_NAME)
    if not log.handlers:
        handler = StdoutHandler()
        handler.setFormatter(JsonFormatter())
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        # Lambda's root handler would print each line a second time in its own format.
        log.propagate = False
    return log


def log_event(message: str, **fields: Any) -> None:
    logger().info(message, extra={"fields": fields})
