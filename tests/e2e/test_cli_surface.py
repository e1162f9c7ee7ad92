"""The command lines as a new user meets them (issue 15): `--help` of both programs, `--region` alone,
and a reader that closes stdout early (`| head -1`)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from customerio_emulator.process import EmulatorProcess
from tests.support.cli import (CONSOLE_SCRIPT, base_config, configured_stream, record_line, run_connector,
                               state_line)

EMULATOR = [str(Path(sys.executable).with_name("customerio-emulator"))]


def _help(program: list[str], *args: str) -> str:
    done = subprocess.run([*program, *args, "--help"], capture_output=True, timeout=30, text=True)
    assert done.returncode == 0 and done.stderr == ""
    return " ".join(done.stdout.split())  # argparse wraps at the terminal's width


def test_connector_help_describes_every_command_without_markup() -> None:
    text = _help(CONSOLE_SCRIPT)
    assert "spec print the connector's specification: the config's fields, defaults and secrets" in text
    assert ("check test a config: the Track API credentials and region, and (with S3 or Local) that the "
            "rejected-records storage can be written") in text
    assert "discover list the Customer.io operations (destination objects) with their sync modes and fields" in text
    assert "write read Airbyte RECORD and STATE messages on stdin" in text
    assert "``" not in text and "`" not in text
    assert "--catalog CATALOG.json the configured catalog: each stream's destination_object_name" in \
        _help(CONSOLE_SCRIPT, "write")


def test_emulator_help_shows_the_defaults_and_the_region() -> None:
    text = _help(EMULATOR)
    for expected in ("--port PORT 0 picks a free port (the URL is printed first) (default: 8089)",
                     "(default: demo-site)", "(default: demo-key)",
                     "--region {us,eu} the workspace's data center: an eu workspace is served under /eu"):
        assert expected in text


def test_emulator_region_alone_applies_to_the_default_workspace() -> None:
    proc = subprocess.Popen([*EMULATOR, "--port", "0", "--region", "eu"], stdout=subprocess.PIPE)
    try:
        url = proc.stdout.readline().decode().strip()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{url}/_emulator/workspaces", timeout=5) as answer:
            assert json.loads(answer.read()) == [
                {"site_id": "demo-site", "api_key": "demo-key", "region": "eu", "environment_id": 1}]
    finally:
        proc.terminate()
        proc.wait(10)


def test_emulator_workspaces_file_and_single_workspace_flags_conflict(tmp_path: Path) -> None:
    path = tmp_path / "workspaces.json"
    path.write_text(json.dumps([{"site_id": "a", "api_key": "ka"}]))
    done = subprocess.run([*EMULATOR, "--workspaces", str(path), "--region", "eu"], capture_output=True,
                          timeout=30, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", (
        "customerio-emulator: --workspaces describes every workspace; --site-id, --api-key and --region "
        "describe a single one: give one or the other\n"))


def test_a_closed_stdout_ends_the_sync_quietly(emu: EmulatorProcess, tmp_path: Path) -> None:
    """`write ... | head -1`: the first line is read, then the reader goes away mid-sync."""
    emu.client.set_faults({"latency_ms": 50})
    config, catalog, data = tmp_path / "config.json", tmp_path / "catalog.json", tmp_path / "input.jsonl"
    config.write_text(json.dumps(base_config(emu.url, state_max_delay_seconds=0.01, lanes=2)))
    catalog.write_text(json.dumps({"streams": [configured_stream("events", "person_event")]}))
    lines = []
    for i in range(3_000):
        lines.append(record_line("events", {"person_email": f"p{i % 40}@example.com", "event_name": "e"}))
        if i % 50 == 49:
            lines.append(state_line("events", i))
    data.write_text("\n".join(lines) + "\n")
    with data.open("rb") as stdin:
        proc = subprocess.Popen([*CONSOLE_SCRIPT, "write", "--config", str(config), "--catalog", str(catalog)],
                                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = json.loads(proc.stdout.readline())
        proc.stdout.close()  # as `head -1` does
        stderr = proc.stderr.read().decode()
        code = proc.wait(60)

    assert first["log"]["message"].startswith("Writing to Customer.io region us")
    assert (code, stderr) == (1, "destination-customer-io: stdout was closed by its reader; the write command "
                                 "stopped.\n")


def test_the_summary_counts_in_singular_and_omits_empty_reasons(emu: EmulatorProcess, tmp_path: Path) -> None:
    catalog = {"streams": [configured_stream("people", "person_identify", mode="append_dedup")]}
    lines = [record_line("people", {"person_email": "one@example.com"}), state_line("people", 1)]
    run = run_connector(tmp_path, "write", base_config(emu.url), catalog, lines)

    summary, stream = run.logs[-2:]
    assert summary.startswith("Sync summary: 1 record read, 1 accepted, 0 rejected; 0 unreadable lines "
                              "skipped; 0 identify updates merged; 1 of 1 state emitted; 2 requests (1 batch, "
                              "1 ops per batch), 0 retries, 0 throttled; ")
    assert stream == "Stream people -> person_identify: 1 record, 1 accepted, 0 rejected."
