"""A sync loads only what it uses: sqlite3 (the sync ledger) and boto3 (the S3 store) cost start-up time
and memory (docs/performance.md), so a plain write into the Local store must never import them."""

from __future__ import annotations

import sys
from pathlib import Path

from customerio_emulator.process import EmulatorProcess
from tests.support.cli import base_config, configured_stream, record_line, run_connector, state_line

# The CLI as `python -m destination_customer_io`, reporting the top-level packages it imported at exit.
_REPORTING = [sys.executable, "-c",
              "import atexit, sys\n"
              "atexit.register(lambda: sys.stderr.write('IMPORTED ' + ' '.join(sorted({m.split('.')[0] "
              "for m in sys.modules})) + '\\n'))\n"
              "from destination_customer_io.cli import main\n"
              "sys.exit(main())\n"]


def _imported(stderr: bytes) -> set[str]:
    line = next(line for line in stderr.decode().splitlines() if line.startswith("IMPORTED "))
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


def test_a_ledgered_sync_does_import_sqlite3(emu: EmulatorProcess, tmp_path: Path) -> None:
    """The other side of the test above: skip_unchanged keeps a ledger, which needs sqlite3 (and never numpy)."""
    config = base_config(emu.url, object_storage_config={
        "storage_type": "Local", "destination_path": str(tmp_path / "store")}, skip_unchanged=True)
    stream = configured_stream("people", "person_identify", mode="append_dedup", primary_key=[["person_email"]])
    lines = [record_line("people", {"person_email": "a@example.com", "plan": "pro"}), state_line("people", 1)]
    run = run_connector(tmp_path, "write", config, {"streams": [stream]}, lines, program=_REPORTING)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "sqlite3" in _imported(run.stderr) and "numpy" not in _imported(run.stderr)
