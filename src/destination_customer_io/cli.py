"""The command line: ``spec | check --config F | discover --config F | write --config F --catalog F``,
``replay --config F --catalog F --rejected DIR|s3://bucket/prefix [--stream S]`` (``replay.py``), and
``ledger --config F show|reset|allow-removals`` for people (``ledgertool.py``).

The edge of the program: reads files and stdin, writes Airbyte messages to stdout, turns every failure
into a TRACE error with the right ``failure_type`` and a non-zero exit (a failed ``check`` is an answer,
not a failure: exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import signal
import sys
from typing import Any, NoReturn, Sequence

from . import __version__
from .network import proxy_secrets  # first: aiohttp's first import, made there without reading CA bundles
from .catalog import load_catalog_json
from .commands import emit_status, join, run_check, run_discover, run_write, spec_message
from .config import parse_config, read_json_file
from .errors import ConfigurationError, SyncError
from .output import Output
from .rawconfig import safety_typos, secret_values, unknown_keys, unknown_keys_sentence

_COMMANDS = {  # what `--help` says of each command
    "spec": "print the connector's specification: the config's fields, defaults and secrets",
    "check": "test a config: the Track API credentials and region, and (with S3 or Local) that the "
             "rejected-records storage can be written",
    "discover": "list the Customer.io operations (destination objects) with their sync modes and fields",
    "write": "read Airbyte RECORD and STATE messages on stdin, send them to Customer.io, print STATE "
             "messages as records are acknowledged",
    "replay": "send the records of rejected-records files (a directory or s3://bucket/prefix) again "
              "through the write pipeline with the current config; what fails again goes to new rejected "
              "files; no STATE is printed",
    "ledger": "show or reset the sync ledger (mirror mode, skip_unchanged) kept in the configured store, "
              "or allow a mirror's next sync to remove more than its guard allows, once",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="destination-customer-io",
        description="Airbyte destination for Customer.io (Track API). Speaks the Airbyte protocol: "
                    "Airbyte messages on stdout, one JSON object per line.",
        epilog="example: destination-customer-io write --config config.json --catalog catalog.json "
               "< messages.jsonl  (docs/customer-io.md: a minimal config and catalog)")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{spec,check,discover,write,replay,ledger}")
    for name, text in _COMMANDS.items():
        sub = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        if name != "spec":
            sub.add_argument("--config", required=True, metavar="CONFIG.json",
                             help="the connector config (its fields: see the spec command)")
        if name in ("write", "replay"):
            sub.add_argument("--catalog", required=True, metavar="CATALOG.json",
                             help="the configured catalog: each stream's destination_object_name, "
                                  "destination_sync_mode and primary_key")
        if name == "replay":
            sub.add_argument("--rejected", required=True, metavar="DIR|s3://bucket/prefix",
                             help="where the rejected-records files are, laid out as the store writes them "
                                  "(e.g. <path>/<sync_id>/<namespace>/<stream>/<file>)")
            sub.add_argument("--stream", metavar="S", help="only this stream (name or namespace.name)")
        if name == "ledger":
            _ledger_arguments(sub)
    return parser


def _ledger_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{show,reset,allow-removals}")
    show = actions.add_parser("show", help="what each stream's ledger holds: snapshot, deltas, rows, files")
    show.add_argument("--stream", metavar="S", help="only this stream (name or namespace.name)")
    show.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    show.add_argument("--keys", type=_positive, metavar="N", help="also up to N keys of a mirror stream, each as "
                      "the removal it stands for")
    reset = actions.add_parser("reset", help="delete the ledger files of a stream (default: every stream of "
                               "the config's ledger_scope): its next sync is a first sync")
    reset.add_argument("--stream", metavar="S", help="only this stream (name or namespace.name)")
    allow = actions.add_parser("allow-removals", help="let the stream's next sync remove up to N (once), "
                               "beyond max_mirror_removal_percent")
    allow.add_argument("--stream", metavar="S", required=True, help="the mirror stream (name or namespace.name)")
    allow.add_argument("--count", type=_positive, metavar="N", required=True, help="how many removals to allow")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def entry() -> NoReturn:
    """The installed command and ``python -m``: ``main``, then the process ends without the
    interpreter's teardown, which frees every object one by one and collects them once more for a
    process about to end (what that cost: docs/performance.md, issue 23 round 8). Nothing of
    the run depends on it: every file it writes is closed where it is written, each message on stdout
    is flushed as it is written, and what ``atexit`` holds (a ledger's working folder after a failure)
    still runs first. Tests call ``main``, which returns."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # stdout's reader left (output.py pointed it at /dev/null)
            pass
    atexit._run_exitfuncs()  # noqa: SLF001 - the interpreter's own exit runs these, and only these, first
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "ledger":  # for people: plain text, a one-line error; no Airbyte messages
        from .ledgertool import run_ledger

        return run_ledger(args)
    out = Output()
    out.add_secrets(proxy_secrets())  # user:password in HTTP(S)_PROXY never reaches a log line
    code = _run(args, out)
    if out.closed:
        # No traceback and no TRACE (nobody reads stdout any more); the states not yet written were
        # not emitted, so a resumed sync starts from the last one its reader saw.
        sys.stderr.write(f"destination-customer-io: stdout was closed by its reader; the {args.command} "
                         f"command stopped.\n")
        return 1
    return code


def _run(args: argparse.Namespace, out: Output) -> int:
    notes = ""
    try:
        if args.command == "spec":
            out.emit(spec_message())
            return 0
        raw = read_json_file(args.config, "Config")
        # before validation: an error message may quote a value, and a secret in the wrong field is
        # still a secret
        out.add_secrets(secret_values(raw))
        unknown = unknown_keys(raw)
        if unknown:
            notes = unknown_keys_sentence(unknown)
            out.log(notes, "WARN")
            typo = safety_typos(unknown)
            if typo:  # before anything is sent, and a failed check
                raise ConfigurationError(typo)
        config = parse_config(raw)
        out.add_secrets(config.secrets())
        if args.command == "check":
            asyncio.run(run_check(config, out, notes))
        elif args.command == "discover":
            run_discover(out)
        else:
            catalog = load_catalog_json(args.catalog)
            try:
                asyncio.run(_sync(args, config, catalog, out))
            finally:
                # The sync is over (closing the loop restored SIGTERM's default): a late SIGTERM must
                # not cut off the TRACE or the exit code that report how it ended.
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return 0
    except ConfigurationError as exc:
        if args.command == "check":  # a failed check is an answer, not a failure
            emit_status(out, False, join(exc.message, notes))
            return 0
        out.error(exc.message, exc.failure_type, exc.internal)
        return 1
    except SyncError as exc:
        out.error(exc.message, exc.failure_type, exc.internal)
        return 1
    except KeyboardInterrupt:
        out.error("The sync was interrupted.", "system_error")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a TRACE, never a bare traceback
        out.error(f"Unexpected error: {type(exc).__name__}", "system_error", str(exc), exc)
        return 1


async def _sync(args: argparse.Namespace, config: Any, catalog: dict[str, Any], out: Output) -> None:
    """``write`` (stdin) or ``replay`` (rejected-records files): both run the write pipeline."""
    if args.command == "replay":
        from .replay import run_replay

        await run_replay(config, catalog, args.rejected, args.stream, out)
    else:
        await run_write(config, catalog, sys.stdin.buffer, out)


if __name__ == "__main__":
    entry()
