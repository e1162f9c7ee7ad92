"""The way out of a company network: which proxy a Track API URL goes through and which CAs are trusted,
read from the environment as ``requests`` reads it, and what a proxy or TLS failure means for a sync.

    HTTPS_PROXY / https_proxy   proxy for https:// URLs (the Track API)   lower case wins, as in urllib
    HTTP_PROXY / http_proxy     proxy for http:// URLs (an override host such as the emulator)
    NO_PROXY / no_proxy         hosts, domain suffixes, host:port, IPv4 CIDR ranges or ``*``: no proxy
    REQUESTS_CA_BUNDLE          a PEM file (or a directory of hashed certificates) trusted in addition
    SSL_CERT_FILE, SSL_CERT_DIR read by OpenSSL itself into the default trust store

Every request that needs TLS gets this module's own context (``Network.tls_for``): aiohttp's two default
contexts, which it makes when imported, are made here with OpenSSL's default CA locations pointed at
nothing (each would read the whole system bundle at every start, for contexts never used; the cost:
docs/performance.md, issue 23 round 7).

Proxy credentials (``http://user:password@proxy:3128``) are sent as ``Proxy-Authorization`` and are
secrets: :func:`proxy_secrets` hands them to the output scrubber, and no message here contains them.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import ssl
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Mapping
from urllib.parse import unquote, urlsplit

from .errors import ConfigurationError

_OPENSSL_DEFAULTS = ("SSL_CERT_FILE", "SSL_CERT_DIR")


@contextmanager
def _default_cas_unread() -> Iterator[None]:
    """OpenSSL's default CA file and directory pointed at nothing, then put back as they were."""
    saved = {name: os.environ.get(name) for name in _OPENSSL_DEFAULTS}
    os.environ.update(dict.fromkeys(_OPENSSL_DEFAULTS, os.devnull))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


with _default_cas_unread():  # the first import of aiohttp in a CLI process (cli.py imports this module first)
    import aiohttp

_PROXY_SCHEMES = ("http", "https")
_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass(frozen=True, slots=True)
class Proxy:
    url: str  # without credentials
    headers: dict[str, str] = field(default_factory=dict)  # Proxy-Authorization, when credentials given

    @property
    def where(self) -> str:
        """host:port, for messages (never the credentials)."""
        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


@dataclass(slots=True)
class Network:
    """One command's view of the environment: proxies by URL scheme, the bypass list, the TLS context
    (None until the first URL that speaks TLS asks for it: reading CA bundles is ~0.1 s of start-up each,
    and a plain http:// Track API host never uses them)."""

    proxies: dict[str, Proxy]
    no_proxy: str
    ssl: ssl.SSLContext | bool | None = None

    @classmethod
    def from_environ(cls) -> Network:
        found = urllib.request.getproxies_environment()
        proxies = {scheme: parse_proxy(found[scheme], scheme) for scheme in _PROXY_SCHEMES if found.get(scheme)}
        return cls(proxies, found.get("no", ""))

    def tls_for(self, url: str) -> ssl.SSLContext | bool:
        """What aiohttp's ``ssl`` argument gets for ``url`` (also used for a TLS connection to its proxy);
        the context is made (and a named CA bundle that cannot be used raises ConfigurationError) on the
        first URL that needs one: https://, or any URL sent through an https:// proxy."""
        if not url.startswith("https:") and not self._tls_proxy(url):
            return True
        if self.ssl is None:
            self.ssl = tls_context(os.environ)
        return self.ssl

    def _tls_proxy(self, url: str) -> bool:
        if not self.proxies:
            return False
        proxy = self.proxy_for(url)
        return proxy is not None and proxy.url.startswith("https:")

    def proxy_for(self, url: str) -> Proxy | None:
        parts = urlsplit(url)
        proxy = self.proxies.get(parts.scheme)
        if proxy is None or bypassed(parts.hostname or "", parts.port, self.no_proxy):
            return None
        return proxy


def parse_proxy(value: str, scheme: str) -> Proxy:
    """A proxy URL from the environment; a bare ``host:port`` means http, as in requests."""
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    variable = f"{scheme.upper()}_PROXY"
    if parts.scheme not in _PROXY_SCHEMES:
        raise ConfigurationError(
            f"{variable} names a {parts.scheme}:// proxy; only http:// and https:// proxies are supported.")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname or port == -1:
        raise ConfigurationError(f"{variable} is not a proxy URL (expected http://host:port).")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc += f":{port}" if port else ""
    headers = {}
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return Proxy(f"{parts.scheme}://{netloc}", headers)


def bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """NO_PROXY as urllib reads it (suffixes, host:port, ``*``) plus requests' IPv4 CIDR ranges."""
    if not no_proxy:
        return False
    target = f"{host}:{port}" if port else host
    if urllib.request.proxy_bypass_environment(target, {"no": no_proxy}):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in (e.strip() for e in no_proxy.split(",")):
        if "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def proxy_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every credential in a proxy variable, raw and decoded, for the output scrubber."""
    environ = os.environ if environ is None else environ
    found: list[str] = []
    for name, value in environ.items():
        if name.lower() not in ("http_proxy", "https_proxy", "all_proxy") or "@" not in value:
            continue
        userinfo = value.split("://", 1)[-1].rsplit("@", 1)[0]
        user, _, password = userinfo.partition(":")
        found += [userinfo, password, unquote(password)]
        if password:  # the Proxy-Authorization value would reveal the password too
            pair = f"{unquote(user)}:{unquote(password)}"
            found.append(base64.b64encode(pair.encode()).decode("ascii"))
    return [s for s in found if s]


def tls_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    """The default context (OpenSSL reads SSL_CERT_FILE / SSL_CERT_DIR into it) plus REQUESTS_CA_BUNDLE,
    offering HTTP/1.1 by ALPN as aiohttp's own default context does.

    A named bundle that cannot be read is a config error here, not a vague verification failure of
    every request later (OpenSSL silently ignores a missing SSL_CERT_FILE)."""
    named = {name: environ[name] for name in _CA_BUNDLE_VARIABLES if environ.get(name)}
    context = ssl.create_default_context()
    context.set_alpn_protocols(("http/1.1",))
    loaded = _read_by_default(context)
    for name, path in named.items():
        if os.path.realpath(path) in loaded:  # each bundle read once: parsing one costs ~0.1 s of start-up
            continue
        loaded.add(os.path.realpath(path))
        try:
            if os.path.isdir(path):
                context.load_verify_locations(capath=path)
            else:
                context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:  # SSLError is an OSError: no PEM certificate in it
            reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
            raise ConfigurationError(f"The CA bundle named by {name} ({path}) cannot be used: {reason}.") from None
    return context


def _read_by_default(context: ssl.SSLContext) -> set[str]:
    """The CA file OpenSSL already read into ``context`` (SSL_CERT_FILE, else the system bundle), when it
    did: a file it could not use leaves no CA in the store, and is then loaded again for its error."""
    cafile = ssl.get_default_verify_paths().cafile
    if cafile and context.cert_store_stats()["x509_ca"]:
        return {os.path.realpath(cafile)}
    return set()


def fatal_connection_error(exc: aiohttp.ClientError, proxy: Proxy | None) -> ConfigurationError | None:
    """A connection failure that retrying cannot fix, as the config error to end with; else None.

    A certificate that does not verify stays unverifiable (retrying it for minutes only hides the
    cause); a proxy that wants credentials (407) or forbids the host (403) will not change its mind.
    """
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        reason = getattr(exc.certificate_error, "verify_message", None) or type(exc.certificate_error).__name__
        return ConfigurationError(
            f"The TLS certificate of {exc.host} could not be verified ({reason}). If a company proxy or a "
            "private CA signs it, set SSL_CERT_FILE or REQUESTS_CA_BUNDLE to a PEM bundle that includes "
            "that CA."
        )
    if isinstance(exc, aiohttp.ClientHttpProxyError) and exc.status in (403, 407):
        where = proxy.where if proxy else "on the way"
        if exc.status == 407:
            return ConfigurationError(
                f"The proxy {where} refused the connection to {exc.request_info.url.host}: HTTP 407 Proxy "
                "Authentication Required; put valid credentials in the proxy URL "
                "(http://user:password@host:port).")
        return ConfigurationError(
            f"The proxy {where} refused the connection to {exc.request_info.url.host}: HTTP 403; allow "
            "track.customer.io and track-eu.customer.io there.")
    return None


def describe_connection_error(exc: aiohttp.ClientError, proxy: Proxy | None) -> str:
    """A transient connection failure in a few words, naming the proxy when it is the one failing."""
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        target = exc.request_info.url
        return (f"the proxy {proxy.where if proxy else ''} answered HTTP {exc.status} to CONNECT "
                f"{target.host}:{target.port}")
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return f"could not connect to the proxy {exc.host}:{exc.port} ({_os_reason(exc)})"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS error with {exc.host}: {_os_reason(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection error: could not connect to {exc.host}:{exc.port} ({_os_reason(exc)})"
    return f"connection error: {type(exc).__name__}"


def _os_reason(exc: aiohttp.ClientConnectorError) -> str:
    error = exc.os_error
    return getattr(error, "strerror", None) or getattr(error, "reason", None) or type(error).__name__
