"""The store's retries within the sync's budget (storage/retrying.py), and which failures may pass: S3
(botocore's standard rules) and local I/O (errno)."""

from __future__ import annotations

import errno
import threading

import pytest
from botocore.exceptions import (ClientError, ConnectTimeoutError, EndpointConnectionError, NoCredentialsError,
                                 ReadTimeoutError, SSLError)

from destination_customer_io.errors import StoreError, SystemFailure, TransientFailure, store_failure
from destination_customer_io.pacing import RetryPolicy
from destination_customer_io.storage import aws, local
from destination_customer_io.storage.retrying import Retrier


class Clock:
    """A fake monotonic clock; ``sleep`` moves it, and attempts can take time too."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def retrier(clock: Clock, max_seconds: float = 10.0) -> Retrier:
    return Retrier(RetryPolicy(max_seconds=max_seconds, initial=0.5, maximum=2.0), sleep=clock.sleep,
                   clock=lambda: clock.now)


def timeout_error() -> StoreError:
    return StoreError("bucket 'b': PutObject failed: ReadTimeout: s3 did not answer in time", step="PutObject",
                      target="b", code="ReadTimeout", transient=True)


def test_a_failure_that_may_pass_is_retried_until_it_passes() -> None:
    clock, answers = Clock(), [timeout_error(), timeout_error(), "stored"]

    def attempt() -> str:
        clock.now += 1.0  # each attempt takes a second
        answer = answers.pop(0)
        if isinstance(answer, StoreError):
            raise answer
        return answer

    assert retrier(clock).call("S3 PutObject", attempt) == "stored"
    assert len(clock.slept) == 2 and answers == []


def test_a_failure_that_cannot_pass_is_raised_at_once() -> None:
    clock, calls = Clock(), []
    denied = StoreError("AccessDenied", step="PutObject", target="b", code="AccessDenied")

    def attempt() -> None:
        calls.append(1)
        raise denied

    with pytest.raises(StoreError) as raised:
        retrier(clock).call("S3 PutObject", attempt)
    assert raised.value is denied and calls == [1] and clock.slept == []


def test_the_budget_ends_the_retries_within_max_seconds_plus_one_attempt() -> None:
    clock = Clock()
    started = clock.now

    def attempt() -> None:
        clock.now += 1.5  # a stalled server: each attempt ends at the request timeout
        raise timeout_error()

    with pytest.raises(StoreError) as raised:
        retrier(clock, max_seconds=6.0).call("S3 PutObject", attempt)
    # no attempt starts past the budget; the last one started before it ends one attempt later
    assert clock.now - started <= 6.0 + 1.5
    assert clock.now - started >= 6.0 - 2.0  # it did use the budget (the last pause is at most 2 s)
    error = raised.value
    assert error.transient and (error.step, error.code) == ("PutObject", "ReadTimeout")
    assert str(error).startswith("bucket 'b': PutObject failed: ReadTimeout: s3 did not answer in time; "
                                 "still failing after ")
    assert str(error).endswith(" s (retry_max_seconds: 6)")


def test_the_budget_is_shared_by_the_store_s_threads() -> None:
    """Two uploads of one stalled store: the second, started later, gives up at the first one's
    deadline, not a budget of its own."""
    clock = Clock()
    policy = RetryPolicy(max_seconds=5.0, initial=0.5, maximum=0.5)
    shared = Retrier(policy, sleep=clock.sleep, clock=lambda: clock.now)

    def attempt() -> None:
        clock.now += 1.0
        raise timeout_error()

    with pytest.raises(StoreError):
        shared.call("S3 PutObject", attempt)
    first_gave_up = clock.now
    with pytest.raises(StoreError):
        shared.call("S3 PutObject", attempt)
    assert clock.now - first_gave_up <= 1.0  # one more attempt, no second budget


def test_a_success_starts_the_budget_again() -> None:
    clock = Clock()
    shared = retrier(clock, max_seconds=4.0)
    answers: list[StoreError | None] = [timeout_error(), None]

    def attempt() -> None:
        clock.now += 1.0
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    shared.call("S3 PutObject", attempt)
    clock.now += 10.0  # later, a fresh outage: it gets the whole budget, not what is left of an old one
    answers[:] = [timeout_error(), None]
    shared.call("S3 PutObject", attempt)
    assert answers == []


def test_waiting_names_a_failing_or_slow_request_and_nothing_else() -> None:
    clock = Clock()
    shared = retrier(clock, max_seconds=60.0)
    assert shared.waiting() is None
    inside, release = threading.Event(), threading.Event()
    attempts: list[int] = []

    def attempt() -> None:
        attempts.append(1)
        if len(attempts) <= 3:
            raise timeout_error()
        inside.set()
        assert release.wait(5)

    worker = threading.Thread(target=shared.call, args=("S3 PutObject", attempt))
    worker.start()
    try:
        assert inside.wait(5)
        clock.now += 12.0
        wait = shared.waiting()
        assert wait is not None and (wait.step, wait.failures, wait.last) == ("S3 PutObject", 3, "ReadTimeout")
        assert str(wait) == f"(S3 PutObject) for {wait.seconds:.0f} s, 3 attempts failed, the last ReadTimeout"
    finally:
        release.set()
        worker.join(5)
    assert shared.waiting() is None


def test_a_slow_request_is_named_after_a_few_seconds() -> None:
    clock = Clock()
    shared = retrier(clock)
    inside, release = threading.Event(), threading.Event()

    def attempt() -> None:
        inside.set()
        assert release.wait(5)

    worker = threading.Thread(target=shared.call, args=("file write", attempt))
    worker.start()
    try:
        assert inside.wait(5)
        clock.now += 1.0
        assert shared.waiting() is None  # a second is an ordinary write
        clock.now += 5.0
        assert str(shared.waiting()) == "(file write) for 6 s"
    finally:
        release.set()
        worker.join(5)


def _client_error(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "PutObject")


@pytest.mark.parametrize(("exc", "passes"), [
    (ReadTimeoutError(endpoint_url="http://s3"), True),
    (ConnectTimeoutError(endpoint_url="http://s3"), True),
    (EndpointConnectionError(endpoint_url="http://s3"), True),
    (_client_error(500, "InternalError"), True),
    (_client_error(503, "SlowDown"), True),
    (_client_error(400, "RequestTimeout"), True),
    (_client_error(400, "Throttling"), True),
    (_client_error(403, "AccessDenied"), False),
    (_client_error(404, "NoSuchBucket"), False),
    (_client_error(403, "SignatureDoesNotMatch"), False),
    (_client_error(501, "NotImplemented"), False),
    (SSLError(endpoint_url="https://s3", error="certificate verify failed"), False),
    (NoCredentialsError(), False),
], ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value))
def test_which_s3_failures_may_pass(exc: Exception, passes: bool) -> None:
    assert aws.may_pass(exc) is passes


@pytest.mark.parametrize(("exc", "passes"), [
    (OSError(errno.EIO, "Input/output error"), True),
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.ESTALE, "Stale file handle"), True),
    (TimeoutError(errno.ETIMEDOUT, "Connection timed out"), True),
    (OSError(errno.EACCES, "Permission denied"), False),
    (OSError(errno.EROFS, "Read-only file system"), False),
    (OSError(errno.ENOTDIR, "Not a directory"), False),
])
def test_which_local_failures_may_pass(exc: OSError, passes: bool) -> None:
    assert local.may_pass(exc) is passes


def test_a_store_failure_that_may_pass_ends_the_sync_as_transient() -> None:
    failure = store_failure(timeout_error())
    assert isinstance(failure, TransientFailure) and failure.failure_type == "transient_error"
    assert failure.message == ("Could not write rejected records: bucket 'b': PutObject failed: ReadTimeout: "
                               "s3 did not answer in time")
    assert failure.internal == "PutObject"
    denied = store_failure(StoreError("denied", step="PutObject", target="b"), "The sync ledger could not be "
                           "read or written")
    assert isinstance(denied, SystemFailure) and denied.message == ("The sync ledger could not be read or "
                                                                    "written: denied")
