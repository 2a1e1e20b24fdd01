"""The reference master station (主站): GT/1 over TCP, an SQLite ledger, the audit trail.

    provisioning  terminals' ids, suites and keys (TOML)
    ledger        the SQLite schema and connection rules (WAL, synchronous=FULL)
    audit         the hash-chained, append-only trail of every frame
    validate      typed, bounded checks of request fields
    handlers      the business rules, one method per message type (plain dicts in and out)
    server        the asyncio TCP server and its in-process runner for tests
    area, seed    the import of a real supply area (CSV) and the demo one
    testing       a tiny hand-made area and ledger snapshots for tests
    cli           ``handheld-mocks station``

docs/protocol.md is the message catalogue; docs/station.md says how to run and load it.
"""
