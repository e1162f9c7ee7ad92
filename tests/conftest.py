"""Suite-wide set-up: `tests.support` importable however pytest is started; boto3 never probes the
instance metadata address and no proxy from the machine's environment is used (tests talk to loopback
only; the connector honours HTTP(S)_PROXY, so a proxy set on the machine would take its traffic)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
for _name in list(os.environ):
    if _name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        del os.environ[_name]
