"""The benchmark's judgement of issue 17's goals from a run's raw figures (no timing here: the figures are given)."""

from __future__ import annotations

from typing import Any

from bench.report import cold_medians, deployed_noise, deployed_rows, floor_rows, order, paired_ratio, sweep_goals

DESCRIBE, REVOKE, PUBLISH = "ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupIngress", "sns:Publish"


def size(groups: int, ms: float, api_ms: float, by_operation: dict[str, int]) -> dict[str, Any]:
    return {
        "groups": groups,
        "risky_groups": groups // 10,
        "ms": ms,
        "api_ms": api_ms,
        "calls": sum(by_operation.values()),
        "by_operation": by_operation,
        "left_open": 0,
        "error": None,
    }


def ours(groups: int, ms: float, api_ms: float) -> dict[str, Any]:
    calls = {DESCRIBE: 1, "ec2:DescribeNetworkInterfaces": 1, REVOKE: groups // 10, PUBLISH: 1, "events:PutEvents": 1}
    return size(groups, ms, api_ms, calls)


def theirs(groups: int, ms: float, api_ms: float) -> dict[str, Any]:
    return size(groups, ms, api_ms, {DESCRIBE: 1, REVOKE: groups // 10})


def sweep_results(ours_10k_ms: float) -> dict[str, Any]:
    indexed = {"ours": {"sizes": [ours(1000, 900, 850), ours(10000, ours_10k_ms, 8000)]}}
    indexed["c7n"] = {"sizes": [theirs(1000, 1000, 940), theirs(10000, 9000, 8700)]}
    plain = {"ours": {"sizes": [ours(1000, 950, 915)]}, "c7n": {"sizes": [theirs(1000, 1000, 960)]}}
    return {"sweep": {"available": True, **indexed, "plain": plain}, "function_timeout_s": 300.0}


def test_the_sweep_goals_are_judged_per_size_with_and_without_the_index() -> None:
    rows, missed = sweep_goals(sweep_results(ours_10k_ms=8500))

    met = {row[0]: row[-1] for row in rows}
    assert met["Sweep wall time, 1,000 groups, with the lookup index"] == "yes"
    assert met["Sweep wall time, 10,000 groups, with the lookup index"] == "yes"
    assert met["Sweep wall time, 1,000 groups, on plain moto"] == "yes"
    # Own time: 500 ms against 300 ms at 10,000 groups.
    assert met["Sweep's own time, 10,000 groups, with the lookup index"] == "**no**"
    assert met["Sweep's own time, 1,000 groups, on plain moto"] == "yes"
    assert [m for m in missed if "own time" in m] == [
        "Sweep's own time, 10,000 groups, with the lookup index: ours 500.0 ms, c7n 300.0 ms, 1.67x (target ≤ 1.0x)"
    ]


def test_the_calls_goal_counts_the_outcome_event_apart_and_the_timeout_share_is_of_the_largest_sweep() -> None:
    rows, _ = sweep_goals(sweep_results(ours_10k_ms=30000))

    calls = next(row for row in rows if row[0] == "Sweep's AWS calls, 10,000 groups")
    assert calls[1:4] == ["1004", "1001", "+3 (+2 besides the outcome event, events:PutEvents)"]
    assert calls[-1] == "yes"
    timeout = next(row for row in rows if "timeout" in row[0])
    assert timeout[3] == "10.0 % of 300 s"
    assert timeout[-1] == "yes"
    assert (
        next(row for row in rows if row[0] == "Sweep wall time, 10,000 groups, with the lookup index")[-1] == "**no**"
    )


def test_the_revoke_must_be_the_second_call_of_every_event() -> None:
    second = [DESCRIBE, REVOKE, "dynamodb:UpdateItem", PUBLISH]
    lines, rows, missed = order({"order": {"sequences": [second, second], "errors": []}})

    assert rows[0][-1] == "yes"
    assert missed == []
    assert "1. `ec2:DescribeSecurityGroups`" in lines
    assert "2. `ec2:RevokeSecurityGroupIngress`" in lines

    late = [DESCRIBE, "dynamodb:UpdateItem", REVOKE, PUBLISH]
    _, rows, missed = order({"order": {"sequences": [second, late], "errors": []}})

    assert rows[0][-1] == "**no**"
    assert rows[0][3] == "call #2/#3"
    assert len(missed) == 1


def test_the_cold_start_is_the_median_of_the_rounds_medians() -> None:
    cold = {
        "ours_ms": [1.0] * 9,
        "c7n_ms": [2.0] * 9,
        "rounds": [
            {"ours_ms": 150.0, "c7n_ms": 400.0},
            {"ours_ms": 170.0, "c7n_ms": 380.0},
            {"ours_ms": 160.0, "c7n_ms": 390.0},
        ],
    }

    assert cold_medians(cold) == (160.0, 390.0)
    assert cold_medians({"ours_ms": [1.0, 3.0], "c7n_ms": [2.0]}) == (2.0, 2.0)


def test_each_cold_start_floor_is_its_runs_of_every_round_against_c7ns_cold_start_and_only_ours_has_a_goal() -> None:
    cold = {
        "floors": [
            {"what": "one pydantic-core validator built", "ours": True, "ms": [300.0, 340.0, 320.0]},
            {"what": "one pydantic model built", "ours": False, "ms": [200.0]},
            # The next round's runs of the first floor.
            {"what": "one pydantic-core validator built", "ours": True, "ms": [330.0, 360.0]},
        ]
    }

    used, reference = floor_rows(cold, 640.0)

    assert "one pydantic-core validator built" in used[0]
    assert used[1:] == ["330.0 ms", "640.0 ms", "0.52x", "≤ 0.45x for the goal to be reachable", "**no**"]
    assert "one pydantic model built" in reference[0]
    assert reference[1:] == ["200.0 ms", "640.0 ms", "0.31x", "-", "-"]
    assert floor_rows({"ours_ms": [1.0]}, 640.0) == []


def test_the_deployed_cold_start_rows_compare_each_package_and_ours_without_its_byte_code() -> None:
    deployed = {"ours_ms": [440.0, 450.0, 460.0], "ours_source_only_ms": [770.0], "c7n_ms": [1000.0, 1100.0]}

    packaged, source_only = deployed_rows(deployed)

    assert "deployment package" in packaged[0]
    assert packaged[1:4] == ["450.0 ms", "1050.0 ms", "0.43x"]
    assert source_only[1:4] == ["770.0 ms", "1050.0 ms", "0.73x"]
    assert deployed_rows(None) == []
    [noise] = deployed_noise(deployed)
    assert "440.0-460.0 ms" in noise[1]
    assert "without its byte code: 770.0-770.0 ms" in noise[1]
    assert deployed_noise(None) == []


def test_the_sweep_ratio_pairs_each_round_with_the_peers_pass_of_the_same_round() -> None:
    # The host slows down in round 2 for both tools: each round's ratio is under 1, the medians' ratio is not.
    results = sweep_results(ours_10k_ms=8500)
    mine, peers = results["sweep"]["ours"]["sizes"][0], results["sweep"]["c7n"]["sizes"][0]
    mine.update(ms=1500.0, round_ms=[950.0, 1500.0, 1600.0])
    peers.update(ms=1200.0, round_ms=[1000.0, 1600.0, 1200.0])

    assert paired_ratio(mine, peers, "ms", of_medians=1.25) == (0.95, 0.9375, 1600.0 / 1200.0)
    rows, missed = sweep_goals(results)
    wall = next(row for row in rows if row[0] == "Sweep wall time, 1,000 groups, with the lookup index")
    assert wall[3:] == ["0.95x (0.94-1.33); of the medians 1.25x", "≤ 1.0x", "yes"]
    assert not [m for m in missed if "wall time, 1,000 groups, with" in m]


def test_a_paired_ratio_without_figures_per_round_is_the_ratio_of_the_medians() -> None:
    assert paired_ratio({"ms": 1100.0}, {"ms": 1000.0}, "ms", of_medians=1.1) == (1.1, 1.1, 1.1)
    assert (
        paired_ratio({"ms": 1.0, "round_ms": [1.0, 2.0]}, {"ms": 1.0, "round_ms": [1.0]}, "ms", of_medians=1.0)[0]
        == 1.0
    )
