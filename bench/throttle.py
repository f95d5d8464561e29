"""EC2's request throttling, on loopback: token buckets as AWS documents them, and a proxy in front of moto.

The figures are those of "Request throttling for the Amazon EC2 API", section "Request token bucket sizes and
refill rates": https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html (formerly
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/throttling.html). What that page says and this module does:

- EC2 throttles per account and Region with the token bucket algorithm; each request takes one token from its
  API's bucket; a bucket refills at a set rate up to its maximum capacity; an empty bucket answers
  `RequestLimitExceeded`. Limits apply to individual API actions, not to categories: each action has a bucket of
  its own, of the size of its category.
- Non-mutating actions (`Describe*`, `List*`, `Search*`, `Get*` not in another category): 100 tokens, 20 a second.
- Unfiltered and unpaginated non-mutating actions (`DescribeSecurityGroups` and `DescribeNetworkInterfaces` among
  them): when called with neither pagination nor a filter, from a smaller bucket: 50 tokens, 10 a second.
  `DescribeSecurityGroups(GroupIds=[...])`, the remediator's describe, names ids but sets neither `Filter.N` nor
  `MaxResults`/`NextToken`, so it is counted against the smaller bucket (the stricter reading of the page).
- Resource-intensive actions, `AuthorizeSecurityGroupIngress` and `RevokeSecurityGroupIngress` among them:
  50 tokens, 5 a second, throttled separately from the other mutating actions.
- Mutating actions (all other mutating calls): 50 tokens, 5 a second.

The page does not say whether refill tokens arrive once a second or continuously; the bucket here refills
continuously (refill rate x elapsed time), which lets no more requests through over any second than the page's.
"""

from __future__ import annotations

import http.client
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs

THROTTLING_PAGE = "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html"
THROTTLING_SECTION = "Request token bucket sizes and refill rates"

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class BucketClass:
    """One of the page's API action categories: the size and refill rate of each of its actions' buckets."""

    name: str
    capacity: int
    refill_per_second: float


NON_MUTATING = BucketClass("non-mutating", 100, 20)
UNFILTERED_NON_MUTATING = BucketClass("unfiltered and unpaginated non-mutating", 50, 10)
MUTATING = BucketClass("mutating", 50, 5)
RESOURCE_INTENSIVE = BucketClass("resource-intensive", 50, 5)
BUCKET_CLASSES = (NON_MUTATING, UNFILTERED_NON_MUTATING, MUTATING, RESOURCE_INTENSIVE)

# The page's lists, verbatim.
RESOURCE_INTENSIVE_ACTIONS = frozenset(
    {
        "AcceptVpcPeeringConnection",
        "AuthorizeSecurityGroupIngress",
        "CancelSpotInstanceRequests",
        "CreateKeyPair",
        "CreateVpcPeeringConnection",
        "DeleteVpcPeeringConnection",
        "RejectVpcPeeringConnection",
        "RevokeSecurityGroupIngress",
        "RequestSpotInstances",
    }
)
UNFILTERED_ACTIONS = frozenset(
    {
        "DescribeInstances",
        "DescribeInstanceStatus",
        "DescribeNetworkInterfaces",
        "DescribeSecurityGroups",
        "DescribeSnapshots",
        "DescribeSpotInstanceRequests",
        "DescribeVolumes",
    }
)
NON_MUTATING_PREFIXES = ("Describe", "List", "Search", "Get")
# Query parameters that make a call filtered (Filter.1.Name ...) or paginated (MaxResults, NextToken).
FILTER_OR_PAGINATION = ("Filter.", "MaxResults", "NextToken")


def bucket_class(action: str, parameters: Sequence[str] = ()) -> BucketClass:
    """The category of an EC2 action, given the names of the query parameters of the request."""
    if action in RESOURCE_INTENSIVE_ACTIONS:
        return RESOURCE_INTENSIVE
    if action in UNFILTERED_ACTIONS and not any(p.startswith(FILTER_OR_PAGINATION) for p in parameters):
        return UNFILTERED_NON_MUTATING
    if action.startswith(NON_MUTATING_PREFIXES):
        return NON_MUTATING
    return MUTATING


class TokenBucket:
    """A bucket of `capacity` tokens, full at first, refilled at `refill_per_second`; each call takes one."""

    def __init__(self, capacity: float, refill_per_second: float, clock: Clock = time.monotonic) -> None:
        self.capacity = capacity
        self.refill_per_second = refill_per_second
        self.clock = clock
        self._tokens = float(capacity)
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.capacity, self._tokens + max(0.0, now - self._at) * self.refill_per_second)
        self._at = now

    @property
    def tokens(self) -> float:
        """The tokens in the bucket now."""
        with self._lock:
            self._refill()
            return self._tokens

    def take(self) -> bool:
        """Take one token: True if there was one, False (throttled, nothing taken) if the bucket is empty."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class AccountBuckets:
    """The buckets of one account and Region: one per action (and category), made full on first use."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def take(self, action: str, parameters: Sequence[str] = ()) -> tuple[bool, BucketClass]:
        """Take a token for one request: whether it may go ahead, and the category it counted against."""
        category = bucket_class(action, parameters)
        with self._lock:
            bucket = self._buckets.get((action, category.name))
            if bucket is None:
                bucket = TokenBucket(category.capacity, category.refill_per_second, self.clock)
                self._buckets[(action, category.name)] = bucket
        return bucket.take(), category


def throttled_body(request_id: str | None = None) -> bytes:
    """EC2's error response for a throttled request (sent with HTTP 503)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
        f"</Error></Errors><RequestID>{request_id or uuid.uuid4()}</RequestID></Response>"
    ).encode()


def service_of(headers: Mapping[str, str]) -> str:
    """The service a SigV4-signed request is for, from its Authorization header's credential scope ('' if none).

    `Credential=AKID/20250101/us-east-1/ec2/aws4_request`: the fourth part of the scope.
    """
    authorization = headers.get("Authorization") or headers.get("authorization") or ""
    marker = "Credential="
    start = authorization.find(marker)
    if start < 0:
        return ""
    scope = authorization[start + len(marker) :].split(",", 1)[0].strip().split("/")
    return scope[3] if len(scope) >= 5 else ""


HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)


@dataclass
class ProxyStats:
    """What the proxy saw: EC2 requests throttled and forwarded by action, and when each group's first revoke
    succeeded (on the proxy's clock)."""

    throttled: Counter[str]
    forwarded: Counter[str]
    categories: dict[str, str]
    revoked_at: dict[str, float]
    # Clients that hung up before their answer (botocore's read timeout): the simulation itself overloaded.
    hung_up: int = 0

    @classmethod
    def empty(cls) -> ProxyStats:
        return cls(throttled=Counter(), forwarded=Counter(), categories={}, revoked_at={})


class ThrottlingProxy:
    """An HTTP proxy on 127.0.0.1 in front of a moto server: EC2 requests are throttled by EC2's token buckets
    (HTTP 503, `RequestLimitExceeded`) or forwarded; every other service's requests are forwarded untouched."""

    def __init__(self, upstream_port: int, clock: Clock = time.monotonic) -> None:
        self.upstream_port = upstream_port
        self.clock = clock
        self.buckets = AccountBuckets(clock)
        self.stats = ProxyStats.empty()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        """Full buckets and no figures: a fresh account's throttling, for the next run."""
        with self._lock:
            self.buckets = AccountBuckets(self.clock)
            self.stats = ProxyStats.empty()

    def start(self) -> int:
        """Serve on 127.0.0.1 on a free port; returns the port."""
        proxy = self

        class Handler(_ProxyHandler):
            owner: ClassVar[ThrottlingProxy] = proxy

        server = _Server(("127.0.0.1", 0), Handler)
        server.owner = proxy
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="throttling-proxy", daemon=True)
        self._thread.start()
        port: int = server.server_address[1]
        return port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def admit(self, service: str, body: bytes) -> tuple[bool, str | None, dict[str, list[str]]]:
        """Whether the request may go on; its EC2 action (None if not an EC2 call) and its form fields."""
        if service != "ec2":
            return True, None, {}
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        action = (fields.get("Action") or [""])[0]
        if not action:
            return True, None, fields
        with self._lock:
            buckets, stats = self.buckets, self.stats
        allowed, category = buckets.take(action, list(fields))
        with self._lock:
            stats.categories[action] = category.name
            if allowed:
                stats.forwarded[action] += 1
            else:
                stats.throttled[action] += 1
        return allowed, action, fields

    def note_hang_up(self) -> None:
        with self._lock:
            self.stats.hung_up += 1

    def record(self, action: str | None, fields: Mapping[str, list[str]], status: int) -> None:
        """Note the time of each group's first successful revoke."""
        if action != "RevokeSecurityGroupIngress" or status != 200:
            return
        group = (fields.get("GroupId") or [""])[0]
        now = self.clock()
        with self._lock:
            self.stats.revoked_at.setdefault(group, now)


class _Server(ThreadingHTTPServer):
    owner: ThrottlingProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up is counted, not printed; anything else is printed as usual."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            self.owner.note_hang_up()
            return
        super().handle_error(request, client_address)


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: ClassVar[ThrottlingProxy]
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = dict(self.headers.items())
        allowed, action, fields = self.owner.admit(service_of(headers), body)
        if not allowed:
            self._answer(503, [("Content-Type", "text/xml;charset=UTF-8")], throttled_body())
            return
        upstream = http.client.HTTPConnection("127.0.0.1", self.owner.upstream_port, timeout=60)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body, headers=forwarded)
            response = upstream.getresponse()
            payload = response.read()
            status = response.status
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        finally:
            upstream.close()
        self.owner.record(action, fields, status)
        self._answer(status, kept, payload)

    def _answer(self, status: int, headers: Sequence[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in {"server", "date"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay  # noqa: N815 - BaseHTTPRequestHandler's names
