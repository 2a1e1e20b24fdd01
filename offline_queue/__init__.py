"""The durable journal of every state-changing operation, and the engine that syncs it.

    journal     Journal (SQLite, WAL, synchronous=FULL, one writer), Entry, JournalSeqCounter
    migrations  schema versions (PRAGMA user_version) and their ordered steps
    sync        SyncEngine (TXN_STATUS first, pipelined drain, backoff timer), SyncThread
    backoff     exponential backoff with jitter, on an injectable clock
    state       QueueStatus for the UI and the per-instance Signal of change events
"""
