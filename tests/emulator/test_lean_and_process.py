"""Lean mode (validate and count only), the CLI (URL on the first line, SIGTERM/SIGINT stop it) and
`start_emulator_process` with the sync client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import orjson
import pytest

from customerio_emulator import Emulator, start_emulator_process
from customerio_emulator.testing import basic_auth, identify, person_event


def sync_post(url: str, body: dict, auth: str = basic_auth()) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, data=orjson.dumps(body), method="POST", headers={"Authorization": auth})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, orjson.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, orjson.loads(raw) if exc.headers["Content-Type"].startswith("application/json") else raw, dict(exc.headers)


async def test_lean_mode_validates_and_counts_only(session):
    async with Emulator(lean=True) as emu:
        ops = [identify({"id": "u"}), person_event({"id": "u"}, "e", timestamp="x"), {"type": "bad"}]
        async with session.post(emu.url + "/api/v2/batch", json={"batch": ops}, headers={"Authorization": basic_auth()}) as r:
            assert r.status == 207
            assert await r.json() == {
                "errors": [{"batch_index": 2, "reason": "invalid_type", "field": "type", "message": "type must be person, object or delivery"}]
            }
        assert await emu.client.people() == []
        assert await emu.client.events() == []
        assert await emu.client.requests() == []
        counters = await emu.client.counters()
        assert (counters["ops"], counters["ops_rejected"], counters["invalid_timestamps"], counters["status"]) == (3, 1, 1, {"207": 1})
        assert (await emu.client.health())["lean"] is True


def test_cli_prints_url_first_and_stops_on_sigterm(tmp_path):
    workspaces = tmp_path / "ws.json"
    workspaces.write_text(json.dumps([{"site_id": "a", "api_key": "ka", "region": "us"}, {"site_id": "b", "api_key": "kb", "region": "eu"}]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "customerio_emulator", "--port", "0", "--workspaces", str(workspaces)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = proc.stdout.readline().decode().strip()
        assert first.startswith("http://127.0.0.1:") and int(first.rsplit(":", 1)[1]) > 0
        status, body, _ = sync_post(first + "/eu/api/v2/batch", {"batch": [identify({"id": "x"})]}, basic_auth("b", "kb"))
        assert (status, body) == (200, {})
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        assert time.monotonic() - start < 3
        assert proc.stdout.read() == b""  # nothing but the URL on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_sigint_and_single_workspace_flags():
    proc = subprocess.Popen(
        [sys.executable, "-m", "customerio_emulator", "--port", "0", "--site-id", "s", "--api-key", "k", "--region", "eu"],
        stdout=subprocess.PIPE,
    )
    try:
        url = proc.stdout.readline().decode().strip()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(url + "/api/v1/accounts/region", headers={"Authorization": basic_auth("s", "k")})
        with opener.open(request, timeout=5) as response:
            assert orjson.loads(response.read()) == {"url": url + "/eu", "region": "eu", "environment_id": 1}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_rejects_bad_options():
    result = subprocess.run([sys.executable, "-m", "customerio_emulator", "--site-id", "s"], capture_output=True, timeout=20)
    assert result.returncode != 0 and b"--site-id and --api-key go together" in result.stderr
    result = subprocess.run([sys.executable, "-m", "customerio_emulator", "--error-rate", "3"], capture_output=True, timeout=20)
    assert result.returncode == 2 and b"error_rate must be in [0, 1]" in result.stderr


def test_start_emulator_process_with_sync_client():
    workspaces = [{"site_id": "p", "api_key": "pk"}]
    with start_emulator_process(workspaces, faults={"schedule": [{"count": 1, "status": 503}]}) as emu:
        assert emu.eu_url == emu.url + "/eu"
        auth = basic_auth("p", "pk")
        assert sync_post(emu.url + "/api/v2/batch", {"batch": [identify({"id": "u"})]}, auth)[0] == 503
        assert sync_post(emu.url + "/api/v2/batch", {"batch": [identify({"email": "U@x.io"}, {"a": 1})]}, auth)[:2] == (200, {})
        client = emu.client
        assert client.person(email="u@X.io")["attributes"] == {"a": 1}
        assert client.person(email="nobody@x.io") is None
        assert [e["status"] for e in client.requests()] == [503, 200]
        assert client.counters()["status"] == {"503": 1, "200": 1}
        client.set_faults(error_rate=1.0, error_statuses=[500])
        assert sync_post(emu.url + "/api/v2/batch", {"batch": []}, auth)[0] == 500
        client.clear_faults()
        assert client.faults()["error_rate"] == 0.0
        client.reset()
        assert client.people() == [] and client.events() == [] and client.objects() == []
        assert client.relationships() == [] and client.devices() == [] and client.segments() == {}
        assert client.suppressed() == [] and client.notices() == []
        assert client.workspaces()[0]["site_id"] == "p"
        assert client.health()["ok"] is True
        pid = emu.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_start_emulator_process_lean_and_stop_twice():
    emu = start_emulator_process(lean=True)
    try:
        assert emu.client.health()["lean"] is True
    finally:
        assert emu.stop() == 0
        assert emu.stop() == 0
