"""The sync ledger: per connection and stream, what was last delivered to Customer.io (docs/mirror.md).

    table.py   one stream's ledger as a SQLite working copy on local disk: rows, this sync's log, folding
    files.py   where the files live in the store, their names (each carries its checksum: half-written
               files are ignored)
    legacy.py  0.3.0-0.5.0's ``.ldg`` files, read once to migrate them
    book.py    one stream's ledger during a sync: look-ups, outcomes, write-ahead intents, removals
    keeper.py  the I/O: load at start, deltas at state releases, compaction at the end
    mirror.py  mirror mode's end-of-input decision: complete?, removals, the guard
    sync.py    the one interface the write pipeline calls (filter, before send, acknowledged, before a
               state leaves, removals at the end); ``open_ledger`` loads a sync's books
"""
