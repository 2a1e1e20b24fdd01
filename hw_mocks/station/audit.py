"""The station's audit trail (contract "Audit", seed §1.4(3)): every frame in and out.

Each row holds the time, peer, terminal id, seq, message type, the raw frame and — when the
frame authenticated — its decrypted body, plus a note for refused frames.  Rows are
append-only: SQLite triggers abort any UPDATE or DELETE, and each row's ``hash`` is sha256 over
the previous row's hash and this row's fields, so editing, inserting or removing a row in the
middle breaks the chain that :func:`verify` walks.  (Dropping the triggers and cutting the tail
is only visible against a head hash kept elsewhere: :func:`verify` returns the head so daily
reconciliation can record it.)

A frame that does not authenticate costs an attacker nothing, so it must cost the station
little (contract "Audit"): its row keeps the reason, at most the first 64 bytes of what
arrived (``raw``), how many bytes the station read (``size``) and their SHA-256 (``sha256``) —
never more bytes than it read — and :class:`RefusalBudget` keeps at most 10 such rows a minute
per peer address and 100 a minute in all, with one counter row for each minute in which some
were dropped.  Unauthenticated traffic can never fill the disk.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field

GENESIS = "0" * 64
#: bytes of an unauthenticated frame kept in its row
REFUSED_PREFIX = 64
#: rows of unauthenticated frames kept per minute, per peer address and in all (the contract's limits)
REFUSED_PER_PEER = 10
REFUSED_IN_ALL = 100

SCHEMA_STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS audit (
        id        INTEGER PRIMARY KEY,
        at        TEXT NOT NULL,
        peer      TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        terminal  TEXT,
        seq       INTEGER,
        msg_type  INTEGER,
        raw       BLOB NOT NULL,
        body      TEXT,
        note      TEXT,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL,
        size      INTEGER,             -- unauthenticated frames: bytes read (raw keeps the first 64)
        sha256    TEXT,                -- unauthenticated frames: SHA-256 of the bytes read
        chain     INTEGER,             -- the front end whose chain holds the row (NULL in old rows: 0)
        chain_seq INTEGER              -- its place in that chain, from 1 (NULL in old rows: the id)
    )""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
       BEGIN SELECT RAISE(ABORT, 'audit rows are never updated'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
       BEGIN SELECT RAISE(ABORT, 'audit rows are never deleted'); END""",
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: str
    peer: str
    direction: str  # "in" | "out"
    terminal: str | None
    seq: int | None
    msg_type: int | None
    raw: bytes
    body: str | None = None
    note: str | None = None
    size: int | None = None  # unauthenticated frames: bytes read
    sha256: str | None = None  # unauthenticated frames: SHA-256 (hex) of the bytes read


def refused_record(at: str, peer: str, data: bytes | bytearray, note: str, terminal: str | None = None,
                   seq: int | None = None, msg_type: int | None = None) -> AuditRecord:
    """The bounded row of a frame that did not authenticate: ``data`` is every byte the station
    read of it; the row keeps its first 64, its length and its SHA-256."""
    return AuditRecord(at, peer, "in", terminal, seq, msg_type, bytes(data[:REFUSED_PREFIX]), None, note,
                       len(data), hashlib.sha256(data).hexdigest())


def _field(value: object) -> bytes:
    # length-prefixed, with a marker for NULL, so no two rows can serialise alike
    if value is None:
        return b"N"
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return b"V" + len(data).to_bytes(8, "big") + data


def row_hash(prev_hash: str, row_id: int, rec: AuditRecord) -> str:
    fields = [row_id, rec.at, rec.peer, rec.direction, rec.terminal, rec.seq, rec.msg_type, rec.raw, rec.body,
              rec.note]
    if rec.size is not None or rec.sha256 is not None:
        # the columns of bounded rows (added later): chained too, while the rows written before
        # they existed keep the hash they were written with
        fields += [rec.size, rec.sha256]
    return hashlib.sha256(b"".join([bytes.fromhex(prev_hash), *map(_field, fields)])).hexdigest()


_INSERT = ("INSERT INTO audit (id, at, peer, direction, terminal, seq, msg_type, raw, body, note, prev_hash, hash,"
           " size, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


_INSERT_CHAIN = ("INSERT INTO audit (at, peer, direction, terminal, seq, msg_type, raw, body, note, prev_hash, hash,"
                 " size, sha256, chain, chain_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _shared(conn: object) -> bool:
    """A database several front ends write (PostgreSQL): each keeps its own chain (``chain``)."""
    return getattr(conn, "backend", "sqlite") == "postgresql"


def _head(conn: sqlite3.Connection, chain: int = 0) -> tuple[int, str]:
    if _shared(conn):
        last = conn.execute("SELECT chain_seq, hash FROM audit WHERE chain = ? ORDER BY chain_seq DESC LIMIT 1",
                            (chain,)).fetchone()
    else:  # one writer, one chain: a row's place in it is its id
        last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    return (last[0], last[1]) if last else (0, GENESIS)


def _insert(conn: sqlite3.Connection, row_id: int, prev: str, rec: AuditRecord, chain: int = 0) -> str:
    """``row_id``: the row's place in its chain (hashed); in SQLite also its id."""
    digest = row_hash(prev, row_id, rec)
    if _shared(conn):
        conn.execute(_INSERT_CHAIN, (rec.at, rec.peer, rec.direction, rec.terminal, rec.seq, rec.msg_type, rec.raw,
                                     rec.body, rec.note, prev, digest, rec.size, rec.sha256, chain, row_id))
    else:
        conn.execute(_INSERT, (row_id, rec.at, rec.peer, rec.direction, rec.terminal, rec.seq, rec.msg_type, rec.raw,
                               rec.body, rec.note, prev, digest, rec.size, rec.sha256))
    return digest


def append(conn: sqlite3.Connection, rec: AuditRecord) -> int:
    """Append one row (inside the caller's transaction if one is open, else its own)."""
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        last_id, prev = _head(conn)
        _insert(conn, last_id + 1, prev, rec)
        if own:
            conn.execute("COMMIT")
    except BaseException:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return last_id + 1


class AuditWriter:
    """Appends rows inside the caller's transactions, keeping the chain's head in memory.

    For the one writer of a ledger (the station's ledger worker): it saves a query per row.
    After a transaction is rolled back, call :meth:`forget` so the head is read again.
    """

    def __init__(self, conn: sqlite3.Connection, chain: int = 0) -> None:
        self.conn = conn
        self.chain = chain  # the front end's own chain (several front ends on one PostgreSQL)
        self._head: tuple[int, str] | None = None

    def append(self, rec: AuditRecord) -> int:
        if self._head is None:
            self._head = _head(self.conn, self.chain)
        row_id = self._head[0] + 1
        self._head = (row_id, _insert(self.conn, row_id, self._head[1], rec, self.chain))
        return row_id

    def forget(self) -> None:
        self._head = None


@dataclass
class RefusalBudget:
    """The contract's limit on rows of frames that do not authenticate: ``per_peer`` a minute per
    peer address, ``in_all`` a minute in all; what is over is counted, and each minute in which
    something was dropped yields one counter row (:meth:`roll`).

    Minutes are whole minutes of the station's clock (``minute`` = its epoch seconds ÷ 60).
    Pure bookkeeping — the caller writes the rows."""

    per_peer: int = REFUSED_PER_PEER
    in_all: int = REFUSED_IN_ALL
    minute: int | None = None
    kept: int = 0
    dropped: int = 0
    dropped_bytes: int = 0
    _by_peer: dict[str, int] = field(default_factory=dict)

    def admit(self, minute: int, address: str, nbytes: int) -> tuple[bool, tuple[int, int, int] | None]:
        """(keep this row?, the counter of a minute that just ended with drops, if any)."""
        ended = self.roll(minute)
        n = self._by_peer.get(address, 0)
        if n < self.per_peer and self.kept < self.in_all:
            self._by_peer[address] = n + 1
            self.kept += 1
            return True, ended
        self.dropped += 1
        self.dropped_bytes += nbytes
        return False, ended

    def roll(self, minute: int | None) -> tuple[int, int, int] | None:
        """Start ``minute`` if it is a new one (None: end the current one, e.g. at shutdown);
        returns (minute, frames dropped, bytes they held) of the minute that ended, when some
        were dropped in it."""
        if minute is not None and minute == self.minute:
            return None
        ended = (self.minute, self.dropped, self.dropped_bytes) if self.dropped and self.minute is not None else None
        self.minute, self.kept, self.dropped, self.dropped_bytes = minute, 0, 0, 0
        self._by_peer.clear()
        return ended


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    rows: int
    head: str  # hash of the last row (GENESIS when empty)
    problems: tuple[str, ...]


def verify(conn: sqlite3.Connection, max_problems: int = 20) -> Verdict:
    """Walk each chain from its first row; report every row whose links or hash do not hold.
    ``head`` is the last row's hash (with several chains, ``chain:hash`` of each, comma-separated)."""
    problems: list[str] = []
    prev = GENESIS
    expected_id = 1
    n = 0
    heads: dict[int, str] = {}
    chain: int | None = None
    for row in conn.execute("SELECT coalesce(chain_seq, id), at, peer, direction, terminal, seq, msg_type, raw, body,"
                            " note, prev_hash, hash, size, sha256, coalesce(chain, 0) FROM audit"
                            " ORDER BY coalesce(chain, 0), coalesce(chain_seq, id)"):
        n += 1
        if row[14] != chain:
            if chain is not None:
                heads[chain] = prev
            chain, prev, expected_id = row[14], GENESIS, 1
        row_id = row[0]
        raw = bytes(row[7]) if row[7] is not None else b""
        rec = AuditRecord(row[1], row[2], row[3], row[4], row[5], row[6], raw, row[8], row[9], row[12], row[13])
        if row_id != expected_id:
            problems.append(f"row {row_id}: expected id {expected_id} (rows missing or inserted)")
        if row[10] != prev:
            problems.append(f"row {row_id}: prev_hash does not match the previous row's hash")
        if row_hash(row[10], row_id, rec) != row[11]:
            problems.append(f"row {row_id}: contents do not match its hash (altered)")
        prev = row[11]
        expected_id = row_id + 1
        if len(problems) >= max_problems:
            break
    if chain is not None:
        heads[chain] = prev
    head = next(iter(heads.values())) if len(heads) <= 1 and 0 in heads or not heads else \
        ",".join(f"{c}:{h}" for c, h in sorted(heads.items()))
    return Verdict(not problems, n, head if heads else GENESIS, tuple(problems))
