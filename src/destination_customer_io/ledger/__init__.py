"""The sync ledger: per connection and stream, what was last delivered to Customer.io (docs/mirror.md).

    table.py   the columns in memory (numpy), the log of this sync, merge
    files.py   where the files live in the store, and their format (checksummed, half-written ones ignored)
    book.py    one stream's ledger during a sync: look-ups, outcomes, write-ahead intents, removals
    keeper.py  the I/O: load at start, deltas at state releases, compaction at the end
    mirror.py  mirror mode's end-of-input decision: complete?, removals, the guard
    sync.py    the one interface the write pipeline calls (filter, before send, acknowledged, before a
               state leaves, removals at the end); ``open_ledger`` loads a sync's books
"""
