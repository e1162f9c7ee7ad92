"""`make demo`: a real sync, end to end, on the bundled defaults.

Starts the Customer.io emulator (a subprocess) and a local S3 server (moto, in this process), writes a
realistic multi-object data set (people, purchases, companies, memberships, devices, page views, a
segment) with a few invalid rows, runs `check`, `discover` and `write` through the real CLI
with a config and catalog on disk (in demo-output/), then prints what Customer.io now holds, what was
rejected and why, where the rejected records are stored, and how the connector's figures, the rejected
files and the emulator's counters reconcile (computed from what this run observed, never assumed).
Leaves no process running.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from moto.server import ThreadedMotoServer

from customerio_emulator.process import start_emulator_process

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo-output"
CONNECTOR = str(Path(sys.executable).with_name("destination-customer-io"))
BUCKET = "customerio-rejected"
PLANS = ["free", "starter", "pro", "enterprise"]
PRODUCTS = ["notebook", "pen", "backpack", "lamp", "mug"]


def users(rng: random.Random, count: int) -> list[dict[str, Any]]:
    rows = [{"person_email": f"customer{i}@example.com", "first_name": f"Customer {i}",
             "plan": rng.choice(PLANS), "seats": rng.randint(1, 50),
             "signed_up_at": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T09:30:00Z"}
            for i in range(count)]
    rows[7]["person_email"] = None  # no identifier
    rows[11]["person_email"] = "customer11-at-example.com"  # not an email
    rows[13]["bio"] = "é" * 600  # 1,200 bytes: over Customer.io's 1,000-byte attribute value limit
    return rows


def purchases(rng: random.Random, count: int, people: int) -> list[dict[str, Any]]:
    rows = [{"person_email": f"customer{rng.randrange(people)}@example.com", "event_name": "purchase",
             "timestamp": 1_764_000_000 + i * 37, "product": rng.choice(PRODUCTS),
             "amount": round(rng.uniform(5, 300), 2)}
            for i in range(count)]
    rows[5]["event_name"] = ""  # no event name
    rows[9]["timestamp"] = "last tuesday"  # the real API would silently use "now"
    return rows


def companies(rng: random.Random, count: int) -> list[dict[str, Any]]:
    rows = [{"object_type_id": 1, "object_id": f"company-{c}", "name": f"Company {c}",
             "industry": rng.choice(["retail", "media", "software"]), "employees": rng.randint(5, 5000)}
            for c in range(count)]
    rows[3]["object_id"] = ""  # no object id
    return rows


def memberships(rng: random.Random, people: int, companies_count: int) -> list[dict[str, Any]]:
    return [{"person_email": f"customer{i}@example.com", "object_type_id": 1,
             "object_id": f"company-{rng.randrange(companies_count)}", "role": rng.choice(["admin", "member"])}
            for i in range(0, people, 2)]


def devices(rng: random.Random, people: int) -> list[dict[str, Any]]:
    rows = [{"person_email": f"customer{i}@example.com", "device_token": f"tok-{i:04d}",
             "platform": rng.choice(["ios", "android"]), "last_used": 1_764_000_000 + i,
             "app_version": rng.choice(["3.1.0", "3.2.1"])}
            for i in range(0, people, 3)]
    rows[4]["platform"] = "windows-phone"  # Customer.io takes ios or android only
    return rows


def page_views(rng: random.Random, count: int, people: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        row: dict[str, Any] = {"url": f"https://shop.example.com/{rng.choice(PRODUCTS)}",
                               "timestamp": 1_764_000_000 + i * 11, "referrer": "newsletter"}
        if i % 4:
            row["person_email"] = f"customer{rng.randrange(people)}@example.com"
        else:
            row["anonymous_id"] = f"anon-{rng.randrange(1000):04d}"  # a visitor not yet identified
        rows.append(row)
    rows[2]["url"] = "https://shop.example.com/" + "very-long-path/" * 10  # over the 100-byte name limit
    return rows


def vip_segment(people: int) -> list[dict[str, Any]]:
    return [{"person_email": f"customer{i}@example.com", "segment_id": 7} for i in range(0, people, 10)]


def airbyte_lines(stream: str, rows: list[dict[str, Any]], state_every: int) -> list[str]:
    lines = []
    for n, row in enumerate(rows, 1):
        lines.append(json.dumps({"type": "RECORD", "record": {"stream": stream, "namespace": "shop",
                                                             "data": row, "emitted_at": 1_764_000_000_000}}))
        if n % state_every == 0 or n == len(rows):
            lines.append(json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": {
                "stream_descriptor": {"name": stream, "namespace": "shop"}, "stream_state": {"row": n}}}}))
    return lines


def catalog() -> dict[str, Any]:
    def stream(name: str, obj: str, mode: str, props: dict[str, Any], key: list | None = None) -> dict[str, Any]:
        entry = {"stream": {"name": name, "namespace": "shop", "json_schema": {"type": "object", "properties": props},
                            "supported_sync_modes": ["full_refresh", "incremental"]},
                 "sync_mode": "incremental", "destination_sync_mode": mode, "destination_object_name": obj,
                 "generation_id": 1, "minimum_generation_id": 0, "sync_id": 1001}
        if key:
            entry["primary_key"] = key
        return entry

    return {"streams": [
        stream("users", "person_identify", "append_dedup",
               {"person_email": {"type": "string"},
                "signed_up_at": {"type": "string", "format": "date-time", "airbyte_type": "timestamp_with_timezone"}},
               [["person_email"]]),
        stream("purchases", "person_event", "append", {"person_email": {"type": "string"}, "event_name": {"type": "string"}}),
        stream("companies", "object_identify", "append_dedup", {}, [["object_type_id", "object_id"]]),
        stream("memberships", "relationship", "append_dedup", {}, [["person_email", "object_type_id", "object_id"]]),
        stream("devices", "person_device", "append_dedup", {}, [["device_token"]]),
        stream("page_views", "person_page", "append", {}),
        stream("vip_customers", "segment_membership", "append_dedup", {}, [["segment_id", "person_email"]]),
    ]}


def run(command: str, config: Path, catalog_path: Path | None = None, stdin: Path | None = None) -> list[dict[str, Any]]:
    args = [CONNECTOR, command, "--config", str(config)]
    if catalog_path:
        args += ["--catalog", str(catalog_path)]
    with (stdin.open("rb") if stdin else open(os.devnull, "rb")) as source:
        done = subprocess.run(args, stdin=source, capture_output=True, timeout=300)
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0:
        for message in messages:
            print("  ", json.dumps(message)[:400])
        raise SystemExit(f"`{command}` failed with exit code {done.returncode}")
    return messages


def start_s3() -> tuple[ThreadedMotoServer, str, Any]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="demo",
                      aws_secret_access_key="demo-secret", config=BotoConfig(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket=BUCKET)
    return server, endpoint, s3


def heading(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 70 - len(text)))


# --- reconciliation: every figure below is observed in this run, none is assumed -----------------------

_SUMMARY = re.compile(r"Sync summary: (?P<read>\d+) records? read, (?P<accepted>\d+) accepted, "
                      r"(?P<rejected>\d+) rejected.*?(?P<merged>\d+) identify updates? merged.*?"
                      r"(?P<requests>\d+) requests? \(")


def rejected_rows(s3: Any) -> list[tuple[str, dict[str, Any]]]:
    """(stream, row) for every row of every rejected-records file in the bucket."""
    rows = []
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        if item["Key"].endswith(".gz"):
            body = gzip.decompress(body)
        stream = item["Key"].split("/")[-2]  # <bucket_path>/<sync_id>/<namespace>/<stream>/<file>
        rows += [(stream, json.loads(line)["_airbyte_data"]) for line in body.splitlines() if line.strip()]
    return rows


def reconcile(summary: str, streams: dict[str, list[dict[str, Any]]], rejected: list[tuple[str, dict[str, Any]]],
              requests: list[dict[str, Any]], ops_counted: int, ops_refused: int, people: list[dict[str, Any]],
              earlier_requests: int) -> list[str]:
    """How the connector's figures, the rejected files and the emulator's counters fit together."""
    found = _SUMMARY.search(summary)
    if found is None:
        return [f"the sync summary could not be read: {summary!r}"]
    got = {name: int(value) for name, value in found.groupdict().items()}
    lines = [f"records: {got['read']} read = {got['accepted']} accepted + {got['rejected']} rejected; the "
             f"rejected-records files hold {len(rejected)} rows" + _agree(len(rejected), got["rejected"])]
    for stream, row in sorted(rejected, key=lambda item: item[0]):
        lines.append(f"  {stream}: {row['rejected_reason']} ({row['rejected_field']}): {row['rejected_message']}")

    refused_users = [row.get("person_email") for stream, row in rejected if stream == "users"]
    identified = {row["person_email"] for row in streams["users"]} - set(refused_users)
    held = {person["email"] for person in people}
    others = sorted(held - identified)
    lines.append(f"people: {len(held)} in Customer.io = {len(held & identified)} identified by the users stream "
                 f"({len(streams['users'])} rows, {len(refused_users)} rejected above) + {len(others)} created by "
                 f"other streams' events, devices or page views" + (f": {', '.join(others)}" if others else ""))

    batches = [r for r in requests if r["path"] == "/api/v2/batch"]
    segments = [r for r in requests if r["path"].startswith("/api/v1/segments/")]
    lookups = [r for r in requests if r["path"] == "/api/v1/accounts/region"]
    batch_ops = sum(len(r["body"]["batch"]) for r in batches)
    members = sum(len(r["body"]["ids"]) for r in segments)
    delivered = batch_ops - ops_refused + members + got["merged"]
    lines.append(
        f"ops: the emulator counted {ops_counted} = {batch_ops} in {_n(len(batches), 'batch request')} + "
        f"{_n(len(segments), 'segment call')} (one op each, carrying {_n(members, 'person', 'people')}); "
        f"{batch_ops} - {ops_refused} refused + {members} segment members + {got['merged']} identify updates "
        f"merged = {delivered} records" + _agree(delivered, got["accepted"], "accepted"))
    lines.append(
        f"requests: the emulator counted {len(requests)} during write = {_n(len(lookups), 'region look-up')} + "
        f"{_n(len(batches), 'batch request')} + {_n(len(segments), 'segment call')}; the connector's summary "
        f"says {got['requests']}" + _agree(got["requests"], len(requests), "counted by the emulator") +
        f"; check's region look-up made {earlier_requests} more before write (in the emulator's totals)")
    return lines


def _agree(ours: int, theirs: int, what: str = "rejected") -> str:
    return f" (= {what})" if ours == theirs else f" (!= {theirs} {what}: these figures do not reconcile)"


def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def main() -> None:
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    OUT.mkdir(exist_ok=True)
    rng = random.Random(2026)
    streams = {  # in the order a source would send them: people before what refers to them
        "users": users(rng, 200),
        "companies": companies(rng, 20),
        "purchases": purchases(rng, 2_000, 200),
        "memberships": memberships(rng, 200, 20),
        "devices": devices(rng, 200),
        "page_views": page_views(rng, 1_000, 200),
        "vip_customers": vip_segment(200),
    }
    lines = [line for name, rows in streams.items() for line in airbyte_lines(name, rows, 500)]
    (OUT / "input.jsonl").write_text("\n".join(lines) + "\n")
    total = sum(len(rows) for rows in streams.values())
    (OUT / "catalog.json").write_text(json.dumps(catalog(), indent=2))

    emulator = start_emulator_process(extra_args=["--request-log-size", "100000"])  # all of write's
    server, endpoint, s3 = start_s3()
    try:
        config = {"credentials": {"siteId": "demo-site", "apiKey": "demo-key"},
                  "identifierType": "email", "region": "auto", "track_api_base_url": emulator.url,
                  "object_storage_config": {
                      "storage_type": "S3", "s3_bucket_name": BUCKET, "s3_bucket_region": "us-east-1",
                      "bucket_path": "rejected", "s3_endpoint": endpoint,
                      "access_key_id": "demo", "secret_access_key": "demo-secret",
                      "format": {"format_type": "JSONL", "flattening": "No flattening"},
                      "compression": {"compression_type": "GZIP"}}}
        (OUT / "config.json").write_text(json.dumps(config, indent=2))
        print(f"Customer.io emulator at {emulator.url}; local S3 at {endpoint}; files in {OUT.relative_to(ROOT)}/")

        heading("check")
        status = run("check", OUT / "config.json")[0]["connectionStatus"]
        print(f"{status['status']}: {status['message']}")

        heading("discover")
        operations = run("discover", OUT / "config.json")[0]["destination_catalog"]["operations"]
        for op in operations:
            print(f"  {op['object_name']:<24} {op['sync_mode']:<13} matching keys: {op.get('matching_keys', '-')}")

        heading("write")
        before = emulator.client.requests()  # check's
        started = time.monotonic()
        messages = run("write", OUT / "config.json", OUT / "catalog.json", OUT / "input.jsonl")
        elapsed = time.monotonic() - started
        states = [m["state"] for m in messages if m["type"] == "STATE"]
        for m in messages:
            if m["type"] == "LOG" and not m["log"]["message"].startswith("Progress"):
                print("  " + m["log"]["message"])
        print(f"  {len(states)} states emitted; {total} records in {elapsed:.2f} s including start-up "
              f"({total / elapsed:,.0f} records/s)")
        print(f"  last state: {json.dumps(states[-1])}")

        heading("what Customer.io (the emulator) now holds")
        client = emulator.client
        held_events = client.events()
        kinds = {kind: sum(1 for e in held_events if e["type"] == kind) for kind in ("event", "page")}
        print(f"  {len(client.people())} people, {kinds['event']} events, {kinds['page']} page views, "
              f"{len(client.objects())} objects, {len(client.relationships())} relationships, "
              f"{len(client.devices())} devices, segments: "
              f"{ {k: len(v) for k, v in client.segments().items()} }")
        example = client.person(email="customer3@example.com")
        print(f"  customer3@example.com: {json.dumps(example['attributes'])}")
        event = next(e for e in held_events if e["type"] == "event")
        print(f"  one event: {json.dumps({k: event[k] for k in ('name', 'id', 'timestamp', 'data')})}")
        print(f"  one object: {json.dumps(client.objects()[0])}")
        counters = client.counters()
        print(f"  requests: {counters['requests']}, ops: {counters['ops']}, by status: {counters['status']} "
              f"(check and write)")

        heading(f"rejected records in s3://{BUCKET}")
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
        for key in keys:
            print(f"  {key}")
        if keys:
            body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read())
            row = json.loads(body.splitlines()[0])
            print("  example row:")
            print("  " + json.dumps(row, indent=2).replace("\n", "\n  "))

        heading("how the numbers reconcile")
        summary = next(m["log"]["message"] for m in messages
                       if m["type"] == "LOG" and m["log"]["message"].startswith("Sync summary"))
        seen = {r["seq"] for r in before}
        during = [r for r in client.requests() if r["seq"] not in seen]
        for line in reconcile(summary, streams, rejected_rows(s3), during, counters["ops"],
                              counters["ops_rejected"], client.people(), len(before)):
            print("  " + line)
    finally:
        emulator.stop()
        server.stop()
    print("\nDone: the emulator and the local S3 server are stopped.")


if __name__ == "__main__":
    main()
