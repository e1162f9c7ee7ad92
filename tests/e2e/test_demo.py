"""`make demo` keeps working: the script runs the whole sync and prints its report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], capture_output=True,
                          timeout=180, cwd=ROOT)
    output = done.stdout.decode()
    assert done.returncode == 0, output + done.stderr.decode()
    assert "SUCCEEDED: Connected to Customer.io (region us" in output
    assert "3407 records read, 3399 accepted, 8 rejected" in output
    assert "200 people, 1998 events, 999 page views, 20 objects, 100 relationships, 66 devices" in output
    assert "rejected/1001/shop/users/" in output and '"rejected_reason": ' in output
    assert output.rstrip().endswith("Done: the emulator and the local S3 server are stopped.")
