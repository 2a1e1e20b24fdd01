"""The station's SQLite ledger: schema and connection rules.

One database file holds the ledger and the audit trail.  WAL with ``synchronous=FULL``: every
commit is fsynced before the station answers, so an answered payment survives a power cut
(field-facts "SQLite durability").  All money columns are INTEGER fen; readings are TEXT
exactly as read; times are ISO 8601 TEXT with the +08:00 offset.

Connections are opened in autocommit mode (``isolation_level=None``); writers use explicit
``BEGIN IMMEDIATE`` … ``COMMIT`` so one request's effects are one transaction.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

from hw_mocks.station import audit  # the trail lives in the same file
from hw_mocks.station.qr_schema import SCHEMA as QR_SCHEMA  # the QR order journal too (issue 17)
from terminal_app.errors import ConfigurationError

#: 2: customers.category, bills' penalty accrual (accrued, accrued_through), balance_uses (issue 14).
#: Additions that need no change to existing rows keep the version: new tables are created on open
#: (usage_history, dunning_notices, reconnections: issue 13; segment_assignments: issue 18) and new columns added in place
#: (ADDED_COLUMNS: terminal_seq.key_id, audit.size/sha256 of issue 15, readings.note of issue 13).
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS tariffs (
    name    TEXT PRIMARY KEY,          -- e.g. sichuan-residential
    version TEXT NOT NULL,
    title   TEXT NOT NULL,
    data    TEXT NOT NULL              -- the tariff data file (TOML text), sent as is by TARIFFS
);
CREATE TABLE IF NOT EXISTS segments (
    segment TEXT PRIMARY KEY,          -- 表段号
    name    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meters (
    asset     TEXT PRIMARY KEY,        -- asset barcode on the nameplate
    comm_addr TEXT NOT NULL UNIQUE CHECK (length(comm_addr) = 12),  -- DL/T 645 address
    standard  TEXT NOT NULL CHECK (standard IN ('2007', '1997')),
    card      INTEGER NOT NULL CHECK (card IN (0, 1)),              -- prepaid card meter
    last_value TEXT,                   -- last accepted reading, kWh as read
    last_at    TEXT,
    purchase_count INTEGER NOT NULL DEFAULT 0  -- card meters: purchases written to cards
);
CREATE TABLE IF NOT EXISTS customers (
    cust    TEXT PRIMARY KEY,          -- 户号
    name    TEXT NOT NULL,
    addr    TEXT NOT NULL,
    segment TEXT NOT NULL REFERENCES segments(segment),
    seq_in_segment INTEGER NOT NULL,   -- position on the reading route
    meter   TEXT NOT NULL UNIQUE REFERENCES meters(asset),
    tariff  TEXT NOT NULL REFERENCES tariffs(name),
    balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),  -- 预收 (prepayment), fen
    category TEXT NOT NULL DEFAULT 'residential'              -- penalty category (params.penalty.rates)
);
CREATE INDEX IF NOT EXISTS customers_segment ON customers(segment, seq_in_segment);
CREATE TABLE IF NOT EXISTS bills (     -- one bill per customer and period; arrears = unpaid part
    cust    TEXT NOT NULL REFERENCES customers(cust),
    period  TEXT NOT NULL,             -- YYYY-MM
    amount  INTEGER NOT NULL CHECK (amount >= 0),
    due     TEXT NOT NULL,             -- YYYY-MM-DD
    paid_amount  INTEGER NOT NULL DEFAULT 0 CHECK (paid_amount BETWEEN 0 AND amount),
    paid_penalty INTEGER NOT NULL DEFAULT 0 CHECK (paid_penalty >= 0),
    -- 违约金 is computed as of a day (terminal_app.domain.penalty): exact fen accrued through
    -- accrued_through on earlier unpaid charges; from the next day on it accrues on amount - paid_amount
    accrued TEXT NOT NULL DEFAULT '0',
    accrued_through TEXT NOT NULL,     -- YYYY-MM-DD, never before due
    PRIMARY KEY (cust, period)
);
CREATE TABLE IF NOT EXISTS balance_uses (   -- the prepayment balance paying bills (预存抵扣)
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    cust    TEXT NOT NULL REFERENCES customers(cust),
    period  TEXT NOT NULL,
    penalty INTEGER NOT NULL,
    amount  INTEGER NOT NULL,
    day     TEXT NOT NULL,             -- the day the penalty was counted to
    at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS txns (      -- every txn the station decided, with its original answer
    txn       TEXT PRIMARY KEY,
    terminal  TEXT NOT NULL,
    msg_type  INTEGER NOT NULL,
    body_hash TEXT NOT NULL,           -- sha256 of the canonical request body
    status    TEXT NOT NULL CHECK (status IN ('applied', 'rejected')),
    response  TEXT NOT NULL,           -- the response body as first sent (JSON)
    error     INTEGER NOT NULL,        -- 1 when the response was an error response
    at        TEXT NOT NULL            -- station time of the decision
);
CREATE TABLE IF NOT EXISTS payments (
    txn      TEXT PRIMARY KEY,
    terminal TEXT NOT NULL,
    operator TEXT,
    cust     TEXT NOT NULL REFERENCES customers(cust),
    amount   INTEGER NOT NULL CHECK (amount > 0),
    method   TEXT NOT NULL,
    at       TEXT NOT NULL,            -- capture time on the terminal (the receipt's time)
    day      TEXT NOT NULL,            -- business day of "at" (Asia/Shanghai)
    receipt  TEXT NOT NULL UNIQUE,
    to_balance INTEGER NOT NULL,       -- the part that went to the prepayment balance
    applied_at TEXT NOT NULL,          -- station time
    reversed_by TEXT                   -- the reversal's txn, once reversed
);
CREATE INDEX IF NOT EXISTS payments_day ON payments(terminal, day);
CREATE TABLE IF NOT EXISTS allocations (   -- how a payment was spread over the bills
    txn     TEXT NOT NULL REFERENCES payments(txn),
    cust    TEXT NOT NULL,
    period  TEXT NOT NULL,
    penalty INTEGER NOT NULL,
    amount  INTEGER NOT NULL,
    PRIMARY KEY (txn, period)
);
CREATE TABLE IF NOT EXISTS reversals (
    txn      TEXT PRIMARY KEY,
    orig     TEXT NOT NULL UNIQUE REFERENCES payments(txn),
    terminal TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at       TEXT NOT NULL,
    applied_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS readings (
    txn      TEXT NOT NULL,
    n        INTEGER NOT NULL,         -- position in the uploaded batch
    cust     TEXT NOT NULL,
    meter    TEXT NOT NULL,
    value    TEXT NOT NULL,
    at       TEXT NOT NULL,
    source   TEXT NOT NULL CHECK (source IN ('ir', 'keypad')),
    reason   TEXT,
    abnormal TEXT,
    terminal TEXT NOT NULL,
    note     TEXT,                     -- the operator's reason for a jump (用电量突增原因)
    place    TEXT,                     -- the GNSS place of the reading, JSON (issue 18; NULL: none)
    PRIMARY KEY (txn, n)
);
CREATE TABLE IF NOT EXISTS abnormal (  -- 抄表异常登记
    txn      TEXT PRIMARY KEY,
    ref      TEXT NOT NULL UNIQUE,
    cust     TEXT NOT NULL,
    meter    TEXT NOT NULL,
    code     TEXT NOT NULL,
    text     TEXT,
    value    TEXT,
    at       TEXT NOT NULL,
    terminal TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS premise_notes (  -- 门牌/注意事项: the newest note of each customer's premises
    cust     TEXT PRIMARY KEY,
    text     TEXT NOT NULL,     -- '' when cleared
    at       TEXT NOT NULL,     -- when it was written (the terminal's time): the newest wins
    txn      TEXT NOT NULL,     -- the PREMISE_NOTE that wrote it ('' for the office's own)
    terminal TEXT NOT NULL      -- who wrote it ('' for the office)
);
CREATE TABLE IF NOT EXISTS photo_chunks (  -- 抄表照片 as it arrives: one row per chunk, stored once
    reading  TEXT NOT NULL,     -- the txn of the READINGS_UPLOAD the photo proves
    sha256   TEXT NOT NULL,     -- of the whole JPEG
    idx      INTEGER NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (reading, sha256, idx)
);
CREATE TABLE IF NOT EXISTS photos (  -- a reading's photo, assembled once every chunk is in and its hash checks
    reading  TEXT NOT NULL,
    sha256   TEXT NOT NULL,
    size     INTEGER NOT NULL,
    jpeg     BLOB NOT NULL,
    terminal TEXT NOT NULL,
    at       TEXT NOT NULL,     -- station time of assembly
    PRIMARY KEY (reading, sha256)
);
CREATE TABLE IF NOT EXISTS dunning_tasks (
    task    TEXT PRIMARY KEY,
    cust    TEXT NOT NULL REFERENCES customers(cust),
    segment TEXT NOT NULL,
    action  TEXT NOT NULL CHECK (action IN ('notice', 'disconnect')),
    issued  TEXT NOT NULL,             -- YYYY-MM-DD
    state   TEXT NOT NULL DEFAULT 'open'
);
CREATE INDEX IF NOT EXISTS dunning_segment ON dunning_tasks(segment, task);
CREATE TABLE IF NOT EXISTS dunning_results (
    txn      TEXT PRIMARY KEY,
    task     TEXT NOT NULL REFERENCES dunning_tasks(task),
    result   TEXT NOT NULL,
    note     TEXT,
    at       TEXT NOT NULL,
    terminal TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS card_purchases (
    txn      TEXT PRIMARY KEY,
    cust     TEXT NOT NULL,
    meter    TEXT NOT NULL,
    amount   INTEGER NOT NULL CHECK (amount > 0),
    purchase_count INTEGER NOT NULL,   -- the count this purchase writes to the card
    kind     TEXT NOT NULL CHECK (kind IN ('purchase', 'reissue')),
    state    TEXT NOT NULL CHECK (state IN ('authorized', 'confirmed')),
    receipt  TEXT NOT NULL UNIQUE,
    terminal TEXT NOT NULL,
    at       TEXT NOT NULL,            -- capture time on the terminal
    day      TEXT NOT NULL,            -- its business day
    confirmed_by TEXT
);
CREATE TABLE IF NOT EXISTS card_serials (     -- the card each card meter accepts now
    meter    TEXT PRIMARY KEY,         -- bound by the first card seen (open account), moved by 补卡
    serial   TEXT NOT NULL,            -- 16 hex digits, as printed on the card
    since    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meter_limits (     -- 囤积上限 of a card meter (its parameter set), sent with CARD_QUERY
    meter       TEXT PRIMARY KEY REFERENCES meters(asset),
    hoard_limit INTEGER NOT NULL CHECK (hoard_limit > 0),  -- fen the meter may hold at most (wallet + purchase)
    set_at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS operator_limits (  -- agent cash limit (代收款限额) per operator, sent with HELLO
    op          TEXT PRIMARY KEY,      -- the operator number the terminal sends in HELLO
    cash_limit  INTEGER NOT NULL CHECK (cash_limit > 0),   -- fen of cash in hand the operator may hold
    set_at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pin_resets (  -- an operator's one-time PIN from the console (重置操作员密码), sent with HELLO
    id         TEXT PRIMARY KEY,     -- random, public: the terminal remembers the ids it applied
    operator   TEXT NOT NULL,
    pin_hash   TEXT NOT NULL,        -- argon2id (argon2-cffi); the PIN itself is never stored
    expires_at TEXT NOT NULL,
    by_user    TEXT NOT NULL,
    at         TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pin_reset_uses (  -- a one-time PIN used on a terminal (HELLO "used_resets"): insert-only
    reset       TEXT PRIMARY KEY REFERENCES pin_resets(id),
    terminal    TEXT NOT NULL,       -- the terminal that reported it first
    operator    TEXT NOT NULL,
    reported_at TEXT NOT NULL        -- station time of that HELLO (its frame is in the audit trail)
);
CREATE TABLE IF NOT EXISTS terminal_reports ( -- each terminal's last report of its own journal (HELLO "unsynced")
    terminal    TEXT PRIMARY KEY,
    reported_at TEXT NOT NULL,         -- station time of the HELLO that carried it
    op          TEXT NOT NULL,
    oldest      TEXT,                  -- capture time of its oldest entry not at the station; NULL: none
    waiting     INTEGER NOT NULL       -- how many such entries
);
CREATE TABLE IF NOT EXISTS reconciliations (   -- 代收对账, with an alarm flag on any difference
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal TEXT NOT NULL,
    day      TEXT NOT NULL,
    term_count INTEGER NOT NULL, term_amount INTEGER NOT NULL,
    station_count INTEGER NOT NULL, station_amount INTEGER NOT NULL,
    missing  TEXT NOT NULL, extra TEXT NOT NULL,   -- JSON arrays of txns
    match    INTEGER NOT NULL,
    at       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS terminal_seq (      -- replay protection: last accepted seq per terminal
    terminal TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    key_id   TEXT                      -- the key it was accepted under (provisioning.key_id); a new key restarts the seq
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS usage_history (    -- billed use per period: the jump check's "usual use"
    cust    TEXT NOT NULL REFERENCES customers(cust),
    period  TEXT NOT NULL,             -- YYYY-MM
    kwh     TEXT NOT NULL,             -- decimal string
    days    INTEGER NOT NULL CHECK (days > 0),   -- days the period's reading covered
    PRIMARY KEY (cust, period)
);
CREATE TABLE IF NOT EXISTS dunning_notices (  -- 催费通知 served: the first one fixes the deadline
    task     TEXT PRIMARY KEY REFERENCES dunning_tasks(task),
    served   TEXT NOT NULL,            -- YYYY-MM-DD
    pay_by   TEXT NOT NULL,            -- YYYY-MM-DD, the last day to pay before a cut is lawful
    txn      TEXT,                     -- the DUNNING_RESULT that reported it (NULL: imported)
    terminal TEXT
);
CREATE TABLE IF NOT EXISTS mkt_exchanges (   -- broker: each txn's ONE marketing-system serial (issue 21)
    txn      TEXT PRIMARY KEY,
    serial   TEXT NOT NULL UNIQUE,     -- 交易流水号 sent to the marketing system, reused by every retry
    trade    TEXT NOT NULL,            -- its trade code (2001 payment, 2002 reversal)
    terminal TEXT NOT NULL,
    cust     TEXT,
    amount   INTEGER NOT NULL,         -- fen
    orig     TEXT,                     -- a reversal's payment txn
    day      TEXT NOT NULL,            -- business day of the capture time
    state    TEXT NOT NULL CHECK (state IN ('pending', 'not_sent', 'unknown', 'applied', 'refused')),
    rc       TEXT,                     -- the marketing system's answer code
    mkt_receipt TEXT,
    request  BLOB NOT NULL,            -- the request as on the wire (each retry sends exactly this)
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mkt_messages (    -- every message of the station-marketing hop, raw
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    txn       TEXT,
    serial    TEXT NOT NULL,
    trade     TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
    raw       BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checks (          -- 每日账务核对: one row per run of the check
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    day      TEXT NOT NULL,
    at       TEXT NOT NULL,
    station_count INTEGER NOT NULL, station_amount INTEGER NOT NULL,
    mkt_count INTEGER NOT NULL, mkt_amount INTEGER NOT NULL,
    alarms   INTEGER NOT NULL,
    report   TEXT                      -- the report file written
);
CREATE TABLE IF NOT EXISTS check_alarms (    -- one row per difference found; never updated or deleted
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    check_id INTEGER NOT NULL REFERENCES checks(id),
    day      TEXT NOT NULL,
    kind     TEXT NOT NULL,            -- missing_at_marketing, missing_at_station, amount_differs,
                                       -- reversed_at_station_only, reversed_at_marketing_only, terminal_reconcile
    txn      TEXT,
    terminal TEXT,
    station_amount INTEGER,
    mkt_amount INTEGER,
    detail   TEXT NOT NULL,
    at       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS check_originals ( -- every original the check used: the marketing system's pages
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    check_id INTEGER NOT NULL REFERENCES checks(id),
    direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
    raw      BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS reconnections (    -- 复电任务: created by a cut, released by payment
    task        TEXT PRIMARY KEY REFERENCES dunning_tasks(task),
    cust        TEXT NOT NULL REFERENCES customers(cust),
    cut_at      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('waiting_payment', 'released')),
    released_at TEXT,
    released_by TEXT                   -- the payment txn that cleared the arrears
);
CREATE TABLE IF NOT EXISTS segment_assignments (  -- 表段分配: the latest row per segment holds (issue 18)
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    segment  TEXT NOT NULL REFERENCES segments(segment),
    operator TEXT NOT NULL,
    by_user  TEXT NOT NULL,
    at       TEXT NOT NULL
);
"""

def connect(path: str | os.PathLike[str], *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (and create) the ledger with the durability rules; the caller closes it.

    ``path`` is an SQLite file, or a PostgreSQL URL (``postgresql://…``: hw_mocks.station.pg, the
    same schema and migrations).  ``check_same_thread=False`` lets another thread take the
    connection over (the server opens it, then hands it to its ledger worker, the one thread that
    uses it from then on)."""
    if isinstance(path, str) and path.startswith(("postgresql://", "postgres://")):
        return _connect_pg(path)  # type: ignore[return-value]
    try:
        conn = sqlite3.connect(os.fspath(path), isolation_level=None, timeout=10.0,
                               check_same_thread=check_same_thread)
    except sqlite3.Error as e:
        raise ConfigurationError("The station ledger {path} cannot be opened ({error}).",
                                 "Check the --db path and its directory's permissions.", path=os.fspath(path),
                                 error=str(e)) from e
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("BEGIN IMMEDIATE")
        for stmt in _statements(SCHEMA) + _statements(QR_SCHEMA):
            conn.execute(stmt)
        for stmt in audit.SCHEMA_STATEMENTS:
            conn.execute(stmt)
        _add_columns(conn)
        _insert_only(conn, postgres=False)
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        if version != str(SCHEMA_VERSION):
            conn.execute("ROLLBACK")
            raise ConfigurationError("The station ledger {path} has schema {found}, this station needs {needed}.",
                                     "Create a new ledger (another --db file) and import the area again.",
                                     path=os.fspath(path), found=version, needed=SCHEMA_VERSION)
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as e:
        conn.close()
        raise ConfigurationError("The station ledger {path} is not a usable SQLite database ({error}).",
                                 "Give another --db file; keep this one for inspection.", path=os.fspath(path),
                                 error=str(e)) from e
    except BaseException:
        conn.close()
        raise
    return conn


#: columns added after schema version 1 shipped: (table, column, declaration), added in place to
#: a ledger that lacks them (no row changes: every new column is NULL in old rows)
ADDED_COLUMNS = (
    ("terminal_seq", "key_id", "TEXT"),
    ("audit", "size", "INTEGER"),
    ("audit", "sha256", "TEXT"),
    ("readings", "note", "TEXT"),
    ("readings", "place", "TEXT"),      # issue 18: the GNSS place of a reading
    ("audit", "chain", "INTEGER"),      # issue 21: the front end whose chain holds the row (NULL: 0)
    ("audit", "chain_seq", "INTEGER"),  # its place in that chain (NULL: the row's id)
    ("payments", "acquirer_id", "TEXT"),  # issue 17: a QR payment's id at the acquirer (NULL: cash)
    ("card_purchases", "method", "TEXT"),       # issue 17: wechat / alipay (NULL: cash)
    ("card_purchases", "acquirer_id", "TEXT"),  # the acquirer's id of a purchase paid by payment code
    ("card_purchases", "cancelled_by", "TEXT"),  # the CARD_CANCEL txn that holds it (refund under way or done)
    ("card_purchases", "cancelled_at", "TEXT"),  # when that cancellation was applied (NULL: not cancelled)
)


def _connect_pg(dsn: str) -> object:
    try:
        from hw_mocks.station import pg
    except ImportError as e:
        raise ConfigurationError("PostgreSQL needs psycopg ({error}).", "Install the station extra:"
                                 " pip install 'handheld-terminal[station]'.", error=str(e)) from e
    try:
        conn = pg.PgConnection(dsn)
    except sqlite3.Error as e:
        raise ConfigurationError("The station ledger on PostgreSQL cannot be opened ({error}).",
                                 "Check the URL, that the server runs and that the role may connect.",
                                 error=str(e)) from e
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT pg_advisory_xact_lock(21)")  # front ends starting together: one creates the schema
        for stmt in pg.pg_schema(_statements(SCHEMA) + _statements(QR_SCHEMA) + list(audit.SCHEMA_STATEMENTS)):
            conn.execute(stmt)
        _add_columns(conn, lambda table: pg.columns(conn, table))
        _insert_only(conn, postgres=True)
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", (str(SCHEMA_VERSION),))
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        if version != str(SCHEMA_VERSION):
            raise ConfigurationError("The station ledger has schema {found}, this station needs {needed}.",
                                     "Create a new database and import the area again.", found=version,
                                     needed=SCHEMA_VERSION)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
        raise
    return conn


#: ledger tables whose rows are never updated nor deleted (the database refuses it)
INSERT_ONLY = ("pin_reset_uses",)


def _insert_only(conn: sqlite3.Connection, *, postgres: bool) -> None:
    if postgres:
        conn.execute("""CREATE OR REPLACE FUNCTION ledger_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN RAISE EXCEPTION 'these ledger rows are never changed'; END $$""")
        for t in INSERT_ONLY:
            conn.execute(f"CREATE OR REPLACE TRIGGER {t}_no_change BEFORE UPDATE OR DELETE ON {t}"
                         " FOR EACH ROW EXECUTE FUNCTION ledger_insert_only()")
        return
    for t in INSERT_ONLY:
        for op in ("UPDATE", "DELETE"):
            conn.execute(f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t}"
                         " BEGIN SELECT RAISE(ABORT, 'these ledger rows are never changed'); END")


def _add_columns(conn: sqlite3.Connection, columns: Callable[[str], set[str]] | None = None) -> None:
    for table, column, decl in ADDED_COLUMNS:
        have = columns(table) if columns else {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            if columns:
                decl = decl.replace("INTEGER", "BIGINT")
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
    # the audit chains (one per front end): a second row at the same place of a chain is refused
    conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS audit_chain ON audit(chain, chain_seq)")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";\n") if s.strip()]


def next_counter(conn: sqlite3.Connection, name: str) -> int:
    """A gap-free counter (receipt numbers …); call inside the request's transaction."""
    return conn.execute("INSERT INTO counters VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = counters.value + 1"
                        " RETURNING value", (name,)).fetchone()[0]


def is_empty(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 0
