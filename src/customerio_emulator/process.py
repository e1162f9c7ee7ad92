"""`start_emulator_process`: run the emulator as a subprocess (its own core and event loop), usable
from sync code, as a context manager, and by benchmarks that must not share a CPU with the server.
"""

from __future__ import annotations

import json
import os
import select
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from typing import Any, Iterable, Sequence

from .client import EmulatorClient
from .config import coerce_workspaces
from .faults import FaultConfig


class EmulatorProcess:
    """A running emulator subprocess: `.url`, `.eu_url`, `.client` (sync), `.stop()`."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, temp_files: list[str],
                 client_context: ssl.SSLContext | None = None) -> None:
        self.proc = proc
        self.url = url
        self.eu_url = url + "/eu"
        self.client = EmulatorClient(url, ssl_context=client_context)
        self._temp_files = temp_files

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, wait, SIGKILL if it did not stop; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        for path in self._temp_files:
            if os.path.exists(path):
                os.unlink(path)
        self._temp_files = []
        return self.proc.returncode

    def __enter__(self) -> "EmulatorProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _temp_json(data: Any) -> str:
    handle, path = tempfile.mkstemp(prefix="cio-emulator-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(data, out)
    return path


def start_emulator_process(
    workspaces: Iterable[Any] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    lean: bool = False,
    faults: FaultConfig | dict[str, Any] | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 15.0,
    env: dict[str, str] | None = None,
    tls: tuple[str, str] | None = None,
    client_context: ssl.SSLContext | None = None,
    strict_contract: bool = False,
) -> EmulatorProcess:
    """Start `python -m customerio_emulator` and wait for the URL it prints on its first line.

    tls: (certificate file, key file) to serve HTTPS; client_context: what `.client` trusts then."""
    temp_files: list[str] = []
    args = [sys.executable, "-m", "customerio_emulator", "--host", host, "--port", str(port)]
    if workspaces is not None:
        path = _temp_json([w.to_json() for w in coerce_workspaces(workspaces)])
        temp_files.append(path)
        args += ["--workspaces", path]
    if faults is not None:
        config = faults if isinstance(faults, FaultConfig) else FaultConfig.from_json(faults)
        args += ["--faults", json.dumps(config.to_json())]
    if lean:
        args.append("--lean")
    if strict_contract:
        args.append("--strict-contract")
    if tls is not None:
        args += ["--tls-cert", tls[0], "--tls-key", tls[1]]
    args += list(extra_args)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    try:
        url = _read_url(proc, timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        for path in temp_files:
            os.unlink(path)
        raise
    return EmulatorProcess(proc, url, temp_files, client_context)


def _read_url(proc: subprocess.Popen[bytes], timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the emulator did not print its URL in time")
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                raise RuntimeError(f"the emulator exited before printing its URL (code {proc.wait()})")
            line += chunk
    return line.decode().strip()
