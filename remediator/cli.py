"""The command line: `python -m remediator demo | replay | scan`, each command in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from remediator.settings import SettingsError


class CliError(Exception):
    """A problem with the user's input, shown as one line and exit status 2."""


class Command(Protocol):
    """A command module: it adds its parser, whose `run` default does the work and returns the exit status."""

    def add_parser(self, commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


Runner = Callable[[argparse.Namespace], int]


def build_parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m remediator",
        description="Close risky security-group rules: try it on embedded AWS, replay saved events, scan accounts.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands:
        command.add_parser(subcommands)
    return parser


def command_modules() -> list[Command]:
    # Imported here so that `import remediator.cli` stays cheap and each command loads what it needs.
    from remediator import demo, replay, scan  # noqa: PLC0415

    return [demo, replay, scan]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(command_modules()).parse_args(argv)
    run: Runner = args.run
    try:
        return run(args)
    except (CliError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"error: AWS said: {one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (`| head`) has gone; stop quietly, as other command-line tools do.
        sys.stderr.close()
        return 141


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def print_json(data: Any) -> None:
    import json  # noqa: PLC0415

    print(json.dumps(data, indent=2, default=str))
