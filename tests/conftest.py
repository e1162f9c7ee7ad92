"""Suite-wide set-up: `tests.support` importable however pytest is started; boto3 never probes the
instance metadata address (tests talk to loopback only)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
