"""`python -m bench`: measure our handler and Cloud Custodian on the same moto account and events, write RESULTS.md.

Each tool runs in its own interpreter (ours in .venv, c7n in bench/.work/c7n-venv, made here on first use), and
every figure in RESULTS.md comes from this run: the raw results are kept in bench/.work/results.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.aws import (
    REGION,
    ROOT,
    TOPIC_NAME,
    WORK,
    Account,
    Perm,
    build_event,
    use_fake_credentials,
)
from bench.corpus import BASELINE
from bench.package import build_ours, host_asset, unpacked
from bench.report import render
from bench.tools import C7N_LAMBDAS, C7N_VENV, CUSTODIAN, TOOLS, c7n_task_dir, tool_environment

BENCH = ROOT / "bench"
C7N_REQUIREMENTS = BENCH / "requirements-c7n.txt"
RESULTS = BENCH / "RESULTS.md"
RISKY = Perm("tcp", 22, 22, cidrs=("0.0.0.0/0",))

COLD_SDK = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
# Which AWS SDK module each handler's import brings in: boto3, or botocore alone.
SDK_PROBE = "import sys; {importer}; print('boto3' if 'boto3' in sys.modules else 'botocore.session')"
# Ours' chosen dependencies alone, as the event path uses them (botocore's session imported, one pydantic-core
# validator built), and as it used them before (one model of pydantic's model layer built: importing that layer
# and its first model took ~85 ms here, more than every module of the remediator together).
COLD_FLOOR = "import time; t = time.perf_counter(); import botocore.session; {body}; print(time.perf_counter() - t)"
FLOORS: tuple[tuple[str, bool, str], ...] = (
    (
        "botocore.session imported and one pydantic-core validator built (what the event path uses)",
        True,
        "from pydantic_core import SchemaValidator, core_schema as s; "
        "SchemaValidator(s.typed_dict_schema({'x': s.typed_dict_field(s.int_schema())}))",
    ),
    (
        "botocore.session imported and one model of pydantic's model layer built (which the event path does not use)",
        False,
        "from pydantic import BaseModel; type('Boundary', (BaseModel,), {'__annotations__': {'x': int}})",
    ),
)
COLD_OURS = "import time; t = time.perf_counter(); import remediator.handler; print(time.perf_counter() - t)"
# c7n's Lambda imports custodian_policy (which imports c7n.handler); its handler then loads the policy's resource
# types before the first event. Both parts are timed: together they are what c7n does before it can act.
COLD_C7N = (
    "import sys, time; sys.path.insert(0, '.'); t = time.perf_counter(); import custodian_policy; "
    "a = time.perf_counter(); from c7n.resources import load_resources; "
    "load_resources(('aws.security-group',)); print(a - t, time.perf_counter() - t)"
)

# Each tool imported from the package it deploys, as Lambda runs it: the package unpacked and first on sys.path,
# then the libraries the runtime (boto3, botocore) or, for c7n's archive of c7n alone, its venv provides. -I so that
# no setting of this host counts, -B because Lambda's disk is read-only: nothing is compiled but what is shipped.
DEPLOYED = (
    "import sys, time; sys.path[:0] = sys.argv[1:]; t = time.perf_counter(); {body}; print(time.perf_counter() - t)"
)
DEPLOYED_OURS = DEPLOYED.format(body="import remediator.handler")
DEPLOYED_C7N = DEPLOYED.format(
    body="import custodian_policy; from c7n.resources import load_resources; load_resources(('aws.security-group',))"
)
LIBRARIES = "import sysconfig; print(sysconfig.get_paths()['purelib'])"


@dataclass(frozen=True)
class Plan:
    cold_runs: int
    lambda_runs: int
    lambda_events: int
    warm_rounds: int
    warm_events: int
    warmup: int
    extra_events: int
    sweep_sizes: tuple[int, ...]
    # The burst scenario (bench/burst.py): events, over how many seconds, which settings (a suite or names).
    burst_events: int
    burst_seconds: float
    burst_settings: str
    # Rounds of the cold-start measurement (the figure is the median of the rounds' medians).
    cold_rounds: int
    # The sweep again on moto without the bench's lookup index, at these sizes.
    plain_sweep_sizes: tuple[int, ...]
    # Rounds of the sweeps, alternating which tool goes first (the figures are the rounds' medians).
    sweep_rounds: int
    # `scan --org` against c7n-org: accounts, and groups in each of their two regions.
    org_accounts: int
    org_groups: int
    # Risky events replayed with every integration on, for the order of the event path's calls.
    order_events: int


FULL = Plan(15, 5, 20, 3, 100, 10, 40, (100, 1000, 10000), 500, 15.0, "all", 3, (1000, 10000), 5, 20, 500, 5)
QUICK = Plan(5, 2, 10, 1, 30, 5, 10, (100, 1000), 200, 6.0, "quick", 1, (1000,), 1, 4, 50, 2)
BURST_COPIES = 8


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class BenchError(RuntimeError):
    pass


def run(command: Sequence[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in command], text=True, capture_output=True, check=False, **kwargs)
    if proc.returncode:
        raise BenchError(f"{' '.join(map(str, command))} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def ensure_c7n_venv() -> Path:
    """c7n in its own venv (its exact boto3/botocore pins differ from ours), made or updated when needed."""
    python = C7N_VENV / "bin" / "python"
    stamp = C7N_VENV / ".installed"
    wanted = C7N_REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    say(f"installing c7n into {C7N_VENV.relative_to(ROOT)} (first run only)")
    if not python.exists():
        run([sys.executable, "-m", "venv", C7N_VENV])
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", C7N_REQUIREMENTS])
    stamp.write_text(wanted)
    return python


def interpreter(tool: str, c7n_python: Path) -> Path:
    return c7n_python if tool in CUSTODIAN else Path(sys.executable)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDIATOR_", "AWS_ENDPOINT"))}
    env.update(extra or {})
    return env


_counter = 0


def worker(python: Path, task: str, tool: str, *options: str) -> dict[str, Any]:
    global _counter  # noqa: PLW0603 - unique names for the result files of one run
    _counter += 1
    out = WORK / "out" / f"{_counter:03d}-{task}-{tool}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "bench.worker", task, tool, "--out", out, *options]
    proc = subprocess.run(
        [str(c) for c in command],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise BenchError(f"worker {task} {tool} failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def versions(python: Path, names: Sequence[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, platform; "
        f"print(json.dumps({{'python': platform.python_version(), "
        f"**{{n: m.version(n) for n in {list(names)!r}}}}}))"
    )
    data: dict[str, str] = json.loads(run([python, "-c", code]).stdout)
    return data


def machine() -> dict[str, Any]:
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    return {
        "platform": platform.platform(),
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "memory": memory,
        "load_before": os.getloadavg(),
    }


# ---- cold start ------------------------------------------------------------------------------------------


def cold_imports(runs: int, c7n_python: Path) -> dict[str, Any]:
    """Import of each handler in a fresh interpreter, alternating the tools; the first run of each is dropped."""
    ours: list[float] = []
    c7n_import: list[float] = []
    c7n_total: list[float] = []
    for index in range(runs + 1):
        first = index == 0
        out = run([sys.executable, "-c", COLD_OURS], cwd=ROOT, env=child_env()).stdout.split()
        if not first:
            ours.append(float(out[0]) * 1e3)
        out = run([c7n_python, "-c", COLD_C7N], cwd=c7n_task_dir("c7n"), env=child_env()).stdout.split()
        if not first:
            c7n_import.append(float(out[0]) * 1e3)
            c7n_total.append(float(out[1]) * 1e3)
    # What neither tool can avoid: importing the AWS SDK it uses (boto3, or botocore alone), in its own venv.
    ours_sdk = run([sys.executable, "-c", SDK_PROBE.format(importer="import remediator.handler")], cwd=ROOT).stdout
    c7n_sdk = run([c7n_python, "-c", SDK_PROBE.format(importer="import c7n.handler")], cwd=ROOT).stdout
    sdk_ours: list[float] = []
    sdk_c7n: list[float] = []
    floors: list[dict[str, Any]] = [{"what": what, "ours": used, "ms": []} for what, used, _ in FLOORS]
    for index in range(max(3, runs // 3) + 1):
        ours_ms = float(run([sys.executable, "-c", COLD_SDK.format(module=ours_sdk.strip())], cwd=ROOT).stdout)
        c7n_ms = float(run([c7n_python, "-c", COLD_SDK.format(module=c7n_sdk.strip())], cwd=ROOT).stdout)
        floor_ms = [
            float(run([sys.executable, "-c", COLD_FLOOR.format(body=body)], cwd=ROOT).stdout) for *_, body in FLOORS
        ]
        if index:
            sdk_ours.append(ours_ms * 1e3)
            sdk_c7n.append(c7n_ms * 1e3)
            for floor, value in zip(floors, floor_ms, strict=True):
                floor["ms"].append(value * 1e3)
    return {
        "ours_ms": ours,
        "c7n_import_ms": c7n_import,
        "c7n_ms": c7n_total,
        "sdk_ours": ours_sdk.strip(),
        "sdk_c7n": c7n_sdk.strip(),
        "sdk_ours_ms": sdk_ours,
        "sdk_c7n_ms": sdk_c7n,
        "floors": floors,
    }


def byte_compile_ours() -> None:
    """Our modules' byte code, as pip gave c7n's at install: a host with PYTHONDONTWRITEBYTECODE set (this one)
    never writes it, and each cold start of ours would compile our source while c7n's loads its byte code."""
    run([sys.executable, "-m", "compileall", "-q", ROOT / "remediator"])


def deployed_imports(runs: int, c7n_python: Path) -> dict[str, Any]:
    """Each handler imported from its unpacked deployment package, ours with and without its byte code."""
    packages = WORK / "deployed"
    # Each tool's interpreter, what it times, and where its libraries are.
    ours = (Path(sys.executable), DEPLOYED_OURS, run([sys.executable, "-c", LIBRARIES]).stdout.strip())
    c7n = (c7n_python, DEPLOYED_C7N, run([c7n_python, "-c", LIBRARIES]).stdout.strip())
    packaged = {
        "ours": (host_asset(packages / "ours", byte_code=True), *ours),
        "ours_source_only": (host_asset(packages / "ours-source-only", byte_code=False), *ours),
        "c7n": (unpacked(C7N_LAMBDAS / "c7n" / "archive.zip", packages / "c7n"), *c7n),
    }
    times: dict[str, list[float]] = {kind: [] for kind in packaged}
    for index in range(runs + 1):
        for kind, (place, python, code, libraries) in packaged.items():
            out = run([python, "-I", "-S", "-B", "-c", code, place, libraries], cwd=place, env=child_env()).stdout
            if index:
                times[kind].append(float(out) * 1e3)
    return {f"{kind}_ms": values for kind, values in times.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def lambda_runs(runs: int, events: int, c7n_python: Path) -> dict[str, list[dict[str, Any]]]:
    """Lambda-like processes against a moto server: cold invocation (import + first event) and peak memory."""
    import boto3  # noqa: PLC0415
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the moto server's access log
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "c7n": []}
    try:
        account = Account(ec2=boto3.client("ec2", region_name=REGION, endpoint_url=endpoint))
        boto3.client("sns", region_name=REGION, endpoint_url=endpoint).create_topic(Name=TOPIC_NAME)
        peer = account.new_group("peer")
        baseline = [p.resolved({"sg:peer": peer}) for p in BASELINE]
        for _ in range(runs):
            for tool in ("ours", "c7n"):
                batch = []
                for _ in range(events):
                    group = account.new_group("lambda")
                    account.ec2.authorize_security_group_ingress(
                        GroupId=group, IpPermissions=[p.boto() for p in baseline]
                    )
                    created = account.authorize(group, [RISKY])
                    batch.append(build_event(group_id=group, perms=[RISKY], created=created))
                events_file = WORK / "out" / f"lambda-events-{tool}.json"
                events_file.write_text(json.dumps(batch))
                out = WORK / "out" / f"lambda-{tool}.json"
                env = child_env({"AWS_ENDPOINT_URL": endpoint, **tool_environment(tool)})
                if tool not in CUSTODIAN:
                    env["PYTHONPATH"] = str(ROOT)  # as /var/task is on a Lambda's path
                python = interpreter(tool, c7n_python)
                task = str(c7n_task_dir(tool)) if tool in CUSTODIAN else str(ROOT)
                subprocess.run(
                    [str(python), str(BENCH / "lambda_child.py"), tool, task, str(events_file), str(out)],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    check=True,
                )
                results[tool].append(json.loads(out.read_text()))
    finally:
        server.stop()
    return results


# ---- the rest --------------------------------------------------------------------------------------------


def warm_runs(plan: Plan, c7n_python: Path) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {tool: [] for tool in TOOLS}
    options = ["--events", str(plan.warm_events), "--warmup", str(plan.warmup)]
    for round_number in range(plan.warm_rounds):
        for tool in ("ours", "c7n") if round_number % 2 == 0 else ("c7n", "ours"):
            results[tool].append(worker(interpreter(tool, c7n_python), "warm", tool, *options))
    extra = ["--events", str(plan.extra_events), "--warmup", str(plan.warmup)]
    for tool in ("ours-log-only", "c7n-notify"):
        results[tool].append(worker(interpreter(tool, c7n_python), "warm", tool, *extra))
    return results


def sweep_runs(plan: Plan, c7n_python: Path) -> dict[str, Any]:
    """Our sweep against c7n's pull mode over N groups, with moto's lookups indexed and on moto as it is."""
    probe = worker(Path(sys.executable), "sweep", "ours", "--sizes", "10")
    error = probe["sizes"][0]["error"]
    if error:
        return {"available": False, "reason": error}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {"indexed": {}, "plain": {}}
    for number in range(plan.sweep_rounds):
        order = ("ours", "c7n") if number % 2 == 0 else ("c7n", "ours")
        for kind, sizes, extra in (("indexed", plan.sweep_sizes, []), ("plain", plan.plain_sweep_sizes, ["--plain"])):
            passes: dict[str, list[dict[str, Any]]] = {tool: [] for tool in order}
            # Size by size, the tools one right after the other: this shared machine's speed drifts over minutes
            # (it changed twofold between two runs of make bench), and a tool's figure should not be the drift's.
            for size in sizes:
                for tool in order:
                    one = worker(interpreter(tool, c7n_python), "sweep", tool, "--sizes", str(size), *extra)
                    passes[tool] += one["sizes"]
            for tool, entries in passes.items():
                runs[kind].setdefault(tool, []).append({"tool": tool, "sizes": entries})
    return {
        "available": True,
        "rounds": plan.sweep_rounds,
        "ours": merged_rounds(runs["indexed"]["ours"]),
        "c7n": merged_rounds(runs["indexed"]["c7n"]),
        "plain": {tool: merged_rounds(rounds) for tool, rounds in runs["plain"].items()},
    }


def merged_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each size's medians over the rounds (wall, API and own time), with their lowest and highest."""
    merged = []
    for entries in zip(*(one["sizes"] for one in rounds), strict=True):
        walls = [entry["ms"] for entry in entries]
        owns = [entry["ms"] - entry["api_ms"] for entry in entries]
        merged.append(
            {
                **entries[0],
                "ms": statistics.median(walls),
                "api_ms": statistics.median(entry["api_ms"] for entry in entries),
                "own_ms": statistics.median(owns),
                # Each round's figures in round order: their range, and each paired with the peer's of that round.
                "round_ms": walls,
                "round_own_ms": owns,
                "left_open": max(entry["left_open"] for entry in entries),
                "error": next((entry["error"] for entry in entries if entry["error"]), None),
                "rounds": len(entries),
            }
        )
    return {"tool": rounds[0]["tool"], "sizes": merged}


def cold_rounds(plan: Plan, c7n_python: Path) -> dict[str, Any]:
    """The cold-start measurement in rounds: every run of every round, and each round's medians."""
    rounds = [cold_imports(plan.cold_runs, c7n_python) for _ in range(plan.cold_rounds)]
    combined: dict[str, Any] = {
        key: [value for one in rounds for value in one[key]] if isinstance(rounds[0][key], list) else rounds[0][key]
        for key in rounds[0]
    }
    combined["rounds"] = [
        {"ours_ms": statistics.median(one["ours_ms"]), "c7n_ms": statistics.median(one["c7n_ms"])} for one in rounds
    ]
    return combined


def org_runs(plan: Plan) -> dict[str, Any]:
    """`scan --org` and c7n-org over one moto organisation, in an interpreter of its own (bench/org.py)."""
    out = WORK / "out" / "org.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bench.org", "--accounts", str(plan.org_accounts)]
    command += ["--groups", str(plan.org_groups), "--json", str(out)]
    proc = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True, check=False)
    if proc.returncode:
        raise BenchError(f"bench.org failed:\n{proc.stderr[-4000:]}")
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def burst_runs(plan: Plan, full: bool) -> dict[str, Any]:
    """The burst scenario in its own interpreter (it starts its own moto server, proxy and processes)."""
    out = WORK / "out" / "burst.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    size = ["--full"] if full else ["--events", str(plan.burst_events), "--seconds", f"{plan.burst_seconds:g}"]
    command = [
        sys.executable,
        "-m",
        "bench.burst",
        *size,
        "--copies",
        str(BURST_COPIES),
        "--settings",
        plan.burst_settings,
        "--json",
        str(out),
    ]
    # Its progress lines go to the terminal: it takes minutes.
    proc = subprocess.run(command, cwd=ROOT, env=child_env(), stderr=subprocess.PIPE, text=True, check=False)
    if proc.returncode:
        raise BenchError(f"bench.burst failed:\n{proc.stderr[-4000:]}")
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def function_timeout() -> float | None:
    """The function's timeout in seconds, read from infra/components/remediator_function.py's text (importing
    it starts the CDK's Node.js runtime)."""
    text = (ROOT / "infra" / "components" / "remediator_function.py").read_text()
    found = re.search(r"^TIMEOUT\s*=\s*Duration\.(minutes|seconds)\((\d+)\)", text, re.MULTILINE)
    return float(found[2]) * (60 if found[1] == "minutes" else 1) if found else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs and events (a smoke test, noisier)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results (RESULTS.md)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep scaling part")
    parser.add_argument("--no-burst", action="store_true", help="skip the burst scenario")
    parser.add_argument(
        "--burst-full",
        action="store_true",
        help="the burst at full size, 2,000 events in 60 s (each setting takes about 10 minutes)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.time()
    use_fake_credentials()
    WORK.mkdir(parents=True, exist_ok=True)
    c7n_python = ensure_c7n_venv()
    results: dict[str, Any] = {
        "command": "make bench" + ("  (python -m bench --quick)" if args.quick else ""),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "plan": plan.__dict__,
        "machine": machine(),
        "versions": {
            "ours": versions(Path(sys.executable), ["boto3", "botocore", "pydantic", "pydantic-core", "moto"]),
            "c7n": versions(c7n_python, ["c7n", "boto3", "botocore", "moto"]),
        },
    }
    say("packages: c7n's own Lambda archive (c7n.mu) and ours")
    results["package"] = {"c7n": worker(c7n_python, "package", "c7n"), "ours": build_ours()}
    byte_compile_ours()
    say(f"cold start: {plan.cold_rounds} rounds of {plan.cold_runs} fresh interpreters per tool")
    results["cold"] = cold_rounds(plan, c7n_python)
    say(f"cold start from each deployment package: {plan.cold_runs} fresh interpreters per package")
    results["deployed"] = deployed_imports(plan.cold_runs, c7n_python)
    say(f"Lambda-like processes on a moto server: {plan.lambda_runs} per tool, {plan.lambda_events} events each")
    results["lambda"] = lambda_runs(plan.lambda_runs, plan.lambda_events, c7n_python)
    say(f"warm: {plan.warm_rounds} rounds of {plan.warm_events} events per tool and scenario")
    results["warm"] = warm_runs(plan, c7n_python)
    say("precision corpus: ours, c7n (issue's policy), c7n (fairer policy)")
    results["precision"] = {
        tool: worker(interpreter(tool, c7n_python), "precision", tool) for tool in ("ours", "c7n", "c7n-fair")
    }
    say(f"the event path's calls in order, everything on: {plan.order_events} risky events")
    results["order"] = worker(Path(sys.executable), "order", "ours", "--events", str(plan.order_events))
    if args.no_sweep:
        results["sweep"] = {"available": False, "reason": "skipped (--no-sweep)"}
        results["org"] = {"reason": "skipped (--no-sweep)"}
    else:
        say("sweep: probing for our sweep")
        results["sweep"] = sweep_runs(plan, c7n_python)
        say(f"scan --org and c7n-org: {plan.org_accounts} accounts x 2 regions x {plan.org_groups} groups")
        results["org"] = org_runs(plan)
    if args.no_burst:
        results["burst"] = {"reason": "skipped (--no-burst)"}
    else:
        say("bursts: EC2's throttling and Lambda's retries, one run per setting (bench/burst.py)")
        results["burst"] = burst_runs(plan, args.burst_full)
    results["function_timeout_s"] = function_timeout()
    results["machine"]["load_after"] = os.getloadavg()
    results["seconds"] = time.time() - started
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    args.out.write_text(render(results))
    say(f"wrote {args.out} in {results['seconds']:.0f} s (raw figures: {(WORK / 'results.json').relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
