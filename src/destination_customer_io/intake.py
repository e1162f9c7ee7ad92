"""Intake: one chunk of input lines, in order, turned into batched ops, listed rejections and epochs.

    line --decode--> RECORD --find its stream--> Operation.build --> Op --> (ledger) --> Batcher.add / add_id
           |                      \\-> not in the catalog -> rejection (stream_not_in_catalog)
           |                                     \\-> Rejection (the operation's own) --> rejections
           +--> STATE: closes the current epoch (Checkpoints.close_epoch)
           +--> TRACE stream status: remembered; anything else: nothing to answer
           \\-> not an Airbyte message: a record still tied to a stream is rejected (malformed_record),
                the rest counted and skipped

The hot path of the connector: one call per chunk, so per line only the work itself remains; a chunk's
records are added to the counts and to their epoch in one step before a STATE and at the end, and to
their stream once per run of records of one stream (nothing reads them in between: acknowledgements
run only once ``handle_lines`` returns, and a STATE counts the run before it closes the epoch).
"""

from __future__ import annotations

from typing import Any

from . import protocol
from .batching import EMPTY_BATCH, Batcher
from .catalog import Stream, find_stream
from .checkpoints import Checkpoints, Epoch, StreamKey
from .output import Output
from .reasons import Rejection
from .rejections import larger_than_batch, odd_record, unknown_stream
from .summary import Counts

_decode = protocol.message_decoder.decode
_UNDECODABLE = protocol.UNDECODABLE

# A record to reject, its epoch, why, and its stream (None: not in the catalog). Stored by the
# pipeline: storing may wait on I/O.
Refused = tuple[Any, Epoch, Rejection, "Stream | None"]


class Intake:
    """Reads chunks for one sync; ``statuses`` keeps the last stream status per stream, and
    ``source_error`` whether the input carried a TRACE error (a source piped straight in that failed).
    ``ledger``: the sync ledger (ledger/sync.py), when a stream keeps one: the ops of its streams are
    held back in input order (``pending``) until a record of another stream, a STATE or the chunk's end,
    filtered in one call (skip_unchanged: one look-up per chunk, not per record), then batched, the
    ledger told where each op it did not skip was placed."""

    def __init__(self, streams: dict[StreamKey, Stream], counts: Counts, checkpoints: Checkpoints,
                 batcher: Batcher, out: Output, ledger: Any = None, log: Any = None) -> None:
        self.streams = streams
        self.ledger = ledger
        self.log = log  # the sync log (synclog.py), told of each unchanged op; None when off
        self.counts = counts
        self.checkpoints = checkpoints
        self.batcher = batcher
        self.batch_max_bytes = batcher.batch_max_bytes
        self.out = out
        self.line_base = 0  # input lines before the current chunk (for true line numbers in logs)
        self.statuses: dict[StreamKey, str] = {}  # last STREAM_STATUS seen per stream
        self.source_error = False
        self._pending: list = []  # ops of ledgered streams held back, in input order, until ``_flush``

    def _count_records(self, epoch: Epoch, read: int, unchanged: int, stream: Stream | None, run: int,
                       rejections: list[Refused]) -> None:
        """``read`` RECORD lines of one epoch: counted, and pending in the epoch until each is answered,
        except the ``unchanged`` ones (skip_unchanged: already delivered, so accepted as they are read;
        the ledgered ops held back are filtered first); the last ``run`` of them read into ``stream``
        (the earlier ones were counted per stream already)."""
        if self._pending:
            unchanged += self._flush(rejections)
        self._count_run(stream, run)
        self.counts.read(read, unchanged)
        self.checkpoints.read(epoch, read - unchanged)

    def handle_lines(self, lines: list[bytes]) -> list[Refused]:
        """Input lines in order (RECORDs built and batched, STATEs close epochs): the records to reject."""
        rejections: list[Refused] = []
        streams, checkpoints = self.streams, self.checkpoints
        add, add_id, ledger, pending = self.batcher.add, self.batcher.add_id, self.ledger, self._pending
        largest_op, epoch = self.batch_max_bytes - EMPTY_BATCH, checkpoints.current
        read = unchanged = run = 0  # not yet counted: records of ``epoch``, unchanged, the last run's (_count_records)
        stream, run_name, run_namespace = None, None, None  # of the last records read: their stream, as they named it
        base, self.line_base = self.line_base, self.line_base + len(lines)  # true line numbers in logs
        for number, line in enumerate(lines, base + 1):
            try:
                message = _decode(line)
            except _UNDECODABLE:
                self._handle_undecodable(line, rejections, number)
                continue
            record = message.record
            if record is None or message.type != "RECORD":
                self._count_records(epoch, read, unchanged, stream, run, rejections)
                read = unchanged = run = 0
                self._handle_other(message, line, rejections, number)
                epoch = checkpoints.current
                continue
            read += 1  # pending: released by finish() once sent and acknowledged, or rejected and stored
            if record.stream != run_name or record.namespace != run_namespace:  # in a run: compared, no look-up
                found = streams.get((record.namespace, record.stream))  # the exact key; the full rule on a miss
                if found is None and (found := self._stream_of(record, epoch, rejections)) is None:
                    continue
                if found is not stream:  # a stream's records come in runs: counted once a run
                    if run:
                        stream.counts.read(run)  # type: ignore[union-attr]  # a run has its stream
                    stream, run = found, 0
                run_name, run_namespace = record.stream, record.namespace
            run += 1
            op = stream.operation.build(record.data, stream)
            if type(op) is Rejection:
                rejections.append((record, epoch, op, stream))
                continue
            if ledger is not None and id(stream) in ledger.streams:
                pending.append((op, stream, line, record, epoch))
                continue
            if pending:  # a record of another stream: the ledgered ops before it are batched first
                unchanged += self._flush(rejections)
            if op.changes:
                stream.counts.change(op.changes)
            if len(op.body) > largest_op:  # only with a tiny batch_max_bytes
                rejections.append((record, epoch, self._larger_than_batch(op), stream))
            else:
                add(op, line, epoch, stream) if op.route is None else add_id(op, line, epoch, stream)
        self._end_chunk(epoch, read, unchanged, stream, run, rejections)
        return rejections

    def _end_chunk(self, epoch: Epoch, read: int, unchanged: int, stream: Stream | None, run: int,
                   rejections: list[Refused]) -> None:
        """The chunk's last records counted, and its derived ids checked against the repeated-id window
        at once (values.RepeatWindow.count: set operations, not a call per event)."""
        self._count_records(epoch, read, unchanged, stream, run, rejections)
        for each in self.streams.values():
            each.count_repeats()

    @staticmethod
    def _count_run(stream: Stream | None, run: int) -> None:
        """The ``run`` records read in a row into ``stream``, counted to it (once a run, not per record)."""
        if run:
            stream.counts.read(run)  # type: ignore[union-attr]  # a run has its stream

    def _larger_than_batch(self, op: Any) -> Rejection:
        return larger_than_batch(len(op.body), self.batch_max_bytes, self.batch_max_bytes - EMPTY_BATCH)

    def _flush(self, rejections: list[Refused]) -> int:
        """The ledgered ops held back, filtered by the ledger in one call and batched in input order
        (the sync log, when on, told of each unchanged one); returns how many were unchanged."""
        pending = self._pending
        marks = self.ledger.filter_chunk([each[0] for each in pending], [each[1] for each in pending])
        unchanged, largest_op = marks.count(None), self.batch_max_bytes - EMPTY_BATCH
        for (op, stream, line, record, epoch), mark in zip(pending, marks):
            if mark is None:
                if self.log is not None:
                    self.log.unchanged(op, stream)
                continue
            if op.changes:
                stream.counts.change(op.changes)
            if len(op.body) > largest_op:
                rejections.append((record, epoch, self._larger_than_batch(op), stream))
            else:
                add = self.batcher.add if op.route is None else self.batcher.add_id
                self.ledger.placed(add(op, line, epoch, stream), op, mark)
        pending.clear()
        return unchanged

    def _stream_of(self, record: protocol.Record, epoch: Epoch, rejections: list) -> Stream | None:
        """A record whose exact (namespace, name) is not in the catalog: its stream by the fallback
        rule, or None after queueing its rejection (counted under its own key)."""
        stream = find_stream(self.streams, record.namespace, record.stream)
        if stream is None:
            self.checkpoints.read_unknown((record.namespace, record.stream))
            rejections.append((record, epoch, unknown_stream(record.stream), None))
        return stream

    def _handle_other(self, message: protocol.Message, line: bytes, rejections: list, number: int) -> None:
        """A message that is not a well-formed RECORD: a STATE closes the epoch; a RECORD without its
        record is an odd line; a stream status is remembered; LOG, CONTROL...: nothing to answer."""
        self.counts.other_line()
        if message.type == "STATE":
            if message.state is not None:
                self.counts.state_read()
                self.checkpoints.close_epoch(message.state)
        elif message.type == "RECORD":
            self._handle_odd_line(line, rejections, number)
        elif message.type == "TRACE" and message.trace is not None:
            status = protocol.stream_status(message.trace)
            if status is not None:
                self.statuses[self.checkpoints.key_of(*status[0])] = status[1]
            elif message.trace.get("type") == "ERROR":
                self.source_error = True

    def _handle_undecodable(self, line: bytes, rejections: list, number: int) -> None:
        """A line the typed decoder refused; a blank one is nothing at all."""
        if line and not line.isspace():
            self.counts.other_line()
            self._handle_odd_line(line, rejections, number)

    def _handle_odd_line(self, line: bytes, rejections: list, number: int) -> None:
        """A line the typed decoder refused: a record we can tie to a stream is rejected with a
        reason; anything else is counted and logged without its content."""
        found = odd_record(line)
        if found is not None:
            record, rejection = found
            epoch = self.checkpoints.current
            self.checkpoints.read(epoch, 1)
            self.counts.odd_record()
            key = self.checkpoints.key_of(record.namespace, record.stream)
            stream = self.streams.get(key)
            if stream is not None:
                stream.counts.read()
            else:
                self.checkpoints.read_unknown(key)
            rejections.append((record, epoch, rejection, stream))
            return
        skipped = self.counts.unreadable()
        if skipped <= 10 or skipped % 1000 == 0:
            self.out.log(
                f"Skipped an input line that is not an Airbyte message ({len(line)} bytes, line "
                f"{number}); {skipped} skipped so far.",
                "WARN",
            )
