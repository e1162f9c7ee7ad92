"""AWS access for the S3 store: boto3 sessions for the three credential modes, and error translation.

Credential modes, as Airbyte's spec: ``access_key_id`` + ``secret_access_key``; ``role_arn`` assumed
through STS (with the access keys, when given, else the default chain, as the caller); or neither, the
default AWS chain (environment, shared config, container / instance profile). With ``s3_endpoint``
(MinIO, moto, ...) S3 uses path-style addressing and STS is called at the same endpoint.

The way out is botocore's own, from the environment: HTTPS_PROXY / HTTP_PROXY / NO_PROXY (urllib's
rules; credentials in the URL) and AWS_CA_BUNDLE, else REQUESTS_CA_BUNDLE, else certifi's bundle
(botocore ignores SSL_CERT_FILE); tests/e2e/test_company_network.py holds it to that.

Every failure becomes a :class:`StoreError` naming the bucket, the step and the AWS error code, and
whether a retry may pass (botocore's own standard-mode rules: timeouts, lost connections, 500/502/503/504,
throttling codes such as SlowDown); the client itself makes one attempt per request, so that
``retrying.py`` bounds the retries in time. The access key, secret key and session token are scrubbed
from any text that leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import (BotoCoreError, ClientError, NoCredentialsError, ParamValidationError,
                                 PartialCredentialsError)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import ConnectionClosedError, ProxyConnectionError, ReadTimeoutError
from botocore.exceptions import SSLError as BotoSSLError
from botocore.retries.standard import (OrRetryChecker, RetryContext, ThrottledRetryableChecker,
                                       TransientRetryableChecker)

from ..config import S3Storage
from ..errors import StoreError

ROLE_SESSION_NAME = "airbyte-destination-customer-io"
ROLE_SESSION_SECONDS = 3600

# What to check, by AWS error code: the user reads these in the Airbyte UI.
_HINTS = {
    "InvalidAccessKeyId": "check access_key_id",
    "InvalidClientTokenId": "check access_key_id",
    "SignatureDoesNotMatch": "check secret_access_key",
    "NoSuchBucket": "check s3_bucket_name",
    "AccessDenied": "the credentials need s3:PutObject, s3:ListBucket and s3:DeleteObject on the "
                    "bucket path, s3:GetObject too for the sync ledger (skip_unchanged, mirror mode), "
                    "and sts:AssumeRole when role_arn is set",
    "PermanentRedirect": "check s3_bucket_region",
    "AuthorizationHeaderMalformed": "check s3_bucket_region",
    "IllegalLocationConstraintException": "check s3_bucket_region",
    "ExpiredToken": "the temporary credentials expired",
}


@dataclass(frozen=True, slots=True)
class Timeouts:
    attempts: int  # in all, the first included
    connect_timeout: float
    read_timeout: float


CHECK_TIMEOUTS = Timeouts(attempts=3, connect_timeout=5.0, read_timeout=10.0)
_MAY_PASS = OrRetryChecker([TransientRetryableChecker(), ThrottledRetryableChecker()])


def sync_timeouts(request_timeout: float) -> Timeouts:
    """A sync's: one attempt per request (``retrying.Retrier`` retries within the budget), each
    bounded by the config's request timeout."""
    return Timeouts(attempts=1, connect_timeout=min(10.0, request_timeout), read_timeout=request_timeout)


def may_pass(exc: Exception) -> bool:
    """Whether the same request may succeed later, by botocore's standard retry rules; a certificate
    that does not verify never will."""
    if isinstance(exc, BotoSSLError):
        return False
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return _MAY_PASS.is_retryable(RetryContext(
            1, parsed_response=exc.response, http_response=SimpleNamespace(status_code=status)))
    return _MAY_PASS.is_retryable(RetryContext(1, caught_exception=exc))


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class S3Access:
    """Builds the S3 client of one config and translates its errors."""

    def __init__(self, cfg: S3Storage, timeouts: Timeouts) -> None:
        self.bucket = cfg.s3_bucket_name
        self._cfg = cfg
        self._secrets: tuple[str, ...] = tuple(s for s in (cfg.access_key_id, cfg.secret_access_key) if s)
        self._config = Config(
            retries={"total_max_attempts": timeouts.attempts, "mode": "standard"},
            connect_timeout=timeouts.connect_timeout, read_timeout=timeouts.read_timeout,
            # S3-compatible servers rarely have wildcard DNS for virtual-hosted buckets
            s3={"addressing_style": "path" if cfg.s3_endpoint else "auto"},
        )

    def __repr__(self) -> str:
        return f"S3Access(bucket={self.bucket!r}, endpoint={self._cfg.s3_endpoint!r})"

    @property
    def where(self) -> str:
        """The server, as a user would name it in a connection error."""
        return self._cfg.s3_endpoint or f"S3 in region {self._region or 'us-east-1 (default)'}"

    @property
    def _region(self) -> str | None:
        # a custom endpoint still needs some region to sign with
        return self._cfg.s3_bucket_region or ("us-east-1" if self._cfg.s3_endpoint else None)

    def client(self) -> Any:
        """A boto3 S3 client; blocking (AssumeRole is a request). Raises StoreError."""
        session = self._session()
        try:
            return session.client("s3", endpoint_url=self._cfg.s3_endpoint or None,
                                  region_name=self._region, config=self._config)
        except (BotoCoreError, ValueError) as exc:  # e.g. a malformed endpoint URL
            raise self.error(exc, step="CreateClient") from None

    def error(self, exc: Exception, *, step: str) -> StoreError:
        code, detail = self._describe(exc)
        message = scrub(f"Rejected-records bucket '{self.bucket}': {step} failed: {detail}", self._secrets)
        return StoreError(message, step=step, target=self.bucket, code=code, transient=may_pass(exc))

    def _describe(self, exc: Exception) -> tuple[str, str]:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = str(error.get("Code") or f"HTTP{status}")
            hint = _HINTS.get(code)
            text = f"{code}: {error.get('Message') or 'no message'}"
            return code, f"{text} ({hint})" if hint else text
        if isinstance(exc, BotoSSLError):
            return "SSLError", (f"the TLS certificate of {self.where} could not be verified (if a company proxy "
                                "or a private CA signs it, set AWS_CA_BUNDLE to a PEM bundle that includes that CA)")
        if isinstance(exc, ProxyConnectionError):  # its text holds the proxy URL, credentials included
            return "ProxyError", f"the proxy (HTTPS_PROXY / HTTP_PROXY) refused or failed the connection to {self.where}"
        if isinstance(exc, (BotoConnectionError, ConnectionClosedError)):
            return "ConnectionError", f"could not connect to {self.where} ({type(exc).__name__})"
        if isinstance(exc, ReadTimeoutError):
            return "ReadTimeout", f"{self.where} did not answer in time"
        if isinstance(exc, NoCredentialsError):
            return "NoCredentials", ("no AWS credentials found: set access_key_id and "
                                     "secret_access_key, or role_arn, or run with an instance profile")
        if isinstance(exc, ParamValidationError) and "Invalid bucket name" in str(exc):
            # boto's own text is two regular expressions; say what a bucket name looks like instead
            return "InvalidBucketName", (
                f"'{self.bucket}' is not a valid bucket name: give the name alone (no s3:// and no "
                "path: the path goes in bucket_path), 3 to 63 lowercase letters, digits, dots and "
                "hyphens, starting and ending with a letter or digit, e.g. 'my-rejected-records' "
                "(check s3_bucket_name)")
        if isinstance(exc, PartialCredentialsError):
            return "PartialCredentials", "access_key_id and secret_access_key must be given together"
        return type(exc).__name__, str(exc)

    def _session(self) -> boto3.Session:
        cfg = self._cfg
        if bool(cfg.access_key_id) != bool(cfg.secret_access_key):
            raise self.error(PartialCredentialsError(provider="config", cred_var="secret_access_key"),
                             step="Credentials")
        base = boto3.Session(aws_access_key_id=cfg.access_key_id or None,
                             aws_secret_access_key=cfg.secret_access_key or None,
                             region_name=self._region)
        if not cfg.role_arn:
            return base
        botocore_session = botocore.session.Session()
        # boto3 has no public way to hand a session refreshable credentials; without refresh the
        # role's credentials would expire after an hour, in the middle of long syncs
        botocore_session._credentials = self._assumed_role(base)  # noqa: SLF001
        return boto3.Session(botocore_session=botocore_session, region_name=self._region)

    def _assumed_role(self, base: boto3.Session) -> RefreshableCredentials:
        try:
            sts = base.client("sts", endpoint_url=self._cfg.s3_endpoint or None,
                              region_name=self._region or "us-east-1", config=self._config)
        except (BotoCoreError, ValueError) as exc:
            raise self.error(exc, step="AssumeRole") from None

        def refresh() -> dict[str, str]:
            try:
                answer = sts.assume_role(RoleArn=self._cfg.role_arn, RoleSessionName=ROLE_SESSION_NAME,
                                         DurationSeconds=ROLE_SESSION_SECONDS)
            except (BotoCoreError, ClientError) as exc:
                raise self.error(exc, step="AssumeRole") from None
            found = answer["Credentials"]
            self._secrets += (found["SecretAccessKey"], found["SessionToken"])
            return {"access_key": found["AccessKeyId"], "secret_key": found["SecretAccessKey"],
                    "token": found["SessionToken"], "expiry_time": found["Expiration"].isoformat()}

        return RefreshableCredentials.create_from_metadata(refresh(), refresh, "sts-assume-role")
