"""The reliability suite's harness: builds a config, a catalog and an input whose correct outcome is
known in advance, runs the connector CLI as a subprocess (as Airbyte does), audits every STATE it
emits while it runs, and checks the end state of the emulator and of the rejected-records files.

    dataset = build_dataset(people=60, events=400, seed=1)
    run = run_cli(workdir, config, dataset.lines, auditor=StateAuditor(emu.client, dataset, rejected_dir))
    verify_end_state(emu.client, dataset, rejected_dir)

Every record carries a unique integer ``row`` (its data column), so an event, a person's attributes or a
rejected file row can be traced back to the input line it came from.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from destination_customer_io import values

SITE_ID = "rel-site"
API_KEY = "rel-key-5f1d0c9a"  # a secret: must never appear in any output
EVENTS_STREAM, PEOPLE_STREAM, NAMESPACE = "purchases", "users", "shop"
CLI = [sys.executable, "-m", "destination_customer_io"]
# Small knobs: a test sync takes seconds, retries and timeouts fractions of one.
FAST_TUNING: dict[str, Any] = {
    "lanes": 4,
    "batch_max_bytes": 20_000,
    "request_timeout_seconds": 2.0,
    "retry_max_seconds": 20.0,
    "retry_initial_backoff_seconds": 0.05,
    "retry_max_backoff_seconds": 0.5,
    "state_max_delay_seconds": 0.1,
    "progress_interval_seconds": 60.0,
}


# --- configs and catalogs --------------------------------------------------------------------------

def make_config(url: str, rejected_dir: Path | None, **overrides: Any) -> dict[str, Any]:
    """A write config against the emulator at ``url``; rejected records go to JSONL files."""
    config: dict[str, Any] = {
        "credentials": {"siteId": SITE_ID, "apiKey": API_KEY},
        "identifierType": "email",
        "track_api_base_url": url,
        "object_storage_config": {"storage_type": "None"},
        **FAST_TUNING,
    }
    if rejected_dir is not None:
        config["object_storage_config"] = {
            "storage_type": "Local", "destination_path": str(rejected_dir),
            "format": {"format_type": "JSONL"}, "compression": {"compression_type": "No Compression"},
        }
    config.update(overrides)
    return config


def make_catalog() -> dict[str, Any]:
    def entry(name: str, operation: str, mode: str) -> dict[str, Any]:
        return {"stream": {"name": name, "namespace": NAMESPACE, "json_schema": {"type": "object"},
                           "supported_sync_modes": ["full_refresh"]},
                "sync_mode": "full_refresh", "destination_sync_mode": mode,
                "destination_object_name": operation, "generation_id": 1, "sync_id": 7}

    return {"streams": [entry(PEOPLE_STREAM, "person_identify", "append_dedup"),
                        entry(EVENTS_STREAM, "person_event", "append")]}


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


# --- the input and what it must produce --------------------------------------------------------------

def record_line(stream: str, data: dict[str, Any], namespace: str | None = NAMESPACE) -> bytes:
    record: dict[str, Any] = {"stream": stream, "data": data, "emitted_at": 1_700_000_000_000}
    if namespace is not None:
        record["namespace"] = namespace
    return json.dumps({"type": "RECORD", "record": record}).encode()


def state_line(marker: int, stream: str = EVENTS_STREAM, *, kind: str = "STREAM", source_count: int = 0) -> bytes:
    """A unique input state (a STREAM state of ``stream``, or GLOBAL): its ``marker`` finds its position
    in the input again. ``with_source_stats`` sets its ``sourceStats`` as a source would."""
    stats = {"recordCount": float(source_count)}
    if kind == "GLOBAL":
        return json.dumps({"type": "STATE", "state": {"type": "GLOBAL", "global": {
            "shared_state": {"marker": marker}}, "sourceStats": stats}}).encode()
    return json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": stream, "namespace": NAMESPACE},
        "stream_state": {"marker": marker}}, "sourceStats": stats}}).encode()


def state_marker(message: dict[str, Any]) -> int:
    state = message["state"]
    if state["type"] == "GLOBAL":
        return int(state["global"]["shared_state"]["marker"])
    return int(state["stream"]["stream_state"]["marker"])


def with_source_stats(lines: list[bytes]) -> list[bytes]:
    """``lines`` with each state's ``sourceStats.recordCount`` counted as the platform counts it: a
    STREAM state the records of its stream since that stream's previous state in ``lines``, a GLOBAL
    state every record since the previous GLOBAL state. A replay (lines after a state) is counted
    afresh, as a source resuming from that state would."""
    out, since = [], Counter[str]()
    for line in lines:
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):  # hostile input: a line that is no message counts nowhere
            out.append(line)
            continue
        if not isinstance(message, dict):
            out.append(line)
            continue
        record = message.get("record")
        if message.get("type") == "RECORD" and isinstance(record, dict) and isinstance(record.get("stream"), str):
            since[record["stream"]] += 1
        elif message.get("type") == "STATE":
            state = message["state"]
            if state["type"] == "GLOBAL":
                count = sum(since.values())
                since.clear()
            else:
                count = since.pop(state["stream"]["stream_descriptor"]["name"], 0)
            state["sourceStats"] = {"recordCount": float(count)}
            line = json.dumps(message).encode()
        out.append(line)
    return out


def checksum_problem(message: dict[str, Any]) -> str | None:
    """The platform's check of one echoed STREAM/GLOBAL state (StateCheckSumCountEventHandler):
    destinationStats.recordCount + rejectedRecordCount == sourceStats.recordCount."""
    state = message["state"]
    source = state.get("sourceStats", {}).get("recordCount")
    stats = state.get("destinationStats", {})
    total = stats.get("recordCount", 0.0) + stats.get("rejectedRecordCount", 0.0)
    if state.get("type") in ("STREAM", "GLOBAL") and source is not None and total != source:
        return f"state {state_marker(message)}: destination {stats} != source {source}"
    return None


@dataclass
class Dataset:
    """Input lines and their exact expected outcome, by input line index."""

    lines: list[bytes] = field(default_factory=list)
    state_index: dict[int, int] = field(default_factory=dict)  # marker -> line index
    events: dict[str, tuple[int, int]] = field(default_factory=dict)  # event id -> (line, row)
    people: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)  # email -> [(line, attrs)]
    rejected: dict[int, tuple[int, str]] = field(default_factory=dict)  # row -> (line, reason)
    event_people: set[str] = field(default_factory=set)  # emails with events (events create people)

    @property
    def valid_records(self) -> int:
        return len(self.events) + sum(len(v) for v in self.people.values())

    def newest(self, email: str, before: int | None = None) -> dict[str, Any] | None:
        found = [attrs for line, attrs in self.people.get(email, ()) if before is None or line < before]
        return found[-1] if found else None

    def after_state(self, marker: int | None) -> list[bytes]:
        """The replay input Airbyte sends after a failure: every line after that state, its states'
        ``sourceStats`` counted afresh."""
        return self.lines if marker is None else with_source_stats(self.lines[self.state_index[marker] + 1:])


def _event(rng: random.Random, row: int, email: str) -> tuple[dict[str, Any], str]:
    """A valid purchase; a third carry a ULID event_id, a third another id, a third none."""
    data: dict[str, Any] = {"person_email": email, "event_name": "purchase", "row": row,
                            "amount": rng.randint(1, 10_000) / 100, "timestamp": 1_700_000_000 + row}
    kind = row % 3
    if kind == 0:
        data["event_id"] = values.ulid(1_700_000_000_000 + row, rng.randbytes(10))
    elif kind == 1:
        data["event_id"] = f"order-{row}"
    ms = data["timestamp"] * 1000
    expected = values.event_ulid(data.get("event_id"), ms, EVENTS_STREAM, NAMESPACE, data)
    return data, expected


# Invalid records and the reason each must be rejected with.
_INVALID: list[tuple[str, Callable[[int, str], dict[str, Any]], str]] = [
    (PEOPLE_STREAM, lambda row, email: {"row": row, "plan": "x"}, "identifier_missing"),
    (PEOPLE_STREAM, lambda row, email: {"person_email": "not-an-email", "row": row}, "identifier_invalid"),
    (EVENTS_STREAM, lambda row, email: {"person_email": email, "row": row}, "event_name_missing"),
    (EVENTS_STREAM, lambda row, email: {"person_email": email, "event_name": "purchase", "row": row,
                                        "timestamp": "yesterday"}, "invalid_timestamp"),
    (EVENTS_STREAM, lambda row, email: {"person_email": email, "event_name": "e" * 101, "row": row},
     "event_name_too_long"),
]


def build_dataset(*, people: int, events: int, updates: int = 3, invalid_every: int = 25,
                  state_every: int = 20, seed: int = 0, state_kind: str = "STREAM") -> Dataset:
    """Shuffled identifies (each person ``updates`` times, ``version`` rising), events and invalid
    records, with a unique STATE every ``state_every`` records: STREAM states naming the two streams
    in turn (so each counts its own stream over two intervals), or GLOBAL states; at the end, a state
    for each stream (or one GLOBAL). Every state carries the ``sourceStats`` a source would send."""
    rng = random.Random(seed)
    emails = [f"person{i}@example.com" for i in range(people)]
    kinds = ["identify"] * (people * updates) + ["event"] * events
    rng.shuffle(kinds)
    dataset = Dataset()
    versions = Counter[str]()
    row = 0
    for kind in kinds:
        row += 1
        email = rng.choice(emails)
        if invalid_every and row % invalid_every == 0:
            stream, build, reason = _INVALID[(row // invalid_every) % len(_INVALID)]
            dataset.rejected[row] = (len(dataset.lines), reason)
            dataset.lines.append(record_line(stream, build(row, email)))
        elif kind == "event":
            data, event_id = _event(rng, row, email)
            dataset.events[event_id] = (len(dataset.lines), row)
            dataset.event_people.add(email)
            dataset.lines.append(record_line(EVENTS_STREAM, data))
        else:
            versions[email] += 1
            attrs = {"plan": rng.choice(["free", "pro", "team"]), "version": versions[email], "row": row}
            dataset.people.setdefault(email, []).append((len(dataset.lines), attrs))
            # the email's case varies: one person whatever the case (Customer.io ignores it)
            shown = email.upper() if row % 7 == 0 else email
            dataset.lines.append(record_line(PEOPLE_STREAM, {"person_email": shown, **attrs}))
        if row % state_every == 0:
            dataset.state_index[row] = len(dataset.lines)
            named = (PEOPLE_STREAM, EVENTS_STREAM)[(row // state_every) % 2]
            dataset.lines.append(state_line(row, named, kind=state_kind))
    finals = [EVENTS_STREAM] if state_kind == "GLOBAL" else [PEOPLE_STREAM, EVENTS_STREAM]
    for marker, named in enumerate(finals, row + 1):
        dataset.state_index[marker] = len(dataset.lines)
        dataset.lines.append(state_line(marker, named, kind=state_kind))
    dataset.lines = with_source_stats(dataset.lines)
    return dataset


# --- running the CLI ---------------------------------------------------------------------------------

@dataclass
class Run:
    returncode: int | None
    messages: list[dict[str, Any]]
    stdout: bytes
    stderr: bytes
    elapsed: float
    killed: bool = False

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    @property
    def states(self) -> list[dict[str, Any]]:
        return self.of_type("STATE")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"].get("type") == "ERROR"]

    def logs(self, level: str | None = None) -> list[str]:
        return [m["log"]["message"] for m in self.of_type("LOG") if level is None or m["log"]["level"] == level]

    @property
    def summary(self) -> str:
        found = [text for text in self.logs() if text.startswith("Sync summary")]
        return found[-1] if found else ""


def write_input(path: Path, lines: Iterable[bytes]) -> Path:
    with open(path, "wb") as out:
        for line in lines:
            out.write(line + b"\n")
    return path


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def run_cli(workdir: Path, config: dict[str, Any], lines: Iterable[bytes] | None, *,
            command: str = "write", catalog: dict[str, Any] | None = None, timeout: float = 120.0,
            on_message: Callable[[dict[str, Any], subprocess.Popen[bytes]], None] | None = None,
            stdin_open: bool = False, extra_args: list[str] | None = None,
            signal_after: tuple[float, int] | None = None,
            trickle: tuple[int, float] | None = None) -> Run:
    """Run one connector command to its end (or until ``on_message`` kills it, or ``timeout``).

    Input comes from a file (as with a finished source), or with ``stdin_open`` through a pipe that
    stays open (a source that went quiet). ``on_message`` sees each stdout message as it arrives.
    ``signal_after=(seconds, signum)`` sends that signal to the connector after that long.
    ``trickle=(lines, pause)`` feeds stdin that many lines at a time with a pause between (a source
    still producing), then closes it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = write_json(workdir / "config.json", config)
    args = [*CLI, command]
    if command != "spec":
        args += ["--config", str(config_path)]
    if command == "write":
        args += ["--catalog", str(write_json(workdir / "catalog.json", catalog or make_catalog()))]
    args += extra_args or []
    input_path = write_input(workdir / "input.jsonl", lines or [])
    started = time.monotonic()
    with open(input_path, "rb") as source:
        proc = subprocess.Popen(args, stdin=subprocess.PIPE if stdin_open or trickle else source,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
        if trickle:
            threading.Thread(target=_trickle, args=(proc, source.read().splitlines(True), *trickle),
                             daemon=True).start()
        elif stdin_open:
            assert proc.stdin is not None
            proc.stdin.write(source.read())
            proc.stdin.flush()  # and left open: the connector sees no EOF
        signaller = None
        if signal_after is not None:
            signaller = threading.Timer(signal_after[0], _signal_quietly, (proc, signal_after[1]))
            signaller.start()
        try:
            return _collect(proc, started, timeout, on_message)
        finally:
            if signaller is not None:
                signaller.cancel()


def _collect(proc: subprocess.Popen[bytes], started: float, timeout: float,
             on_message: Callable[[dict[str, Any], subprocess.Popen[bytes]], None] | None) -> Run:
    stderr: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    watchdog = threading.Timer(timeout, _kill_quietly, (proc,))
    watchdog.start()
    raw, messages = [], []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            raw.append(line)
            message = json.loads(line)  # every stdout line must be one JSON message
            messages.append(message)
            if on_message is not None:
                on_message(message, proc)
        proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            _kill_quietly(proc)
            proc.wait()
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
    reader.join(5)
    elapsed = time.monotonic() - started
    if elapsed >= timeout:
        raise AssertionError(f"the connector ran past the test's own bound of {timeout} s")
    return Run(proc.returncode, messages, b"".join(raw), b"".join(stderr), elapsed,
               killed=proc.returncode in (-signal.SIGKILL, -signal.SIGTERM))


def _trickle(proc: subprocess.Popen[bytes], lines: list[bytes], per_write: int, pause: float) -> None:
    assert proc.stdin is not None
    try:
        for start in range(0, len(lines), per_write):
            proc.stdin.write(b"".join(lines[start:start + per_write]))
            proc.stdin.flush()
            time.sleep(pause)
        proc.stdin.close()
    except (BrokenPipeError, ValueError, OSError):  # the connector stopped reading: expected
        pass


def _kill_quietly(proc: subprocess.Popen[bytes]) -> None:
    _signal_quietly(proc, signal.SIGKILL)


def _signal_quietly(proc: subprocess.Popen[bytes], signum: int) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(signum)  # only the process this harness started
        except ProcessLookupError:
            pass


# --- what the emulator and the rejected files hold ---------------------------------------------------

def rejected_rows(rejected_dir: Path) -> list[dict[str, Any]]:
    """Every row of every finished rejected-records file (hidden temp files are not finished)."""
    rows = []
    if not rejected_dir.exists():
        return rows
    for path in sorted(rejected_dir.rglob("*.jsonl")):
        if path.name.startswith("."):
            continue
        for line in path.read_bytes().splitlines():
            rows.append(json.loads(line))
    return rows


def rejected_by_row(rejected_dir: Path) -> Counter[tuple[int, str]]:
    found: Counter[tuple[int, str]] = Counter()
    for row in rejected_rows(rejected_dir):
        data = row["_airbyte_data"]
        found[(data.get("row"), data["rejected_reason"])] += 1
    return found


@dataclass
class Outcome:
    """What the checks found; ``problems`` empty means exactly right."""

    events_checked: int = 0
    people_checked: int = 0
    rejected_checked: int = 0
    duplicate_events: int = 0
    ignored_repeats: int = 0  # events the emulator dropped as already seen (the dedup working)
    problems: list[str] = field(default_factory=list)


def verify_end_state(client: Any, dataset: Dataset, rejected_dir: Path | None, *,
                     rejected_may_repeat: bool = False) -> Outcome:
    """Every valid record in the emulator exactly once, each person equal to their newest record,
    every invalid record in the rejected files with its reason."""
    outcome = Outcome()
    events = client.events()
    ids = Counter(e["id"] for e in events)
    outcome.duplicate_events = sum(n - 1 for n in ids.values() if n > 1)
    outcome.ignored_repeats = client.counters()["duplicates"]
    if outcome.duplicate_events:
        outcome.problems.append(f"{outcome.duplicate_events} events stored twice")
    missing = set(dataset.events) - set(ids)
    extra = set(ids) - set(dataset.events)
    if missing or extra:
        outcome.problems.append(f"events: {len(missing)} missing, {len(extra)} unexpected")
    for event in events:
        expected = dataset.events.get(event["id"])
        if expected is not None and event["data"].get("row") != expected[1]:
            outcome.problems.append(f"event {event['id']} carries row {event['data'].get('row')}")
    outcome.events_checked = len(dataset.events)
    stored_people = client.people()
    people = {p["email"].lower(): p for p in stored_people if p.get("email")}
    expected_people = set(dataset.people) | dataset.event_people
    if len(people) != len(stored_people) or set(people) != expected_people:
        outcome.problems.append(f"people: {len(people)} stored, {len(expected_people)} expected")
    for email in expected_people:
        stored = people.get(email)
        newest = dataset.newest(email) if email in dataset.people else {}
        if stored is None or stored["attributes"] != newest:
            outcome.problems.append(f"{email}: {stored and stored['attributes']} != newest {newest}")
    outcome.people_checked = len(expected_people)
    if rejected_dir is not None:
        found = rejected_by_row(rejected_dir)
        expected = {(row, reason) for row, (_, reason) in dataset.rejected.items()}
        if set(found) != expected:
            outcome.problems.append(f"rejected: {sorted(set(found) ^ expected)[:5]} differ")
        if not rejected_may_repeat and any(n != 1 for n in found.values()):
            outcome.problems.append("a rejected record was written twice")
        outcome.rejected_checked = len(expected)
    return outcome


class StateAuditor:
    """Called on each STATE as the connector emits it: at that moment, every valid record before the
    state must already be in the emulator and every invalid one in a finished rejected file."""

    def __init__(self, client: Any, dataset: Dataset, rejected_dir: Path | None,
                 offset_marker: int | None = None) -> None:
        self.client = client
        self.dataset = dataset
        self.rejected_dir = rejected_dir
        self.last_index = -1 if offset_marker is None else dataset.state_index[offset_marker]
        self.markers: list[int] = []
        self.problems: list[str] = []

    def __call__(self, message: dict[str, Any], proc: Any) -> None:
        if message.get("type") != "STATE":
            return
        marker = state_marker(message)
        index = self.dataset.state_index[marker]
        if index <= self.last_index:
            self.problems.append(f"state {marker} out of order")
        self.last_index = index
        self.markers.append(marker)
        self._check_before(marker, index)
        problem = checksum_problem(message)
        if problem is not None:
            self.problems.append(problem)

    def _check_before(self, marker: int, index: int) -> None:
        stored = {e["id"] for e in self.client.events()}
        lost = [i for i, (line, _) in self.dataset.events.items() if line < index and i not in stored]
        if lost:
            self.problems.append(f"state {marker} emitted before {len(lost)} events were stored")
        people = {p["email"].lower(): p["attributes"] for p in self.client.people() if p.get("email")}
        for email in self.dataset.people:
            newest = self.dataset.newest(email, before=index)
            if newest and people.get(email, {}).get("version", 0) < newest["version"]:
                self.problems.append(f"state {marker} emitted before {email} v{newest['version']}")
        if self.rejected_dir is not None:
            durable = {row for row, _ in rejected_by_row(self.rejected_dir)}
            early = [r for r, (line, _) in self.dataset.rejected.items() if line < index and r not in durable]
            if early:
                self.problems.append(f"state {marker} emitted before rejected rows {early[:3]} were durable")


def snapshot(client: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The emulator's content without arrival times and generated ids: events by id, people by email."""
    events = {e["id"]: (e["name"], e["data"], e["timestamp"], e["identifiers"]) for e in client.events()}
    people = {p["email"].lower(): p["attributes"] for p in client.people()}
    return events, people
