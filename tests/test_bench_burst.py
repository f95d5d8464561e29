"""The burst benchmark's logic (bench/throttle.py, bench/burst.py): EC2's token buckets and Lambda's async retries.

An injected clock throughout: no sleeping, no timing assertion, no network (the proxy's server is never started).
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.parsers import EC2QueryParser

from bench.burst import (
    EXHAUSTED,
    EXPIRED,
    SETTINGS,
    TODAY,
    AsyncInvocations,
    Router,
    percentile,
    settings_named,
)
from bench.report import bursts
from bench.throttle import (
    MUTATING,
    NON_MUTATING,
    RESOURCE_INTENSIVE,
    UNFILTERED_NON_MUTATING,
    AccountBuckets,
    ThrottlingProxy,
    TokenBucket,
    bucket_class,
    service_of,
    throttled_body,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def drain(bucket: TokenBucket) -> int:
    taken = 0
    while bucket.take():
        taken += 1
    return taken


# ---- the token bucket --------------------------------------------------------------------------------------


def test_a_bucket_starts_full_and_each_call_takes_one_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, 5, clock)
    assert bucket.tokens == 50
    assert bucket.take()
    assert bucket.tokens == 49
    assert drain(bucket) == 49
    assert not bucket.take()


def test_a_throttled_call_takes_nothing() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2, 1, clock)
    drain(bucket)
    clock.advance(0.5)
    for _ in range(10):
        assert not bucket.take()
    clock.advance(0.5)
    assert bucket.take()  # the half token before the refused calls is still there


def test_an_empty_bucket_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, 5, clock)
    drain(bucket)
    clock.advance(0.1)
    assert not bucket.take()  # half a token
    clock.advance(0.1)
    assert bucket.take()
    assert not bucket.take()
    clock.advance(2.0)
    assert drain(bucket) == 10


def test_a_bucket_holds_no_more_than_its_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, 20, clock)
    drain(bucket)
    clock.advance(3600)
    assert bucket.tokens == 100
    assert drain(bucket) == 100


def test_an_empty_bucket_refills_in_capacity_over_rate_seconds() -> None:
    # The page's example: 100 tokens, 20 a second, empty to full in 5 seconds.
    clock = FakeClock()
    bucket = TokenBucket(100, 20, clock)
    drain(bucket)
    clock.advance(4)
    assert bucket.tokens == 80
    clock.advance(1)
    assert bucket.tokens == 100


# ---- the documented categories -----------------------------------------------------------------------------


def test_the_documented_figures() -> None:
    assert (NON_MUTATING.capacity, NON_MUTATING.refill_per_second) == (100, 20)
    assert (UNFILTERED_NON_MUTATING.capacity, UNFILTERED_NON_MUTATING.refill_per_second) == (50, 10)
    assert (MUTATING.capacity, MUTATING.refill_per_second) == (50, 5)
    assert (RESOURCE_INTENSIVE.capacity, RESOURCE_INTENSIVE.refill_per_second) == (50, 5)


@pytest.mark.parametrize(
    ("action", "parameters", "expected"),
    [
        ("RevokeSecurityGroupIngress", ["GroupId", "SecurityGroupRuleId.1"], RESOURCE_INTENSIVE),
        ("AuthorizeSecurityGroupIngress", ["GroupId", "IpPermissions.1.IpProtocol"], RESOURCE_INTENSIVE),
        ("DescribeSecurityGroups", ["GroupId.1"], UNFILTERED_NON_MUTATING),
        ("DescribeSecurityGroups", ["Filter.1.Name", "Filter.1.Value.1"], NON_MUTATING),
        ("DescribeSecurityGroups", ["MaxResults"], NON_MUTATING),
        ("DescribeNetworkInterfaces", ["Filter.1.Name", "MaxResults"], NON_MUTATING),
        ("DescribeSecurityGroupRules", ["Filter.1.Name"], NON_MUTATING),
        ("DescribeManagedPrefixLists", ["PrefixListId.1"], NON_MUTATING),
        ("ModifySecurityGroupRules", ["GroupId"], MUTATING),
    ],
)
def test_each_action_falls_in_its_category(action: str, parameters: list[str], expected: object) -> None:
    assert bucket_class(action, parameters) == expected


def test_each_action_has_a_bucket_of_its_own() -> None:
    clock = FakeClock()
    buckets = AccountBuckets(clock)
    revokes = sum(buckets.take("RevokeSecurityGroupIngress")[0] for _ in range(60))
    assert revokes == 50
    assert buckets.take("AuthorizeSecurityGroupIngress")[0]
    assert buckets.take("DescribeSecurityGroups", ["GroupId.1"])[0]


def test_the_throttled_answer_is_what_botocore_reads_as_ec2_throttling() -> None:
    body = throttled_body("req-1")
    assert body.endswith(
        b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
        b"</Error></Errors><RequestID>req-1</RequestID></Response>"
    )
    parser: Any = EC2QueryParser()  # an error is parsed without an output shape
    parsed = parser.parse({"status_code": 503, "headers": {}, "body": body}, None)
    assert parsed["Error"]["Code"] == "RequestLimitExceeded"
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"


def test_the_service_comes_from_the_signature_scope() -> None:
    header = (
        "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/ec2/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc"
    )
    assert service_of({"Authorization": header}) == "ec2"
    assert service_of({"Authorization": header.replace("/ec2/", "/sns/")}) == "sns"
    assert service_of({}) == ""


def test_the_proxy_throttles_ec2_only_and_notes_each_groups_first_revoke() -> None:
    clock = FakeClock()
    proxy = ThrottlingProxy(upstream_port=1, clock=clock)
    revoke = b"Action=RevokeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-1&SecurityGroupRuleId.1=sgr-1"
    verdicts = [proxy.admit("ec2", revoke)[0] for _ in range(51)]
    assert verdicts.count(True) == 50
    assert not verdicts[-1]
    assert all(proxy.admit("sns", b"Action=Publish&TopicArn=t")[0] for _ in range(200))
    assert proxy.stats.throttled == {"RevokeSecurityGroupIngress": 1}
    assert proxy.stats.forwarded == {"RevokeSecurityGroupIngress": 50}
    _, action, fields = proxy.admit("ec2", b"Action=DescribeVpcs")
    proxy.record(action, fields, 200)
    _, action, fields = proxy.admit("ec2", revoke.replace(b"sg-1", b"sg-2"))
    proxy.record(action, fields, 503)
    assert proxy.stats.revoked_at == {}
    clock.advance(1)
    _, action, fields = proxy.admit("ec2", revoke)
    proxy.record(action, fields, 200)
    clock.advance(1)
    proxy.record(action, fields, 200)
    assert proxy.stats.revoked_at == {"sg-1": 1001.0}
    proxy.reset()
    assert proxy.admit("ec2", revoke)[0]
    assert proxy.stats.revoked_at == {}


# ---- Lambda's asynchronous retries -------------------------------------------------------------------------


def queue_of(max_event_age: float = 21600) -> AsyncInvocations:
    return AsyncInvocations(max_event_age=max_event_age, retry_attempts=2, retry_delays=(60, 120))


def test_an_event_that_fails_twice_then_succeeds_is_not_dead_lettered() -> None:
    lambda_queue = queue_of()
    lambda_queue.deliver("e", 0)
    assert lambda_queue.take(0, 10) == [("e", 1)]
    lambda_queue.finished("e", False, 5)
    assert lambda_queue.take(64, 10) == []  # Lambda waits a minute before the second attempt
    assert lambda_queue.take(65, 10) == [("e", 2)]
    lambda_queue.finished("e", False, 70)
    assert lambda_queue.take(189, 10) == []  # and two minutes before the third
    assert lambda_queue.take(190, 10) == [("e", 3)]
    lambda_queue.finished("e", True, 195)
    assert lambda_queue.settled()
    assert lambda_queue.events["e"].outcome == "succeeded"
    assert lambda_queue.events["e"].attempts == 3
    assert not lambda_queue.dead_letters()


def test_an_event_that_fails_three_times_is_dead_lettered() -> None:
    lambda_queue = queue_of()
    lambda_queue.deliver("e", 0)
    now = 0.0
    for attempt in (1, 2, 3):
        assert lambda_queue.take(now, 10) == [("e", attempt)]
        lambda_queue.finished("e", False, now + 1)
        now += 1 + 120
    assert lambda_queue.take(now + 1000, 10) == []
    assert lambda_queue.settled()
    assert lambda_queue.events["e"].attempts == 3
    assert lambda_queue.dead_letters() == {EXHAUSTED: 1}


def test_retries_stop_at_the_maximum_event_age() -> None:
    lambda_queue = queue_of(max_event_age=100)
    lambda_queue.deliver("e", 0)
    assert lambda_queue.take(0, 1) == [("e", 1)]
    lambda_queue.finished("e", False, 10)  # the retry at 70 s is within 100 s
    assert lambda_queue.take(70, 1) == [("e", 2)]
    lambda_queue.finished("e", False, 80)  # the next, at 200 s, is not
    assert lambda_queue.take(10_000, 1) == []
    assert lambda_queue.events["e"].attempts == 2
    assert lambda_queue.dead_letters() == {EXPIRED: 1}


def test_an_event_waiting_for_concurrency_waits_and_expires_only_past_the_maximum_event_age() -> None:
    lambda_queue = queue_of(max_event_age=60)
    lambda_queue.deliver("busy", 0)
    lambda_queue.deliver("waits", 1)
    lambda_queue.deliver("too-old", 2)
    assert lambda_queue.take(2, 1) == [("busy", 1)]
    assert lambda_queue.take(30, 0) == []  # no free concurrency: queued, not failed
    assert lambda_queue.pending() == 3
    lambda_queue.finished("busy", True, 61)
    assert lambda_queue.take(61, 1) == [("waits", 1)]  # 60 s old: still in time
    lambda_queue.finished("waits", True, 63)
    assert lambda_queue.take(63, 1) == []  # 61 s old: expired
    assert lambda_queue.settled()
    assert lambda_queue.dead_letters() == {EXPIRED: 1}
    assert lambda_queue.events["too-old"].attempts == 0


def test_events_are_handed_out_oldest_first_up_to_the_free_concurrency() -> None:
    lambda_queue = queue_of()
    for index in range(5):
        lambda_queue.deliver(f"e{index}", index)
    assert lambda_queue.take(3.5, 10) == [("e0", 1), ("e1", 1), ("e2", 1), ("e3", 1)]
    assert lambda_queue.take(10, 10) == [("e4", 1)]
    lambda_queue.finished("e0", False, 10)
    lambda_queue.deliver("late", 20)
    assert lambda_queue.take(70, 10) == [("late", 1), ("e0", 2)]


def test_a_retry_needs_a_delay_for_each_attempt() -> None:
    with pytest.raises(ValueError, match="one delay per retry"):
        AsyncInvocations(max_event_age=60, retry_attempts=2, retry_delays=(60,))


# ---- the rest ----------------------------------------------------------------------------------------------


def test_the_router_uses_an_idle_environment_before_making_one() -> None:
    router = Router(2)
    assert [router.route() for _ in range(3)] == [0, 1, 0]
    assert router.environments == [2, 1]
    router.done(1)
    assert router.route() == 1
    assert router.environments == [2, 1]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([3.0], 0.99) == 3.0


def test_settings_by_suite_or_name() -> None:
    assert settings_named("all") == list(SETTINGS)
    assert settings_named("today") == [TODAY]
    assert TODAY.concurrency(1000) == 1000
    assert [s.name for s in SETTINGS if s.chosen]
    with pytest.raises(SystemExit):
        settings_named("no-such-setting")


def burst_results(*, closed: int, deployed_mode: str) -> dict[str, Any]:
    setting = {
        "name": "adaptive-10+reserved-10",
        "retry_mode": "adaptive",
        "max_attempts": 10,
        "reserved": 10,
        "max_event_age_s": 21600,
        "chosen": True,
    }
    run = {
        "setting": setting,
        "concurrency": 10,
        "max_event_age_scaled_s": 5400,
        "events": 500,
        "closed": closed,
        "left_open": 500 - closed,
        "dead_letters": 500 - closed,
        "dead_letter_reasons": {EXHAUSTED: 500 - closed} if closed < 500 else {},
        "unfinished": 0,
        "cut": False,
        "goal_met": closed == 500,
        "latency_s": {"p50": 30.0, "p99": 75.0, "max": 80.0},
        "throttled": {"RevokeSecurityGroupIngress": 400},
        "categories": {"RevokeSecurityGroupIngress": "resource-intensive"},
        "invocations": 501,
        "function_errors": 1,
        "attempts_per_event": {"1": 499, "2": 1},
        "peak_concurrency": 10,
    }
    return {
        "burst": {
            "command": "python -m bench.burst",
            "total_s": 100,
            "machine": {"cpu": "cpu", "cores": 2, "load_before": [1, 1, 1], "load_after": [1, 1, 1]},
            "events": 500,
            "seconds": 15,
            "copies": 8,
            "scale": 0.25,
            "sdk_backoff_scale": 0.25,
            "full": {"events": 2000, "seconds": 60},
            "account_concurrency": 1000,
            "retry_attempts": 2,
            "retry_delays_s": [60, 120],
            "throttling": {
                "page": "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html",
                "section": "Request token bucket sizes and refill rates",
                "classes": [{"name": "resource-intensive", "capacity": 50, "refill_per_second": 5}],
            },
            "lambda_page": "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html",
            "deployed": {"retry_mode": deployed_mode, "max_attempts": 10, "reserved": 10, "max_event_age_s": 21600},
            "runs": [run],
        }
    }


def test_the_report_shows_each_setting_and_flags_what_the_chosen_one_misses() -> None:
    lines, missed = bursts(burst_results(closed=500, deployed_mode="adaptive"))
    page = "\n".join(lines)
    assert "| **adaptive-10+reserved-10** (chosen) |" in page
    assert "500/500 (100.0 %)" in page
    assert "(full size ≈ 120.0 s / 300.0 s)" in page
    assert "cannot be revoked sooner than 90 s" in page
    assert "the same." in page
    assert missed == []
    _, missed = bursts(burst_results(closed=490, deployed_mode="standard"))
    assert len(missed) == 2
    assert "left 10 of 500 rules open" in missed[0]
    assert "retry_mode" in missed[1]


def test_the_report_says_when_the_bursts_were_not_run() -> None:
    lines, missed = bursts({"burst": {"reason": "skipped (--no-burst)"}})
    assert lines[0] == "Not measured in this run: skipped (--no-burst)."
    assert missed == []
    assert bursts({})[0][0] == "Not measured in this run: not run."
