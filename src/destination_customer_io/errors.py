"""The connector's exception tree: what ends a sync, and how it is reported.

    Exception
    +-- SyncError                 ends the sync: a TRACE error with ``failure_type``, then exit 1
    |   +-- ConfigurationError    config_error: bad credentials (401/403), a config or catalog file that is
    |   |                         missing, not JSON or invalid, an unknown stream mapping; in ``check`` a
    |   |                         CONNECTION_STATUS FAILED (exit 0) instead of a TRACE
    |   +-- TransientFailure      transient_error: an outage that outlasted the retry budget: Customer.io's
    |   |                         (429/5xx/timeouts) or the store's (timeouts, lost connections, S3 5xx and
    |   |                         throttling, I/O errors that may pass)
    |   +-- SystemFailure         system_error: anything else the connector cannot recover from
    |                             (an unexpected HTTP status, the store refusing a write: AccessDenied, ...)
    +-- StoreError                the rejected-record store could not write (``step``, ``target``, ``code``,
    |                             ``transient``: a retry might have passed); raised inside ``rejected/``
    |                             only, and turned into a TransientFailure or SystemFailure (or, when the
    |                             store is opened, a ConfigurationError) before it reaches the CLI
    +-- output.OutputClosed       stdout was closed by its reader: ``main`` stops, one line on stderr, exit 1
    +-- ledgertool.LedgerCommandError   a mistake in a ``ledger`` command (no storage, unknown stream):
                                  one line on stderr, exit 1 (that command is for people, not Airbyte)

A ValueError raised while the config is validated (``config.py``) or a date pattern is read
(``rejected/keys.py``) never leaves its module: it becomes a ConfigurationError / StoreError there.

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


class StoreError(Exception):
    """The store could not write; ``step`` names what failed (e.g. ``PutObject``), never a secret."""

    def __init__(self, message: str, *, step: str, target: str, code: str | None = None,
                 transient: bool = False) -> None:
        super().__init__(message)
        self.step = step
        self.target = target  # bucket / directory
        self.code = code  # the AWS error code (e.g. ``AccessDenied``) or errno name, when known
        self.transient = transient  # a timeout, a lost connection, a 5xx: the same write may pass later


def store_failure(exc: StoreError, doing: str = "Could not write rejected records") -> SyncError:
    """A store that could not write, as the sync reports it (the failing step as internal message):
    transient_error when it may pass (the platform retries the attempt), else system_error."""
    kind = TransientFailure if exc.transient else SystemFailure
    return kind(f"{doing}: {exc}", internal=exc.step)
