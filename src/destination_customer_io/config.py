"""The typed connector configuration: parsed once from config.json, validated with field-precise errors.

Accepts every config written for Airbyte's Kotlin connector unchanged (``credentials``, ``identifierType``,
``object_storage_config``) and adds our own keys with defaults. Unknown keys are accepted, as Airbyte's
spec allows (``additionalProperties: true``); the CLI warns about them (rawconfig.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

from .errors import ConfigurationError

US_TRACK_URL = "https://track.customer.io"
EU_TRACK_URL = "https://track-eu.customer.io"


class Credentials(msgspec.Struct, frozen=True):
    siteId: str
    apiKey: str

    def __repr__(self) -> str:  # never print the secrets
        return "Credentials(siteId=***, apiKey=***)"


# --- rejected-record storage ("dead letter queue"), as in Airbyte's spec --------------------------

class CsvFormat(msgspec.Struct, frozen=True, tag_field="format_type", tag="CSV"):
    flattening: Literal["No flattening", "Root level flattening"] = "No flattening"


class JsonlFormat(msgspec.Struct, frozen=True, tag_field="format_type", tag="JSONL"):
    flattening: Literal["No flattening", "Root level flattening"] = "No flattening"


class NoCompression(msgspec.Struct, frozen=True, tag_field="compression_type", tag="No Compression"):
    pass


class GzipCompression(msgspec.Struct, frozen=True, tag_field="compression_type", tag="GZIP"):
    pass


DEFAULT_PATH_FORMAT = "{sync_id}/{namespace}/{stream_name}/"
DEFAULT_FILE_NAME_FORMAT = "{date}_{timestamp}_{part_number}{format_extension}"


class NoStorage(msgspec.Struct, frozen=True, tag_field="storage_type", tag="None"):
    pass


class S3Storage(msgspec.Struct, frozen=True, tag_field="storage_type", tag="S3"):
    s3_bucket_name: str
    bucket_path: str
    s3_bucket_region: str = ""
    access_key_id: str | None = None
    secret_access_key: str | None = None
    role_arn: str | None = None
    s3_endpoint: str | None = None
    format: CsvFormat | JsonlFormat = CsvFormat()
    compression: NoCompression | GzipCompression = NoCompression()
    path_format: str = DEFAULT_PATH_FORMAT
    file_name_format: str = DEFAULT_FILE_NAME_FORMAT

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.s3_bucket_name!r}, path={self.bucket_path!r}, keys=***)"


class LocalStorage(msgspec.Struct, frozen=True, tag_field="storage_type", tag="Local"):
    destination_path: str
    format: CsvFormat | JsonlFormat = CsvFormat()
    compression: NoCompression | GzipCompression = NoCompression()
    path_format: str = DEFAULT_PATH_FORMAT
    file_name_format: str = DEFAULT_FILE_NAME_FORMAT


StorageConfig = NoStorage | S3Storage | LocalStorage


# --- field mapping for catalogs without destination_object_name (PyAirbyte, scripts) ------------

class StreamMapping(msgspec.Struct, frozen=True):
    stream: str
    object: str
    namespace: str | None = None
    # operation field <- source column name, or {"const": value}
    fields: dict[str, str | dict[str, Any]] = {}

    def __post_init__(self) -> None:
        # A typo such as {"value": "purchase"} would otherwise silently set the field to null.
        for target, source in self.fields.items():
            if isinstance(source, dict) and set(source) != {"const"}:
                raise ValueError(
                    f"stream_mappings: field `{target}` of stream `{self.stream}` must be a source column "
                    'name or {"const": <value>}'
                )


class Config(msgspec.Struct, frozen=True):
    credentials: Credentials
    identifierType: Literal["email", "id", "cio_id"] = "email"
    object_storage_config: StorageConfig = NoStorage()
    # --- ours ---
    region: Literal["auto", "us", "eu"] = "auto"
    track_api_base_url: str | None = None
    # mapping and validation
    convert_timestamps: bool = True
    null_values: Literal["omit", "null", "empty_string"] = "null"  # Kotlin's: a warehouse NULL clears it
    oversized_attributes: Literal["reject", "drop", "truncate"] = "reject"
    stream_mappings: list[StreamMapping] = []
    send_other_identifiers: bool = False  # Kotlin drops the identifier columns from attributes
    event_ids: Literal["derived", "source"] = "derived"
    max_rejected_percent: float | None = None  # None: rejections never fail a sync
    # the sync ledger (docs/mirror.md): change-only resyncs, mirror removals, dry runs
    skip_unchanged: bool = False
    resend_unchanged_after_days: float = 30.0
    mirror_without_stream_status: bool = False
    max_mirror_removal_percent: float = 20.0
    ledger_scope: str = "default"  # tells apart two connections sharing one store and workspace
    dry_run: bool = False
    # segment_membership: identify each person before adding them; None: on for mirror streams only
    create_missing_people: bool | None = None
    sync_log: bool = False  # every input record's outcome, in the store (synclog.py)
    retry_refused: bool = False  # refused records re-sent at the start of later syncs (retry.py)
    retry_max_attempts: int = 5
    # tuning
    # Batches in flight: enough that lanes x ~1,000 ops per round trip exceed the CPU-bound rate at 50 ms
    # of latency; each lane costs an open batch of memory, no CPU (measured: docs/performance.md).
    lanes: int = 24
    batch_max_bytes: int = 500_000
    max_inflight_bytes: int = 16_000_000
    request_timeout_seconds: float = 30.0
    retry_max_seconds: float = 300.0
    retry_initial_backoff_seconds: float = 0.5
    retry_max_backoff_seconds: float = 30.0
    max_requests_per_second: float | None = None  # a hard cap over any one-second window (pacing.RateCap)
    state_max_delay_seconds: float = 1.0
    progress_interval_seconds: float = 10.0
    stop_grace_seconds: float = 8.0  # after SIGTERM: time to deliver what was read (Docker kills at 10 s)

    def __post_init__(self) -> None:
        _check_range("lanes", self.lanes, 1, 256)
        if self.max_rejected_percent is not None and not 0 <= self.max_rejected_percent <= 100:
            raise ValueError(f"`max_rejected_percent` must be between 0 and 100, got {self.max_rejected_percent}")
        if not 0 <= self.max_mirror_removal_percent <= 100:
            raise ValueError("`max_mirror_removal_percent` must be between 0 and 100, got "
                             f"{self.max_mirror_removal_percent}")
        if self.resend_unchanged_after_days <= 0:
            raise ValueError("`resend_unchanged_after_days` must be > 0")
        if self.max_requests_per_second is not None and self.max_requests_per_second <= 0:
            raise ValueError(f"`max_requests_per_second` must be > 0, got {self.max_requests_per_second}")
        if self.retry_max_attempts < 1:
            raise ValueError("`retry_max_attempts` must be at least 1")
        if not self.ledger_scope.strip():
            raise ValueError("`ledger_scope` must not be empty")
        _check_range("batch_max_bytes", self.batch_max_bytes, 1_000, 500_000)
        _check_range("max_inflight_bytes", self.max_inflight_bytes, 100_000, 2_000_000_000)
        for name in ("request_timeout_seconds", "retry_max_seconds", "state_max_delay_seconds",
                     "retry_initial_backoff_seconds", "retry_max_backoff_seconds",
                     "progress_interval_seconds", "stop_grace_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0")
        if not self.credentials.siteId.strip():
            raise ValueError("`credentials.siteId` must not be empty")
        if not self.credentials.apiKey.strip():
            raise ValueError("`credentials.apiKey` must not be empty")
        if self.track_api_base_url is not None:
            _check_base_url(self.track_api_base_url)

    def secrets(self) -> list[str]:
        """Every secret value in this config, for the output scrubber."""
        found = [self.credentials.siteId, self.credentials.apiKey]
        storage = self.object_storage_config
        if isinstance(storage, S3Storage):
            found += [s for s in (storage.access_key_id, storage.secret_access_key) if s]
        return [s for s in found if s]


def _check_base_url(url: str) -> None:
    # without a scheme aiohttp fails later with an empty host: "Could not reach the Track API at : ..."
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"`track_api_base_url` must be an http:// or https:// URL with a host "
                         f"(e.g. `http://127.0.0.1:8089`), got `{url}`")


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"`{name}` must be between {low} and {high}, got {value}")


def parse_config(raw: Any) -> Config:
    """Validate a decoded config.json; ConfigurationError names the offending field."""
    if not isinstance(raw, dict):
        raise ConfigurationError("The config must be a JSON object")
    try:
        return msgspec.convert(raw, Config, str_keys=True)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(f"Invalid config: {_describe(exc, raw)}") from None


def _describe(exc: msgspec.ValidationError, raw: dict[str, Any]) -> str:
    # msgspec says "Expected `str`, got `int` - at `$.credentials.siteId`"; an enum error quotes the
    # value given (the CLI masks secrets in it) and gets the values allowed there.
    text = str(exc).replace("$.", "").replace(" - at `$`", "")
    invalid = re.fullmatch(r"Invalid (?:enum )?value .* - at `([\w.]+)`", text)
    if invalid:
        from .rawconfig import allowed_values

        allowed = allowed_values(raw, invalid.group(1))
        if allowed:
            text += f"; allowed: {', '.join(f'`{value}`' for value in allowed)}"
    return text


def read_json_file(path: str | Path, what: str) -> Any:
    """A config or catalog file, decoded; ConfigurationError says where the JSON breaks (line and column)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{what} file not found: {path}") from None
    except json.JSONDecodeError as exc:  # its msg is fixed text ("Expecting ',' delimiter"), no content
        raise ConfigurationError(f"{what} file {path} is not valid JSON: {exc.msg} at line {exc.lineno} "
                          f"column {exc.colno}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{what} file {path} is not valid JSON: {type(exc).__name__}") from None


def load_config(path: str | Path) -> Config:
    return parse_config(read_json_file(path, "Config"))
