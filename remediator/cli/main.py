"""The command line's entry point: `python -m remediator demo | replay | scan`, each command in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from remediator.cli.output import CliError, one_line
from remediator.settings import SettingsError


class Command(Protocol):
    """A command module: it adds its parser, whose `run` default does the work and returns the exit status."""

    def add_parser(self, commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        """Add the command's parser, with `run` as its default."""


Runner = Callable[[argparse.Namespace], int]


def build_parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    """The parser of the whole command line, one subcommand per command module."""
    parser = argparse.ArgumentParser(
        prog="python -m remediator",
        description="Close risky security-group rules: try it on embedded AWS, replay saved events, scan accounts.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands:
        command.add_parser(subcommands)
    return parser


def command_modules() -> list[Command]:
    """The command modules, imported only when the command line runs (each loads what it needs)."""
    from remediator.cli import demo, replay, scan  # noqa: PLC0415

    return [demo, replay, scan]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status, or 2 with a one-line error for bad input."""
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
