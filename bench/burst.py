"""Bursts: hundreds of risky rules opened in seconds, against EC2's throttling and Lambda's asynchronous retries.

`python -m bench.burst --events 500 --seconds 15 --copies 8` (the full scenario, 2,000 events in 60 s: `--full`).

- A moto server (`ThreadedMotoServer`, 127.0.0.1, port 0, in a process of its own) holds the account. Before
  the burst, one group per event is made on it with tcp/22 open to 0.0.0.0/0, through its own endpoint (not
  throttled), and each event is built from the real call's response by remediator.cli.cloudtrail
  (bench.aws.build_event).
- Our handler reaches EC2 and SNS only through bench.throttle's proxy, which throttles EC2 as AWS documents it
  (token buckets per action; see bench/throttle.py for the page and the figures) and answers HTTP 503
  `RequestLimitExceeded` when a bucket is empty, as EC2 does.
- The events are delivered evenly over the burst to a simulated Lambda asynchronous invocation queue
  (`AsyncInvocations`): at most `concurrency` invocations run at once (the reserved concurrency, or without it
  the account's concurrency); an event that finds no free concurrency waits in the queue (Lambda retries
  throttled asynchronous invocations from its internal queue); an invocation that raises is retried twice, after
  Lambda's documented 1 and 2 minutes scaled by the burst's scale factor, within the maximum event age (scaled
  too); an event whose last attempt fails, or that grows older than the maximum event age, goes to the
  dead-letter queue. Lambda's documentation:
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
- The invocations run in `--copies` processes (bench/burst_host.py), each hosting as many execution
  environments (threads, each with its own botocore clients pointed at the proxy by AWS_ENDPOINT_URL, fake
  credentials) as the concurrency needs; their clients are made before the burst (see bench/burst_host.py), so
  cold starts cost nothing here (in Lambda a few hundred ms each, side by side).

The scale factor is the burst's seconds over 60 (500 events in 15 s: 0.25, the same rate as 2,000 in 60 s). The
run is a scale model: the factor scales Lambda's retry delays, the maximum event age and botocore's retry
delays (`--real-sdk-backoff` leaves those unscaled), while the arrival rate and EC2's buckets stay as they are,
so the drain takes about the factor times as long as at full size; only the buckets' capacity (50 calls at once)
counts for more in a smaller burst. Figures: rules still open at the end (every group read on moto), events in the
dead-letter queue, time from delivery to the revoke that closed the rule (the proxy's clock), 503s by action,
invocations. Results as JSON to --json (bench/.work/burst.json), which bench/report.py turns into RESULTS.md's
"Bursts" section.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import multiprocessing
import os
import platform
import queue
import re
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.burst_host import HostSpec, Result, host_main, moto_main
from bench.throttle import BUCKET_CLASSES, THROTTLING_PAGE, THROTTLING_SECTION, ThrottlingProxy

LAMBDA_ASYNC_PAGE = "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html"
FULL_EVENTS, FULL_SECONDS = 2000, 60.0
# Lambda: "attempts to run it two more times, with a one-minute wait between the first two attempts, and two
# minutes between the second and third attempts" (LAMBDA_ASYNC_PAGE); the function's RETRY_ATTEMPTS is 2.
RETRY_ATTEMPTS = 2
RETRY_DELAYS_SECONDS = (60.0, 120.0)
# Lambda's default concurrency quota of an account and Region: the ceiling of a function without reserved
# concurrency (it shares it with the account's other functions; the burst here has it alone).
ACCOUNT_CONCURRENCY = 1000
SIX_HOURS = 6 * 3600  # Lambda's default, and largest, maximum event age; its smallest is 60 s
RISKY_PORT, WORLD = 22, "0.0.0.0/0"
DEFAULT_JSON = Path(__file__).resolve().parent / ".work" / "burst.json"


def say(message: str) -> None:
    print(f"[burst {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---- the settings compared -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One configuration of the function: its clients' retries, its reserved concurrency, its maximum event age."""

    name: str
    retry_mode: str
    max_attempts: int
    reserved: int | None  # None: no reserved concurrency (the account's)
    max_event_age_s: float  # real seconds (scaled in the run)
    chosen: bool = False

    def concurrency(self, account: int = ACCOUNT_CONCURRENCY) -> int:
        return self.reserved if self.reserved is not None else account


TODAY = Setting("today", "standard", 5, None, SIX_HOURS)
SETTINGS = (
    TODAY,
    Setting("adaptive-10", "adaptive", 10, None, SIX_HOURS),
    # The deployed setting: reserved concurrency alone met the goal; botocore's retries stay as they are tested.
    Setting("reserved-10", "standard", 5, 10, SIX_HOURS, chosen=True),
    Setting("adaptive-10+reserved-10", "adaptive", 10, 10, SIX_HOURS),
    Setting("adaptive-10+reserved-10+age-60s", "adaptive", 10, 10, 60),
)
SUITES = {
    "all": tuple(s.name for s in SETTINGS),
    "quick": ("today", "adaptive-10+reserved-10"),
}


def settings_named(spec: str) -> list[Setting]:
    """A suite's settings ("all", "quick") or a comma-separated list of names."""
    names = SUITES.get(spec) or tuple(n.strip() for n in spec.split(",") if n.strip())
    by_name = {s.name: s for s in SETTINGS}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown settings {unknown}; known: {', '.join(by_name)} (or {', '.join(SUITES)})")
    return [by_name[n] for n in names]


# ---- Lambda's asynchronous invocation queue -----------------------------------------------------------------


@dataclass
class EventState:
    """One event in the queue: when it was delivered, its attempts so far, and how it ended."""

    delivered_at: float
    attempts: int = 0
    outcome: str | None = None  # "succeeded", or "dead-letter"
    reason: str | None = None  # why it was dead-lettered
    ended_at: float | None = None


EXHAUSTED = "retries exhausted"
EXPIRED = "maximum event age"


class AsyncInvocations:
    """Lambda's handling of asynchronous events, on times given by the caller (no clock of its own).

    `deliver` queues an event; `take` hands out the events due (oldest first) for the free concurrency, sending
    those older than the maximum event age to the dead-letter queue instead; `finished` records an invocation's
    end: success, or a function error retried after the next delay while attempts remain and the retry falls
    within the maximum event age, else the dead-letter queue. Events that find no free concurrency simply stay
    queued (throttled asynchronous invocations are retried by Lambda, not failed).
    """

    def __init__(
        self,
        *,
        max_event_age: float,
        retry_attempts: int = RETRY_ATTEMPTS,
        retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS,
    ) -> None:
        if len(retry_delays) < retry_attempts:
            raise ValueError("one delay per retry is needed")
        self.max_event_age = max_event_age
        self.retry_attempts = retry_attempts
        self.retry_delays = tuple(retry_delays)
        self.events: dict[str, EventState] = {}
        self.in_flight: set[str] = set()
        self._due: list[tuple[float, int, str]] = []
        self._sequence = 0

    def _queue(self, key: str, at: float) -> None:
        self._sequence += 1
        heapq.heappush(self._due, (at, self._sequence, key))

    def _dead(self, key: str, reason: str, now: float) -> None:
        state = self.events[key]
        state.outcome, state.reason, state.ended_at = "dead-letter", reason, now

    def deliver(self, key: str, now: float) -> None:
        self.events[key] = EventState(delivered_at=now)
        self._queue(key, now)

    def take(self, now: float, free: int) -> list[tuple[str, int]]:
        """Up to `free` events due by `now` to invoke, each with its attempt number (1 for the first)."""
        taken: list[tuple[str, int]] = []
        while self._due and self._due[0][0] <= now and len(taken) < free:
            _, _, key = heapq.heappop(self._due)
            state = self.events[key]
            if now - state.delivered_at > self.max_event_age:
                self._dead(key, EXPIRED, now)
                continue
            state.attempts += 1
            self.in_flight.add(key)
            taken.append((key, state.attempts))
        return taken

    def finished(self, key: str, ok: bool, now: float) -> None:
        """An invocation of the event ended: `ok`, or with a function error."""
        self.in_flight.discard(key)
        state = self.events[key]
        if ok:
            state.outcome, state.ended_at = "succeeded", now
            return
        if state.attempts > self.retry_attempts:
            self._dead(key, EXHAUSTED, now)
            return
        retry_at = now + self.retry_delays[state.attempts - 1]
        if retry_at - state.delivered_at > self.max_event_age:
            self._dead(key, EXPIRED, now)
            return
        self._queue(key, retry_at)

    def next_due(self) -> float | None:
        return self._due[0][0] if self._due else None

    def settled(self) -> bool:
        """Every event delivered has succeeded or been dead-lettered."""
        return not self._due and not self.in_flight

    def dead_letters(self) -> Counter[str]:
        return Counter(s.reason or "" for s in self.events.values() if s.outcome == "dead-letter")

    def pending(self) -> int:
        return sum(1 for s in self.events.values() if s.outcome is None)


class Router:
    """Which host process gets an invocation: one with an idle execution environment, else the one with the
    fewest environments (which then makes one: a cold start). Mirrors what bench/burst_host.py does."""

    def __init__(self, hosts: int) -> None:
        self.in_flight = [0] * hosts
        self.environments = [0] * hosts

    def route(self) -> int:
        idle = [h for h in range(len(self.in_flight)) if self.in_flight[h] < self.environments[h]]
        if idle:
            host = idle[0]
        else:
            host = min(range(len(self.in_flight)), key=lambda h: self.environments[h])
            self.environments[host] += 1
        self.in_flight[host] += 1
        return host

    def done(self, host: int) -> None:
        self.in_flight[host] -= 1


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# ---- one run ---------------------------------------------------------------------------------------------


@dataclass
class Burst:
    """The scenario's size and where it runs."""

    events: int
    seconds: float
    copies: int
    account_concurrency: int = ACCOUNT_CONCURRENCY
    timeout_s: float = 600.0
    scale_sdk_backoff: bool = True
    direct_port: int = 0
    proxy: ThrottlingProxy | None = None
    clock: Callable[[], float] = field(default=time.monotonic)

    @property
    def scale(self) -> float:
        return self.seconds / FULL_SECONDS

    @property
    def backoff_scale(self) -> float:
        return self.scale if self.scale_sdk_backoff else 1.0


def reset_moto(port: int) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def direct_clients(port: int) -> tuple[Any, Any]:
    import boto3  # noqa: PLC0415

    from bench.aws import REGION  # noqa: PLC0415

    endpoint = f"http://127.0.0.1:{port}"
    return (
        boto3.client("ec2", region_name=REGION, endpoint_url=endpoint),
        boto3.client("sns", region_name=REGION, endpoint_url=endpoint),
    )


def open_groups(port: int, count: int) -> dict[str, dict[str, Any]]:
    """`count` groups on moto, each with tcp/22 opened to the world by a real call, and the event of each call."""
    from bench.aws import TOPIC_NAME, Account, Perm, build_event  # noqa: PLC0415

    ec2, sns = direct_clients(port)
    sns.create_topic(Name=TOPIC_NAME)
    account = Account(ec2=ec2)
    risky = Perm("tcp", RISKY_PORT, RISKY_PORT, cidrs=(WORLD,))
    events: dict[str, dict[str, Any]] = {}
    for _ in range(count):
        group = account.new_group("burst")
        # One permission, so moto's response lists every rule the call made (it lists only the last one's).
        created = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[risky.boto()])
        events[group] = build_event(group_id=group, perms=[risky], created=created["SecurityGroupRules"])
    return events


def still_open(port: int, groups: Iterable[str]) -> list[str]:
    """The groups that still let tcp/22 in from 0.0.0.0/0, read on moto directly."""
    ec2, _ = direct_clients(port)
    wanted = set(groups)
    found: list[str] = []
    for page in ec2.get_paginator("describe_security_groups").paginate():
        for group in page["SecurityGroups"]:
            if group["GroupId"] not in wanted:
                continue
            for permission in group.get("IpPermissions", []):
                ports = permission.get("IpProtocol") == "-1" or (
                    permission.get("FromPort", 0) <= RISKY_PORT <= permission.get("ToPort", -1)
                )
                if ports and any(r.get("CidrIp") == WORLD for r in permission.get("IpRanges", [])):
                    found.append(group["GroupId"])
                    break
    return found


def host_environment(proxy_port: int) -> dict[str, str]:
    from bench.aws import REGION  # noqa: PLC0415
    from bench.tools import tool_environment  # noqa: PLC0415

    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy_port}",
        **tool_environment("ours"),
    }


@dataclass
class Tally:
    """What the parent counts while it drives a burst."""

    invocations: int = 0
    peak: int = 0
    cut: bool = False
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: dict[str, str] = field(default_factory=dict)
    environments: Counter[str] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    def note(self, result: Result) -> None:
        _, _, _, error, took, first = result
        self.durations.append(took)
        if first:
            self.environments[first] += 1
        if error is not None:
            kind = error.split(":", 1)[0]
            self.errors[kind] += 1
            self.error_samples.setdefault(kind, error)


@dataclass
class Hosts:
    """The processes that host the execution environments, their task queues and the one results queue."""

    processes: list[Any]
    tasks: list[Any]
    results: Any

    @classmethod
    def start(cls, setting: Setting, burst: Burst, pool: int, environment: dict[str, str]) -> Hosts:
        context = multiprocessing.get_context("spawn")
        results: Any = context.Queue()
        tasks: list[Any] = [context.Queue() for _ in range(burst.copies)]
        specs = [
            HostSpec(i, setting.retry_mode, setting.max_attempts, pool, burst.backoff_scale, environment)
            for i in range(burst.copies)
        ]
        processes = [
            context.Process(target=host_main, args=(spec, tasks[spec.index], results), daemon=True) for spec in specs
        ]
        for process in processes:
            process.start()
        for _ in processes:
            results.get(timeout=600)  # ("ready", index), once its pool of clients is made
        return cls(processes=processes, tasks=tasks, results=results)

    def stop(self) -> None:
        for tasks in self.tasks:
            tasks.put(None)
        for process in self.processes:
            process.join(timeout=10)  # nothing is in flight after a settled burst; after a cut, no waiting
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)


def drive(
    burst: Burst, events: dict[str, dict[str, Any]], lambda_queue: AsyncInvocations, concurrency: int, hosts: Hosts
) -> Tally:
    """Deliver the events evenly over the burst, invoke them as concurrency frees up, until all are settled."""
    router = Router(len(hosts.tasks))
    keys = list(events)
    interval = burst.seconds / max(1, len(keys))
    clock = burst.clock
    tally = Tally(started=clock())
    delivered = 0
    while True:
        now = clock()
        while delivered < len(keys) and tally.started + delivered * interval <= now:
            lambda_queue.deliver(keys[delivered], now)
            delivered += 1
        for key, attempt in lambda_queue.take(now, concurrency - len(lambda_queue.in_flight)):
            hosts.tasks[router.route()].put((key, attempt, events[key]))
            tally.invocations += 1
        tally.peak = max(tally.peak, len(lambda_queue.in_flight))
        if delivered == len(keys) and lambda_queue.settled():
            break
        if now - tally.started > burst.timeout_s:
            tally.cut = True
            break
        wake = [tally.started + delivered * interval] if delivered < len(keys) else []
        due = lambda_queue.next_due()
        if due is not None and len(lambda_queue.in_flight) < concurrency:
            wake.append(due)
        try:
            result: Result = hosts.results.get(timeout=min([0.05, *(max(0.001, w - now) for w in wake)]))
        except queue.Empty:
            continue
        while True:
            router.done(result[0])
            lambda_queue.finished(result[1], result[3] is None, clock())
            tally.note(result)
            try:
                result = hosts.results.get_nowait()
            except queue.Empty:
                break
    tally.ended = clock()
    return tally


def run_setting(burst: Burst, setting: Setting, proxy_port: int) -> dict[str, Any]:
    """One burst on a fresh account with the setting; its figures."""
    assert burst.proxy is not None
    reset_moto(burst.direct_port)
    say(f"{setting.name}: opening {burst.events} groups on moto (set-up, not throttled)")
    events = open_groups(burst.direct_port, burst.events)
    concurrency = setting.concurrency(burst.account_concurrency)
    pool = math.ceil(min(concurrency, burst.events) / burst.copies)
    hosts = Hosts.start(setting, burst, pool, host_environment(proxy_port))
    lambda_queue = AsyncInvocations(
        max_event_age=setting.max_event_age_s * burst.scale,
        retry_attempts=RETRY_ATTEMPTS,
        retry_delays=[d * burst.scale for d in RETRY_DELAYS_SECONDS],
    )
    burst.proxy.reset()
    say(
        f"{setting.name}: burst of {burst.events} events in {burst.seconds:g} s to {burst.copies} processes "
        f"(concurrency {concurrency}, botocore {setting.retry_mode}/{setting.max_attempts})"
    )
    try:
        tally = drive(burst, events, lambda_queue, concurrency, hosts)
    finally:
        hosts.stop()
    figures = figures_of(
        burst,
        setting,
        concurrency=concurrency,
        lambda_queue=lambda_queue,
        tally=tally,
        left_open=still_open(burst.direct_port, events),
    )
    say(summary_line(figures))
    return figures


def figures_of(
    burst: Burst,
    setting: Setting,
    *,
    concurrency: int,
    lambda_queue: AsyncInvocations,
    tally: Tally,
    left_open: Sequence[str],
) -> dict[str, Any]:
    assert burst.proxy is not None
    stats = burst.proxy.stats
    latencies = [
        stats.revoked_at[key] - state.delivered_at
        for key, state in lambda_queue.events.items()
        if key in stats.revoked_at and key not in left_open
    ]
    dead = lambda_queue.dead_letters()
    attempts = Counter(state.attempts for state in lambda_queue.events.values())
    events = len(lambda_queue.events)
    return {
        "setting": asdict(setting),
        "concurrency": concurrency,
        "max_event_age_scaled_s": setting.max_event_age_s * burst.scale,
        "retry_delays_scaled_s": [d * burst.scale for d in RETRY_DELAYS_SECONDS],
        "events": events,
        "closed": events - len(left_open),
        "left_open": len(left_open),
        "dead_letters": sum(dead.values()),
        "dead_letter_reasons": dict(dead),
        "unfinished": lambda_queue.pending(),
        "cut": tally.cut,
        "goal_met": not left_open and not dead and not tally.cut,
        "latency_s": {
            "p50": percentile(latencies, 0.50),
            "p99": percentile(latencies, 0.99),
            "max": max(latencies, default=math.nan),
        },
        "drain_s": max(stats.revoked_at.values(), default=math.nan) - tally.started,
        "wall_s": tally.ended - tally.started,
        "throttled": dict(stats.throttled),
        "forwarded": dict(stats.forwarded),
        "categories": dict(stats.categories),
        "proxy_hung_up": stats.hung_up,
        "invocations": tally.invocations,
        "function_errors": sum(tally.errors.values()),
        "errors": dict(tally.errors),
        "error_samples": dict(tally.error_samples),
        "attempts_per_event": {str(k): v for k, v in sorted(attempts.items())},
        "peak_concurrency": tally.peak,
        "environments": sum(tally.environments.values()),
        "environments_made_in_burst": tally.environments["made"],
        "invocation_s": {"p50": percentile(tally.durations, 0.5), "p99": percentile(tally.durations, 0.99)},
    }


def summary_line(run: dict[str, Any]) -> str:
    throttled = sum(run["throttled"].values())
    return (
        f"{run['setting']['name']}: closed {run['closed']}/{run['events']}, dead letters {run['dead_letters']} "
        f"{run['dead_letter_reasons'] or ''}, delivery->revoke p50 {run['latency_s']['p50']:.1f} s "
        f"p99 {run['latency_s']['p99']:.1f} s, 503s {throttled} {run['throttled']}, invocations "
        f"{run['invocations']} ({run['function_errors']} errors), peak concurrency {run['peak_concurrency']}"
        + (" [cut at the timeout]" if run["cut"] else "")
        + "".join(f"\n    e.g. {sample}" for sample in run["error_samples"].values())
    )


def machine() -> dict[str, Any]:
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"platform": platform.platform(), "cpu": cpu or platform.processor(), "cores": os.cpu_count()}


def deployed() -> dict[str, Any]:
    """What the deployment uses now: remediator/effects.py's retries and the function's constants (read from
    infra/components/remediator_function.py's text, as importing it starts the CDK's Node.js runtime)."""
    from remediator.effects import CLIENT_CONFIG  # noqa: PLC0415

    text = (Path(__file__).resolve().parent.parent / "infra" / "components" / "remediator_function.py").read_text()
    reserved = re.search(r"^RESERVED_CONCURRENCY\s*=\s*(\d+|None)", text, re.MULTILINE)
    age = re.search(r"^MAX_EVENT_AGE\s*=\s*Duration\.(hours|minutes|seconds)\((\d+)\)", text, re.MULTILINE)
    unit = {"hours": 3600, "minutes": 60, "seconds": 1}
    config: Any = CLIENT_CONFIG  # botocore's stubs do not declare the options as attributes
    retries = dict(config.retries or {})
    return {
        "retry_mode": retries.get("mode"),
        "max_attempts": retries.get("max_attempts", retries.get("total_max_attempts")),
        "reserved": (int(reserved.group(1)) if reserved.group(1) != "None" else None) if reserved else None,
        "max_event_age_s": int(age.group(2)) * unit[age.group(1)] if age else None,
    }


def run(
    *,
    events: int,
    seconds: float,
    copies: int,
    settings: Sequence[Setting],
    timeout_s: float,
    scale_sdk_backoff: bool,
    command: str,
) -> dict[str, Any]:
    """Every setting's burst, one after the other, on one moto server behind one proxy."""
    from bench.aws import use_fake_credentials  # noqa: PLC0415

    use_fake_credentials()
    started = time.time()
    load_before = os.getloadavg()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=moto_main, args=(theirs,), daemon=True)
    server.start()
    direct_port: int = ours.recv()
    proxy = ThrottlingProxy(direct_port)
    proxy_port = proxy.start()
    burst = Burst(
        events=events,
        seconds=seconds,
        copies=copies,
        timeout_s=timeout_s,
        scale_sdk_backoff=scale_sdk_backoff,
        direct_port=direct_port,
    )
    burst.proxy = proxy
    try:
        runs = [run_setting(burst, setting, proxy_port) for setting in settings]
    finally:
        proxy.stop()
        ours.send("stop")
        server.join(timeout=30)
        if server.is_alive():
            server.terminate()
    return {
        "command": command,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {**machine(), "load_before": load_before, "load_after": os.getloadavg()},
        "events": events,
        "seconds": seconds,
        "copies": copies,
        "scale": burst.scale,
        "sdk_backoff_scale": burst.backoff_scale,
        "full": {"events": FULL_EVENTS, "seconds": FULL_SECONDS},
        "account_concurrency": burst.account_concurrency,
        "retry_attempts": RETRY_ATTEMPTS,
        "retry_delays_s": list(RETRY_DELAYS_SECONDS),
        "throttling": {
            "page": THROTTLING_PAGE,
            "section": THROTTLING_SECTION,
            "classes": [asdict(c) for c in BUCKET_CLASSES],
        },
        "lambda_page": LAMBDA_ASYNC_PAGE,
        "deployed": deployed(),
        "runs": runs,
        "total_s": time.time() - started,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500, help="risky events in the burst (default 500)")
    parser.add_argument("--seconds", type=float, default=15.0, help="over how many seconds (default 15)")
    parser.add_argument("--full", action="store_true", help=f"the full size: {FULL_EVENTS} events in 60 s")
    parser.add_argument("--copies", type=int, default=8, help="processes hosting the handler (default 8)")
    parser.add_argument(
        "--settings",
        default="all",
        help=f"a suite ({', '.join(SUITES)}) or names, comma-separated: {', '.join(s.name for s in SETTINGS)}",
    )
    parser.add_argument(
        "--real-sdk-backoff",
        action="store_true",
        help="leave botocore's retry delays unscaled (by default they are scaled like Lambda's)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="longest a run may take, in seconds")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the figures")
    args = parser.parse_args(argv)
    if args.full:
        args.events, args.seconds = FULL_EVENTS, FULL_SECONDS
    command = "python -m bench.burst " + " ".join(sys.argv[1:] if argv is None else argv)
    results = run(
        events=args.events,
        seconds=args.seconds,
        copies=args.copies,
        settings=settings_named(args.settings),
        timeout_s=args.timeout,
        scale_sdk_backoff=not args.real_sdk_backoff,
        command=command.strip(),
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    say(f"wrote {args.json} in {results['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
