"""One process of the burst scenario (bench/burst.py): a host of Lambda execution environments of our handler.

Each environment is a thread with its own botocore clients (as each Lambda execution environment has its own),
used for every invocation it runs. An environment runs one invocation at a time, through the deployed entry
point `remediator.handler.handler`; a new environment is started when an invocation arrives and every
environment of the process is busy. The parent (bench/burst.py) decides how many invocations run at once (the
function's concurrency) and which process gets each; this process only runs them.

The clients of `pool` environments are made before the burst (and the process reports ready only then): on two
cores, making hundreds of clients during the burst (about 60 ms of CPU each pair) would queue every invocation
behind the others' cold starts, which in Lambda happen side by side on their own CPUs. An environment beyond
the pool makes its clients on its first invocation.

Also here: the moto server's process (`moto_main`). Only the standard library is imported at the top, since the
parent imports this module to name the processes' targets.
"""

from __future__ import annotations

import inspect
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from multiprocessing.connection import Connection


@dataclass(frozen=True)
class HostSpec:
    """What a host process needs: its index, the retry settings of its clients, its environment variables."""

    index: int
    retry_mode: str
    max_attempts: int
    pool: int = 0
    backoff_scale: float = 1.0
    environment: dict[str, str] = field(default_factory=dict)


# A task: (event key, attempt number, event). A result: (host index, event key, attempt, error or None,
# seconds the invocation took, and for an environment's first invocation "pooled" or "made" (its clients made
# before the burst, or then), else "").
Task = tuple[str, int, dict[str, Any]]
Result = tuple[int, str, int, str | None, float, str]


def scale_backoff(scale: float) -> None:
    """Make botocore's retry delays (standard and adaptive modes: `ExponentialBackoff`) `scale` times as long.

    The burst is a scale model: its length, Lambda's retry delays and the maximum event age are scaled, and so
    must botocore's backoff be, or each invocation would get 1/scale times as much of the burst to retry in as
    at full size. (The adaptive mode's client-side rate limiter keeps its own clock.)
    """
    from botocore.retries import standard  # noqa: PLC0415

    backoff: Any = standard.ExponentialBackoff
    original = backoff.delay_amount

    def delay_amount(self: Any, context: Any) -> float:
        return float(original(self, context)) * scale

    backoff.delay_amount = delay_amount


class EnvironmentHost:
    """The execution environments of one process: threads made as invocations need them, a pool of clients."""

    def __init__(self, spec: HostSpec, results: Any) -> None:
        import botocore.session  # noqa: PLC0415 - after the environment is set
        from botocore.config import Config  # noqa: PLC0415

        from bench.tools import LambdaContext  # noqa: PLC0415
        from remediator import effects  # noqa: PLC0415
        from remediator import handler as entry  # noqa: PLC0415
        from remediator.settings import current_settings  # noqa: PLC0415

        self.spec, self.results = spec, results
        self.handler, self.context = entry.handler, LambdaContext
        mode = cast('Literal["legacy", "standard", "adaptive"]', spec.retry_mode)
        # The retry settings under test, in place of remediator.effects.CLIENT_CONFIG's (its timeouts are kept).
        effects.CLIENT_CONFIG = effects.CLIENT_CONFIG.merge(
            Config(retries={"mode": mode, "max_attempts": spec.max_attempts})
        )
        if spec.backoff_scale != 1.0:
            scale_backoff(spec.backoff_scale)
        settings = current_settings()
        # remediator.effects makes its clients as in Lambda (its default_aws, uncached); only the botocore
        # session is shared, since loading the service models again for every environment costs 0.5 s of CPU.
        shared = botocore.session.get_session()
        self.session_lock = threading.Lock()  # a botocore session is not safe to make clients from in two threads
        sessions: Any = botocore.session
        sessions.get_session = lambda *_args, **_kwargs: shared
        self.make = getattr(effects.default_aws, "__wrapped__", effects.default_aws)
        self.local = threading.local()
        # The handler asks default_aws(...) for its clients (one set per process in Lambda, where a process is
        # one execution environment); here each environment thread answers with its own.
        patched: Any = entry
        patched.default_aws = self.environment_clients
        # The pool is made with the arguments the handler passes (its topic, where default_aws takes one).
        self.pool_key: tuple[Any, ...] = (settings.topic_arn,) if inspect.signature(self.make).parameters else ()
        self.pool = [self.clients(self.pool_key) for _ in range(spec.pool)]
        self.jobs: queue.Queue[Task | None] = queue.Queue()
        self.state_lock = threading.Lock()
        self.environments: list[threading.Thread] = []
        self.busy = 0

    def clients(self, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None) -> Any:
        """A new set of the remediator's clients, made by remediator.effects as in Lambda."""
        with self.session_lock:
            return self.make(*args, **(kwargs or {}))

    def environment_clients(self, *args: Any, **kwargs: Any) -> Any:
        """default_aws(...) for the handler: this environment's clients (from the pool on its first use)."""
        made = getattr(self.local, "aws", None)
        if made is None:
            with self.state_lock:
                pooled = self.pool.pop() if self.pool and args == self.pool_key and not kwargs else None
            made = pooled or self.clients(args, kwargs)
            self.local.aws = made
            self.local.first = "pooled" if pooled else "made"
        return made

    def environment(self) -> None:
        """One execution environment: its invocations, one at a time."""
        while True:
            job = self.jobs.get()
            if job is None:
                return
            key, attempt, event = job
            started = time.monotonic()
            error: str | None = None
            try:
                self.handler(event, self.context())
            except Exception as exc:  # noqa: BLE001 - a function error, which Lambda retries
                error = f"{type(exc).__name__}: {exc}"[:300]
            took = time.monotonic() - started
            first, self.local.first = getattr(self.local, "first", ""), ""
            with self.state_lock:
                self.busy -= 1  # before the result goes out: the parent may send the next invocation at once
            self.results.put((self.spec.index, key, attempt, error, took, first))

    def invoke(self, task: Task) -> None:
        """Hand the invocation to an idle environment, or to a new one when all are busy."""
        with self.state_lock:
            self.busy += 1
            if self.busy > len(self.environments):
                thread = threading.Thread(
                    target=self.environment, name=f"env-{self.spec.index}-{len(self.environments)}", daemon=True
                )
                self.environments.append(thread)
                thread.start()
        self.jobs.put(task)

    def stop(self) -> None:
        for _ in self.environments:
            self.jobs.put(None)
        for thread in self.environments:
            thread.join(timeout=5)


def host_main(spec: HostSpec, tasks: Any, results: Any) -> None:
    """Run invocations from `tasks` until None arrives; put one Result on `results` for each."""
    for name in [n for n in os.environ if n.startswith(("REMEDIATOR_", "AWS_ENDPOINT_URL"))]:
        del os.environ[name]
    os.environ.update(spec.environment)
    # The handler's JSON log lines are written and formatted (as in Lambda) but go nowhere.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    parent = os.getppid()
    host = EnvironmentHost(spec, results)
    results.put(("ready", spec.index))
    while True:
        try:
            task = tasks.get(timeout=1)
        except queue.Empty:
            if os.getppid() != parent:  # the parent is gone (killed): nobody will send None
                return
            continue
        if task is None:
            break
        host.invoke(task)
    host.stop()


def moto_main(connection: Connection) -> None:
    """A moto server on 127.0.0.1 (port 0: a free one), in a process of its own; its port is sent on
    `connection`, and it stops when anything arrives there."""
    import logging  # noqa: PLC0415

    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    connection.send(server.get_host_and_port()[1])
    connection.recv()
    server.stop()
