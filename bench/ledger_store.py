"""The sync ledger's size, load time and memory per key, in a process of its own (``make bench``'s ledger rows).

    build    N random keys and prints (as a person_identify stream with skip_unchanged leaves them; with
             --mirror, segment_membership key texts), one snapshot written with ``ledger.files.encode``
             into a Local store where the connector would look for it
    measure  in a fresh process (so its RSS holds nothing of the build): ``Keeper.open_book`` (list, read,
             checksum, decode); then a full resync as the connector makes it, each key looked up once
             (``StreamBook.unchanged``, skip_unchanged streams) and delivered once (``delivered``: a log row
             per key); then the compaction (``StreamBook.view`` + ``files.encode``), timed, then again under
             tracemalloc for its peak

    .venv/bin/python bench/ledger_store.py build   --keys 1000000 --store /tmp/s [--mirror]
    .venv/bin/python bench/ledger_store.py measure --keys 1000000 --store /tmp/s [--mirror]   # JSON on stdout

Memory figures: RSS (``/proc/self/statm``, what a container limit counts) above the RSS measured before the
load, per key; and the same structures counted from their sizes (numpy ``nbytes``, ``sys.getsizeof`` of the
log's arrays), which the allocator's rounding cannot move.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from destination_customer_io.ledger import files
from destination_customer_io.ledger.book import Mark, StreamBook
from destination_customer_io.ledger.keeper import Keeper
from destination_customer_io.ledger.table import MEMBER, Rows, Texts, digest
from destination_customer_io.storage.objects import LocalObjects

SITE, SCOPE = "bench-site", "bench"
SEED = 17
CHUNK = 10_000  # small, so the look-up loop's transient lists do not show in the RSS per key
STREAM = {False: ("people", "person_identify"), True: ("vips", "segment_membership")}
GENERATION = 5  # the ledger as a fifth sync would find it
SENT_AT = 1_764_000_000


def mirror_text(i: int) -> bytes:
    """A segment_membership key text as ``SegmentMembership.ledger_entry`` writes it (~115 bytes)."""
    email = f"p{i}@example.com"
    return json.dumps([f"person:email:{email}", "/api/v1/segments/7/remove_customers?id_type=email",
                       json.dumps(email)], separators=(",", ":")).encode()


def key_chunks(keys: int, mirror: bool) -> Iterator[tuple[np.ndarray, np.ndarray, list[bytes] | None]]:
    """The keys in source order (not sorted), CHUNK at a time, the same on every call: (keys, prints, texts)."""
    rng = np.random.default_rng(SEED)
    for start in range(0, keys, CHUNK):
        count = min(CHUNK, keys - start)
        prints = rng.integers(0, 2**63, count, dtype=np.uint64)
        if mirror:
            texts = [mirror_text(i) for i in range(start, start + count)]
            yield np.array([digest(t) for t in texts], np.uint64), prints, texts
        else:
            yield rng.integers(0, 2**63, count, dtype=np.uint64), prints, None


def snapshot_rows(keys: int, mirror: bool) -> Rows:
    parts = list(key_chunks(keys, mirror))
    all_keys = np.concatenate([p[0] for p in parts])
    order = np.argsort(all_keys, kind="stable")
    count = len(all_keys)
    rows = Rows(all_keys[order], np.concatenate([p[1] for p in parts])[order],
                np.full(count, GENERATION, np.uint32), np.full(count, SENT_AT, np.uint32),
                np.full(count, MEMBER, np.uint8))
    if mirror:
        texts = [t for p in parts for t in p[2]]  # type: ignore[union-attr]
        sorted_texts = [texts[i] for i in order.tolist()]
        offsets = np.zeros(count + 1, np.uint64)
        np.cumsum([len(t) for t in sorted_texts], out=offsets[1:])
        rows.texts = Texts(b"".join(sorted_texts), offsets)
    return rows


def directory(mirror: bool) -> str:
    name, operation = STREAM[mirror]
    return files.stream_dir(None, name, operation)


def build(keys: int, store: Path, mirror: bool) -> dict[str, Any]:
    rows = snapshot_rows(keys, mirror)
    unique = len(np.unique(rows.keys))
    body = files.encode(rows, {"kind": "snapshot", "stream": STREAM[mirror][0], "generation": GENERATION,
                               "written_at": "2026-12-01T00:00:00+00:00"})
    key = files.scope_prefix(SITE, SCOPE) + directory(mirror) + files.snapshot_name(1)
    LocalObjects(str(store)).put(key, body)
    return {"keys": keys, "unique_keys": unique, "file_bytes": len(body), "file_bytes_per_key": len(body) / keys}


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def load(store: Path, mirror: bool) -> tuple[StreamBook, float]:
    keeper = Keeper(LocalObjects(str(store)), files.scope_prefix(SITE, SCOPE), lambda text: print(text, file=sys.stderr))
    started = time.perf_counter()
    book = asyncio.run(keeper.open_book(STREAM[mirror][0], directory(mirror), GENERATION + 1, mirror=mirror,
                                        skip=not mirror, resend_after_days=30))
    return book, time.perf_counter() - started


def load_parts(store: Path, mirror: bool) -> dict[str, float]:
    """Where open_book's time goes: reading the file, the checksum alone, and the whole decode."""
    import hashlib

    key = files.scope_prefix(SITE, SCOPE) + directory(mirror) + files.snapshot_name(1)
    started = time.perf_counter()
    data = LocalObjects(str(store)).get(key)
    assert data is not None
    read = time.perf_counter() - started
    started = time.perf_counter()
    hashlib.blake2b(data, digest_size=32).digest()
    checksum = time.perf_counter() - started
    started = time.perf_counter()
    files.decode(data)
    return {"read_s": read, "checksum_s": checksum, "decode_s": time.perf_counter() - started}


def resync(book: StreamBook, keys: int) -> float:
    """Every key met once with a changed print and delivered (the worst case: nothing unchanged)."""
    started = time.perf_counter()
    for chunk_keys, prints, texts in key_chunks(keys, book.mirror):
        for index, (key, print_) in enumerate(zip(chunk_keys.tolist(), (prints + np.uint64(1)).tolist())):
            mark = Mark(book, key, print_, texts[index] if texts else None, MEMBER)
            if book.skip:
                book.unchanged(mark)
            book.delivered(mark)
    return time.perf_counter() - started


def counted_bytes(book: StreamBook) -> dict[str, int]:
    base = sum(column.nbytes for column in book.base.columns())
    if book.base.texts is not None:
        base += len(book.base.texts.blob) + np.asarray(book.base.texts.offsets).nbytes
    log = sum(sys.getsizeof(column) for column in book.log.columns.values())
    if book.log.blob is not None:
        log += sys.getsizeof(book.log.blob) + sys.getsizeof(book.log.offsets)
    return {"base": base, "seen": 0 if book.seen is None else book.seen.nbytes, "log": log}


def compact(book: StreamBook) -> tuple[float, int, int]:
    """(seconds, bytes of the snapshot, peak bytes allocated by tracemalloc in a second, traced run)."""
    header = {"kind": "snapshot", "stream": book.label, "generation": book.generation, "written_at": "-"}
    started = time.perf_counter()
    size = len(files.encode(book.view(), header))
    seconds = time.perf_counter() - started
    tracemalloc.start()
    files.encode(book.view(), header)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, size, peak


def measure(keys: int, store: Path, mirror: bool) -> dict[str, Any]:
    before = rss_bytes()
    book, load_s = load(store, mirror)
    if len(book.base) != keys:
        raise RuntimeError(f"the ledger loaded {len(book.base)} keys, not {keys}")
    loaded, load_peak = rss_bytes(), peak_rss_bytes()
    resync_s = resync(book, keys)
    syncing, syncing_peak = rss_bytes(), peak_rss_bytes()
    compact_s, snapshot_bytes, compact_traced = compact(book)
    counted = counted_bytes(book)
    return {
        "keys": keys, "mirror": mirror, "load_s": load_s, **load_parts(store, mirror),
        "rss_before_mb": before / 2**20,
        "loaded_bytes_per_key": (loaded - before) / keys,
        "load_peak_bytes_per_key": (load_peak - before) / keys,
        "syncing_bytes_per_key": (syncing - before) / keys,
        "syncing_peak_bytes_per_key": (syncing_peak - before) / keys,
        "counted_bytes_per_key": {part: size / keys for part, size in counted.items()},
        "resync_us_per_key": resync_s / keys * 1e6,
        "compact_s": compact_s, "compact_peak_bytes_per_key": compact_traced / keys,
        "process_peak_bytes_per_key": (peak_rss_bytes() - before) / keys,
        "process_peak_mb": peak_rss_bytes() / 2**20,
        "snapshot_bytes_per_key": snapshot_bytes / keys,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("build", "measure"))
    parser.add_argument("--keys", type=int, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--mirror", action="store_true")
    args = parser.parse_args()
    step = build if args.step == "build" else measure
    print(json.dumps(step(args.keys, args.store, args.mirror)))


if __name__ == "__main__":
    main()
