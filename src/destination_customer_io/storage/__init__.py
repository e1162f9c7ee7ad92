"""The object-storage layer: objects written to S3 or a local directory, for every part of the connector
that keeps files (the rejected records, the sync ledger, dry runs, replays).

    options    StoreOptions (part sizes, upload threads, request timeout, retry budget) and a sync's own;
               ``within``: the same storage rooted in a folder
    names      S3-safe path segments; ``check``'s probe keys
    retrying   a request retried within the sync's ``retry_max_seconds``; what is waited on
    local      the Local sink (durable writes) and its check
    aws        boto3 sessions for the three credential modes; AWS errors as StoreErrors
    s3         the S3 sink (one PutObject per file) and its check
    objects    whole objects by key: put, get, list, delete (the ledger, dry runs, replays)
    rolling    rolling files: rows buffered per stream into parts, sealed at a size, uploaded in the
               background, durable on ``flush`` (the rejected records)

What the files hold is the caller's: ``rejected/`` (the rejected-records format), ``ledger/``,
``dryrun.py``. They share one configured storage (``object_storage_config``), which users know as the
rejected-records store, so the messages name it so. Every failure is an ``errors.StoreError`` naming the
step. The S3 modules import boto3
(~0.1 s of start-up), so they are imported only when S3 storage is configured.
"""
