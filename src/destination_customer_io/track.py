"""The Track API client: region detection, and one batch POST with retries, backoff and rate adaptation
(the pacing rules: ``pacing.py``).

Classification of one answer (the rules every caller relies on):
    200, 207, 400, 413 (v1: 200, 201, 204, 400, 413, 404) -> a BatchResult, read by ``answers.py``
    401, 403       -> ConfigurationError at once (wrong Site ID / API key)
    3xx            -> followed only to *.customer.io over https, or to the override host
    408, 423, 425, 429, every 5xx but 501 and 505, connection errors, timeouts -> retried with
                      exponential backoff and full jitter, honouring Retry-After, for at most
                      ``retry_max_seconds``; then TransientFailure (``retryable``; every attempt, and every
                      redirect hop, counts against ``max_requests_per_second``)
    a certificate that does not verify, a proxy answering 407 or 403 -> ConfigurationError at once
    anything else  -> SystemFailure, naming the status (501 Not Implemented and 505 HTTP Version Not
                      Supported say the request itself is wrong: retrying cannot help)

Every request goes through the proxy and with the CA bundle the environment names (``network.py``).
"""

from __future__ import annotations

import asyncio
import base64
import http
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable
from urllib.parse import urljoin, urlsplit

import aiohttp
import msgspec

from .answers import BatchResult, batch_answer, ids_answer
from .config import EU_TRACK_URL, US_TRACK_URL, Config
from .errors import ConfigurationError, SystemFailure, TransientFailure
from .network import Network, describe_connection_error, fatal_connection_error
from .pacing import ConcurrencyGate, RetryPolicy, parse_retry_after

# Statuses a retry may cure, besides every 5xx but these (a proxy or load balancer in front of the Track
# API answers 507, 520, ... while Customer.io is fine): Segment's rule for its Customer.io destination
# (docs/reliability.md#which-answers-are-retried cites it).
RETRYABLE_4XX = frozenset({408, 423, 425, 429})
TERMINAL_5XX = frozenset({501, 505})
REGION_PATH = "/api/v1/accounts/region"
BATCH_PATH = "/api/v2/batch"
_MAX_REDIRECTS = 3


@dataclass(slots=True)
class TrackStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429 answers
    by_status: dict[int, int] = field(default_factory=dict)


def retryable(status: int) -> bool:
    if 500 <= status <= 599:
        return status not in TERMINAL_5XX
    return status in RETRYABLE_4XX


def describe_status(status: int) -> str:
    """``HTTP 505 (HTTP Version Not Supported)``: the number a user searches for, and its meaning."""
    try:
        return f"HTTP {status} ({http.HTTPStatus(status).phrase})"
    except ValueError:
        return f"HTTP {status}"


def basic_auth(site_id: str, api_key: str) -> str:
    token = base64.b64encode(f"{site_id}:{api_key}".encode()).decode("ascii")
    return f"Basic {token}"


class TrackClient:
    """Talks to one Customer.io workspace. ``base_url`` may change once, after a regional redirect."""

    def __init__(
        self,
        config: Config,
        session: aiohttp.ClientSession,
        *,
        gate: ConcurrencyGate | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        network: Network | None = None,
    ) -> None:
        self._network = network or Network.from_environ()
        self._auth = basic_auth(config.credentials.siteId, config.credentials.apiKey)
        self._override = config.track_api_base_url.rstrip("/") if config.track_api_base_url else None
        self.base_url = self._override or (EU_TRACK_URL if config.region == "eu" else US_TRACK_URL)
        self._region_mode = config.region
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=config.request_timeout_seconds)
        self._policy = RetryPolicy(
            max_seconds=config.retry_max_seconds,
            initial=config.retry_initial_backoff_seconds,
            maximum=config.retry_max_backoff_seconds,
        )
        self.gate = gate or ConcurrencyGate(config.lanes, config.max_requests_per_second)
        self.stats = TrackStats()
        self._sleep = sleep

    # --- hosts ---------------------------------------------------------------------------------

    def _allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        if self._override and parts.netloc == urlsplit(self._override).netloc:
            return True
        host = parts.hostname or ""
        return parts.scheme == "https" and (host == "customer.io" or host.endswith(".customer.io"))

    def describe_host(self) -> str:
        return urlsplit(self.base_url).netloc

    async def detect_region(self) -> str:
        """``GET /api/v1/accounts/region`` once (retried like a batch); with region auto, its ``url``
        becomes the base URL."""
        status, body = await self._retrying("GET", REGION_PATH, None)
        if status in (401, 403):
            raise self._refused(status)
        if status != 200:
            raise SystemFailure(f"Customer.io's region endpoint answered {describe_status(status)}, "
                                "which is not retried.")
        try:
            info = msgspec.json.decode(body)
            region, url = str(info["region"]), str(info["url"]).rstrip("/")
        except (msgspec.DecodeError, KeyError, TypeError):
            raise SystemFailure("Customer.io's region endpoint answered with an unexpected body.") from None
        if self._region_mode == "auto":
            if not self._allowed(url):
                raise SystemFailure(f"Customer.io named a Track API host that is not allowed: {urlsplit(url).netloc}")
            self.base_url = url
        return region

    def _refused(self, status: int) -> ConfigurationError:
        return ConfigurationError(
            "Customer.io refused the credentials: the Site ID or Track API key is wrong "
            f"(HTTP {status} from {self.describe_host()})."
        )

    # --- one request, redirects ----------------------------------------------------------------

    async def _request(self, method: str, url: str, body: bytes | None) -> tuple[int, bytes, Any]:
        headers = {"Authorization": self._auth, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for _ in range(_MAX_REDIRECTS + 1):
            async with self._session.request(
                method, url, data=body, headers=self._with_proxy_auth(url, headers), timeout=self._timeout,
                allow_redirects=False, ssl=self._network.tls_for(url), **self._proxy_arguments(url),
            ) as response:
                payload = await response.read()
                status = response.status
                location = response.headers.get("Location")
                retry_after = response.headers.get("Retry-After")
            if status in (301, 302, 303, 307, 308) and location:
                target = urljoin(url, location)
                if not self._allowed(target):
                    raise SystemFailure(
                        f"Customer.io redirected to a host that is not allowed: {urlsplit(target).netloc}"
                    )
                self._rebase(url, target)
                url = target
                if self.gate.cap is not None:  # the next hop is one more request under the cap
                    await self.gate.cap.wait()
                continue
            return status, payload, retry_after
        raise SystemFailure("Too many redirects from the Track API.")

    def _proxy_arguments(self, url: str) -> dict[str, Any]:
        proxy = self._network.proxy_for(url)
        if proxy is None:
            return {}
        # Credentials go in proxy_headers: aiohttp sends them with the CONNECT of an https:// URL.
        return {"proxy": proxy.url, "proxy_headers": proxy.headers or None}

    def _with_proxy_auth(self, url: str, headers: dict[str, str]) -> dict[str, str]:
        """A plain-http request is sent to the proxy itself (no CONNECT): the credentials ride on it."""
        proxy = self._network.proxy_for(url)
        if proxy is None or not proxy.headers or url.startswith("https:"):
            return headers
        return {**headers, **proxy.headers}

    def _rebase(self, url: str, target: str) -> None:
        """A regional redirect moves every later request to the new host (same path suffix)."""
        if url.startswith(self.base_url):
            suffix = url[len(self.base_url):]
            if target.endswith(suffix):
                self.base_url = target[: len(target) - len(suffix)] if suffix else target

    # --- batches -------------------------------------------------------------------------------

    async def send_batch(self, body: bytes) -> BatchResult:
        """POST one batch, retrying transient failures within the retry budget."""
        status, payload = await self._retrying("POST", BATCH_PATH, body)
        result = batch_answer(status, payload)
        if result is not None:
            return result
        if status in (401, 403):
            raise self._refused(status)
        raise SystemFailure(f"Customer.io answered a batch with unexpected {describe_status(status)}, "
                            "which is not retried.")

    async def send_ids(self, path: str, body: bytes, count: int) -> BatchResult:
        """POST one v1 id-list call (``{"ids":[...]}``, ``count`` ids, to a manual segment's
        add_customers / remove_customers ``path``) with the batch's retries, gate and redirects; the
        answer is read by ``answers.ids_answer``."""
        status, payload = await self._retrying("POST", path, body)
        result = ids_answer(status, payload, count)
        if result is not None:
            return result
        if status in (401, 403):
            raise self._refused(status)
        raise SystemFailure(f"Customer.io answered a segment call with unexpected {describe_status(status)}, "
                            "which is not retried.")

    async def _retrying(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        """One request to ``base_url + path``, repeated while the failure is transient and the retry
        budget lasts; returns the first non-transient answer."""
        started = time.monotonic()
        attempt = 0
        while True:
            failure, retry_after, answer = await self._attempt(method, path, body)
            if answer is not None:
                return answer
            pause = self._policy.delay(attempt, retry_after)
            if time.monotonic() - started + pause > self._policy.max_seconds:
                raise TransientFailure(
                    f"Customer.io did not answer within {self._policy.max_seconds:g} s of retries "
                    f"({failure}); the sync stopped at the last acknowledged checkpoint.",
                    internal=failure,
                )
            attempt += 1
            self.stats.retries += 1
            await self._sleep(pause)

    async def _attempt(self, method: str, path: str, body: bytes | None
                       ) -> tuple[str, float | None, tuple[int, bytes] | None]:
        """One try: (failure description, Retry-After, None) when transient, else (.., .., answer)."""
        self.stats.requests += 1
        url = self.base_url + path
        try:
            async with self.gate:
                status, payload, retry_after = await self._request(method, url, body)
        except asyncio.TimeoutError:
            return "request timed out", None, None
        except aiohttp.ClientError as exc:
            proxy = self._network.proxy_for(url)
            fatal = fatal_connection_error(exc, proxy)
            if fatal is not None:
                raise fatal from None
            return describe_connection_error(exc, proxy), None, None
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
        if retryable(status):
            if status == 429:
                self.stats.throttled += 1
                self.gate.throttled()
            return f"HTTP {status}", parse_retry_after(retry_after), None
        if status < 300:
            self.gate.succeeded()
        return "", None, (status, payload)


async def check_connection(config: Config) -> tuple[bool, str]:
    """The ``check`` command's Track API half: the region endpoint with these credentials.

    A check answers within seconds: transient failures get a short retry budget, not the sync's."""
    quick = msgspec.structs.replace(
        config,
        retry_max_seconds=min(config.retry_max_seconds, 10.0),
        request_timeout_seconds=min(config.request_timeout_seconds, 10.0),
    )
    async with aiohttp.ClientSession() as session:
        try:
            client = TrackClient(quick, session)
            region = await client.detect_region()
        except (ConfigurationError, SystemFailure) as exc:
            return False, exc.message
        except TransientFailure as exc:
            return False, f"Could not reach the Track API at {client.describe_host()}: {exc.internal}."
    return True, f"Connected to Customer.io (region {region}, {urlsplit(client.base_url).netloc})."
