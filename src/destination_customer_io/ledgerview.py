"""What ``ledger show`` prints: the streams ``ledgertool.py`` inspected (``StreamLedger``, filled there),
and each stream's retry queue (``retry_refused``), as text for people or as JSON.

A mirror stream's key texts are the removal ops its next sync would send for members that left: they
are shown as those ops (path and body) and, in text, as one readable line each (``remove_customers
segment 7 (id_type=email): ada@example.com``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import islice
from typing import Any, Iterable

import msgspec

from .ledger.table import MAYBE, MEMBER, Table
from .operations import OPERATIONS
from .retry import entries

_FLAGS = {MEMBER: "member", MAYBE: "maybe"}


@dataclass(slots=True)
class FileState:
    name: str
    size: int
    status: str  # loaded | ignored: why | not loaded: why | allowance ... | held ...


@dataclass(slots=True, repr=False)
class StreamLedger:
    """What ``show`` says of one stream directory."""

    directory: str
    where: str
    label: str
    operation: str
    mirror: bool
    table: Table  # the stream's ledger as a sync would load it (a read-only working copy)
    generation: int  # the last generation the ledger recorded (0: none)
    members_of: int = 0  # a mirror: every MEMBER row was in this generation's input (ledger/book.py)
    snapshot: int = 0  # the snapshot loaded (0: none)
    files: list[FileState] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    allowance: int | None = None
    held: list[tuple[str, int]] = field(default_factory=list)  # held-removal files and their line counts
    applied: list[tuple[str, int]] = field(default_factory=list)  # held files none of whose keys is left
    removals: set[tuple[str, str]] | None = None  # the removal op of every key, once a held file asks

    def __repr__(self) -> str:  # short: asyncio.run reprs its result once (3.11), key texts and all
        return f"StreamLedger({self.label!r})"


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def figures(ledger: StreamLedger) -> dict[str, Any]:
    """The counts of one stream's ledger as loaded."""
    total, members, maybe, low, high, first, last = ledger.table.figures()  # sent 0: written ahead, never sent
    deltas = [f for f in ledger.files if f.name.startswith("delta-")]
    return {
        "rows": {"total": total, "members": members, "maybe": maybe},
        "generations": {"min": low, "max": high} if total else None,
        # a mirror's removals, should its last generation be synced again complete (a retried attempt)
        "older_than_last_generation": ledger.table.absent(ledger.generation, ledger.members_of),
        "last_sent": {"min": _utc(first), "max": _utc(last)} if first is not None else None,
        "deltas": {"loaded": sum(f.status == "loaded" for f in deltas),
                   "ignored": sum(f.status != "loaded" for f in deltas)},
        "bytes": sum(f.size for f in ledger.files),
    }


def removal(operation: str, text: bytes) -> tuple[dict[str, Any], str]:
    """A mirror key text -> the removal op it stands for ({path, body}) and one readable line."""
    op = OPERATIONS[operation].removal_op(text)
    path, body = op.route or "/api/v2/batch", json.loads(op.body)
    if path.startswith("/api/v1/segments/"):
        segment, _, rest = path.removeprefix("/api/v1/segments/").partition("/")
        action, _, query = rest.partition("?")
        line = f"{action} segment {segment} ({query}): {body if isinstance(body, str) else json.dumps(body)}"
    elif isinstance(body, dict) and body.get("cio_relationships"):
        target = body["cio_relationships"][0].get("identifiers", {})
        line = f"{body.get('action')} person {_pairs(body.get('identifiers', {}))} - object {_pairs(target)}"
    else:
        line = f"POST {path} {json.dumps(body, separators=(',', ':'))}"
    return {"path": path, "body": body}, line


def _pairs(values: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in values.items())


def keys(ledger: StreamLedger, count: int) -> list[dict[str, Any]]:
    """Up to ``count`` key texts of a mirror stream (in the ledger's order: by key hash), each as its
    removal op, flag, generation and last send; sorted by their readable line."""
    if not ledger.mirror:
        return []
    found = []
    for _, _, gen, sent, flag, text in islice(ledger.table.rows(), count):
        op, line = removal(ledger.operation, text)
        found.append({"op": op, "text": line, "flag": _FLAGS.get(flag, "?"), "generation": gen,
                      "sent": _utc(sent) if sent else None})
    return sorted(found, key=lambda key: key["text"])


def render_json(where: str, scope: str, ledgers: list[StreamLedger], key_count: int | None,
                queues: list[dict[str, Any]]) -> dict[str, Any]:
    streams = []
    for ledger in ledgers:
        entry = {"stream": ledger.label, "operation": ledger.operation, "mirror": ledger.mirror,
                 "where": ledger.where, "snapshot": ledger.snapshot, "last_generation": ledger.generation,
                 **figures(ledger), "allowance": ledger.allowance,
                 "held": [{"name": name, "removals": count} for name, count in ledger.held],
                 "applied": [{"name": name, "removals": count} for name, count in ledger.applied],
                 "files": [{"name": f.name, "bytes": f.size, "status": f.status} for f in ledger.files],
                 "problems": ledger.problems}
        if key_count:
            entry["keys"] = keys(ledger, key_count)
        streams.append(entry)
    return {"ledger_scope": scope, "where": where, "streams": streams, "retry_queues": queues}


def render_text(where: str, scope: str, ledgers: list[StreamLedger], key_count: int | None,
                queues: list[dict[str, Any]]) -> str:
    lines = [f"Sync ledger of ledger_scope `{scope}` at {where}"]
    if not ledgers:
        lines.append("  no stream has a ledger here yet")
    for ledger in ledgers:
        lines += [""] + _stream_text(ledger, key_count)
    for queue in queues:
        lines += [""] + queue_text(queue)
    return "\n".join(lines)


def describe_queue(parts: Iterable[bytes | None], last_sync: bytes | None) -> dict[str, Any]:
    """What ``ledger show`` says of one stream's queue (its parts' bodies, oldest first): its records by
    attempts made (a line in two parts, after a killed sync, once), and the last sync's counts (None before
    a sync wrote them); a line not written here is counted as unreadable."""
    attempts: dict[int, int] = {}
    unreadable = 0
    seen: set[int] = set()
    for body in parts:
        for entry in entries(body):
            if entry is None:
                unreadable += 1
            elif (digest := hash(entry.line)) not in seen:
                seen.add(digest)
                attempts[entry.attempts] = attempts.get(entry.attempts, 0) + 1
    try:
        last = msgspec.json.decode(last_sync) if last_sync else None
    except msgspec.MsgspecError:
        last = None
    return {"records": sum(attempts.values()), "attempts": dict(sorted(attempts.items())),
            "unreadable": unreadable, "last_sync": last if isinstance(last, dict) else None}


def queue_text(queue: dict[str, Any]) -> list[str]:
    """A stream's retry queue (``retry_refused``, ``describe_queue``) as text."""
    count, last = queue["records"], queue["last_sync"]
    attempts = ", ".join(f"{made}: {n}" for made, n in queue["attempts"].items())
    lines = [f"{queue['stream']}: retry queue (retry_refused)", f"  where         {queue['where']}",
             f"  retry queue   {count} record{'' if count == 1 else 's'}" + (f" (attempts {attempts})" if count else "")]
    if queue["unreadable"]:
        lines.append(f"  unreadable    {queue['unreadable']} lines (the next sync gives them up)")
    lines.append(f"  last sync     {last.get('synced_at')}: {last.get('retried')} retried, {last.get('succeeded')} "
                 f"succeeded, {last.get('given_up')} given up, {last.get('superseded')} superseded, "
                 f"{last.get('queued')} queued" if last else "  last sync     - (none recorded)")
    return lines


def _stream_text(ledger: StreamLedger, key_count: int | None) -> list[str]:
    f = figures(ledger)
    rows, gens, sent = f["rows"], f["generations"], f["last_sent"]
    held = ", ".join(f"{name} ({count} removals)" for name, count in ledger.held) or "none"
    applied = ", ".join(f"{name} ({count} removals)" for name, count in ledger.applied)
    lines = [
        f"{ledger.label}: {ledger.operation}, {'mirror' if ledger.mirror else 'skip_unchanged'}",
        f"  where         {ledger.where}",
        f"  snapshot      {ledger.snapshot or 'none'}; deltas loaded {f['deltas']['loaded']}, ignored "
        f"{f['deltas']['ignored']}; last generation {ledger.generation}",
        f"  rows          {rows['total']:,}: {rows['members']:,} {'members' if ledger.mirror else 'delivered'}, "
        f"{rows['maybe']:,} maybe (written ahead, not confirmed)",
        f"  generations   {gens['min']} - {gens['max']}" if gens else "  generations   -",
        *([f"  left behind   {f['older_than_last_generation']:,} rows older than generation {ledger.generation}: a "
           "complete rerun of it removes them"] if ledger.mirror and f["older_than_last_generation"] else []),
        f"  last sent     {sent['min']} - {sent['max']}" if sent else "  last sent     -",
        f"  bytes         {f['bytes']:,} in {len(ledger.files)} file{'' if len(ledger.files) == 1 else 's'}",
        f"  allowance     {f'up to {ledger.allowance} removals, once' if ledger.allowance else 'none'}",
        f"  held          {held}",
        *([f"  applied       {applied} (held once, removed since)"] if applied else []),
        "  files",
        *(f"    {state.name}  {state.size:,} bytes  {state.status}" for state in ledger.files),
    ]
    if ledger.problems:
        lines += ["  problems", *(f"    {problem}" for problem in ledger.problems)]
    if key_count and not ledger.mirror:
        lines.append("  keys          not kept: only a mirror stream keeps its keys' texts (here: hashes)")
    elif key_count:
        total = f["rows"]["total"]
        lines.append(f"  keys          {min(key_count, total)} of {total:,} (the removal each stands for)")
        lines += [f"    {key['text']}  [{key['flag']}, generation {key['generation']}, sent {key['sent'] or '-'}]"
                  for key in keys(ledger, key_count)]
    return lines
