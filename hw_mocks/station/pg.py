"""The station's ledger on PostgreSQL (psycopg 3): the production database of a province.

SQLite stays the embedded default (the simulator, QA, one front end); PostgreSQL is what several
front-end processes share (docs/station.md "PostgreSQL and several front ends").  One schema
text (hw_mocks.station.ledger.SCHEMA) serves both: :func:`pg_schema` translates its few
SQLite words (INTEGER → BIGINT, BLOB → BYTEA, INTEGER PRIMARY KEY → an identity column; the
audit trail's append-only triggers become a PL/pgSQL trigger), and the same column additions
(ledger.ADDED_COLUMNS) are the migrations of both.

:class:`PgConnection` gives the station's code the small part of the sqlite3 connection it uses —
``execute``/``executemany`` with ``?`` and ``?NNN`` placeholders, explicit ``BEGIN``/``SAVEPOINT``/
``COMMIT`` statements, ``in_transaction`` — and raises sqlite3's DB-API exception classes
(``sqlite3.IntegrityError`` …) for the database's errors, so every ``except`` of the station
means the same on both.  Values are bound client-side (psycopg's ClientCursor): a NULL
parameter needs no type, as in SQLite.  Sums of BIGINT columns (NUMERIC in PostgreSQL) come back
as int when whole, so JSON bodies never carry a Decimal.

Concurrency between front ends rests on the database: primary keys and unique constraints
(txns, payments, …) make a second apply of a txn fail; the terminal's seq row is updated with a
condition (a row lock: the second of two equal seqs waits, then finds it taken); a payment or
reversal locks its customer's row (``SELECT … FOR UPDATE``) before reading the balance and bills.
Counters that must be gap-free (receipt numbers) and the audit chain are kept per front end
(``front_end`` 1…9), so front ends never wait for each other on a hot row.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import ClientCursor
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus

DSN_PREFIXES = ("postgresql://", "postgres://")


def is_dsn(target: object) -> bool:
    return isinstance(target, str) and target.startswith(DSN_PREFIXES)


class _WholeNumeric(Loader):
    """NUMERIC (sum() of BIGINT) as int when whole, else Decimal — never a float."""

    def load(self, data: Any) -> int | Decimal:
        text = bytes(data).decode("ascii")
        if "." in text or "e" in text.lower() or text == "NaN":
            d = Decimal(text)
            return int(d) if d == d.to_integral_value() else d
        return int(text)


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?(\d*)|%")


def translate(sql: str) -> tuple[str, list[int] | None]:
    """(PostgreSQL text, parameter order) of one station statement; order None: as given."""
    head = sql.lstrip()[:24].upper()
    if head.startswith("BEGIN IMMEDIATE"):
        return "BEGIN", None
    or_ignore = "INSERT OR IGNORE INTO" in sql
    if or_ignore:
        sql = sql.replace("INSERT OR IGNORE INTO", "INSERT INTO") + " ON CONFLICT DO NOTHING"
    order: list[int] = []
    numbered = False
    pos = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal numbered, pos
        tok = m.group(0)
        if tok.startswith("'"):
            return tok.replace("%", "%%")  # psycopg reads every % of the text, literals too
        if tok == "%":
            return "%%"
        if m.group(1):
            numbered = True
            order.append(int(m.group(1)) - 1)
        else:
            order.append(pos)
            pos += 1
        return "%s"

    out = _PLACEHOLDER.sub(sub, sql)
    return out, order if numbered else None


def configure(raw: psycopg.Connection[Any]) -> None:
    """What every station connection needs: autocommit (the code says BEGIN itself), values bound
    client-side, NUMERIC sums as int."""
    raw.autocommit = True
    raw.cursor_factory = ClientCursor
    raw.adapters.register_loader("numeric", _WholeNumeric)


class PgConnection:
    """A PostgreSQL connection that the station's sqlite3-style code can use (see the module)."""

    backend = "postgresql"

    def __init__(self, dsn: str, *, raw: psycopg.Connection[Any] | None = None) -> None:
        """``raw``: wrap a connection made elsewhere (a pool's, see :func:`configure`) instead of ``dsn``."""
        if raw is None:
            try:
                raw = psycopg.connect(dsn, autocommit=True, cursor_factory=ClientCursor)
            except psycopg.Error as e:
                raise sqlite3.OperationalError(f"cannot connect to PostgreSQL: {e}") from e
        self._c = raw
        configure(self._c)
        self._cache: dict[str, tuple[str, list[int] | None]] = {}
        #: transaction-control statements not sent yet: they go in front of the next statement, in
        #: the same round trip (a request's savepoints cost no wait of their own)
        self._deferred: list[str] = []

    def _sql(self, sql: str) -> tuple[str, list[int] | None]:
        hit = self._cache.get(sql)
        if hit is None:
            hit = self._cache[sql] = translate(sql)
        return hit

    @staticmethod
    def _args(order: list[int] | None, params: Sequence[Any]) -> Sequence[Any]:
        return params if order is None else [params[i] for i in order]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        text, order = self._sql(sql)
        if not params and _DEFERRABLE.match(text):
            self._deferred.append(text)
            return self._c.cursor()  # no rows, like SQLite's cursor of such a statement
        if self._deferred:
            # ClientCursor sends several statements (parameters interpolated) as one query; the
            # cursor's rows and rowcount are the last one's
            text = "; ".join(s.replace("%", "%%") for s in self._deferred) + "; " + text
            self._deferred.clear()
        cur = self._c.cursor()
        try:
            cur.execute(text, list(self._args(order, params)))
        except psycopg.Error as e:
            raise _as_sqlite(e) from e
        while cur.nextset():  # to the statement asked for: its rows and rowcount
            pass
        return cur

    def _flush(self) -> None:
        if self._deferred:
            text = "; ".join(self._deferred)
            self._deferred.clear()
            try:
                self._c.execute(text)
            except psycopg.Error as e:
                raise _as_sqlite(e) from e

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        self._flush()
        text, order = self._sql(sql)
        cur = self._c.cursor()
        try:
            cur.executemany(text, [self._args(order, r) for r in rows])
        except psycopg.Error as e:
            raise _as_sqlite(e) from e
        return cur

    @property
    def in_transaction(self) -> bool:
        self._flush()  # a deferred BEGIN or ROLLBACK decides it
        return self._c.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self._deferred.clear()
        self._c.close()

    def detach(self) -> psycopg.Connection[Any]:
        """The raw connection back (for its pool), idle: an open transaction is rolled back."""
        self._deferred.clear()
        if self._c.info.transaction_status != TransactionStatus.IDLE:
            try:
                self._c.execute("ROLLBACK")
            except psycopg.Error:
                pass  # a broken connection: its pool sees that and discards it
        return self._c


#: statements that return nothing and whose failure the next statement reports as well
_DEFERRABLE = re.compile(r"(BEGIN|SAVEPOINT \w+|RELEASE \w+|RELEASE SAVEPOINT \w+)$", re.IGNORECASE)


def _as_sqlite(e: psycopg.Error) -> sqlite3.Error:
    if isinstance(e, psycopg.errors.IntegrityError):
        return sqlite3.IntegrityError(str(e).strip())
    if isinstance(e, psycopg.errors.OperationalError | psycopg.errors.TransactionRollback):
        return sqlite3.OperationalError(str(e).strip())
    return sqlite3.DatabaseError(str(e).strip())


# ---------------------------------------------------------------------- schema

_AUDIT_TRIGGER = (
    """CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit rows are never updated or deleted'; END $$""",
    """CREATE OR REPLACE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
       FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
)


def pg_schema(statements: Iterable[str]) -> list[str]:
    """The SQLite schema statements, said in PostgreSQL."""
    out = []
    for stmt in statements:
        if stmt.lstrip().upper().startswith("CREATE TRIGGER"):
            continue  # SQLite's triggers: the PL/pgSQL one below does their work
        s = re.sub(r"--[^\n]*", "", stmt)  # comments (an apostrophe in one is not a string)
        s = re.sub(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", s)
        s = re.sub(r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", s)
        s = re.sub(r"\bINTEGER\b", "BIGINT", s)
        s = re.sub(r"\bBLOB\b", "BYTEA", s)
        if re.search(r"CREATE TABLE IF NOT EXISTS card_purchases\b", s):
            # SQLite's implicit rowid orders a meter's purchases; PostgreSQL gets it as a column
            s = s.rstrip().removesuffix(")") + ",\n    rowid BIGINT GENERATED BY DEFAULT AS IDENTITY\n)"
        out.append(s)
    return out + list(_AUDIT_TRIGGER)


def columns(conn: PgConnection, table: str) -> set[str]:
    return {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?"
                                       " AND table_schema = current_schema()", (table,))}
