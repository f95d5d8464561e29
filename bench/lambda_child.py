"""A Lambda-like process: `python bench/lambda_child.py TOOL TASK_DIR EVENTS_JSON OUT_JSON`.

Run in a fresh interpreter against a moto server (AWS_ENDPOINT_URL), so that nothing but the tool and boto3 is in
the process: it times the import of the handler, the first event (the cold invocation) and the events after it,
and reports the peak resident memory (VmHWM), close to what Lambda reports as "Max Memory Used".
Only the standard library is imported before the handler, so the import time is the handler's own.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any


class Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def peak_rss_kib() -> int:
    """The process's peak resident memory (VmHWM) in KiB.

    Not getrusage's ru_maxrss: a child started by fork inherits its parent's high-water mark there.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(argv: list[str]) -> int:
    tool, task_dir, events_path, out_path = argv
    # The script's own folder (bench/) is no part of a Lambda's path.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != here]
    events: list[dict[str, Any]] = json.loads(Path(events_path).read_text())
    # Lambda's runtime puts one handler on the root logger, writing to stdout, before it imports the function.
    logging.getLogger().addHandler(logging.StreamHandler(sys.stdout))
    rss_start = peak_rss_kib()
    start = time.perf_counter()
    if tool.startswith("ours"):
        handler = importlib.import_module("remediator.handler").handler
    else:
        os.chdir(task_dir)
        sys.path.insert(0, task_dir)
        handler = importlib.import_module("custodian_policy").run
    import_s = time.perf_counter() - start
    rss_import = peak_rss_kib()
    times: list[float] = []
    for event in events:
        began = time.perf_counter()
        handler(event, Context())
        times.append(time.perf_counter() - began)
    result = {
        "tool": tool,
        "import_ms": import_s * 1e3,
        "first_event_ms": times[0] * 1e3,
        "cold_total_ms": (import_s + times[0]) * 1e3,
        "later_median_ms": statistics.median(times[1:]) * 1e3 if len(times) > 1 else None,
        "rss_start_kib": rss_start,
        "rss_after_import_kib": rss_import,
        "peak_rss_kib": peak_rss_kib(),
        "events": len(events),
    }
    Path(out_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
