"""Structured logging: one JSON object per line, as CloudWatch Logs Insights reads it."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any, TextIO

LOGGER_NAME = "remediator"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: its level, message and extra `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a line of JSON: level, message and the record's `fields`."""
        fields: dict[str, Any] = {"level": record.levelname, "message": record.getMessage()}
        fields.update(getattr(record, "fields", {}))
        return json.dumps(fields, default=str, ensure_ascii=False)


class StdoutHandler(logging.Handler):
    """Writes to whatever sys.stdout is at the time (Lambda ships stdout to CloudWatch Logs)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write the formatted record and a newline to the current sys.stdout."""
        sys.stdout.write(self.format(record) + "\n")


def logger() -> logging.Logger:
    """The remediator's logger, given a JSON stdout handler at INFO (not propagating) on first use."""
    log = logging.getLogger(LOGGER_NAME)
    if not log.handlers:
        handler = StdoutHandler()
        handler.setFormatter(JsonFormatter())
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        # Lambda's root handler would print each line a second time in its own format.
        log.propagate = False
    return log


def log_warning(message: str, **fields: Any) -> None:
    """Log a line at WARNING: something the operator must hear of (a refusal, an event read in part)."""
    logger().warning(message, extra={"fields": fields})


def log_event(message: str, **fields: Any) -> None:
    """Log the message at INFO with the fields as keys of its JSON line."""
    logger().info(message, extra={"fields": fields})


@contextlib.contextmanager
def diverted(stream: TextIO | None) -> Iterator[None]:
    """Send the log lines to another stream, or drop them (None), for a while: the command line's stdout is its own."""
    log = logger()
    saved = (list(log.handlers), log.disabled)
    if stream is None:
        log.disabled = True
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        log.handlers = [handler]
    try:
        yield
    finally:
        log.handlers, log.disabled = saved
