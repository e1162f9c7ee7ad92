"""The ``ledger`` command: show what the sync ledger of a config's scope holds, reset it, and let a mirror's
next sync remove more than its guard allows, once.

    destination-customer-io ledger --config F show [--stream S] [--json] [--keys N]
    destination-customer-io ledger --config F reset [--stream S]
    destination-customer-io ledger --config F allow-removals --stream S --count N

For people, not for Airbyte: plain text on stdout (``--json``: one JSON document); a mistake is one line
on stderr and exit 1. ``show`` loads each stream from copies of its files with the sync's own loader
(``load_rows``: a SQLite working copy), so its figures are what the next sync would load (a half-written
file is reported, never fatal), and reports each retry queue (retry.py) and its last sync's counts;
``reset`` deletes the queue too. The site id appears only hashed, and every configured secret is
scrubbed from what is printed. ``ledgerview.py`` turns a stream's ledger into text or JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from datetime import datetime, timezone
from typing import Callable

from .config import Config, parse_config, read_json_file
from .errors import StoreError, SyncError
from .ledger import files, legacy
from .ledger.files import label_of, matches, operation_of
from .ledger.keeper import ALLOW, Keeper, load_rows
from .ledgerview import FileState, StreamLedger, describe_queue, render_json, render_text
from .network import proxy_secrets
from .operations import OPERATIONS
from .output import Output
from .rawconfig import secret_values
from .retry import LAST_SYNC, queue_parts, scope_prefix as retry_prefix
from .storage.objects import Objects, open_objects
from .storage.options import sync_options

HELD = "removals-held-"


class LedgerCommandError(Exception):
    """A mistake the user can fix, said in one line (exit 1)."""


@dataclass(slots=True)
class Scope:
    """The ledger of one config: its store, and the prefix of its workspace and ``ledger_scope``."""

    objects: Objects
    prefix: str
    name: str
    retry: str  # the prefix of the scope's retry queues (retry.py)

    @property
    def where(self) -> str:
        return f"{self.objects.root}/{self.prefix}"

    def directories(self) -> dict[str, list[str]]:
        """Every stream directory of the scope -> the names of its files."""
        found: dict[str, list[str]] = {}
        for key in self.objects.list(self.prefix):
            directory, _, name = key[len(self.prefix):].partition("/")
            if name:
                found.setdefault(directory + "/", []).append(name)
        return found


def open_scope(config: Config) -> Scope:
    objects = open_objects(config.object_storage_config, sync_options(config))
    if objects is None:
        raise LedgerCommandError(
            "object_storage_config is None, so this config keeps no sync ledger: the ledger lives in the "
            "S3 or Local store the connection's config names; use that config.")
    site_id, name = config.credentials.siteId, config.ledger_scope
    return Scope(objects, files.scope_prefix(site_id, name), name, retry_prefix(site_id, name))


def retry_dirs(scope: Scope, stream: str | None) -> dict[str, str]:
    """The scope's retry-queue directories (``retry_refused``) of ``stream`` (all when None) -> the stream's
    label; a queue's directory is a ledger directory without the operation, hence the suffix."""
    found = {key[len(scope.retry):].partition("/")[0] + "/" for key in scope.objects.list(scope.retry)}
    return {d: label_of(d.rstrip("/") + "__retry/") for d in sorted(found)
            if stream is None or matches(d.rstrip("/") + "__retry/", stream)}


def retry_queues(scope: Scope, stream: str | None) -> list[dict]:
    """What ``show`` says of each retry queue: its records by attempts, the last sync's counts."""
    shown = []
    for directory, label in retry_dirs(scope, stream).items():
        folder = scope.retry + directory
        parts = (scope.objects.get(key) for _, key in queue_parts(scope.objects.list(folder)))  # one at a time
        shown.append({"stream": label, "where": f"{scope.objects.root}/{folder}",
                      **describe_queue(parts, scope.objects.get(folder + LAST_SYNC))})
    return shown


def select(scope: Scope, stream: str | None, queued: bool = False) -> dict[str, list[str]]:
    """The stream directories ``stream`` names (all of the scope's when None); an unknown one is an error
    (unless ``queued`` and the stream has a retry queue: show and reset)."""
    found = scope.directories()
    if stream is None:
        return found
    chosen = {d: names for d, names in found.items() if matches(d, stream)}
    if not chosen and not (queued and retry_dirs(scope, stream)):
        known = ", ".join(sorted(f"{label_of(d)} ({operation_of(d)})" for d in found)) or "none"
        raise LedgerCommandError(f"No sync ledger for stream `{stream}` under {scope.where} (ledger_scope "
                                 f"`{scope.name}`); streams with a ledger there: {known}.")
    return chosen


# --- show ------------------------------------------------------------------------------------------

class _Fetched:
    """One directory's files as ``show`` copied them once (into ``root``): the Keeper loads from these
    copies, and which ones it asked for tells which files a sync would load."""

    def __init__(self, root: Path, copies: dict[str, Path | None]) -> None:  # None: gone before it was read
        self.root, self.copies, self.asked = str(root), copies, set[str]()

    def list(self, prefix: str) -> list[str]:
        return sorted(key for key in self.copies if key.startswith(prefix))

    def get_file(self, key: str, path: Path) -> bool:
        self.asked.add(key)
        copy = self.copies.get(key)
        if copy is not None:
            shutil.copyfile(copy, path)
        return copy is not None


def _meta(name: str, copy: Path | None) -> dict | None:
    """A ledger file's meta (SQLite) or header (legacy), without checking its bytes (the loader does)."""
    try:
        if copy is not None and files.is_legacy(name):
            with open(copy, "rb") as handle:
                return legacy.read_header(handle.read(1 << 16))[0]
        return files.read_meta(copy) if copy is not None and name.endswith(".sqlite") else None
    except (legacy.Unreadable, sqlite3.DatabaseError):
        return None


async def _copy(scope: Scope, key: str, folder: Path) -> Path | None:
    path = folder / key.rsplit("/", 1)[-1]
    return path if await asyncio.to_thread(scope.objects.get_file, key, path) else None


async def inspect(scope: Scope, directory: str, names: list[str], folder: Path) -> tuple[StreamLedger, Keeper]:
    """Load one stream directory as a sync would, and say what each of its files is. The keeper holds
    the working copy the ledger reads: close it once the ledger is shown."""
    keys = {name: scope.prefix + directory + name for name in names}
    copies = {keys[name]: await _copy(scope, keys[name], folder) for name in names}
    metas = [m for name in sorted(names, reverse=True) if (m := _meta(name, copies[keys[name]])) is not None]
    operation = operation_of(directory)
    mirror = bool(metas[0].get("mirror")) if metas else _mirrors(operation)
    fetched, warnings = _Fetched(scope.objects.root, copies), []
    keeper, book = await load_rows(fetched, scope.prefix, directory, mirror,  # type: ignore[arg-type]
                                   warnings.append)
    label = str(metas[0].get("stream") or label_of(directory)) if metas else label_of(directory)
    ledger = StreamLedger(directory, scope.where + directory, label, operation, mirror, book.table,
                          book.generation - 1, book.members_of, problems=warnings)
    for name in sorted(names, key=lambda n: (not n.startswith("snapshot-"), not n.startswith("delta-"), n)):
        ledger.files.append(_file_state(ledger, name, copies[keys[name]], keys[name] in fetched.asked, warnings))
    listing = files.Listing.of(names)
    ledger.snapshot = max((seq for seq, name in listing.snapshots.items()
                           if _status(ledger, name) == "loaded"), default=0)
    for (base, _), name in listing.deltas.items():
        if _status(ledger, name) == "not loaded":
            _set_status(ledger, name, f"not loaded: it follows snapshot {base}, not the loaded one (folded "
                                      "into a newer snapshot already; the next compaction deletes it)")
    for name in listing.snapshots.values():
        if _status(ledger, name) == "not loaded":
            _set_status(ledger, name, "not loaded: an older snapshot (the next compaction deletes it)")
    return ledger, keeper


def _file_state(ledger: StreamLedger, name: str, copy: Path | None, asked: bool, warnings: list[str]) -> FileState:
    if copy is None:
        return FileState(name, 0, "gone: deleted while show read the directory (a sync running?)")
    size = copy.stat().st_size
    if name == ALLOW:
        try:
            ledger.allowance = int(json.loads(copy.read_bytes())["removals"])
            return FileState(name, size, f"allowance: the next sync may remove up to {ledger.allowance}")
        except (ValueError, KeyError, TypeError):
            return FileState(name, size, "ignored: not an allowance written by `ledger allow-removals`")
    if name.startswith(HELD):
        body = copy.read_bytes()
        count, left = body.count(b"\n"), _still_held(ledger, body)
        if left == 0 and count:
            ledger.applied.append((name, count))
            return FileState(name, size, f"applied: none of its {count} removals is in the ledger any more (a "
                                         "later sync removed them); kept for you to read")
        ledger.held.append((name, count))
        return FileState(name, size, f"held removals: {count} (written by the guard, for you to read)")
    if not files.Listing.of([name]).all():
        return FileState(name, size, "not a ledger file (ignored)")
    if not asked:  # the loader's choice (files.Listing): named later, once the loaded snapshot is known
        return FileState(name, size, "not loaded")
    if not any(ledger.directory + name in warning for warning in warnings):
        return FileState(name, size, "loaded")
    try:
        legacy.decode(copy.read_bytes()) if files.is_legacy(name) else files.verify(copy, name)
    except files.Unreadable as exc:
        return FileState(name, size, f"ignored: {exc}")
    return FileState(name, size, "ignored: it was written for a stream in another mode")


def _still_held(ledger: StreamLedger, body: bytes) -> int:
    """How many removals of a held-removal file stand for keys the ledger still holds: a sync that
    removed them (allowed by `ledger allow-removals`, or under a raised guard) leaves none."""
    try:
        held = [json.loads(line) for line in body.splitlines() if line.strip()]
    except ValueError:  # not as the guard wrote it: say nothing was applied
        return body.count(b"\n")
    kept = _removals(ledger)
    if kept is None:
        return body.count(b"\n")
    return sum((line.get("path"), _canonical(line.get("op"))) in kept for line in held if isinstance(line, dict))


def _removals(ledger: StreamLedger) -> set[tuple[str, str]] | None:
    """(path, canonical op) of the removal of every key the ledger holds, made once per stream however
    many held files it has; None without key texts (not a mirror)."""
    operation = OPERATIONS.get(ledger.operation)
    if operation is None or not ledger.mirror:
        return None
    if ledger.removals is None:
        ledger.removals = set()
        for row in ledger.table.rows():
            op = operation.removal_op(row[5])
            ledger.removals.add((op.route or "/api/v2/batch", _canonical(json.loads(op.body))))
    return ledger.removals


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _status(ledger: StreamLedger, name: str) -> str:
    return next(state.status for state in ledger.files if state.name == name)


def _set_status(ledger: StreamLedger, name: str, status: str) -> None:
    next(state for state in ledger.files if state.name == name).status = status


async def _inspect_all(scope: Scope, chosen: dict[str, list[str]]) -> tuple[list[StreamLedger], list[Keeper]]:
    found = []
    for directory, names in sorted(chosen.items()):
        with tempfile.TemporaryDirectory(prefix="cio-ledger-show-") as folder:
            found.append(await inspect(scope, directory, names, Path(folder)))
    return [ledger for ledger, _ in found], [keeper for _, keeper in found]


# --- reset and allow-removals ----------------------------------------------------------------------

def reset(scope: Scope, stream: str | None, say: Callable[[str], None]) -> None:
    chosen = select(scope, stream, queued=True)
    if not chosen and not retry_dirs(scope, stream):
        say(f"Nothing to reset: no sync ledger under {scope.where} (ledger_scope `{scope.name}`).")
    for directory, names in sorted(chosen.items()):
        scope.objects.delete([scope.prefix + directory + name for name in names])
        say(f"Reset the sync ledger of stream {label_of(directory)} ({operation_of(directory)}): deleted "
            f"{_files(len(names))} at {scope.where}{directory}: {', '.join(names)}. "
            "Its next sync is a first sync again: everything is sent, and a mirror removes nothing.")
    for directory, label in retry_dirs(scope, stream).items():
        keys = scope.objects.list(scope.retry + directory)
        scope.objects.delete(keys)
        say(f"Deleted the retry queue (retry_refused) of stream {label}: {_files(len(keys))} at "
            f"{scope.objects.root}/{scope.retry}{directory}; its records are not re-sent.")


def allow_removals(scope: Scope, stream: str, count: int, say: Callable[[str], None]) -> None:
    found = select(scope, stream)
    chosen = [d for d in found if _mirrors(operation_of(d))]
    if len(chosen) != 1:
        named = ", ".join(f"{label_of(d)} ({operation_of(d)})" for d in found)
        raise LedgerCommandError(
            f"Stream `{stream}` names {named}: allow-removals is for one mirror stream (overwrite mode of "
            "segment_membership or relationship); name it as namespace.name if there are two." if chosen else
            f"Stream `{stream}` names {named}, which keeps no mirror ledger: allow-removals is for the "
            "overwrite mode of segment_membership or relationship.")
    directory = chosen[0]
    key = scope.prefix + directory + ALLOW
    before = scope.objects.get(key)
    body = {"removals": count, "stream": label_of(directory),
            "written_at": f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"}
    scope.objects.put(key, json.dumps(body).encode() + b"\n")
    replaced = " It replaces the earlier allowance." if before is not None else ""
    say(f"Stream {label_of(directory)} ({operation_of(directory)}): its next sync may remove up to {count}, past "
        f"max_mirror_removal_percent; that sync uses the allowance up.{replaced} Written to "
        f"{scope.where}{directory}{ALLOW}.")


def _mirrors(operation: str) -> bool:
    return "overwrite" in getattr(OPERATIONS.get(operation), "sync_modes", ())


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


# --- the command -----------------------------------------------------------------------------------

def run_ledger(args: argparse.Namespace) -> int:
    """``ledger`` from parsed arguments: 0 when done, 1 with one line on stderr when not."""
    scrubber = Output(io.BytesIO(), secrets=proxy_secrets())  # its scrubber only: no Airbyte message here

    def say(text: str) -> None:
        sys.stdout.write(scrubber.scrub(text) + "\n")

    try:
        raw = read_json_file(args.config, "Config")
        scrubber.add_secrets(secret_values(raw))
        config = parse_config(raw)
        scrubber.add_secrets(config.secrets())
        scope = open_scope(config)
        if args.action == "show":
            ledgers, keepers = asyncio.run(_inspect_all(scope, select(scope, args.stream, queued=True)))
            queues = retry_queues(scope, args.stream)
            say(json.dumps(render_json(scope.where, scope.name, ledgers, args.keys, queues), indent=2) if args.json
                else render_text(scope.where, scope.name, ledgers, args.keys, queues))
            for keeper in keepers:
                keeper.close()
        elif args.action == "reset":
            reset(scope, args.stream, say)
        else:
            allow_removals(scope, args.stream, args.count, say)
        sys.stdout.flush()
        return 0
    except (LedgerCommandError, StoreError) as exc:
        message = str(exc)
    except SyncError as exc:  # a config that does not parse; a store the Keeper could not read
        message = exc.message
    except BrokenPipeError:  # `show | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    sys.stderr.write(f"destination-customer-io ledger: {scrubber.scrub(message)}\n")
    return 1

