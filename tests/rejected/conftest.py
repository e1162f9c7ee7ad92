"""Fixtures for the rejected-records store tests: a moto S3/STS/IAM server on loopback, with auth on."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# `tests.support` must import whether pytest was started as `python -m pytest` or as `pytest`
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# boto3 must never probe the instance metadata address, even while the default chain is resolved
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from destination_customer_io.config import S3Storage  # noqa: E402
from tests.support.s3 import MotoS3  # noqa: E402

_AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                  "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                  "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS")


@pytest.fixture(autouse=True)
def _isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials or endpoints from the machine: only what each test gives."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


@pytest.fixture(scope="package")
def moto() -> Iterator[MotoS3]:
    server = MotoS3(enforce_auth=True).start()
    yield server
    server.stop()


@pytest.fixture
def bucket(moto: MotoS3) -> str:
    return moto.create_bucket(f"rejected-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def s3_config(moto: MotoS3, bucket: str) -> Callable[..., S3Storage]:
    """Builds an S3Storage for the test bucket with the admin keys; keywords override fields."""

    def build(**overrides: Any) -> S3Storage:
        fields: dict[str, Any] = {
            "s3_bucket_name": bucket, "bucket_path": "dlq", "s3_bucket_region": "us-east-1",
            "access_key_id": moto.admin.access_key_id,
            "secret_access_key": moto.admin.secret_access_key, "s3_endpoint": moto.endpoint,
        }
        fields.update(overrides)
        return S3Storage(**fields)

    return build
