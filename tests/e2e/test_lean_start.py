"""A sync loads only what it uses: sqlite3 (the sync ledger) and boto3 (the S3 store) cost start-up time
and memory (docs/performance.md), so a plain write into the Local store must never import them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import trustme

from customerio_emulator.process import EmulatorProcess
from tests.support.cli import CONSOLE_SCRIPT, base_config, configured_stream, record_line, run_connector, state_line

# The CLI as `python -m destination_customer_io`, reporting the top-level packages it imported at exit.
_REPORTING = [sys.executable, "-c",
              "import atexit, sys\n"
              "atexit.register(lambda: sys.stderr.write('IMPORTED ' + ' '.join(sorted({m.split('.')[0] "
              "for m in sys.modules})) + '\\n'))\n"
              "atexit.register(lambda: sys.stderr.write('MODULES ' + ' '.join(sorted(m for m in sys.modules "
              "if m.startswith('destination_customer_io.'))) + '\\n'))\n"
              "from destination_customer_io.cli import main\n"
              "sys.exit(main())\n"]


def _imported(stderr: bytes, marker: str = "IMPORTED ") -> set[str]:
    line = next(line for line in stderr.decode().splitlines() if line.startswith(marker))
    return set(line.split()[1:])


def test_a_plain_sync_imports_neither_sqlite3_nor_boto3(emu: EmulatorProcess, tmp_path: Path) -> None:
    config = base_config(emu.url, object_storage_config={
        "storage_type": "Local", "destination_path": str(tmp_path / "rejected")})
    catalog = {"streams": [configured_stream("people", "person_identify", mode="append_dedup",
                                             primary_key=[["person_email"]]),
                           configured_stream("events", "person_event")]}
    lines = [record_line("people", {"person_email": "a@example.com", "plan": "pro"}),
             record_line("events", {"person_email": "a@example.com", "event_name": "signed_up"}),
             record_line("events", {"event_name": "no person"}),  # rejected: stored in the Local store
             state_line("events", 1)]
    run = run_connector(tmp_path, "write", config, catalog, lines, program=_REPORTING)
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(run.states) == 1 and emu.client.counters()["ops"] == 2
    imported = _imported(run.stderr)
    assert "destination_customer_io" in imported and "aiohttp" in imported  # the report is real
    assert not imported & {"sqlite3", "_sqlite3", "numpy", "boto3", "botocore"}
    # nor what only error messages or package-resource readers would load (~0.5 MB of RSS)
    assert not imported & {"difflib", "zipfile"}
    # the optional parts of a sync that are off (features.py): never imported
    modules = _imported(run.stderr, "MODULES ")
    assert "destination_customer_io.pipeline" in modules  # the report is real
    assert not modules & {f"destination_customer_io.{name}" for name in ("retry", "synclog", "ledger")}


def test_a_sync_keeping_no_rejected_records_loads_no_storage_module(emu: EmulatorProcess, tmp_path: Path) -> None:
    """Storage None (the spec's default): the modules of the store's files (rolling files with their
    retries, formats, keys, the local sink, orjson) are never imported, though a record is rejected."""
    catalog = {"streams": [configured_stream("events", "person_event")]}
    lines = [record_line("events", {"person_email": "a@example.com", "event_name": "signed_up"}),
             record_line("events", {"event_name": "no person"}),  # rejected: counted, not kept
             state_line("events", 1)]
    run = run_connector(tmp_path, "write", base_config(emu.url), catalog, lines, program=_REPORTING)
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(run.states) == 1 and emu.client.counters()["ops"] == 1
    modules = _imported(run.stderr, "MODULES ")
    assert {"destination_customer_io.rejected", "destination_customer_io.pipeline"} <= modules  # real
    assert not modules & {f"destination_customer_io.{name}" for name in (
        "storage.rolling", "storage.retrying", "storage.local", "rejected.formats", "rejected.keys")}
    assert "orjson" not in _imported(run.stderr)


def test_a_ledgered_sync_does_import_sqlite3(emu: EmulatorProcess, tmp_path: Path) -> None:
    """The other side of the test above: skip_unchanged keeps a ledger, which needs sqlite3 (and never numpy)."""
    config = base_config(emu.url, object_storage_config={
        "storage_type": "Local", "destination_path": str(tmp_path / "store")}, skip_unchanged=True)
    stream = configured_stream("people", "person_identify", mode="append_dedup", primary_key=[["person_email"]])
    lines = [record_line("people", {"person_email": "a@example.com", "plan": "pro"}), state_line("people", 1)]
    run = run_connector(tmp_path, "write", config, {"streams": [stream]}, lines, program=_REPORTING)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "sqlite3" in _imported(run.stderr) and "numpy" not in _imported(run.stderr)


def test_the_cli_makes_aiohttp_s_unused_default_tls_contexts_without_reading_ca_bundles(tmp_path: Path) -> None:
    """aiohttp makes two default TLS contexts when imported, each reading the CA bundle (~20 ms of every
    start, docs/performance.md); the connector passes its own context wherever TLS is spoken
    (network.Network.tls_for), so the CLI's import has OpenSSL's default locations point at nothing for
    them, and puts the environment back as it was. Without that, each would hold the bundle's CA."""
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    probe = ("import os\n"
             "import destination_customer_io.cli\n"
             "import aiohttp.connector as connector\n"
             "print(connector._SSL_CONTEXT_VERIFIED.cert_store_stats()['x509_ca'],"
             " connector._SSL_CONTEXT_UNVERIFIED.cert_store_stats()['x509_ca'],"
             " os.environ.get('SSL_CERT_FILE'), os.environ.get('SSL_CERT_DIR', 'unset'))\n")
    env = {name: value for name, value in os.environ.items() if name != "SSL_CERT_DIR"}
    env["SSL_CERT_FILE"] = str(bundle)
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "0", str(bundle), "unset"]
    # the check is real: the same import without the CLI's order reads the bundle into both
    plain = probe.replace("import destination_customer_io.cli\n", "")
    done = subprocess.run([sys.executable, "-c", plain], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split()[:2] == ["1", "1"]


def test_the_command_ends_with_main_s_code_after_flushing_and_the_exit_handlers(monkeypatch) -> None:
    """``cli.entry`` (the installed command, ``python -m``) skips only the interpreter's teardown: stdout
    and stderr are flushed and the ``atexit`` handlers run, in that order, before the process ends with
    ``main``'s code."""
    from destination_customer_io import cli

    seen: list[str] = []

    class Ended(Exception):
        pass

    def end(code: int) -> None:
        seen.append(f"exit {code}")
        raise Ended

    class Stream:
        def __init__(self, name: str) -> None:
            self.name = name

        def flush(self) -> None:
            seen.append(f"flush {self.name}")
            if self.name == "stdout":
                raise BrokenPipeError  # its reader left: the exit goes on all the same

    monkeypatch.setattr(cli, "main", lambda: seen.append("main") or 3)
    monkeypatch.setattr(cli.os, "_exit", end)
    monkeypatch.setattr(cli.sys, "stdout", Stream("stdout"))
    monkeypatch.setattr(cli.sys, "stderr", Stream("stderr"))
    monkeypatch.setattr(cli.atexit, "_run_exitfuncs", lambda: seen.append("atexit"))
    try:
        cli.entry()
    except Ended:
        pass
    assert seen == ["main", "flush stdout", "flush stderr", "atexit", "exit 3"]


def test_a_sync_ended_without_teardown_leaves_its_files_whole_and_no_working_folder(
        emu: EmulatorProcess, tmp_path: Path) -> None:
    """Through the installed command: the rejected record's file, the ledger and every message are whole
    after the quick exit, and the ledger's working folder (under TMPDIR) is gone."""
    work = tmp_path / "tmp"
    work.mkdir()
    store = tmp_path / "store"
    config = base_config(emu.url, skip_unchanged=True, object_storage_config={
        "storage_type": "Local", "destination_path": str(store), "format": {"format_type": "JSONL"}})
    catalog = {"streams": [configured_stream("people", "person_identify", mode="append_dedup",
                                             primary_key=[["person_email"]])]}
    lines = [record_line("people", {"person_email": "a@example.com", "plan": "pro"}),
             record_line("people", {"person_email": "not an email", "plan": "pro"}),  # rejected, stored
             state_line("people", 1)]
    env = {**os.environ, "TMPDIR": str(work)}
    run = run_connector(tmp_path, "write", config, catalog, lines, program=CONSOLE_SCRIPT, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert [s["destinationStats"] for s in run.states] == [{"recordCount": 1.0, "rejectedRecordCount": 1.0}]
    assert run.messages[-1]["type"] == "LOG", run.messages[-1]  # the last message, the summary, is whole
    rows = [json.loads(line) for path in sorted(store.rglob("*.jsonl")) for line in path.read_text().splitlines()]
    assert [row["_airbyte_data"]["person_email"] for row in rows] == ["not an email"]
    assert [p.name for p in store.rglob("*") if p.is_file() and "ledger" in str(p)], "no ledger written"
    assert list(work.iterdir()) == []
    # the second sync reads that ledger: the unchanged person is not sent again
    before = emu.client.counters()["ops"]
    again = run_connector(tmp_path, "write", config, catalog, lines[:1] + lines[2:], program=CONSOLE_SCRIPT, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert emu.client.counters()["ops"] == before and list(work.iterdir()) == []
