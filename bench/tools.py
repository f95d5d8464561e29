"""The two tools behind one interface, each loaded the way its Lambda loads it (imports happen here, lazily)."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.aws import ACCOUNT, REGION, TOPIC_ARN, WORK

OURS = ("ours", "ours-log-only")
CUSTODIAN = ("c7n", "c7n-notify", "c7n-fair")
TOOLS = OURS + CUSTODIAN
C7N_VENV = WORK / "c7n-venv"
C7N_LAMBDAS = WORK / "c7n-lambda"


def c7n_task_dir(variant: str) -> Path:
    """Where the config.json and custodian_policy.py of c7n's own Lambda archive for the variant are unpacked."""
    return C7N_LAMBDAS / variant / "task"


class LambdaContext:
    """The attributes of Lambda's context object that a handler may read."""

    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bench"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def lambda_logging() -> None:
    """Logging as Lambda's Python runtime sets it up: one handler on the root logger, writing to stdout.

    Workers run with stdout sent to /dev/null, so both tools pay for formatting and writing their logs, as in
    Lambda, and neither floods the terminal.
    """
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stdout))


def tool_environment(tool: str) -> dict[str, str]:
    """The tool's Lambda environment variables: ours in revoke mode, notifying a (moto) SNS topic or not."""
    if tool in OURS:
        return {"REMEDIATOR_DEFAULT_MODE": "revoke", "REMEDIATOR_TOPIC_ARN": TOPIC_ARN if tool == "ours" else ""}
    return {}


def environment_for(tool: str) -> None:
    """Set the tool's variables before its import (both tools read their settings once per process)."""
    os.environ.pop("REMEDIATOR_RISKY_PORTS", None)
    os.environ.update(tool_environment(tool))


def load_handler(tool: str) -> Callable[[dict[str, Any], object], Any]:
    """Import the tool's Lambda entry point: remediator.handler.handler, or c7n's generated custodian_policy.run."""
    environment_for(tool)
    if tool in OURS:
        module = importlib.import_module("remediator.handler")
        handler: Callable[[dict[str, Any], object], Any] = module.handler
        return handler
    if tool in CUSTODIAN:
        task = c7n_task_dir(tool)
        if not (task / "config.json").exists():
            raise FileNotFoundError(f"{task}/config.json is missing: the package step builds it")
        # c7n's handler reads config.json from the working directory, as in Lambda's /var/task.
        os.chdir(task)
        sys.path.insert(0, str(task))
        module = importlib.import_module("custodian_policy")
        run: Callable[[dict[str, Any], object], Any] = module.run
        return run
    raise ValueError(f"unknown tool {tool}; one of {', '.join(TOOLS)}")
