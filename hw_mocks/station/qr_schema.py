"""The QR order journal's tables (issue 17): in the station's ledger (SQLite or PostgreSQL) and in a
stand-alone journal file alike (hw_mocks.station.acquirer.OrderJournal)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS qr_orders (
    txn          TEXT PRIMARY KEY,        -- the terminal's txn; the merchant's order number derives from it
    channel      TEXT NOT NULL,           -- wechat | alipay
    amount       INTEGER NOT NULL,        -- fen
    code         TEXT NOT NULL,           -- the payment code REDACTED (channel + masked), never whole
    phase        TEXT NOT NULL,           -- the policy's phase when last written
    outcome      TEXT,                    -- NULL while running; then PAID | NOT_PAID | REVERSED | UNRESOLVED
    acquirer_id  TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT '',
    created      TEXT NOT NULL,
    updated      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS qr_refunds (
    refund_no    TEXT PRIMARY KEY,        -- the reversal's own txn: the refund number at the acquirer
    txn          TEXT NOT NULL REFERENCES qr_orders(txn),
    amount       INTEGER NOT NULL,
    outcome      TEXT,                    -- NULL while running; REFUNDED | REFUND_REFUSED | REFUND_UNRESOLVED
    acquirer_id  TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT '',
    created      TEXT NOT NULL,
    updated      TEXT NOT NULL
);
"""
