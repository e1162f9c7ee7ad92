"""Running the real connector CLI in tests: config/catalog files, input lines, parsed output."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONNECTOR = [sys.executable, "-m", "destination_customer_io"]
CONSOLE_SCRIPT = [str(Path(sys.executable).with_name("destination-customer-io"))]  # as users run it


def record_line(stream: str, data: Any, *, namespace: str | None = None, emitted_at: int = 1_700_000_000_000) -> str:
    record: dict[str, Any] = {"stream": stream, "data": data, "emitted_at": emitted_at}
    if namespace is not None:
        record["namespace"] = namespace
    return json.dumps({"type": "RECORD", "record": record})


def state_line(name: str, position: int) -> str:
    return json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": name}, "stream_state": {"position": position}}}})


def global_state_line(position: int) -> str:
    """A GLOBAL state: it counts the records of every stream since the previous GLOBAL state."""
    return json.dumps({"type": "STATE", "state": {"type": "GLOBAL", "global": {
        "shared_state": {"position": position}}}})


def configured_stream(name: str, object_name: str, *, mode: str = "append", namespace: str | None = None,
                      properties: dict[str, Any] | None = None, primary_key: list[list[str]] | None = None,
                      sync_id: int = 7) -> dict[str, Any]:
    stream: dict[str, Any] = {"name": name, "json_schema": {"type": "object", "properties": properties or {}},
                              "supported_sync_modes": ["full_refresh", "incremental"]}
    if namespace is not None:
        stream["namespace"] = namespace
    entry: dict[str, Any] = {"stream": stream, "sync_mode": "incremental", "destination_sync_mode": mode,
                             "destination_object_name": object_name, "generation_id": 1,
                             "minimum_generation_id": 0, "sync_id": sync_id}
    if primary_key is not None:
        entry["primary_key"] = primary_key
    return entry


# What decides the way out (proxy, trusted CAs): tests that care set them; the others run without.
NETWORK_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE",
                     "SSL_CERT_DIR", "AWS_CA_BUNDLE", "CURL_CA_BUNDLE")


def network_env(**values: str) -> dict[str, str]:
    """This process's environment without any proxy or CA-bundle variable (either case), plus ``values``."""
    names = {n.lower() for n in NETWORK_VARIABLES}
    env = {k: v for k, v in os.environ.items() if k.lower() not in names}
    env.update(values)
    return env


def base_config(url: str, site_id: str = "demo-site", api_key: str = "demo-key", **extra: Any) -> dict[str, Any]:
    config = {"credentials": {"siteId": site_id, "apiKey": api_key}, "track_api_base_url": url,
              "retry_initial_backoff_seconds": 0.05, "retry_max_backoff_seconds": 0.2,
              "state_max_delay_seconds": 0.1, "progress_interval_seconds": 60}
    config.update(extra)
    return config


@dataclass
class Run:
    returncode: int
    messages: list[dict[str, Any]]
    stdout: bytes
    stderr: bytes

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of_type("STATE")]

    @property
    def logs(self) -> list[str]:
        return [m["log"]["message"] for m in self.of_type("LOG")]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]


def run_connector(tmp: Path, command: str, config: dict[str, Any], catalog: dict[str, Any] | None = None,
                  lines: list[str] | None = None, timeout: float = 120, *,
                  program: list[str] = CONNECTOR, env: dict[str, str] | None = None,
                  args: list[str] | None = None) -> Run:
    """``destination-customer-io <command>`` in a subprocess, stdin from a file (as Airbyte pipes it);
    ``program`` is ``python -m destination_customer_io`` unless a test needs the console script;
    ``env`` replaces the inherited environment (see ``network_env``); ``args`` come after the files."""
    config_path = tmp / "config.json"
    config_path.write_text(json.dumps(config))
    argv = [*program, command, "--config", str(config_path)]
    if catalog is not None:
        catalog_path = tmp / "catalog.json"
        catalog_path.write_text(json.dumps(catalog))
        argv += ["--catalog", str(catalog_path)]
    argv += args or []
    input_path = tmp / "input.jsonl"
    input_path.write_text("".join(line + "\n" for line in lines or []))
    with input_path.open("rb") as stdin:
        done = subprocess.run(argv, stdin=stdin, capture_output=True, timeout=timeout, env=env)
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return Run(done.returncode, messages, done.stdout, done.stderr)


def kill_after_first_state(tmp: Path, config: dict[str, Any], catalog: dict[str, Any],
                           lines: list[str]) -> list[dict[str, Any]]:
    """The connector given ``lines`` with stdin left open, SIGKILLed as soon as it emits a STATE."""
    (tmp / "config.json").write_text(json.dumps(config))
    (tmp / "catalog.json").write_text(json.dumps(catalog))
    process = subprocess.Popen([*CONSOLE_SCRIPT, "write", "--config", str(tmp / "config.json"), "--catalog",
                                str(tmp / "catalog.json")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("".join(line + "\n" for line in lines).encode())
    process.stdin.flush()
    # the pipe's file descriptor read directly: a buffered reader could hold the STATE line unseen by select
    pending, states, deadline, fd = b"", [], time.monotonic() + 60, process.stdout.fileno()
    while not states and time.monotonic() < deadline:
        if select.select([fd], [], [], 1.0)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break  # it exited
            *lines, pending = (pending + chunk).split(b"\n")
            states += [m["state"] for m in map(json.loads, filter(None, lines)) if m["type"] == "STATE"]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdin.close()
    process.stdout.close()
    return states
