"""The throughput cost of pre-flight validation: ``build()`` records/s with every limit check, and with
the checks in validate.py replaced by no-ops (what mapping would cost if nothing were checked).

Same records as bench/map_bench.py (person_event ~300 B; person_identify with 20 attributes), records/s
of CPU time, best of R runs, on one core.

    .venv/bin/python bench/validation_cost.py [--records 50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any, Iterator
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

import map_bench  # noqa: E402
from destination_customer_io import validate  # noqa: E402


@contextlib.contextmanager
def validation_disabled() -> Iterator[None]:
    """Every check passes without looking (the op-size check included)."""
    none = lambda *args, **kwargs: None  # noqa: E731
    with contextlib.ExitStack() as stack:
        for name in ("check_identifier_size", "check_event_name_size", "check_attribute_count",
                     "check_attribute_names", "check_op_size"):
            stack.enter_context(mock.patch.object(validate, name, none))
        stack.enter_context(mock.patch.object(validate, "fit_attribute_values",
                                              lambda attributes, *a, **k: (None, None)))
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases: list[tuple[str, list[dict[str, Any]]]] = [
        ("person_event", map_bench.event_records(args.records)),
        ("person_identify", map_bench.identify_records(args.records)),
        # a ~900-byte text column: the ops are long enough that the byte counting really runs
        ("person_event", map_bench.event_records(args.records, long_text=True)),
        ("person_identify", map_bench.identify_records(args.records, long_text=True)),
    ]
    print(f"{'operation':<16}{'record':>8}{'validated rec/s':>16}{'unchecked rec/s':>17}{'cost':>7}")
    for name, records in cases:
        mode = "append_dedup" if name == "person_identify" else "append"
        checked = unchecked = 0.0
        for _ in range(args.repeat):  # interleaved, so drift in machine load hits both alike
            checked = max(checked, map_bench.measure(name, mode, records, 1))
            with validation_disabled():
                unchecked = max(unchecked, map_bench.measure(name, mode, records, 1))
        size = len(map_bench.msgspec.json.encode(records[0]))
        print(f"{name:<16}{size:>6} B{checked:>16,.0f}{unchecked:>17,.0f}{1 - checked / unchecked:>7.0%}")


if __name__ == "__main__":
    main()
