"""The command line's entry point: `python -m remediator demo | replay | redrive | scan`, each in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from remediator import __version__
from remediator.cli.output import CliError, aws_error_message, is_aws_error
from remediator.settings import SettingsError


class Command(Protocol):
    """A command module: it adds its parser, whose `run` default does the work and returns the exit status."""

    def add_parser(self, commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        """Add the command's parser, with `run` as its default."""


Runner = Callable[[argparse.Namespace], int]


def build_parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    """The parser of the whole command line, one subcommand per command module."""
    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="Close risky security-group rules: try it on embedded AWS, replay saved events, drain the "
        "dead-letter queue, scan accounts.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands:
        command.add_parser(subcommands)
    return parser


def program_name() -> str:
    """`sg-remediator` when run as the installed command, else `python -m remediator`."""
    return "sg-remediator" if Path(sys.argv[0]).name == "sg-remediator" else "python -m remediator"


def command_modules() -> list[Command]:
    """The command modules, imported only when the command line runs (each loads what it needs)."""
    from remediator.cli import demo, fix, redrive, replay, scan  # noqa: PLC0415

    return [demo, replay, redrive, scan, fix]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status, or a one-line error: 2 for bad input or setup, 1 for AWS's refusal."""
    args = build_parser(command_modules()).parse_args(argv)
    run: Runner = args.run
    try:
        return run(args)
    except (CliError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError, ValueError) as error:
        # botocore's errors of the setup (credentials, region, endpoint) are the user's to fix: not "AWS said".
        if not is_aws_error(error):
            raise
        message, status = aws_error_message(error)
        print(f"error: {message}", file=sys.stderr)
        return status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (`| head`) has gone; stop quietly, as other command-line tools do.
        sys.stderr.close()
        return 141
