"""The production network path through the real CLI: HTTPS with a private CA, CA bundles from the
environment, and HTTP(S) proxies (a real CONNECT proxy on loopback, tests/support/proxy.py).

The emulator here serves HTTPS with a throw-away CA's certificate (for 127.0.0.1, localhost and the
Track API's public names). Tests that use the public names reach them only through the proxy, which
maps them to the emulator's loopback port: no DNS, no address but loopback.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from customerio_emulator.process import EmulatorProcess, start_emulator_process
from tests.support.cli import (Run, base_config, configured_stream, network_env, record_line, run_connector,
                               state_line)
from tests.support.proxy import ForwardProxy
from tests.support.s3 import MotoS3
from tests.support.tls import TestPKI

SITE, KEY = "site-tls", "key-tls-secret"
WORKSPACES = [{"site_id": SITE, "api_key": KEY, "region": "us"},
              {"site_id": "site-tls-eu", "api_key": "key-tls-eu", "region": "eu"}]
PROXY_PASSWORD = "pr0xy-S3cret-pw"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def emulator(pki: TestPKI) -> Iterator[EmulatorProcess]:
    """Overrides conftest's: the same emulator, over HTTPS."""
    with start_emulator_process(WORKSPACES, tls=(str(pki.cert_file), str(pki.key_file)),
                                client_context=pki.client_context()) as emu:
        yield emu


def catalog() -> dict[str, Any]:
    return {"streams": [configured_stream("users", "person_identify", mode="append_dedup",
                                          primary_key=[["person_email"]])]}


def users(n: int, tag: str) -> list[str]:
    lines = [record_line("users", {"person_email": f"{tag}{i}@example.com", "plan": tag}) for i in range(n)]
    return [*lines, state_line("users", n)]


def public_config(site: str, key: str, **extra: Any) -> dict[str, Any]:
    """No override host: the connector's own https://track.customer.io."""
    config = base_config("", site, key, **extra)
    del config["track_api_base_url"]
    return config


def status_of(run: Run) -> dict[str, Any]:
    return run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]


def batch_hosts(emu: EmulatorProcess, site: str = SITE) -> list[tuple[str, int]]:
    return [(r["host"], r["status"]) for r in emu.client.requests(site_id=site) if r["path"].endswith("/batch")]


def assert_no_traceback(run: Run) -> None:
    assert b"Traceback" not in run.stdout and b"Traceback" not in run.stderr


# --- HTTPS and CA bundles ---------------------------------------------------------------------------

@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_a_sync_over_https_trusts_the_ca_bundle_named_in(variable: str, emu: EmulatorProcess, pki: TestPKI,
                                                         tmp_path: Path) -> None:
    assert emu.url.startswith("https://127.0.0.1:")
    env = network_env(**{variable: str(pki.ca_file)})
    check = run_connector(tmp_path, "check", base_config(emu.url, SITE, KEY), env=env)
    assert status_of(check)["status"] == "SUCCEEDED", status_of(check)
    run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY), catalog(), users(5, "tls"), env=env)
    assert run.returncode == 0, run.stdout
    assert len(run.states) == 1
    assert [p["attributes"]["plan"] for p in emu.client.people(site_id=SITE)] == ["tls"] * 5
    # region auto: the emulator's answer named its https:// host, and every batch went there
    assert set(batch_hosts(emu)) == {("us", 200)}


def test_a_307_regional_redirect_is_followed_over_https(emu: EmulatorProcess, pki: TestPKI, tmp_path: Path) -> None:
    config = base_config(emu.url, "site-tls-eu", "key-tls-eu", region="us")
    run = run_connector(tmp_path, "write", config, catalog(), users(1, "eu"),
                        env=network_env(SSL_CERT_FILE=str(pki.ca_file)))
    assert run.returncode == 0, run.stdout
    assert batch_hosts(emu, "site-tls-eu") == [("us", 307), ("eu", 200)]
    assert len(emu.client.people(site_id="site-tls-eu")) == 1


def test_an_untrusted_certificate_fails_check_at_once_naming_the_host(emu: EmulatorProcess, tmp_path: Path) -> None:
    started = time.monotonic()
    check = run_connector(tmp_path, "check", base_config(emu.url, SITE, KEY), env=network_env())
    elapsed = time.monotonic() - started
    assert check.returncode == 0
    status = status_of(check)
    assert status["status"] == "FAILED"
    assert "certificate" in status["message"] and "127.0.0.1" in status["message"], status
    assert "SSL_CERT_FILE" in status["message"]
    assert_no_traceback(check)
    assert elapsed < 8, f"a certificate failure must not be retried ({elapsed:.1f} s)"
    assert emu.client.requests(site_id=SITE) == []  # the handshake failed: no request reached it


def test_an_untrusted_certificate_ends_write_as_a_config_error_without_retrying(
        emu: EmulatorProcess, tmp_path: Path) -> None:
    config = base_config(emu.url, SITE, KEY, retry_max_seconds=120)  # retried, it would take minutes
    started = time.monotonic()
    run = run_connector(tmp_path, "write", config, catalog(), users(3, "no"), env=network_env(), timeout=60)
    elapsed = time.monotonic() - started
    assert run.returncode == 1
    assert [e["failure_type"] for e in run.errors] == ["config_error"]
    assert "certificate" in run.errors[0]["message"] and "127.0.0.1" in run.errors[0]["message"]
    assert "stack_trace" not in run.errors[0]
    assert_no_traceback(run)
    assert elapsed < 8, f"a certificate failure must not be retried ({elapsed:.1f} s)"
    assert emu.client.people(site_id=SITE) == []


def test_a_ca_bundle_that_cannot_be_read_is_named(emu: EmulatorProcess, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-bundle.pem"
    check = run_connector(tmp_path, "check", base_config(emu.url, SITE, KEY),
                          env=network_env(REQUESTS_CA_BUNDLE=str(missing)))
    status = status_of(check)
    assert status["status"] == "FAILED"
    assert "REQUESTS_CA_BUNDLE" in status["message"] and str(missing) in status["message"], status
    assert_no_traceback(check)


# --- proxies ------------------------------------------------------------------------------------------

def emulator_port(emu: EmulatorProcess) -> int:
    return int(emu.url.rsplit(":", 1)[1])


@pytest.mark.parametrize("case", ["upper", "lower"])
def test_https_proxy_carries_every_request_to_the_public_hosts(case: str, emu: EmulatorProcess, pki: TestPKI,
                                                               tmp_path: Path) -> None:
    """No override host: the connector's production URLs, reached through the proxy only (it maps
    track.customer.io to the emulator); certificates verified for the public names."""
    routes = {"track.customer.io:443": ("127.0.0.1", emulator_port(emu))}
    name = "HTTPS_PROXY" if case == "upper" else "https_proxy"
    with ForwardProxy(routes=routes) as proxy:
        env = network_env(**{name: proxy.url, "SSL_CERT_FILE": str(pki.ca_file)})
        config = public_config("site-tls-eu", "key-tls-eu")
        check = run_connector(tmp_path, "check", config, env=env)
        assert status_of(check)["status"] == "SUCCEEDED", status_of(check)
        assert "track.customer.io" in status_of(check)["message"]
        run = run_connector(tmp_path, "write", config, catalog(), users(4, "px"), env=env)
    assert run.returncode == 0, run.stdout
    assert len(emu.client.people(site_id="site-tls-eu")) == 4
    # region auto sent the EU workspace to its own host (the emulator's /eu), through the tunnel
    assert set(batch_hosts(emu, "site-tls-eu")) == {("eu", 200)}
    assert proxy.tunnels() and set(proxy.tunnels()) == {"track.customer.io:443"}
    assert all(v.status == 200 for v in proxy.log)


def test_a_regional_redirect_between_public_hosts_through_the_proxy(emu: EmulatorProcess, pki: TestPKI,
                                                                    tmp_path: Path) -> None:
    routes = {"track.customer.io:443": ("127.0.0.1", emulator_port(emu))}
    with ForwardProxy(routes=routes) as proxy:
        config = public_config("site-tls-eu", "key-tls-eu", region="us")
        run = run_connector(tmp_path, "write", config, catalog(), users(1, "rd"),
                            env=network_env(HTTPS_PROXY=proxy.url, REQUESTS_CA_BUNDLE=str(pki.ca_file)))
    assert run.returncode == 0, run.stdout
    assert batch_hosts(emu, "site-tls-eu") == [("us", 307), ("eu", 200)]
    assert set(proxy.tunnels()) == {"track.customer.io:443"}


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.0/8", "*"])
def test_hosts_in_no_proxy_bypass_the_proxy(no_proxy: str, emu: EmulatorProcess, pki: TestPKI,
                                            tmp_path: Path) -> None:
    with ForwardProxy() as proxy:
        env = network_env(HTTPS_PROXY=proxy.url, no_proxy=no_proxy, SSL_CERT_FILE=str(pki.ca_file))
        run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY), catalog(), users(2, "np"), env=env)
    assert run.returncode == 0, run.stdout
    assert len(emu.client.people(site_id=SITE)) == 2
    assert proxy.log == []


def test_a_host_not_in_no_proxy_still_goes_through_it(emu: EmulatorProcess, pki: TestPKI, tmp_path: Path) -> None:
    with ForwardProxy() as proxy:
        env = network_env(HTTPS_PROXY=proxy.url, NO_PROXY="example.com,10.0.0.0/8",
                          SSL_CERT_FILE=str(pki.ca_file))
        run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY), catalog(), users(2, "in"), env=env)
    assert run.returncode == 0, run.stdout
    assert set(proxy.tunnels()) == {f"127.0.0.1:{emulator_port(emu)}"}


def test_proxy_credentials_are_sent_and_never_printed(emu: EmulatorProcess, pki: TestPKI, tmp_path: Path) -> None:
    with ForwardProxy(credentials=("etl", PROXY_PASSWORD)) as proxy:
        env = network_env(HTTPS_PROXY=proxy.url_with("etl", PROXY_PASSWORD), SSL_CERT_FILE=str(pki.ca_file))
        run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY), catalog(), users(2, "cr"), env=env)
    assert run.returncode == 0, run.stdout
    assert proxy.log and all(v.authorized and v.status == 200 for v in proxy.log)
    assert PROXY_PASSWORD.encode() not in run.stdout + run.stderr


@pytest.mark.parametrize("command", ["check", "write"])
def test_a_proxy_refusing_the_credentials_407_ends_with_a_clear_message_and_no_password(
        command: str, emu: EmulatorProcess, pki: TestPKI, tmp_path: Path) -> None:
    wrong = "Wr0ng-" + PROXY_PASSWORD
    with ForwardProxy(credentials=("etl", PROXY_PASSWORD)) as proxy:
        env = network_env(HTTPS_PROXY=proxy.url_with("etl", wrong), SSL_CERT_FILE=str(pki.ca_file))
        started = time.monotonic()
        run = run_connector(tmp_path, command, base_config(emu.url, SITE, KEY, retry_max_seconds=120),
                            catalog() if command == "write" else None, users(1, "x"), env=env, timeout=60)
        elapsed = time.monotonic() - started
    assert [(v.status, v.authorized) for v in proxy.log] == [(407, False)]  # tried once, not retried
    message = status_of(run)["message"] if command == "check" else run.errors[0]["message"]
    assert "407" in message and f"127.0.0.1:{proxy.port}" in message, message
    if command == "write":
        assert run.returncode == 1 and run.errors[0]["failure_type"] == "config_error"
    else:
        assert run.returncode == 0 and status_of(run)["status"] == "FAILED"
    assert wrong.encode() not in run.stdout + run.stderr and PROXY_PASSWORD.encode() not in run.stdout
    assert_no_traceback(run)
    assert elapsed < 8


@pytest.mark.parametrize("command", ["check", "write"])
def test_a_proxy_answering_502_ends_with_a_clear_message(command: str, emu: EmulatorProcess, pki: TestPKI,
                                                         tmp_path: Path) -> None:
    """A 502 from the proxy may pass (its upstream is down): retried within the budget, then named."""
    with ForwardProxy(refuse=502) as proxy:
        env = network_env(HTTPS_PROXY=proxy.url_with("etl", PROXY_PASSWORD), SSL_CERT_FILE=str(pki.ca_file))
        run = run_connector(tmp_path, command, base_config(emu.url, SITE, KEY, retry_max_seconds=1),
                            catalog() if command == "write" else None, users(1, "x"), env=env, timeout=60)
    assert len(proxy.log) >= 2 and {v.status for v in proxy.log} == {502}  # retried
    message = status_of(run)["message"] if command == "check" else run.errors[0]["message"]
    assert f"proxy 127.0.0.1:{proxy.port} answered HTTP 502" in message, message
    if command == "write":
        assert run.returncode == 1 and run.errors[0]["failure_type"] == "transient_error"
        assert f"proxy 127.0.0.1:{proxy.port} answered HTTP 502" in run.errors[0]["message"]
    else:
        assert status_of(run)["status"] == "FAILED"
    assert PROXY_PASSWORD.encode() not in run.stdout + run.stderr
    assert_no_traceback(run)
    assert emu.client.requests(site_id=SITE) == []


def test_an_https_proxy_url_is_spoken_tls_to(emu: EmulatorProcess, pki: TestPKI, tmp_path: Path) -> None:
    """https://proxy: TLS to the proxy, then TLS to the Track API inside the tunnel (verified with the
    same bundle)."""
    with ForwardProxy(tls=pki.server_context()) as proxy:
        env = network_env(HTTPS_PROXY=proxy.url, REQUESTS_CA_BUNDLE=str(pki.ca_file))
        run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY), catalog(), users(2, "tt"), env=env)
    assert run.returncode == 0, run.stdout
    assert proxy.url.startswith("https://")
    assert set(proxy.tunnels()) == {f"127.0.0.1:{emulator_port(emu)}"}
    assert len(emu.client.people(site_id=SITE)) == 2


def test_http_proxy_carries_a_plain_http_override_host(pki: TestPKI, tmp_path: Path) -> None:
    with start_emulator_process(WORKSPACES) as plain, ForwardProxy(credentials=("etl", PROXY_PASSWORD)) as proxy:
        env = network_env(HTTP_PROXY=proxy.url_with("etl", PROXY_PASSWORD))
        run = run_connector(tmp_path, "write", base_config(plain.url, SITE, KEY), catalog(), users(2, "hp"), env=env)
        assert run.returncode == 0, run.stdout
        assert len(plain.client.people(site_id=SITE)) == 2
    port = int(plain.url.rsplit(":", 1)[1])
    assert {(v.method, v.target, v.authorized) for v in proxy.log} == {
        ("GET", f"127.0.0.1:{port}", True), ("POST", f"127.0.0.1:{port}", True)}
    assert PROXY_PASSWORD.encode() not in run.stdout + run.stderr


# --- the S3 store on the same way out -------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto_tls(pki: TestPKI) -> Iterator[MotoS3]:
    server = MotoS3(enforce_auth=False, tls=pki).start()
    yield server
    server.stop()


def s3_config(emu: EmulatorProcess, moto: MotoS3, bucket: str) -> dict[str, Any]:
    return base_config(emu.url, SITE, KEY, object_storage_config={
        "storage_type": "S3", "s3_bucket_name": bucket, "bucket_path": "dlq", "s3_bucket_region": "us-east-1",
        "access_key_id": moto.admin.access_key_id, "secret_access_key": moto.admin.secret_access_key,
        "s3_endpoint": moto.endpoint})


def moto_port(moto: MotoS3) -> int:
    return int(moto.endpoint.rsplit(":", 1)[1])


def test_the_s3_store_goes_through_the_proxy_trusting_aws_ca_bundle(
        emu: EmulatorProcess, moto_tls: MotoS3, pki: TestPKI, tmp_path: Path) -> None:
    bucket = moto_tls.create_bucket(f"dlq-{uuid.uuid4().hex[:10]}")
    config = s3_config(emu, moto_tls, bucket)
    lines = [record_line("users", {"plan": "no identifier"}), *users(1, "s3")]
    with ForwardProxy(credentials=("etl", PROXY_PASSWORD)) as proxy:
        env = network_env(HTTPS_PROXY=proxy.url_with("etl", PROXY_PASSWORD), SSL_CERT_FILE=str(pki.ca_file),
                          AWS_CA_BUNDLE=str(pki.ca_file))
        check = run_connector(tmp_path, "check", config, env=env)
        assert status_of(check)["status"] == "SUCCEEDED", status_of(check)
        run = run_connector(tmp_path, "write", config, catalog(), lines, env=env)
    assert run.returncode == 0, run.stdout
    stored = moto_tls.objects(bucket, "dlq/")
    assert len(stored) == 1 and b"no identifier" in next(iter(stored.values()))
    # both hosts were reached through tunnels only, with the proxy's credentials
    assert set(proxy.tunnels()) == {f"127.0.0.1:{emulator_port(emu)}", f"127.0.0.1:{moto_port(moto_tls)}"}
    assert all(v.authorized for v in proxy.log)
    assert PROXY_PASSWORD.encode() not in run.stdout + run.stderr + check.stdout + check.stderr


def test_the_s3_store_bypasses_the_proxy_for_no_proxy_hosts(
        emu: EmulatorProcess, moto_tls: MotoS3, pki: TestPKI, tmp_path: Path) -> None:
    bucket = moto_tls.create_bucket(f"dlq-{uuid.uuid4().hex[:10]}")
    with ForwardProxy() as proxy:
        env = network_env(HTTPS_PROXY=proxy.url, NO_PROXY="127.0.0.1", REQUESTS_CA_BUNDLE=str(pki.ca_file))
        check = run_connector(tmp_path, "check", s3_config(emu, moto_tls, bucket), env=env)
    assert status_of(check)["status"] == "SUCCEEDED", status_of(check)  # REQUESTS_CA_BUNDLE: boto3 too
    assert proxy.log == []


def test_s3_over_an_untrusted_certificate_fails_check_saying_certificate(
        emu: EmulatorProcess, moto_tls: MotoS3, pki: TestPKI, tmp_path: Path) -> None:
    """SSL_CERT_FILE is enough for the Track API but not for boto3, which only reads AWS_CA_BUNDLE or
    REQUESTS_CA_BUNDLE: the S3 half of check says so."""
    bucket = moto_tls.create_bucket(f"dlq-{uuid.uuid4().hex[:10]}")
    check = run_connector(tmp_path, "check", s3_config(emu, moto_tls, bucket),
                          env=network_env(SSL_CERT_FILE=str(pki.ca_file)), timeout=60)
    status = status_of(check)
    assert status["status"] == "FAILED"
    assert "certificate" in status["message"] and moto_tls.endpoint in status["message"], status
    assert "AWS_CA_BUNDLE" in status["message"]
    assert_no_traceback(check)


def test_s3_through_a_proxy_refusing_the_credentials_fails_check_naming_the_proxy(
        emu: EmulatorProcess, moto_tls: MotoS3, pki: TestPKI, tmp_path: Path) -> None:
    bucket = moto_tls.create_bucket(f"dlq-{uuid.uuid4().hex[:10]}")
    config = s3_config(emu, moto_tls, bucket)
    config["track_api_base_url"] = emu.url.replace("127.0.0.1", "localhost")  # direct: NO_PROXY=localhost
    wrong = "Wr0ng-" + PROXY_PASSWORD
    with ForwardProxy(credentials=("etl", PROXY_PASSWORD)) as proxy:
        env = network_env(HTTPS_PROXY=proxy.url_with("etl", wrong), NO_PROXY="localhost",
                          REQUESTS_CA_BUNDLE=str(pki.ca_file))
        check = run_connector(tmp_path, "check", config, env=env, timeout=60)
    status = status_of(check)
    assert status["status"] == "FAILED"
    assert "proxy" in status["message"] and bucket in status["message"], status
    assert {v.target for v in proxy.log} == {f"127.0.0.1:{moto_port(moto_tls)}"}  # S3 only, refused
    assert wrong.encode() not in check.stdout + check.stderr
    assert_no_traceback(check)


def test_a_proxy_forbidding_the_host_403_fails_check_at_once(emu: EmulatorProcess, pki: TestPKI,
                                                             tmp_path: Path) -> None:
    with ForwardProxy(refuse=403) as proxy:
        check = run_connector(tmp_path, "check", base_config(emu.url, SITE, KEY, retry_max_seconds=120),
                              env=network_env(HTTPS_PROXY=proxy.url, SSL_CERT_FILE=str(pki.ca_file)), timeout=60)
    assert [v.status for v in proxy.log] == [403]  # not retried
    status = status_of(check)
    assert status["status"] == "FAILED" and "HTTP 403" in status["message"], status
    assert "track.customer.io and track-eu.customer.io" in status["message"]


def test_an_unreachable_proxy_is_retried_then_named(emu: EmulatorProcess, pki: TestPKI, tmp_path: Path) -> None:
    with ForwardProxy() as gone:
        url = gone.url_with("etl", PROXY_PASSWORD)  # a port nothing listens on once it stopped
    run = run_connector(tmp_path, "write", base_config(emu.url, SITE, KEY, retry_max_seconds=1), catalog(),
                        users(1, "x"), env=network_env(HTTPS_PROXY=url, SSL_CERT_FILE=str(pki.ca_file)), timeout=60)
    assert run.returncode == 1 and run.errors[0]["failure_type"] == "transient_error"
    assert f"could not connect to the proxy 127.0.0.1:{gone.port}" in run.errors[0]["message"], run.errors
    assert PROXY_PASSWORD.encode() not in run.stdout + run.stderr
    assert emu.client.requests(site_id=SITE) == []
