"""The marketing-system stand-in (营销系统, SG186-style interface) behind the reference station.

    protocol   the sans-IO codec of its interface (docs/marketing-interface.md): GB18030 records
    store      its accounts, bills, payments and the serial ledger (an SQLite file)
    scenario   faults as data (slow, down, answers lost after applying, closed days)
    server     the TCP server (``handheld-mocks marketing``)
    client     the station's side: one exchange per short connection, sync and asyncio
"""
