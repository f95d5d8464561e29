"""RESULTS.md from the figures of one run (bench/.work/results.json): nothing here is typed in."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench.aws import Rule
from bench.corpus import GENERATED, is_risky

Row = Sequence[str]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ms(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else math.nan


def times(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def mb(size: float) -> str:
    return f"{size / 1e6:.2f} MB"


def table(header: Row, rows: Iterable[Row]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows)
    return [*lines, ""]


def yes(met: bool) -> str:
    return "yes" if met else "**no**"


# ---- figures ---------------------------------------------------------------------------------------------


def warm_samples(results: Mapping[str, Any], tool: str, scenario: str, key: str) -> list[float]:
    return [v / 1e6 for r in results["warm"][tool] for v in r["scenarios"][scenario][key]]


def calls_per_event(results: Mapping[str, Any], tool: str, scenario: str) -> tuple[float, str]:
    """Mean number of AWS calls per event, and the most common sequence."""
    calls = [c for r in results["warm"][tool] for c in r["scenarios"][scenario]["calls"]]
    if not calls:
        return math.nan, ""
    common, _ = Counter(tuple(c) for c in calls).most_common(1)[0]
    return sum(len(c) for c in calls) / len(calls), ", ".join(common)


def round_medians(results: Mapping[str, Any], tool: str, scenario: str) -> list[float]:
    return [median([v / 1e6 for v in r["scenarios"][scenario]["total_ns"]]) for r in results["warm"][tool]]


def ratio_spread(cold: Mapping[str, Any]) -> str:
    """The lowest and highest of the rounds' ratios of medians."""
    ratios = [r["ours_ms"] / r["c7n_ms"] for r in cold.get("rounds", ()) if r["c7n_ms"]]
    return f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "n/a"


def spread(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return f"{min(values):.1f}-{max(values):.1f} ms"


def gc_text(results: Mapping[str, Any], tool: str) -> str:
    full = [v / 1e6 for r in results["warm"][tool] for s in r["scenarios"].values() for v in s["gc_full_ns"]]
    total = sum(s["gc_total_ns"] for r in results["warm"][tool] for s in r["scenarios"].values()) / 1e6
    events = sum(len(s["total_ns"]) for r in results["warm"][tool] for s in r["scenarios"].values())
    if not full:
        return f"{tool}: no full collection in {events} timed events ({total:.0f} ms of collections in all)"
    return (
        f"{tool}: {len(full)} full (generation 2) collections in {events} timed events, median pause "
        f"{ms(median(full))} ({total:.0f} ms of collections in all)"
    )


def lambda_figure(results: Mapping[str, Any], tool: str, key: str) -> float:
    return median([run[key] for run in results["lambda"][tool]])


# Issue 17's target for the cold start (issue 6 asked for at most 0.5x): at most 0.45x, with margin.
COLD_TARGET = 0.45


def floor_rows(cold: Mapping[str, Any], c7n_cold: float) -> list[Row]:
    """The rows that say how much of the cold-start goal the chosen dependencies' import already takes, each way."""
    # Each round measures each floor: its runs are gathered by what it measures.
    runs: dict[tuple[str, bool], list[float]] = {}
    for floor in cold.get("floors", ()):
        runs.setdefault((floor["what"], floor["ours"]), []).extend(floor["ms"])
    rows: list[Row] = []
    for (what, used), values in runs.items():
        share = ratio(median(values), c7n_cold)
        rows.append(
            [
                f"Cold start floor: {what}, nothing else (what the goal leaves room for)",
                ms(median(values)),
                ms(c7n_cold),
                times(share),
                f"≤ {COLD_TARGET:g}x for the goal to be reachable" if used else "-",
                yes(share <= COLD_TARGET) if used else "-",
            ]
        )
    return rows


def deployed_rows(deployed: Mapping[str, Any] | None) -> list[Row]:
    """The cold start of each handler imported from its unpacked deployment package, and ours' without byte code."""
    if not deployed:
        return []
    ours, source_only, c7n = (median(deployed[key]) for key in ("ours_ms", "ours_source_only_ms", "c7n_ms"))
    where = "imported from the unpacked deployment package, isolated, nothing compiled that it does not ship"
    return [
        [f"Cold start {where}, median", ms(ours), ms(c7n), times(ratio(ours, c7n)), "-", "-"],
        [
            "The same, ours without the byte code its asset ships (as before it did)",
            ms(source_only),
            ms(c7n),
            times(ratio(source_only, c7n)),
            "-",
            "-",
        ],
    ]


def deployed_noise(deployed: Mapping[str, Any] | None) -> list[Row]:
    """The spread of the cold starts from the deployment packages, for the noise table."""
    if not deployed:
        return []
    ours = f"{spread(deployed['ours_ms'])} (without its byte code: {spread(deployed['ours_source_only_ms'])})"
    return [["cold start from the deployment package, min-max over runs", ours, spread(deployed["c7n_ms"])]]


def cold_medians(cold: Mapping[str, Any]) -> tuple[float, float]:
    """The cold start of each tool: the median of its rounds' medians (or of every run, without rounds)."""
    rounds = cold.get("rounds")
    if not rounds:
        return median(cold["ours_ms"]), median(cold["c7n_ms"])
    return median([r["ours_ms"] for r in rounds]), median([r["c7n_ms"] for r in rounds])


def summary(results: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The figures table, and the list of missed targets."""
    cold = results["cold"]
    rows: list[Row] = []
    missed: list[str] = []

    def add(name: str, ours: float, theirs: float, fmt: Any, target: float | None) -> None:
        r = ratio(ours, theirs)
        if target is None:
            met = "-"
        else:
            ok = not math.isnan(r) and r <= target
            met = yes(ok)
            if not ok:
                missed.append(f"{name}: ours {fmt(ours)}, c7n {fmt(theirs)}, ratio {times(r)} (target ≤ {target:g}x)")
        rows.append([name, fmt(ours), fmt(theirs), times(r), f"≤ {target:g}x" if target is not None else "-", met])

    ours_cold, c7n_cold = cold_medians(cold)
    rounds = len(cold.get("rounds", ())) or 1
    add(
        f"Cold start: import of the handler, median of {rounds} rounds' medians",
        ours_cold,
        c7n_cold,
        ms,
        COLD_TARGET,
    )
    add(
        f"Cold start less the AWS SDK's own import (ours: {cold['sdk_ours']}, c7n: {cold['sdk_c7n']}), median",
        median(cold["ours_ms"]) - median(cold["sdk_ours_ms"]),
        median(cold["c7n_ms"]) - median(cold["sdk_c7n_ms"]),
        ms,
        None,
    )
    add(
        "Cold invocation: import + first event (Lambda-like process), median",
        lambda_figure(results, "ours", "cold_total_ms"),
        lambda_figure(results, "c7n", "cold_total_ms"),
        ms,
        None,
    )
    for scenario, label in (("risky", "risky event (tcp/22 from 0.0.0.0/0 opened)"), ("benign", "benign event")):
        ours = warm_samples(results, "ours", scenario, "total_ns")
        theirs = warm_samples(results, "c7n", scenario, "total_ns")
        target = 0.5 if scenario == "risky" else None
        add(f"Warm latency, {label}, median", median(ours), median(theirs), ms, target)
        add(f"Warm latency, {label}, p95", p95(ours), p95(theirs), ms, target)
    for scenario in ("risky", "benign"):
        add(
            f"Handler's own time (AWS calls excluded), {scenario} event, median",
            median(warm_samples(results, "ours", scenario, "own_ns")),
            median(warm_samples(results, "c7n", scenario, "own_ns")),
            ms,
            None,
        )

    def count(value: float) -> str:
        return "n/a" if math.isnan(value) else f"{value:g}"

    for scenario in ("risky", "benign"):
        ours_calls, _ = calls_per_event(results, "ours", scenario)
        c7n_calls, _ = calls_per_event(results, "c7n", scenario)
        add(f"AWS API calls per {scenario} event", ours_calls, c7n_calls, count, 1.0)
    ours_calls, _ = calls_per_event(results, "ours-log-only", "risky")
    c7n_calls, _ = calls_per_event(results, "c7n", "risky")
    add("AWS API calls per risky event, neither notifies (ours log-only)", ours_calls, c7n_calls, count, 1.0)
    ours_calls, _ = calls_per_event(results, "ours", "risky")
    c7n_calls, _ = calls_per_event(results, "c7n-notify", "risky")
    add("AWS API calls per risky event, both notify over SNS (c7n + notify)", ours_calls, c7n_calls, count, 1.0)
    package = results["package"]
    add("Deployment package, zipped", package["ours"]["zip_bytes"], package["c7n"]["c7n"]["zip_bytes"], mb, None)
    add(
        "Peak memory (max RSS of the Lambda-like process), median",
        lambda_figure(results, "ours", "peak_rss_kib"),
        lambda_figure(results, "c7n", "peak_rss_kib"),
        mib,
        None,
    )
    lines = table(["Figure", "ours", "c7n", "ours / c7n", "target", "met"], rows)
    return lines, missed


# ---- precision -------------------------------------------------------------------------------------------

PRECISION_TOOLS = ("ours", "c7n", "c7n-fair")


def rule_text(rule: Rule, prefix_lists: Mapping[str, Sequence[str]]) -> str:
    text = rule.text()
    if rule.kind == "pl":
        text += f" ({', '.join(prefix_lists.get(rule.source, ()))})"
    return text


def judged(case: Mapping[str, Any]) -> tuple[set[Rule], set[Rule], set[Rule]]:
    """Risky rules, risky rules left open, legitimate rules removed."""
    pls = case["prefix_lists"]
    before = {Rule.from_json(r) for r in case["before"]}
    after = {Rule.from_json(r) for r in case["after"]}
    risky = {r for r in before if is_risky(r, pls)}
    return risky, risky & after, (before - risky) - after


def cell(rules: set[Rule], prefix_lists: Mapping[str, Sequence[str]], error: str | None) -> str:
    text = "0" if not rules else f"**{len(rules)}**: " + "; ".join(sorted(rule_text(r, prefix_lists) for r in rules))
    if error:
        text += f" (error: {error[:120]})"
    return text


def precision(results: Mapping[str, Any]) -> tuple[list[str], dict[str, tuple[int, int, int]], list[str]]:
    by_tool = {t: {c["case"]: c for c in results["precision"][t]["cases"]} for t in PRECISION_TOOLS}
    notes = {c.name: c.note for c in GENERATED}
    rows: list[Row] = []
    totals = {t: [0, 0, 0] for t in PRECISION_TOOLS}
    errors: list[str] = []
    for name, ours_case in by_tool["ours"].items():
        risky, _, _ = judged(ours_case)
        row = [f"`{name}`" + (f" - {notes[name]}" if name in notes else ""), str(len(risky))]
        for tool in PRECISION_TOOLS:
            case = by_tool[tool][name]
            tool_risky, left, removed = judged(case)
            totals[tool][0] += len(tool_risky)
            totals[tool][1] += len(left)
            totals[tool][2] += len(removed)
            row.extend([cell(left, case["prefix_lists"], case["error"]), cell(removed, case["prefix_lists"], None)])
            if case["error"]:
                errors.append(f"{tool} on `{name}`: {case['error'][:300]}")
        rows.append(row)
    rows.append(
        [
            "**total**",
            str(totals["ours"][0]),
            *(f"**{totals[t][i]}**" for t in PRECISION_TOOLS for i in (1, 2)),
        ]
    )
    header = [
        "case",
        "risky rules",
        "ours: left open",
        "ours: wrongly removed",
        "c7n: left open",
        "c7n: wrongly removed",
        "c7n fairer: left open",
        "c7n fairer: wrongly removed",
    ]
    counted = {t: (totals[t][0], totals[t][1], totals[t][2]) for t in PRECISION_TOOLS}
    return table(header, rows), counted, errors


# ---- sweep -----------------------------------------------------------------------------------------------


def sweep_ms(entry: Mapping[str, Any]) -> tuple[float, float]:
    """The sweep's wall time and its own time (outside AWS calls), in ms: the rounds' medians, if in rounds."""
    total = entry.get("ms", math.nan)
    return total, entry.get("own_ms", total - entry.get("api_ms", math.nan))


def paired_ratio(
    ours: Mapping[str, Any], theirs: Mapping[str, Any], key: str, *, of_medians: float
) -> tuple[float, float, float]:
    """The median of the rounds' own ratios (ours / theirs of the same round), with their lowest and highest.

    The tools' passes of one round run back to back, so each round's ratio cancels the host's drift between rounds,
    which a ratio of the two medians does not. Without figures per round: the ratio of the medians, no range.
    """
    mine, peers = ours.get(f"round_{key}"), theirs.get(f"round_{key}")
    if not mine or not peers or len(mine) != len(peers):
        return of_medians, of_medians, of_medians
    ratios = [ratio(a, b) for a, b in zip(mine, peers, strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


def paired_times(paired: tuple[float, float, float]) -> str:
    """A paired ratio with its range over the rounds, when they differ."""
    value, low, high = paired
    return times(value) if low == high else f"{times(value)} ({low:.2f}-{high:.2f})"


def with_range(value: float, entry: Mapping[str, Any], key: str) -> str:
    """A time, with the lowest and highest of its rounds (`round_<key>`) when there were several."""
    rounds = entry.get(f"round_{key}")
    if not rounds or len(rounds) < 2:
        return ms(value)
    return f"{ms(value)} ({min(rounds):.0f}-{max(rounds):.0f})"


def operations(entry: Mapping[str, Any]) -> str:
    by = entry.get("by_operation", {})
    return f"{entry.get('calls', 'n/a')}: " + ", ".join(f"{k.split(':')[1]} {v}" for k, v in sorted(by.items()))


def sweep_table(ours_sizes: Sequence[Mapping[str, Any]], theirs_sizes: Sequence[Mapping[str, Any]]) -> list[str]:
    """One row per size: wall and own times of each, their ratios, calls, rules left open."""
    theirs_by_size = {s["groups"]: s for s in theirs_sizes}

    def left(entry: Mapping[str, Any]) -> str:
        error = entry.get("error")
        return str(entry.get("left_open", "n/a")) + (f" (error: {str(error)[:80]})" if error else "")

    rows: list[Row] = []
    for ours in ours_sizes:
        theirs = theirs_by_size.get(ours["groups"], {})
        ours_ms, ours_own = sweep_ms(ours)
        theirs_ms, theirs_own = sweep_ms(theirs)
        rows.append(
            [
                f"{ours['groups']:,} ({ours['risky_groups']:,} with tcp/22 open)",
                with_range(ours_ms, ours, "ms"),
                with_range(theirs_ms, theirs, "ms"),
                paired_times(paired_ratio(ours, theirs, "ms", of_medians=ratio(ours_ms, theirs_ms))),
                with_range(ours_own, ours, "own_ms"),
                with_range(theirs_own, theirs, "own_ms"),
                paired_times(paired_ratio(ours, theirs, "own_ms", of_medians=ratio(ours_own, theirs_own))),
                operations(ours),
                operations(theirs),
                left(ours),
                left(theirs),
            ]
        )
    header = [
        "groups",
        "ours",
        "c7n pull",
        "ours / c7n",
        "ours: own time",
        "c7n: own time",
        "own time, ours / c7n",
        "ours: API calls",
        "c7n: API calls",
        "ours: left open",
        "c7n: left open",
    ]
    return table(header, rows)


# Calls of our sweep that c7n's pull mode has no counterpart for, which issue 17 allows: the summary's publish and
# the listing of network interfaces (which groups are attached). The outcome event (PutEvents), added after the
# goal was set and on by default, is counted apart.
ALLOWED_EXTRA_CALLS = 2
OUTCOME_EVENT = "events:PutEvents"


def sweep_goals(results: Mapping[str, Any]) -> tuple[list[Row], list[str]]:
    """Issue 17's sweep goals, per size: wall time (indexed and plain moto), own time, calls."""
    data = results["sweep"]
    rows: list[Row] = []
    missed: list[str] = []
    if not data.get("available"):
        return rows, missed

    def goal(name: str, ours: str, theirs: str, value: str, target: str, *, met: bool) -> None:
        rows.append([name, ours, theirs, value, target, yes(met)])
        if not met:
            missed.append(f"{name}: ours {ours}, c7n {theirs}, {value} (target {target})")

    runs = [("with the lookup index", data["ours"]["sizes"], data["c7n"]["sizes"])]
    if "plain" in data:
        runs.append(("on plain moto", data["plain"]["ours"]["sizes"], data["plain"]["c7n"]["sizes"]))
    for label, ours_sizes, theirs_sizes in runs:
        theirs_by_size = {s["groups"]: s for s in theirs_sizes}
        for ours in ours_sizes:
            if ours["groups"] < 1000 or ours["groups"] not in theirs_by_size:
                continue
            theirs = theirs_by_size[ours["groups"]]
            size = f"{ours['groups']:,} groups"
            (ours_ms, ours_own), (theirs_ms, theirs_own) = sweep_ms(ours), sweep_ms(theirs)
            for name, key, mine, peers in (
                (f"Sweep wall time, {size}, {label}", "ms", ours_ms, theirs_ms),
                (f"Sweep's own time, {size}, {label}", "own_ms", ours_own, theirs_own),
            ):
                of_medians = ratio(mine, peers)
                paired = paired_ratio(ours, theirs, key, of_medians=of_medians)
                value = paired_times(paired)
                if paired[0] != of_medians:
                    value += f"; of the medians {times(of_medians)}"
                goal(name, ms(mine), ms(peers), value, "≤ 1.0x", met=paired[0] <= 1.0)
            if label != runs[0][0]:
                continue
            by = ours.get("by_operation", {})
            outcome = by.get(OUTCOME_EVENT, 0)
            extra = ours["calls"] - theirs["calls"]
            goal(
                f"Sweep's AWS calls, {size}",
                str(ours["calls"]),
                str(theirs["calls"]),
                f"+{extra}" + (f" (+{extra - outcome} besides the outcome event, {OUTCOME_EVENT})" if outcome else ""),
                f"≤ +{ALLOWED_EXTRA_CALLS} (the summary's publish, the interface listing)",
                met=extra - outcome <= ALLOWED_EXTRA_CALLS,
            )
    timeout = results.get("function_timeout_s")
    biggest = max(data["ours"]["sizes"], key=lambda s: s["groups"])
    if timeout:
        share = biggest["ms"] / 1000 / timeout
        rows.append(
            [
                f"Sweep of {biggest['groups']:,} groups against the function's timeout",
                f"{biggest['ms'] / 1000:.1f} s",
                "-",
                f"{100 * share:.1f} % of {timeout:g} s",
                "< 100 %",
                yes(share < 1),
            ]
        )
    return rows, missed


def sweep(results: Mapping[str, Any]) -> list[str]:
    data = results["sweep"]
    if not data.get("available"):
        return [
            f"**Sweep not yet available** — the run probed it and got: `{str(data.get('reason', ''))[:200]}`.",
            "",
        ]
    rounds = data.get("rounds", 1)
    lines = [
        f"Medians of {rounds} rounds (alternating which tool goes first; in each, size by size, one tool's pass "
        "right after the other's, each in a fresh process), the lowest and highest of the rounds in brackets, "
        "in ms; the ratios are the medians of the rounds' own ratios (each round's ours / c7n, its two passes run "
        "back to back), their lowest and highest in brackets. "
        * (rounds > 1)
        + "With moto's group lookups given a dict index (as AWS's lookups are):",
        "",
        *sweep_table(data["ours"]["sizes"], data["c7n"]["sizes"]),
    ]
    if "plain" in data:
        lines += [
            "On moto as it is, without the index (moto scans every group for each group it looks up):",
            "",
            *sweep_table(data["plain"]["ours"]["sizes"], data["plain"]["c7n"]["sizes"]),
        ]
    return [
        *lines,
        "Both run in-process on moto over the same generated groups (tcp/443 from 0.0.0.0/0 and tcp/22 from "
        "10.0.0.0/8 in each, tcp/22 from 0.0.0.0/0 in every tenth): ours as its Lambda on the schedule event with "
        "`REMEDIATOR_SWEEP_MODE=revoke` (as deployed otherwise: notifying a topic, outcome events on), c7n as the "
        "issue's policy without `mode` (pull), `remove-permissions`. Ours revokes each group's rules to close by "
        "their content (IpPermissions), one RevokeSecurityGroupIngress per group, so it looks up no rule id. Each "
        "tool first makes one untimed pass over 10 groups. The groups are made through moto's backend (set-up, not "
        "measured). The index (`index_groups` in bench/worker.py) gives moto's group lookups a dict instead of a "
        "scan of every group on each call; what the calls return is unchanged. Moto serves every group in one "
        "DescribeSecurityGroups page whatever the page size asked, so that call counts once for both. *Own time*: "
        "the wall time less the time inside botocore's `_make_api_call` (moto's work and botocore's parsing); "
        "Python's garbage collections land in either. moto's groups (set-up) are frozen out of the collector "
        "(`gc.freeze()`) before the timed pass and back after it, for both tools: in Lambda, AWS's state is not in "
        "the function's heap, and a full collection walking 10,000 groups of moto's would be moto's cost.",
        "",
    ]


# ---- the event path's calls, in order ---------------------------------------------------------------------


def order(results: Mapping[str, Any]) -> tuple[list[str], list[Row], list[str]]:
    """The order of the event path's calls with everything on; the revoke must be the second call."""
    data = results.get("order")
    if not data or not data.get("sequences"):
        return ["Not measured in this run.", ""], [], []
    sequences = [tuple(seq) for seq in data["sequences"]]
    common, count = Counter(sequences).most_common(1)[0]
    positions = sorted(
        {
            seq.index("ec2:RevokeSecurityGroupIngress") + 1
            for seq in sequences
            if "ec2:RevokeSecurityGroupIngress" in seq
        }
    )
    second = all(len(seq) > 1 and seq[1] == "ec2:RevokeSecurityGroupIngress" for seq in sequences)
    lines = [
        f"A risky event (tcp/22 from 0.0.0.0/0 opened) with every integration on: an SNS topic, Security Hub "
        "(`REMEDIATOR_SECURITY_HUB=true`), the outcome events (`REMEDIATOR_OUTCOME_EVENTS=true`) and the state "
        "table (`REMEDIATOR_STATE_TABLE`, a moto DynamoDB table with hash key `key`), in revoke mode. The calls "
        f"of {len(sequences)} events, in the order made ({count} of {len(sequences)} events made this sequence):",
        "",
        *(f"{number}. `{call}`" for number, call in enumerate(common, start=1)),
        "",
        "The revoke is call "
        + (" or ".join(f"#{p}" for p in positions) or "(none)")
        + ": "
        + ("one describe, then the revoke; everything else after." if second else "**not** the second call.")
        + (f" Errors: {'; '.join(data['errors'][:3])}." if data.get("errors") else ""),
        "",
    ]
    row: Row = [
        "The revoke is the event path's second AWS call, everything on",
        " → ".join(call.split(":")[1] for call in common[:3]) + (" → …" if len(common) > 3 else ""),
        "-",
        f"call #{'/#'.join(str(p) for p in positions) or '-'}",
        "#2",
        yes(second),
    ]
    missed = [] if second else [f"Event path: the revoke is call #{positions} with everything on (target: #2)"]
    return lines, [row], missed


# ---- scan --org ---------------------------------------------------------------------------------------------


def org(results: Mapping[str, Any]) -> list[str]:
    data = results.get("org")
    if not data or "ours" not in data:
        reason = (data or {}).get("reason", "not run")
        return [f"Not measured in this run: {reason}.", ""]
    ours, theirs = data["ours"], data["c7n_org"]
    regions = len(data["regions"])
    size = f"{data['accounts']} accounts x {regions} regions x {data['groups_per_region']:,} groups"
    ours_cell = f"{ours['seconds']:.1f} s" if ours.get("error") is None else f"error: {ours['error'][:200]}"
    if theirs.get("seconds") is None or theirs.get("error"):
        theirs_cell = "did not run" + (f": {theirs['error'][:300]}" if theirs.get("error") else "")
        vs = "n/a"
    else:
        theirs_cell = f"{theirs['seconds']:.1f} s"
        vs = times(ratio(ours["seconds"], theirs["seconds"]))
    rows: list[Row] = [
        [
            size,
            ours_cell,
            theirs_cell,
            vs,
            f"{ours.get('groups_scanned', 'n/a'):,}" if isinstance(ours.get("groups_scanned"), int) else "n/a",
            f"{ours.get('risky_rules', 'n/a')} rules / {theirs.get('risky_groups', 'n/a')} groups",
        ]
    ]
    return [
        *table(
            [
                "organisation",
                "ours: `scan --org`",
                "c7n-org run",
                "ours / c7n-org",
                "groups read (ours)",
                "tcp/22 open found (ours / c7n-org)",
            ],
            rows,
        ),
        f"One moto server (loopback, in the bench's process) holds an AWS Organization of {data['accounts']} "
        f"accounts (this one manages it; the others made by CreateAccount), each with {data['groups_per_region']:,} "
        f"groups in each of {', '.join(data['regions'])}, one in {data['risky_every']} with tcp/22 open to the world. "
        "Both tools read it over HTTP (`AWS_ENDPOINT_URL`) from their own venvs and assume moto's "
        f"OrganizationAccountAccessRole in each account, {data['workers']} at a time (our threads; c7n-org's "
        "processes, `C7N_ORG_PARALLEL`). Ours: `python -m remediator scan --org --region ... --format json`, "
        "read-only; c7n-org: `c7n-org run` of the issue's policy in pull mode without its action (read-only too), "
        "`--cache-period 0`. The wall time includes each tool's start. Set-up (not timed) took "
        f"{data['setup_seconds']:.0f} s.",
        "",
    ]


# ---- bursts ----------------------------------------------------------------------------------------------


def seconds(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f} s"


def age_text(real: float, scaled: float) -> str:
    real_text = f"{real / 3600:g} h" if real >= 3600 else f"{real:g} s"
    return f"{real_text} ({scaled:g} s scaled)"


def burst_row(run: Mapping[str, Any], scale: float, last_attempt: int) -> Row:
    setting = run["setting"]
    p50, p99 = run["latency_s"]["p50"], run["latency_s"]["p99"]
    full_size = f" (full size ≈ {seconds(p50 / scale)} / {seconds(p99 / scale)})" if scale != 1 else ""
    throttled = run["throttled"]
    reasons = run["dead_letter_reasons"]
    dead = str(run["dead_letters"]) + (
        " (" + ", ".join(f"{v} {k}" for k, v in sorted(reasons.items())) + ")" if reasons else ""
    )
    name = f"**{setting['name']}** (chosen)" if setting.get("chosen") else setting["name"]
    return [
        name,
        f"{setting['retry_mode']}, {setting['max_attempts']} attempts",
        str(setting["reserved"]) if setting["reserved"] is not None else f"none ({run['concurrency']:,})",
        age_text(setting["max_event_age_s"], run["max_event_age_scaled_s"]),
        f"{run['closed']}/{run['events']} ({100 * run['closed'] / max(1, run['events']):.1f} %)",
        dead + (f", {run['unfinished']} unfinished (cut)" if run.get("cut") else ""),
        f"{seconds(p50)} / {seconds(p99)}{full_size}",
        f"{sum(throttled.values()):,}: "
        + (", ".join(f"{k} {v:,}" for k, v in sorted(throttled.items())) if throttled else "none"),
        f"{run['invocations']:,} ({run['function_errors']:,} errors)",
        str(run["attempts_per_event"].get(str(last_attempt), 0)),
        str(run["peak_concurrency"]),
        yes(run["goal_met"]),
    ]


def bursts(results: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The "Bursts" section, and the goals the chosen setting missed."""
    data = results.get("burst")
    if not data or not data.get("runs"):
        reason = data.get("reason", "not run") if data else "not run"
        return [f"Not measured in this run: {reason}.", ""], []
    runs = data["runs"]
    machine = data["machine"]
    throttling = data["throttling"]
    classes = {c["name"]: c for c in throttling["classes"]}
    categories: dict[str, str] = {}
    for run in runs:
        categories.update(run["categories"])
    delays = ", ".join(f"{d * data['scale']:g} s" for d in data["retry_delays_s"])
    arrivals, full_arrivals = data["events"] / data["seconds"], data["full"]["events"] / data["full"]["seconds"]
    rate_text = (
        "the same rate"
        if math.isclose(arrivals, full_arrivals, rel_tol=0.05)
        else f"{arrivals:.0f} events a second, where the full burst has {full_arrivals:.0f}"
    )
    # Full-size equivalents of the times only where every delay was scaled (a scale model).
    full_size_factor = data["scale"] if data.get("sdk_backoff_scale", 1) != 1 else 1
    revoke = classes[categories.get("RevokeSecurityGroupIngress", "resource-intensive")]
    burst_size, rate = revoke["capacity"], revoke["refill_per_second"]
    floor = max(0.0, (data["events"] - burst_size) / rate)
    full_floor = (data["full"]["events"] - burst_size) / rate
    missed: list[str] = []
    for run in runs:
        if run["setting"].get("chosen") and not run["goal_met"]:
            missed.append(
                f"Bursts: the chosen setting {run['setting']['name']} left {run['left_open']} of {run['events']} "
                f"rules open and dead-lettered {run['dead_letters']} events (goal: none)"
            )
    lines = [
        f"Produced by `{data['command']}` ({data['total_s']:.0f} s) on {machine['cpu']}, {machine['cores']} cores "
        f"(load average {machine['load_before'][0]:.2f} before, {machine['load_after'][0]:.2f} after). "
        f"**{data['events']:,} risky events in {data['seconds']:g} s**: the issue's burst of "
        f"{data['full']['events']:,} in {data['full']['seconds']:g} s scaled by **{data['scale']:g}** ({rate_text}); "
        "`python -m bench.burst --full` runs it at full size. Each event is a real "
        "`AuthorizeSecurityGroupIngress` opening tcp/22 to 0.0.0.0/0 on a group of its own (made on a moto server "
        "before the burst, not throttled) and the event built from it. The events are delivered evenly over the "
        "burst to a simulated Lambda asynchronous queue, which runs our handler (`remediator.handler.handler`) in "
        f"{data['copies']} processes, one thread per execution environment with its own botocore clients "
        "(`AWS_ENDPOINT_URL`: the throttling proxy), as many at once as the function's concurrency allows: its "
        "reserved concurrency, or without one the account's "
        f"{data['account_concurrency']:,}. Ours runs as deployed (`REMEDIATOR_DEFAULT_MODE=revoke`, notifying "
        "an SNS topic).",
        "",
        f"**EC2's throttling**, from [Request throttling for the Amazon EC2 API]({throttling['page']}), section "
        f'"{throttling["section"]}": a token bucket per API action (per account and Region), each request '
        "takes a token, an empty bucket answers HTTP 503 `RequestLimitExceeded` (`bench/throttle.py`, a proxy on "
        "loopback in front of moto; SNS passes untouched). The actions the handler called, and their buckets:",
        "",
        *table(
            ["action", "category (the page's)", "bucket maximum capacity", "refill rate"],
            [
                [
                    f"`{action}`",
                    category,
                    str(classes[category]["capacity"]),
                    f"{classes[category]['refill_per_second']:g} a second",
                ]
                for action, category in sorted(categories.items())
            ],
        ),
        "`DescribeSecurityGroups` by `GroupIds` sets neither a filter nor pagination, so it counts against the "
        "smaller *unfiltered and unpaginated* bucket. `RevokeSecurityGroupIngress` (and "
        "`AuthorizeSecurityGroupIngress`) are *resource-intensive* actions, throttled apart from other mutating "
        f"calls: {burst_size} revokes at once, then {rate:g} a second, so the last of {data['events']:,} events "
        f"cannot be revoked sooner than {floor:.0f} s after the burst starts (at full size, "
        f"{data['full']['events']:,} events: {full_floor:.0f} s), whatever the settings.",
        "",
        f"**Lambda's asynchronous invocation** ([its documentation]({data['lambda_page']})): an invocation that "
        f"raises is retried {data['retry_attempts']} more times, after 1 and then 2 minutes, here scaled to "
        f"{delays}, as long as the event is younger than the maximum event age (scaled too); then, and for an "
        "event that grows older than that while it waits, the dead-letter queue. An event that finds no free "
        "concurrency waits in the queue (Lambda retries throttled asynchronous invocations; they are not function "
        "errors). "
        + (
            f"botocore's retry delays are scaled by {data['sdk_backoff_scale']:g} too, so that the whole is a scale "
            "model of the full burst: the arrival rate and EC2's buckets are real, every delay is scaled, and the "
            "drain takes about the scale factor times as long as at full size (the full-size figures below are "
            "the measured ones divided by it; the buckets' capacity of 50 weighs more in a smaller burst, so they "
            "are a little optimistic). The adaptive mode's client-side rate limiter keeps real time."
            if data.get("sdk_backoff_scale", 1) != 1
            else "botocore's retry delays are real time, unscaled (`--real-sdk-backoff`): each invocation has "
            "1/scale times as much of the burst to retry in as at full size, which flatters every setting."
        ),
        "",
        *table(
            [
                "setting",
                "botocore retries",
                "reserved concurrency",
                "maximum event age",
                "holes closed",
                "dead-letter queue",
                "delivery to revoke p50 / p99",
                "503s by action",
                "invocations",
                "events that needed the last attempt",
                "peak concurrency",
                "goal met",
            ],
            [burst_row(run, full_size_factor, data["retry_attempts"] + 1) for run in runs],
        ),
        "Goal: every hole closed (each group read on moto at the end) and no event in the dead-letter queue. "
        "*Delivery to revoke*: from the event's delivery to the queue to the proxy's forwarding of the "
        "`RevokeSecurityGroupIngress` that closed its rule. *Invocations*: every attempt Lambda made, first ones "
        "and retries; *the last attempt*: events whose third invocation ran (one more failure each and they would "
        "have been dead-lettered): the margin a setting has. The execution environments' clients are made before "
        "the burst (on 2 cores, hundreds of cold starts would queue behind one another; in Lambda they run side "
        "by side): the figures leave out cold starts.",
        "",
    ]
    overloaded = [f"{run['setting']['name']} ({run['proxy_hung_up']})" for run in runs if run.get("proxy_hung_up")]
    if overloaded:
        lines += [
            "**The simulation itself was overloaded** in "
            + ", ".join(overloaded)
            + ": that many requests waited past botocore's read timeout in the proxy or moto, on this machine, "
            "not in EC2; those runs' figures are too pessimistic.",
            "",
        ]
    chosen = next((run["setting"] for run in runs if run["setting"].get("chosen")), None)
    now = data.get("deployed")
    if chosen and now:
        wanted = {k: chosen[k] for k in ("retry_mode", "max_attempts", "reserved", "max_event_age_s")}
        differ = [k for k, v in wanted.items() if now.get(k) != v]
        age = now.get("max_event_age_s")
        lines += [
            f"**Chosen: {chosen['name']}** (botocore {chosen['retry_mode']} retries, {chosen['max_attempts']} "
            f"attempts; reserved concurrency {chosen['reserved']}; maximum event age "
            f"{age_text(chosen['max_event_age_s'], chosen['max_event_age_s'] * data['scale'])}). The deployment at "
            f"this run: `remediator/effects.py` `CLIENT_CONFIG` {now.get('retry_mode')}, {now.get('max_attempts')} "
            f"attempts; `infra/components/remediator_function.py` `RESERVED_CONCURRENCY` {now.get('reserved')}, "
            f"`MAX_EVENT_AGE` {f'{age / 3600:g} h' if age else 'n/a'}: "
            + ("the same." if not differ else f"**differs** ({', '.join(differ)})."),
            "",
        ]
        if differ:
            missed.append(f"Bursts: the deployment's {', '.join(differ)} differ from the chosen setting's")
    return lines, missed


# ---- the page --------------------------------------------------------------------------------------------


def render(results: Mapping[str, Any]) -> str:
    machine, versions, plan = results["machine"], results["versions"], results["plan"]
    figures, missed = summary(results)
    precision_table, totals, errors = precision(results)
    ours_risky, ours_left, ours_removed = totals["ours"]
    if ours_left:
        missed.append(f"Precision: ours leaves {ours_left} of {ours_risky} risky rules open (target 0)")
    if ours_removed:
        missed.append(f"Precision: ours removes {ours_removed} legitimate rules (target 0)")
    cold = results["cold"]
    burst_lines, burst_missed = bursts(results)
    missed.extend(burst_missed)
    order_lines, order_rows, order_missed = order(results)
    missed.extend(order_missed)
    sweep_rows, sweep_missed = sweep_goals(results)
    missed.extend(sweep_missed)
    ours_cold, c7n_cold = cold_medians(cold)
    cold_ratio = ratio(ours_cold, c7n_cold)
    issue_rows: list[Row] = [
        [
            f"Cold start, median of {len(cold.get('rounds', ())) or 1} rounds' medians",
            ms(ours_cold),
            ms(c7n_cold),
            times(cold_ratio),
            f"≤ {COLD_TARGET:g}x",
            yes(cold_ratio <= COLD_TARGET),
        ],
        *floor_rows(cold, c7n_cold),
        *deployed_rows(results.get("deployed")),
        *sweep_rows,
        *order_rows,
    ]
    out: list[str] = [
        "# Benchmark: sg-remediator against Cloud Custodian (c7n)",
        "",
        "<!-- Written by `python -m bench` (`make bench`); do not edit by hand: rerun it. -->",
        "",
        f"Produced by `{results['command']}` on {results['date']}, in {results['seconds']:.0f} s. Every number "
        "below comes from that run (raw figures: `bench/.work/results.json`); none is typed in. Both tools ran on "
        "the same machine, against the same moto account, on the same events, in-process (moto's `mock_aws`; the "
        "Lambda-like runs against a moto server), "
        "each invoked through its Lambda entry point: `remediator.handler.handler` and c7n's generated "
        "`custodian_policy.run` (`c7n.handler.dispatch_event`, reading the `config.json` of c7n's own Lambda "
        "archive). Ratios are ours / c7n: below 1 is better for us.",
        "",
        "## Machine and versions",
        "",
        *table(
            ["", ""],
            [
                ["machine", f"{machine['cpu']}, {machine['cores']} cores, {machine['memory']}, {machine['platform']}"],
                [
                    "load average before / after",
                    f"{machine['load_before'][0]:.2f} / {machine.get('load_after', [math.nan])[0]:.2f}",
                ],
                [
                    "ours (.venv)",
                    ", ".join(f"{k} {v}" for k, v in versions["ours"].items()),
                ],
                [
                    "c7n (bench/.work/c7n-venv)",
                    ", ".join(f"{k} {v}" for k, v in versions["c7n"].items())
                    + " — c7n pins its own boto3/botocore, so it runs in a venv of its own",
                ],
                [
                    "runs",
                    f"cold: {plan['cold_runs']} fresh interpreters per tool; Lambda-like: {plan['lambda_runs']} "
                    f"processes x {plan['lambda_events']} events; warm: {plan['warm_rounds']} rounds x "
                    f"{plan['warm_events']} events per scenario after {plan['warmup']} warm-up events"
                    + (
                        f"; bursts: {plan['burst_events']} events in {plan['burst_seconds']:g} s, settings "
                        f"`{plan['burst_settings']}`"
                        if "burst_events" in plan
                        else ""
                    ),
                ],
            ],
        ),
        "## Figures",
        "",
        *figures,
        "AWS calls per event, as counted at botocore's level (`BaseClient._make_api_call`):",
        "",
        *table(
            ["configuration", "risky event", "benign event"],
            [
                [
                    label,
                    *(
                        f"{n:g}: {seq}" if not math.isnan(n) else "n/a"
                        for n, seq in (
                            calls_per_event(results, tool, "risky"),
                            calls_per_event(results, tool, "benign"),
                        )
                    ),
                ]
                for tool, label in (
                    ("ours", "ours, notifying an SNS topic (as deployed)"),
                    ("ours-log-only", "ours, no topic (log only)"),
                    ("c7n", "c7n, the issue's policy (no notification)"),
                    ("c7n-notify", "c7n, the same + `notify` over SNS"),
                )
            ],
        ),
        "Garbage collection inside the timed events (what makes the p95s): "
        f"{gc_text(results, 'ours')}; {gc_text(results, 'c7n')}.",
        "",
        "Cold starts of each in detail (median of the runs): the AWS SDK alone imports in "
        f"{ms(median(cold['sdk_ours_ms']))} for ours (`{cold['sdk_ours']}`) and {ms(median(cold['sdk_c7n_ms']))} "
        f"for c7n (`{cold['sdk_c7n']}`); "
        f"c7n's `import custodian_policy` alone {ms(median(cold['c7n_import_ms']))}, plus the resource load its "
        f"handler does before the first event: {ms(median(cold['c7n_ms']))} (the figure above). In the "
        f"Lambda-like process: ours imports in {ms(lambda_figure(results, 'ours', 'import_ms'))} and handles "
        f"its first event in {ms(lambda_figure(results, 'ours', 'first_event_ms'))}; c7n "
        f"{ms(lambda_figure(results, 'c7n', 'import_ms'))} and "
        f"{ms(lambda_figure(results, 'c7n', 'first_event_ms'))} (which includes its `sts:GetCallerIdentity` "
        "and the resource load).",
        "",
        f"Deployment packages: ours {mb(results['package']['ours']['zip_bytes'])} zipped "
        f"({mb(results['package']['ours']['unzipped_bytes'])} unzipped, {results['package']['ours']['files']} "
        f"files: remediator/ + {', '.join(results['package']['ours']['distributions'])}; built by "
        f"{results['package']['ours'].get('method', 'n/a')}); c7n "
        f"{mb(results['package']['c7n']['c7n']['zip_bytes'])} zipped "
        f"({mb(results['package']['c7n']['c7n']['unzipped_bytes'])} unzipped, "
        f"{results['package']['c7n']['c7n']['files']} files: the archive `c7n.mu.PolicyLambda` builds, c7n's .py "
        "files + config.json). Neither includes boto3/botocore, which the Lambda runtime provides.",
        "",
        "The cold start above is each handler imported in its own venv, both from byte code (ours compiled first, "
        "as pip compiled c7n's at install). Lambda's disk is read-only, so there a handler runs its package's byte "
        'code or compiles its source at every cold start: the rows "imported from the unpacked deployment '
        "package\" time that (`python -I -S -B`, the package first on the path, then the SDK, and for c7n's "
        "archive, which holds c7n alone, its venv's libraries). Our asset there is built by `infra.bundling` for "
        "this host's Python and platform, with the byte code the stack ships when the build host has the "
        "runtime's Python, and once without it; c7n's archive is the one `c7n.mu.PolicyLambda` builds, which has "
        "none.",
        "",
        "## Run-to-run noise",
        "",
        *table(
            ["figure", "ours", "c7n"],
            [
                [
                    "cold start import, min-max over runs",
                    spread(cold["ours_ms"]),
                    spread(cold["c7n_ms"]),
                ],
                [
                    "cold start import, min-max of the rounds' medians",
                    spread([r["ours_ms"] for r in cold.get("rounds", ())]),
                    spread([r["c7n_ms"] for r in cold.get("rounds", ())]),
                ],
                [
                    "cold start ratio (ours / c7n), min-max of the rounds'",
                    ratio_spread(cold),
                    "-",
                ],
                *(
                    [
                        f"warm {scenario} median, per round (min-max)",
                        spread(round_medians(results, "ours", scenario)),
                        spread(round_medians(results, "c7n", scenario)),
                    ]
                    for scenario in ("risky", "benign")
                ),
                [
                    "cold invocation (Lambda-like), min-max over processes",
                    spread([r["cold_total_ms"] for r in results["lambda"]["ours"]]),
                    spread([r["cold_total_ms"] for r in results["lambda"]["c7n"]]),
                ],
                *deployed_noise(results.get("deployed")),
            ],
        ),
        "The machine is shared and noisy (see the load average above): compare ratios, not absolute times, and "
        "rerun `make bench` to see how much they move.",
        "",
        "## Precision on the same corpus",
        "",
        "Each real event of `tests/events/` and each generated variant is replayed on a fresh moto group that "
        "also holds legitimate rules (tcp/443 from 0.0.0.0/0 and ::/0, tcp/22 from 10.0.0.0/8 and from "
        "198.51.100.0/24, tcp/3389 from 192.168.0.0/16, tcp/5432 from another group, udp/53 from 0.0.0.0/0; "
        "and the default egress). The event's rules are opened with a real moto call and the event carries the "
        "ids moto gave them. **Risky** (the truth, written in `bench/corpus.py` independently of our code): "
        "ingress tcp/udp/all traffic whose ports include 22 or 3389, from a source open to the internet — an "
        "IPv4 CIDR of /8 or wider or an IPv6 CIDR of /32 or wider not wholly in private or reserved space, or a "
        "customer prefix list holding one. Every other rule is legitimate. **Left open**: risky rules still "
        "there after the tool ran; **wrongly removed**: legitimate rules gone. *c7n* runs the issue's "
        "equivalent policy (`ingress` `Ports: [22]`, `Cidr: 0.0.0.0/0`); *c7n fairer* runs one a careful user "
        "would write: ports 22 and 3389, `Cidr: 0.0.0.0/0` or `CidrV6: ::/0`, and `ModifySecurityGroupRules` "
        "added to its CloudTrail events.",
        "",
        *precision_table,
    ]
    if errors:
        out.extend(["Tool errors during the corpus run:", "", *(f"- {e}" for e in errors), ""])
    out.extend(
        [
            "## Sweep scaling",
            "",
            *sweep(results),
            "## A region of 10,000 groups, and an organisation",
            "",
            *org(results),
            "## The event path's calls, in order",
            "",
            *order_lines,
            "## Bursts",
            "",
            *burst_lines,
            "## Targets",
            "",
            "Targets of issue 6: cold start and warm latency each at most half of c7n's; no more API calls than "
            "c7n; no risky rule left open and no legitimate rule removed on the precision corpus. Issue 17 asks "
            f"more of the cold start (at most {COLD_TARGET:g}x, the median of three rounds) and sets the goals "
            "below; the burst goal is in the Bursts section.",
            "",
            *table(["Issue 17's goal", "ours", "c7n", "ours / c7n", "target", "met"], issue_rows),
        ]
    )
    if missed:
        out.extend(["Missed in this run:", "", *(f"- {m}" for m in missed), ""])
    else:
        out.extend(["All met in this run.", ""])
    out.extend(
        [
            "## How it is measured",
            "",
            "- **Cold start**: `python -c 'import remediator.handler'` against `import custodian_policy` (the "
            "module c7n's archive runs, which imports `c7n.handler`) plus `load_resources(('aws.security-group',))`"
            ", which c7n's handler does before its first event; each in a fresh interpreter, timed inside it, "
            "alternating the tools, first run of each dropped (bytecode caches warm for both); in "
            f"{plan.get('cold_rounds', 1)} rounds, the figure being the median of the rounds' medians. Ours builds "
            "the validator of each CloudTrail wire item (pydantic-core's, the engine of pydantic v2, used without "
            "pydantic's model layer) when an event first reads one, not at import: an added rule reads two or "
            "three of the four (the third for the rule set of AWS's answer, where the record has one), and the "
            "cold invocation figure (import + first event) includes them. What ours imports is the AWS SDK "
            "(botocore), pydantic-core and its own modules; the report, Security Hub and outcome-event code is "
            "imported after the revoke.",
            "- **Cold invocation and peak memory**: `bench/lambda_child.py` in a fresh interpreter that imports "
            "only the standard library before the handler, talking to a moto server over loopback "
            "(`AWS_ENDPOINT_URL`) so that moto is not in the process; peak memory is its high-water resident size "
            f"(`VmHWM`), close to what Lambda reports as Max Memory Used, after {plan['lambda_events']} risky events.",
            "- **Warm latency**: in one process per tool with moto in-process, each event is a real "
            "`AuthorizeSecurityGroupIngress` on moto (not timed), the event built from its response into the "
            "nuvibit EventBridge envelope of `tests/events/`, then the handler call (timed), then the group put "
            "back (not timed). The *risky* event opens tcp/22 to 0.0.0.0/0; the *benign* one tcp/8443 to "
            "198.51.100.0/24. Both tools log to stdout through the root handler Lambda's runtime installs.",
            "- **Own time**: the handler's time minus the time spent inside botocore's `_make_api_call` (moto's "
            "work included there), so it is the tool's own parsing, deciding, client set-up and logging.",
            "- **API calls**: every `_make_api_call`, whatever the client. c7n's first event also calls "
            "`sts:GetCallerIdentity` once per container, as its archive's config carries no account id.",
            "- Ours runs with `REMEDIATOR_DEFAULT_MODE=revoke` and `REMEDIATOR_TOPIC_ARN` set to a moto SNS topic "
            "(so its publish is counted as in production), except the *log only* row.",
            "",
        ]
    )
    return "\n".join(out)
