"""What every command prints with: the one-line error of bad input, JSON, and one-line AWS messages."""

from __future__ import annotations

import json
from typing import Any


class CliError(Exception):
    """A problem with the user's input, shown as one line and exit status 2."""


def one_line(error: BaseException) -> str:
    """The error's text on one line, as a terminal shows it."""
    return " ".join(str(error).split())


def print_json(data: Any) -> None:
    """Print `data` as indented JSON (values JSON does not know are written as text)."""
    print(json.dumps(data, indent=2, default=str))
