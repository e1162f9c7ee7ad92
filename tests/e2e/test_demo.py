"""`make demo` keeps working: the script runs the whole sync and prints its report."""

from __future__ import annotations

import re
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
    # every figure is explained by the others (issue 15, point 9)
    reconciled = output.split("== how the numbers reconcile ")[1]
    assert "do not reconcile" not in reconciled
    assert re.search(r"records: (\d+) read = (\d+) accepted \+ (\d+) rejected; the rejected-records files "
                     r"hold \3 rows \(= rejected\)", reconciled)
    assert "    users: identifier_missing (person_email): `person_email` is missing, null or empty" in reconciled
    people = re.search(r"people: (\d+) in Customer.io = (\d+) identified by the users stream \(200 rows, "
                       r"(\d+) rejected above\) \+ (\d+) created by other streams", reconciled)
    assert people and int(people[1]) == int(people[2]) + int(people[4])
    assert int(people[2]) == 200 - int(people[3])
    assert re.search(r"ops: the emulator counted \d+ = .* records \(= accepted\)", reconciled)
    assert re.search(r"requests: the emulator counted (\d+) during write = 1 region look-up \+ .*; the "
                     r"connector's summary says \1 \(= counted by the emulator\)", reconciled)
    assert re.search(r"\b1 batches", output) is None and "(by reason: none)" not in output
    assert output.rstrip().endswith("Done: the emulator and the local S3 server are stopped.")
