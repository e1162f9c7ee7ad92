"""The connector's exception tree: what ends a sync, and how it is reported.

    SyncError                 ends the sync: a TRACE error with ``failure_type``, then exit 1
    +-- ConfigurationError    config_error: bad credentials (401/403), bad config, unknown stream mapping
    +-- TransientFailure      transient_error: an outage (429/5xx/timeouts) that outlasted the retry budget
    +-- SystemFailure         system_error: anything else the connector cannot recover from
                              (an unexpected HTTP status, the rejected-record store failing)

Nothing in between: a problem with one record is never an exception; it is a Rejection.
"""

from __future__ import annotations


class SyncError(Exception):
    failure_type = "system_error"

    def __init__(self, message: str, *, internal: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.internal = internal


class ConfigurationError(SyncError):
    failure_type = "config_error"


class TransientFailure(SyncError):
    failure_type = "transient_error"


class SystemFailure(SyncError):
    failure_type = "system_error"
