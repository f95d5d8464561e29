"""The `replay` command (being built)."""

from __future__ import annotations

import argparse


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("replay", help="(not yet built)")
    parser.set_defaults(run=lambda _args: 1)
