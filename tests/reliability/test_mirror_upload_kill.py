"""Mirror mode's property (test_mirror_property.py) with every crash landing DURING an upload of a ledger
file to the store (issue 25): whatever engine holds the ledger and whatever files it writes, a sync killed
while one of them is on its way must leave the next sync correct.

The store is S3 (moto, in a process of its own) behind ``tests.support.upload_cut.UploadCutter``, a
loopback proxy that stops the n-th PUT under ``_customerio_ledger/`` of an attempt (or the first or second
one after the attempt's last state was emitted: the end of a sync, where a snapshot or a mirror's removal
intents go up) and kills the connector there. No hook in the product: the connector only ever sees a store
that stops answering. Three ways an upload is cut:

    midway  half the file's bytes reached the store, then the process died: the store has no object
    landed  the store has the whole file, the process died before it heard so
    torn    as landed, then the test cuts the stored object to half its bytes: a store that kept a partial
            write (a disk that lost its tail); the next sync must ignore it with a warning naming it

After every sync (killed or not), every member the ledger lists is in the emulator; after every complete
sync the emulator holds exactly that generation's set (no member lost or kept, none doubled) and so does the
ledger. The ledger is read through ``destination-customer-io ledger show --json --keys`` (not the engine's
own loader), so the test judges any engine behind the CLI's contract. Seeded like the property test
(``MIRROR_SEED``); ``SOAK=1`` runs ``MIRROR_SEEDS`` seeds per way.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from tests.support.s3 import MotoProcess
from tests.support.upload_cut import UploadCutter

from .harness import CLI, checksum_problem, cli_env, run_cli, write_json
from .test_mirror_property import SEGMENTS, Generation, Kind, Plan, Property, _seeds, catalog

BUCKET = "ledger-home"
LEDGER_HOME = b"/_customerio_ledger/"
WAYS = ("midway", "landed", "torn")


@pytest.fixture
def s3() -> Iterator[MotoProcess]:
    with MotoProcess.with_bucket(BUCKET) as server:
        yield server


class UploadKills(Property):
    """The property's generations and replays; each crash the property plans becomes a cut upload."""

    def __init__(self, emu: Any, tmp: Path, kind: Kind, seed: int, s3: MotoProcess, way: str) -> None:
        super().__init__(emu, tmp, kind, seed)
        self.s3, self.way = s3, way
        self.cutter = UploadCutter(s3.endpoint)
        self.config["object_storage_config"] = {
            "storage_type": "S3", "s3_bucket_name": BUCKET, "bucket_path": f"seed{seed}", "s3_endpoint": self.cutter.endpoint,
            "s3_bucket_region": "us-east-1", "access_key_id": "AKIACUT", "secret_access_key": "cut-secret",
            "format": {"format_type": "JSONL"}, "compression": {"compression_type": "No Compression"}}
        # a held upload must outlast the kill: no retry on a new connection before it lands
        self.config.update(request_timeout_seconds=30.0, retry_max_seconds=60.0)
        self.torn: str | None = None  # a torn file's name: the next load must warn about it
        self.cut_at: Counter[str] = Counter()  # where the cuts landed: "nth" or "end"

    def keys(self) -> dict[str, int]:
        """This seed's objects (its own folder of the bucket): key -> size."""
        client = self.s3.client()
        found = client.list_objects_v2(Bucket=BUCKET, Prefix=f"seed{self.seed}/").get("Contents", [])
        return {item["Key"]: item["Size"] for item in found}

    def sync(self, gen: Generation, lines: list[bytes], plan: Plan) -> Any:
        self.tally.syncs += 1
        target = self._target() if plan.how != "none" else None
        states = sum(1 for line in lines if line.startswith(b'{"type": "STATE"'))
        started, seen = threading.Event(), {"states": 0}
        proc: dict[str, Any] = {}

        # the stuck upload lasts a moment before the kill: whatever the connector does meanwhile (it must
        # send nothing that the file on its way vouches for) happens before it dies
        stuck_for = self.rng.uniform(0, 0.4)

        def kill(_key: str) -> None:
            assert started.wait(20), "the connector printed nothing before its first ledger upload"
            time.sleep(stuck_for)
            proc["it"].send_signal(signal.SIGKILL)  # the connector this test started

        def on_message(message: dict[str, Any], running: Any) -> None:
            proc["it"] = running
            started.set()
            if message.get("type") == "STATE":
                seen["states"] += 1
                if target and target[0] == "end" and seen["states"] == states:
                    self.cutter.arm(LEDGER_HOME, target[1], self._mode(), kill)

        if target and target[0] == "nth":
            self.cutter.arm(LEDGER_HOME, target[1], self._mode(), kill)
        before = self.keys()
        cuts = len(self.cutter.cuts)
        torn_before = self.torn
        try:
            run = run_cli(self.tmp / f"sync{self.tally.syncs}", self.config, lines,
                          catalog=catalog(self.kind, gen.number), on_message=on_message, timeout=90)
        finally:
            self.cutter.disarm()
        cut = self.cutter.cuts[cuts] if len(self.cutter.cuts) > cuts else None
        if cut is not None:
            assert run.killed, self.fail(f"the upload of {cut.key} was cut but the connector lived on")
            self.tally.kills += 1
            self.cut_at[target[0]] += 1
            self._after_cut(cut, before)
        else:
            assert run.returncode == 0, self.fail(f"exit {run.returncode}: {run.errors} {run.stderr[-1500:]!r}")
        if torn_before is not None:  # this sync loaded the ledger that held the torn file
            warned = [text for text in run.logs("WARN") if torn_before in text]
            assert warned, self.fail(f"no warning named the torn file {torn_before}: {run.logs('WARN')}")
            if self.torn == torn_before:
                self.torn = None
        problems = [p for p in map(checksum_problem, run.states) if p]
        assert problems == [], self.fail(f"states: {problems}")
        self.check(gen, complete=not run.killed)
        return run

    def _target(self) -> tuple[str, int]:
        """Which upload of the attempt is cut: the n-th (1-6), or the first or second after its last state."""
        if self.rng.random() < 0.35:
            return "end", self.rng.randint(1, 2)
        return "nth", self.rng.randint(1, 6)

    def _mode(self) -> str:
        return "midway" if self.way == "midway" else "landed"

    def _after_cut(self, cut: Any, before: dict[str, int]) -> None:
        """The store holds what the way says; torn: the stored object cut to half its bytes."""
        target, _, query = cut.key.lstrip("/").partition("?")
        key = urllib.parse.unquote(target).removeprefix(f"{BUCKET}/")
        now = self.keys()
        if cut.mode == "midway" or "partNumber=" in query:  # a part of a multipart upload never completed
            assert now.get(key) == before.get(key), self.fail(f"{key}: an unfinished upload became an object")
            return
        assert now.get(key) == cut.length, self.fail(f"{key}: the landed upload is not whole: {now.get(key)}")
        if self.way == "torn":
            client = self.s3.client()
            body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            client.put_object(Bucket=BUCKET, Key=key, Body=body[: len(body) // 2])
            self.torn = key.rsplit("/", 1)[-1]

    def judge_warnings(self, problems: list[str]) -> None:
        if self.torn is not None:  # `ledger show` loads as a sync does: it names the torn file too
            assert any(self.torn in text for text in problems), self.fail(f"`ledger show` problems: {problems}")
        elif self.way != "torn":  # no file was ever partial: nothing to warn about
            assert problems == [], self.fail(f"`ledger show` problems with no partial file: {problems}")

    def ledger(self) -> tuple[list[Any], list[str]]:
        """The members the stream's ledger lists, as ``ledger show --json --keys`` prints them, and the
        loader's problems."""
        workdir = self.tmp / "show"
        workdir.mkdir(parents=True, exist_ok=True)
        config = write_json(workdir / "config.json", self.config)
        done = subprocess.run([*CLI, "ledger", "--config", str(config), "show", "--json", "--keys", "100000"],
                              capture_output=True, env=cli_env(), timeout=60)
        assert done.returncode == 0, self.fail(f"ledger show: {done.stderr[-1000:]!r}")
        streams = json.loads(done.stdout)["streams"]
        members = [_member(key["op"]) for stream in streams for key in stream["keys"] if key["flag"] == "member"]
        return members, [problem for stream in streams for problem in stream["problems"]]


def _member(op: dict[str, Any]) -> str:
    """A segment member from the removal op ``ledger show`` prints for it (its body: the one id)."""
    assert "/remove_customers" in op["path"], op
    return op["body"].lower()


@pytest.mark.slow
@pytest.mark.parametrize("way", WAYS)
def test_a_mirror_killed_during_a_ledger_upload_loses_nothing(emu: Any, s3: MotoProcess, tmp_path: Path,
                                                              figures: Any, soak: bool, way: str) -> None:
    for seed in _seeds(soak, 4_000 + 100 * WAYS.index(way))[: (None if soak else 1)]:
        emu.client.reset()
        run = UploadKills(emu, tmp_path / f"seed{seed}", SEGMENTS, seed, s3, way)
        try:
            tally = run.run(generations=random.Random(seed).randint(5, 7))
        finally:
            run.cutter.close()
        assert tally.kills > 0, f"seed {seed}: no upload was cut"
        figures(faults=tally.kills, records=tally.checks, duplicates=0, seed=seed, way=way,
                syncs=tally.syncs, complete=tally.complete, cuts_nth=run.cut_at["nth"], cuts_end=run.cut_at["end"],
                resumed=tally.resumed, abandoned=tally.abandoned)


@pytest.mark.parametrize("mode", ["midway", "landed"])
def test_the_cutter_stops_the_chosen_upload_and_passes_the_others(s3: MotoProcess, mode: str) -> None:
    cutter = UploadCutter(s3.endpoint)
    cut: list[str] = []
    client = boto3.client("s3", endpoint_url=cutter.endpoint, region_name="us-east-1", aws_access_key_id="AKIACUT",
                          aws_secret_access_key="cut-secret",
                          config=Config(read_timeout=1, connect_timeout=1, retries={"total_max_attempts": 1}))
    try:
        cutter.arm(LEDGER_HOME, 2, mode, cut.append)
        client.put_object(Bucket=BUCKET, Key="_customerio_ledger/a", Body=b"a" * 5_000)
        client.put_object(Bucket=BUCKET, Key="other/b", Body=b"b" * 5_000)  # not under the ledger's home
        with pytest.raises(ReadTimeoutError):
            client.put_object(Bucket=BUCKET, Key="_customerio_ledger/c", Body=b"c" * 5_000)
        client.put_object(Bucket=BUCKET, Key="_customerio_ledger/d", Body=b"d" * 5_000)  # one cut per arming
    finally:
        cutter.close()
    stored = {item["Key"]: item["Size"] for item in s3.client().list_objects_v2(Bucket=BUCKET)["Contents"]}
    expected = {"_customerio_ledger/a": 5_000, "other/b": 5_000, "_customerio_ledger/d": 5_000}
    assert stored == (expected if mode == "midway" else {**expected, "_customerio_ledger/c": 5_000})
    assert cut == [f"/{BUCKET}/_customerio_ledger/c"]


def test_the_cutter_holds_a_final_answer_that_comes_right_behind_a_late_continue() -> None:
    """A client that gave up waiting for ``100 Continue`` sends its body; a slow server then answers
    ``100`` and ``200`` in one write. The 200 is the answer to hold (CI once saw it pass, 2026-12-05)."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            got = b""
            while not got.endswith(b"x" * 10):
                got += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            conn.recv(1)  # until the proxy lets go

    threading.Thread(target=serve, daemon=True).start()
    cutter = UploadCutter(f"http://127.0.0.1:{server.getsockname()[1]}")
    cut: list[str] = []
    try:
        cutter.arm(b"/k", 1, "landed", cut.append)
        with socket.create_connection(("127.0.0.1", int(cutter.endpoint.rsplit(":", 1)[1])), timeout=1) as client:
            client.sendall(b"PUT /k HTTP/1.1\r\nHost: s3\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
            client.sendall(b"x" * 10)
            answered = b""
            with pytest.raises(socket.timeout):
                while chunk := client.recv(65536):
                    answered += chunk
    finally:
        cutter.close()
        server.close()
    assert answered == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert cut == ["/k"]
