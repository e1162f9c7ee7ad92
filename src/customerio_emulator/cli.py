"""The `customerio-emulator` command: parse options, serve until SIGTERM/SIGINT.

The bound base URL (the US host) is the first line of stdout, flushed, so `--port 0` can be used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from typing import Any, Sequence

from .config import DEFAULT_API_KEY, DEFAULT_SITE_ID, REGIONS, WorkspaceConfig, load_workspaces_file
from .emulator import Emulator, server_context
from .faults import FaultConfig


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="customerio-emulator",
        description="Local emulator of Customer.io's Track API: the US host at the printed URL, the EU "
                    "host under /eu, state and faults under /_emulator/ (docs/emulator.md).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8089,
                   help="0 picks a free port (the URL is printed first) (default: %(default)s)")
    p.add_argument("--site-id", help=f"the workspace's site id, with --api-key (default: {DEFAULT_SITE_ID})")
    p.add_argument("--api-key", help=f"the workspace's Track API key (default: {DEFAULT_API_KEY})")
    p.add_argument("--region", choices=REGIONS,
                   help="the workspace's data center: an eu workspace is served under /eu, the region "
                        "look-up answers eu, and its calls to the US host are redirected there (default: us)")
    p.add_argument("--workspaces", metavar="FILE.json",
                   help='several workspaces instead of one: [{"site_id":..,"api_key":..,"region":"us"|"eu"}]')
    p.add_argument("--tls-cert", metavar="CERT.pem", help="serve HTTPS with this certificate (chain), PEM")
    p.add_argument("--tls-key", metavar="KEY.pem", help="the private key of --tls-cert, PEM")
    p.add_argument("--lean", action="store_true", help="validate and count only; keep no state (benchmarks)")
    p.add_argument("--strict-contract", action="store_true",
                   help="refuse what Customer.io's published Track API document refuses (needs jsonschema)")
    p.add_argument("--request-log-size", type=int, default=1_000,
                   help="requests kept for /_emulator/requests (default: %(default)s)")
    faults = p.add_argument_group("faults (Track endpoints only; changeable at run time: /_emulator/faults)")
    faults.add_argument("--latency-ms", type=float, default=0.0,
                        help="added to every Track answer (default: %(default)s)")
    faults.add_argument("--latency-jitter-ms", type=float, default=0.0,
                        help="random extra latency, up to this (default: %(default)s)")
    faults.add_argument("--rate-limit", type=float, metavar="RPS", help="token bucket per workspace; 429 above")
    faults.add_argument("--rate-limit-burst", type=int, help="token bucket size; unset: max(1, RPS)")
    faults.add_argument("--error-rate", type=float, default=0.0,
                        help="probability of an injected error (default: %(default)s)")
    faults.add_argument("--error-statuses", default="500,502,503",
                        help="comma-separated codes to inject (default: %(default)s)")
    faults.add_argument("--retry-after", type=float, help="Retry-After seconds on injected 429s")
    faults.add_argument("--drop-before-rate", type=float, default=0.0,
                        help="probability of closing the connection before applying a batch "
                             "(default: %(default)s)")
    faults.add_argument("--drop-after-rate", type=float, default=0.0,
                        help="probability of closing the connection after applying it (default: %(default)s)")
    faults.add_argument("--seed", type=int, help="seed of the fault dice (repeatable runs)")
    faults.add_argument("--faults", metavar="JSON",
                        help="a full fault config as JSON (or @FILE); overrides the above")
    p.add_argument("--log-level", default="WARNING",
                   help="stderr logging: DEBUG, INFO, WARNING, ERROR (default: %(default)s)")
    return p


def workspaces_from(args: argparse.Namespace) -> list[Any]:
    """One workspace from --site-id/--api-key/--region (each defaulting to the demo workspace's), or
    the --workspaces file."""
    if args.workspaces:
        if args.site_id or args.api_key or args.region:
            raise ValueError("--workspaces describes every workspace; --site-id, --api-key and --region "
                             "describe a single one: give one or the other")
        return load_workspaces_file(args.workspaces)
    if bool(args.site_id) != bool(args.api_key):
        raise ValueError("--site-id and --api-key go together")
    # --region alone applies to the default workspace (it used to be ignored)
    return [WorkspaceConfig(args.site_id or DEFAULT_SITE_ID, args.api_key or DEFAULT_API_KEY,
                            args.region or "us", 1)]


def faults_from(args: argparse.Namespace) -> FaultConfig:
    if args.faults:
        text = args.faults
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as source:
                text = source.read()
        return FaultConfig.from_json(json.loads(text))
    config = FaultConfig(
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        error_rate=args.error_rate,
        error_statuses=[int(s) for s in args.error_statuses.split(",") if s.strip()],
        retry_after=args.retry_after,
        drop_before_rate=args.drop_before_rate,
        drop_after_rate=args.drop_after_rate,
        rate_limit_rps=args.rate_limit,
        rate_limit_burst=args.rate_limit_burst,
        seed=args.seed,
    )
    config.check()
    return config


async def serve(emulator: Emulator) -> None:
    """Start, print the URL, and run until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await emulator.start()
    sys.stdout.write(emulator.url + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    if bool(args.tls_cert) != bool(args.tls_key):
        print("customerio-emulator: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        tls = server_context(args.tls_cert, args.tls_key) if args.tls_cert else None
        emulator = Emulator(
            workspaces_from(args),
            host=args.host,
            port=args.port,
            lean=args.lean,
            faults=faults_from(args),
            request_log_size=args.request_log_size,
            ssl_context=tls,
            strict_contract=args.strict_contract,
        )
    except ImportError as exc:  # --strict-contract without jsonschema
        print(f"customerio-emulator: {exc} (install the contract extra)", file=sys.stderr)
        return 2
    except (ValueError, OSError, json.JSONDecodeError) as exc:  # ssl.SSLError is an OSError
        print(f"customerio-emulator: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(emulator))
    except OSError as exc:  # e.g. the port is taken
        print(f"customerio-emulator: {exc}", file=sys.stderr)
        return 1
    return 0
