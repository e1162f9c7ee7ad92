"""Config failures give a clear message, no stack trace and the right failure_type; and no secret from
the config ever appears in stdout, stderr, the rejected files or the logs, whatever fails: a bad API
key, S3 access denied, a bad S3 endpoint, 500s until the retry budget ends, a SIGKILL mid-sync.
Also: TLS verification is on for every real host; only the base URL override reaches plain HTTP."""

from __future__ import annotations

import base64
import os
import signal
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

from destination_customer_io.config import parse_config
from destination_customer_io.track import TrackClient
from tests.support.s3 import MotoS3

from .harness import API_KEY, SITE_ID, build_dataset, make_config, run_cli


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _clean(run: Any) -> None:
    """A failure is a TRACE (or a FAILED status), never a Python traceback."""
    assert run.stderr == b"", run.stderr[-2000:]
    for error in run.errors:
        assert "stack_trace" not in error, error
        assert "Traceback" not in error["message"]


@pytest.mark.parametrize("change, words", [
    ({"credentials": None}, "credentials"),
    ({"credentials": {"siteId": SITE_ID}}, "apiKey"),
    ({"lanes": "eight"}, "lanes"),
    ({"request_timeout_seconds": -1}, "request_timeout_seconds"),
    ({"identifierType": "phone"}, "identifierType"),
    ({"object_storage_config": {"storage_type": "S3"}}, "s3_bucket_name"),
], ids=["missing_credentials", "missing_api_key", "wrong_type", "out_of_range", "unknown_identifier_type",
        "s3_missing_bucket"])
def test_bad_config_is_a_config_error(change: dict[str, Any], words: str, emu: Any, tmp_path: Path) -> None:
    config = {**make_config(emu.url, None), **change}
    config = {k: v for k, v in config.items() if v is not None}
    write = run_cli(tmp_path / "write", config, [], timeout=30)
    check = run_cli(tmp_path / "check", config, None, command="check", timeout=30)

    assert write.returncode == 1
    assert [e["failure_type"] for e in write.errors] == ["config_error"]
    assert words in write.errors[0]["message"]
    _clean(write)
    assert check.returncode == 0  # a failed check is an answer
    status = check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and words in status["message"]


def test_unreachable_host_and_bad_s3_endpoint(emu: Any, tmp_path: Path, rejected_dir: Path) -> None:
    closed = _closed_port_url()
    host = make_config(closed, None, retry_max_seconds=1.0)
    check = run_cli(tmp_path / "check", host, None, command="check", timeout=60)
    write = run_cli(tmp_path / "write", host, build_dataset(people=2, events=5).lines, timeout=60)
    s3 = make_config(emu.url, None, object_storage_config={
        "storage_type": "S3", "s3_bucket_name": "rejected", "bucket_path": "p", "s3_bucket_region": "us-east-1",
        "access_key_id": "AKIAEXAMPLEKEY", "secret_access_key": "s3-secret-value-1", "s3_endpoint": closed})
    s3_check = run_cli(tmp_path / "s3check", s3, None, command="check", timeout=60)
    s3_write = run_cli(tmp_path / "s3write", s3, build_dataset(people=2, events=5, invalid_every=2).lines,
                       timeout=60)

    status = check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "Could not reach the Track API" in status["message"]
    assert write.returncode == 1 and [e["failure_type"] for e in write.errors] == ["transient_error"]
    assert "connection error" in write.errors[0]["message"]
    status = s3_check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "could not connect" in status["message"]
    # probed before anything is sent (as check does): a config error, not a failure late in the sync
    assert s3_write.returncode == 1 and [e["failure_type"] for e in s3_write.errors] == ["config_error"]
    assert "could not connect" in s3_write.errors[0]["message"] and s3_write.states == []
    for run in (check, write, s3_check, s3_write):
        _clean(run)


# --- secrets -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    from moto.moto_api._internal.models import moto_api_backend

    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    moto_api_backend.reset()  # moto's state is per process: other suites' IAM users must go
    server = MotoS3(enforce_auth=True).start()
    server.create_bucket("rejected")
    yield server
    server.stop()


def _forms(secret: str) -> list[bytes]:
    return [secret.encode(), base64.b64encode(secret.encode())]


def test_no_secret_in_any_output(emu: Any, moto: MotoS3, tmp_path: Path) -> None:
    api_key = "cio-api-key-9f8e7d6c5b4a"
    writer = moto.create_user("writer", ["s3:PutObject", "s3:ListBucket", "s3:DeleteObject", "s3:GetObject"])
    reader = moto.create_user("reader", ["s3:ListBucket"])  # may not write: AccessDenied
    storage = {"storage_type": "S3", "s3_bucket_name": "rejected", "bucket_path": "dlq",
               "s3_bucket_region": "us-east-1", "s3_endpoint": moto.endpoint,
               "format": {"format_type": "JSONL"}}
    good = {**storage, "access_key_id": writer.access_key_id, "secret_access_key": writer.secret_access_key}
    denied = {**storage, "access_key_id": reader.access_key_id, "secret_access_key": reader.secret_access_key}
    bad = {**storage, "access_key_id": "AKIANOTAREALKEY00001", "secret_access_key": "not-a-real-secret-000001"}
    emu.client.reset()
    # the emulator knows a second key, so the connector can be authorised with a key we then leak-check
    dataset = build_dataset(people=10, events=80, invalid_every=4, seed=41)
    cases: dict[str, tuple[dict[str, Any], str, dict[str, Any] | None, tuple[float, int] | None]] = {
        "spec": ({}, "spec", None, None),
        "check_bad_key": ({"credentials": {"siteId": SITE_ID, "apiKey": api_key}, "object_storage_config": good},
                          "check", None, None),
        "discover": ({"object_storage_config": good}, "discover", None, None),
        "write_bad_key": ({"credentials": {"siteId": SITE_ID, "apiKey": api_key}}, "write", None, None),
        "check_s3_denied": ({"object_storage_config": denied}, "check", None, None),
        "write_s3_denied": ({"object_storage_config": denied}, "write", None, None),
        "write_s3_bad_keys": ({"object_storage_config": bad}, "write", None, None),
        "write_500s": ({"object_storage_config": good, "retry_max_seconds": 1.0}, "write",
                       {"error_rate": 1.0, "error_statuses": [500]}, None),
        "write_sigkill": ({"object_storage_config": good}, "write", {"latency_ms": 20}, (0.9, signal.SIGKILL)),
        "write_ok": ({"object_storage_config": good}, "write", None, None),
    }
    secrets = [API_KEY, api_key, writer.access_key_id, writer.secret_access_key, reader.access_key_id,
               reader.secret_access_key, bad["access_key_id"], bad["secret_access_key"]]
    outputs: list[bytes] = []
    for name, (change, command, faults, kill) in cases.items():
        emu.client.set_faults(faults or {})
        config = {**make_config(emu.url, None), **change}
        run = run_cli(tmp_path / name, config, dataset.lines, command=command, timeout=60, signal_after=kill)
        outputs += [run.stdout, run.stderr]
        assert run.stderr == b"" or kill, (name, run.stderr[-1000:])
        if name.startswith("write_") and name not in ("write_ok", "write_sigkill"):
            assert run.returncode == 1 and run.errors, name
    emu.client.clear_faults()
    files = list(moto.objects("rejected").values())
    assert files, "the successful runs wrote rejected files"
    # the failure paths were taken: the denied/bad S3 runs and the bad key reported their problem
    everything = b"\n".join(outputs + files)
    assert b"AccessDenied" in everything and b"InvalidAccessKeyId" in everything
    assert b"refused the credentials" in everything
    for secret in secrets:
        for form in _forms(secret):
            assert form not in everything, f"a secret ({len(secret)} chars) leaked"


def test_tls_verification_is_on_and_only_the_override_is_plain_http() -> None:
    """The client never turns off certificate checks, and without the override every host it will
    talk to (or follow a redirect to) is https://*.customer.io."""
    config = parse_config({"credentials": {"siteId": "s", "apiKey": "k"}})
    client = TrackClient(config, session=None)  # type: ignore[arg-type]
    assert client.base_url == "https://track.customer.io"
    assert client._allowed("https://track-eu.customer.io/api/v2/batch")
    assert not client._allowed("http://track.customer.io/api/v2/batch")
    assert not client._allowed("https://track.customer.io.evil.example/api")
    assert not client._allowed("http://127.0.0.1:8089/api")
    override = TrackClient(parse_config({"credentials": {"siteId": "s", "apiKey": "k"},
                                         "track_api_base_url": "http://127.0.0.1:8089"}), session=None)  # type: ignore[arg-type]
    assert override._allowed("http://127.0.0.1:8089/api/v2/batch")
    assert not override._allowed("http://127.0.0.1:9999/api/v2/batch")
    source = (Path(__file__).resolve().parents[2] / "src" / "destination_customer_io").rglob("*.py")
    for path in source:
        text = path.read_text(encoding="utf-8")
        for needle in ("ssl=False", "verify_ssl=False", "verify=False", "CERT_NONE", "check_hostname = False"):
            assert needle not in text, f"{path.name} disables TLS verification ({needle})"
