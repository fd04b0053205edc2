"""Quotas (docs/security.md, "Quotas"): per API key, a rate of calls (a token bucket) and a
number of open streaming calls; server-wide, a number of calls running at once.

All counters live in this process: a deployment of N replicas admits up to N times each
quota (a shared counter would put a network round trip in front of every call). Refusals
are RESOURCE_EXHAUSTED with an ErrorInfo reason, a google.rpc.QuotaFailure naming the quota
and, where waiting helps, a google.rpc.RetryInfo saying how long.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api.errors import ApiError

# When a refusal cannot say when a slot frees (streams, server-wide calls): the pause a
# client should take before it tries again.
BUSY_RETRY_S = 1.0


@dataclass(frozen=True)
class QuotaSettings:
    """The quotas of one server process; 0 turns one off."""

    key_requests_per_s: float = 0.0
    key_burst: int = 0
    key_streams: int = 0
    max_concurrent_rpcs: int = 0

    @classmethod
    def from_settings(cls, settings) -> "QuotaSettings":
        return cls(settings.quota_key_requests_per_s, settings.quota_key_burst, settings.quota_key_streams,
                   settings.max_concurrent_rpcs)


@dataclass
class TokenBucket:
    """`rate` tokens a second up to `capacity`; a call takes one."""

    rate: float
    capacity: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one is there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class QuotaExceeded(Exception):
    """A refusal: the status to abort with."""

    def __init__(self, error: ApiError, subject: str, retry_after_s: float | None) -> None:
        super().__init__(error.message)
        self.error, self.subject, self.retry_after_s = error, subject, retry_after_s

    def to_status(self) -> grpc.Status:
        proto = self.error.to_status_proto()
        violation = error_details_pb2.QuotaFailure.Violation(subject=self.subject, description=self.error.message)
        _pack(proto, error_details_pb2.QuotaFailure(violations=[violation]))
        if self.retry_after_s is not None:
            nanos = math.ceil(self.retry_after_s * 1e9)
            delay = duration_pb2.Duration(seconds=nanos // 1_000_000_000, nanos=nanos % 1_000_000_000)
            _pack(proto, error_details_pb2.RetryInfo(retry_delay=delay))
        return rpc_status.to_status(proto)


def _pack(status, detail) -> None:
    packed = any_pb2.Any()
    packed.Pack(detail)
    status.details.append(packed)


def _exhausted(reason: ErrorReason.ValueType, message: str, subject: str, limit: float,
               retry_after_s: float | None, key_name: str = "") -> QuotaExceeded:
    metadata = {"limit": f"{limit:g}", **({"key": key_name} if key_name else {})}
    return QuotaExceeded(ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED, reason, message, "", metadata),
                         subject, retry_after_s)


@dataclass
class Quotas:
    """The counters of one server process. Keys are told apart by their id (a hash prefix)."""

    settings: QuotaSettings
    clock: Callable[[], float] = time.monotonic
    running: int = 0
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _streams: dict[str, int] = field(default_factory=dict)

    def check_rate(self, key_id: str, key_name: str) -> None:
        """Takes a token of the key's bucket; QuotaExceeded (with when to retry) when empty."""
        s = self.settings
        if s.key_requests_per_s <= 0:
            return
        now = self.clock()
        capacity = float(max(s.key_burst, 1))
        bucket = self._buckets.setdefault(key_id, TokenBucket(s.key_requests_per_s, capacity, capacity, now))
        wait = bucket.take(now)
        if wait > 0:
            raise _exhausted(
                ErrorReason.QUOTA_RATE_EXCEEDED,
                f"API key {key_name!r} started more than {s.key_requests_per_s:g} calls a second (burst {s.key_burst}) "
                f"on this server; retry in {wait:.2f} s, or ask for a higher quota_key_requests_per_s",
                f"api-key:{key_name}", s.key_requests_per_s, wait, key_name)

    def acquire(self, key_id: str | None, key_name: str, streaming: bool) -> Callable[[], None]:
        """Takes one of the server's call slots (and, for a stream, one of the key's) for a
        call; returns the function that gives them back. QuotaExceeded when none is free."""
        s = self.settings
        if s.max_concurrent_rpcs and self.running >= s.max_concurrent_rpcs:
            raise _exhausted(
                ErrorReason.SERVER_BUSY,
                f"the server runs {s.max_concurrent_rpcs} calls at once (max_concurrent_rpcs), all callers together; "
                "retry with backoff", "server:concurrent-calls", s.max_concurrent_rpcs, BUSY_RETRY_S)
        counts_stream = streaming and key_id is not None and s.key_streams > 0
        if counts_stream and self._streams.get(key_id, 0) >= s.key_streams:
            raise _exhausted(
                ErrorReason.QUOTA_STREAMS_EXCEEDED,
                f"API key {key_name!r} has {s.key_streams} streaming calls open on this server (quota_key_streams); "
                "retry when one has ended", f"api-key:{key_name}", s.key_streams, BUSY_RETRY_S, key_name)
        self.running += 1
        if counts_stream:
            self._streams[key_id] = self._streams.get(key_id, 0) + 1

        def release() -> None:
            self.running -= 1
            if counts_stream:
                left = self._streams[key_id] - 1
                if left:
                    self._streams[key_id] = left
                else:
                    del self._streams[key_id]
        return release
