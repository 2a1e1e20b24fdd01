"""The reference master station (主站): GT/1 over TCP, an SQLite or PostgreSQL ledger, the audit
trail, and the broker in front of the marketing system (issue 21).

    provisioning  terminals' ids, suites and keys (TOML)
    ledger        the SQLite schema and connection rules (WAL, synchronous=FULL)
    audit         the hash-chained, append-only trail of every frame
    validate      typed, bounded checks of request fields
    handlers      the business rules, one method per message type (plain dicts in and out)
    broker        PAYMENT/REVERSAL through the marketing system (hw_mocks.marketing), one serial per txn
    check         每日账务核对: the daily account check against the marketing system, its alarms
    pg            the ledger on PostgreSQL (several front ends; tests/rigs/pgcluster starts a throwaway one)
    server        the asyncio TCP server and its in-process runner for tests
    area, seed    the import of a real supply area (CSV) and the demo one
    testing       a tiny hand-made area and ledger snapshots for tests
    cli           ``handheld-mocks station``

docs/protocol.md is the message catalogue; docs/station.md says how to run and load it.
"""
