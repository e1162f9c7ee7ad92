"""network.py: which proxy a URL takes (HTTP(S)_PROXY / NO_PROXY as requests reads them), proxy
credentials (sent, never printed), and the CA bundle variables."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
import trustme

from destination_customer_io.errors import ConfigurationError
from destination_customer_io.network import Network, bypassed, parse_proxy, proxy_secrets, tls_context
from tests.support.cli import NETWORK_VARIABLES


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_https_urls_take_https_proxy_and_http_urls_take_http_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy:3128")
    monkeypatch.setenv("http_proxy", "plain-proxy:8080")  # no scheme: http, as in requests
    network = Network.from_environ()
    assert network.proxy_for("https://track.customer.io/api/v2/batch").url == "http://secure-proxy:3128"
    assert network.proxy_for("http://127.0.0.1:8089/api/v2/batch").url == "http://plain-proxy:8080"


def test_lower_case_wins_over_upper_case_as_in_urllib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://upper:1")
    monkeypatch.setenv("https_proxy", "http://lower:2")
    assert Network.from_environ().proxy_for("https://track.customer.io").url == "http://lower:2"


def test_no_proxy_variable_means_direct() -> None:
    assert Network.from_environ().proxy_for("https://track.customer.io") is None


@pytest.mark.parametrize(("host", "port", "no_proxy", "expected"), [
    ("track.customer.io", None, "customer.io", True),
    ("track.customer.io", None, ".customer.io", True),
    ("track.customer.io", 443, "track.customer.io:443", True),
    ("track.customer.io", 443, "track.customer.io:8443", False),
    ("track.customer.io", None, "example.com, other.io", False),
    ("notcustomer.io", None, "customer.io", False),
    ("track.customer.io", None, "*", True),
    ("10.1.2.3", None, "10.0.0.0/8", True),  # requests' CIDR entries
    ("11.1.2.3", None, "10.0.0.0/8", False),
    ("track.customer.io", None, "", False),
])
def test_no_proxy_entries(host: str, port: int | None, no_proxy: str, expected: bool) -> None:
    assert bypassed(host, port, no_proxy) is expected


def test_credentials_become_proxy_authorization_and_leave_the_url() -> None:
    proxy = parse_proxy("http://etl%40corp:p%3Ass@proxy.corp:3128", "https")
    assert proxy.url == "http://proxy.corp:3128"
    assert proxy.where == "proxy.corp:3128"
    token = proxy.headers["Proxy-Authorization"].removeprefix("Basic ")
    assert base64.b64decode(token) == b"etl@corp:p:ss"


def test_an_https_proxy_url_is_kept_https() -> None:
    assert parse_proxy("https://proxy.corp:443", "https").url == "https://proxy.corp:443"


@pytest.mark.parametrize("value", ["socks5://proxy:1080", "http://proxy:notaport"])
def test_an_unusable_proxy_is_a_config_error_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigurationError, match="HTTPS_PROXY"):
        parse_proxy(value, "https")


def test_proxy_secrets_cover_every_form_the_password_could_take() -> None:
    secrets = proxy_secrets({"HTTPS_PROXY": "http://etl:p%40ss@proxy:3128", "PATH": "/bin"})
    assert {"etl:p%40ss", "p%40ss", "p@ss", base64.b64encode(b"etl:p@ss").decode()} <= set(secrets)
    assert proxy_secrets({"https_proxy": "http://proxy:3128"}) == []


def test_no_bundle_variable_gives_the_system_cas_in_a_context_of_our_own() -> None:
    """aiohttp's default contexts are made reading no CA (network.py), so ours is passed even then."""
    context = tls_context({})
    assert isinstance(context, ssl.SSLContext)
    assert context.cert_store_stats()["x509_ca"] == ssl.create_default_context().cert_store_stats()["x509_ca"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_url_sent_through_an_https_proxy_gets_the_context_for_the_proxy_s_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "https://proxy.example:3129")
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    network = Network.from_environ()
    assert isinstance(network.tls_for("http://127.0.0.1:8089/api/v2/batch"), ssl.SSLContext)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert Network.from_environ().tls_for("http://127.0.0.1:8089/api/v2/batch") is True


def test_a_missing_or_empty_bundle_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"REQUESTS_CA_BUNDLE \(.*nothing\.pem\)"):
        tls_context({"REQUESTS_CA_BUNDLE": str(tmp_path / "nothing.pem")})
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match="SSL_CERT_FILE"):
        tls_context({"SSL_CERT_FILE": str(empty)})


def test_requests_ca_bundle_adds_to_the_system_cas(tmp_path: Path) -> None:
    bundle = tmp_path / "company-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    system = ssl.create_default_context().cert_store_stats()["x509_ca"]
    context = tls_context({"REQUESTS_CA_BUNDLE": str(bundle)})
    assert context.cert_store_stats()["x509_ca"] == system + 1


def _counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    loads: list[str] = []
    original = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, cafile: str | None = None, capath: str | None = None, cadata=None) -> None:
        loads.append(cafile or capath or "")
        original(self, cafile, capath, cadata)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    return loads


def test_a_bundle_named_twice_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing a system bundle costs ~0.1 s of every start: one named by both variables is read once."""
    bundle = tmp_path / "company-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    loads = _counting_loads(monkeypatch)
    context = tls_context({"REQUESTS_CA_BUNDLE": str(bundle), "SSL_CERT_FILE": str(tmp_path / "." / bundle.name)})
    assert loads == [str(bundle)]
    assert isinstance(context, ssl.SSLContext)
    assert context.cert_store_stats()["x509_ca"] == ssl.create_default_context().cert_store_stats()["x509_ca"] + 1


def test_the_bundle_openssl_read_by_default_is_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    default = ssl.get_default_verify_paths().cafile
    if default is None or not ssl.create_default_context().cert_store_stats()["x509_ca"]:
        pytest.skip("no system CA file on this machine")
    loads = _counting_loads(monkeypatch)
    context = tls_context({"REQUESTS_CA_BUNDLE": default})
    assert loads == []
    assert isinstance(context, ssl.SSLContext) and context.cert_store_stats()["x509_ca"] > 0


def test_the_tls_context_is_made_for_the_first_https_url_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain http:// Track API host (an emulator) never reads the CA bundles: ~0.1 s of start-up each."""
    bundle = tmp_path / "company-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    loads = _counting_loads(monkeypatch)
    network = Network.from_environ()
    assert network.tls_for("http://127.0.0.1:8089/api/v2/batch") is True and loads == []
    context = network.tls_for("https://track.customer.io/api/v2/batch")
    assert isinstance(context, ssl.SSLContext) and loads == [str(bundle)]
    assert network.tls_for("https://track-eu.customer.io/api/v2/batch") is context and len(loads) == 1


def test_an_unusable_bundle_fails_the_first_https_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "nothing.pem"))
    network = Network.from_environ()
    with pytest.raises(ConfigurationError, match="REQUESTS_CA_BUNDLE"):
        network.tls_for("https://track.customer.io/api/v2/batch")
