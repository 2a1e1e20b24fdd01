"""The terminal's local store: downloaded route data (抄表段), dunning tasks, tariffs, printed originals.

A SQLite file of its own beside the journal (``store.sqlite`` next to ``journal.sqlite``), never
inside the journal's schema: the journal holds what must reach the station (money, readings),
this store holds what came FROM the station (and can always be downloaded again), plus two
small records of the terminal's own:

* ``printed`` — identities of documents whose ORIGINAL may be on paper (the printer driver's
  ``mark_printed`` callback writes here, durably, before the first byte of the job goes out).
  It lives here and not in the journal because the journal's entries are immutable and are
  pruned on their own schedule; a printed mark must never be lost or rewritten, and a reprint
  of a day-old receipt must still come out as a copy.  ``synchronous=FULL`` makes each mark
  durable before the driver sends the job.
* ``documents`` — what each printed document said (receipt and notice data), so a reprint
  shows the same figures; ``settlements`` — the daily settlements (日结) already done, which
  close the business day for reversals.

Every record read back from the file is parsed strictly through the domain's ``from_dict``.
One connection, guarded by a lock: use cases and the UI may call it from worker threads.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from terminal_app.domain.customer import Customer
from terminal_app.domain.dunning import DunningTask
from terminal_app.domain.premise import PremiseNote, newest
from terminal_app.errors import StorageError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS route_downloads (
    segment     TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    pages       INTEGER NOT NULL,
    page_size   INTEGER NOT NULL,
    total       INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    as_of       TEXT,               -- the station's as_of of the oldest page stored
    complete    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS route_pages (
    segment     TEXT NOT NULL,
    page        INTEGER NOT NULL,
    as_of       TEXT NOT NULL,
    PRIMARY KEY (segment, page)
);
CREATE TABLE IF NOT EXISTS customers (
    cust        TEXT PRIMARY KEY,
    segment     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    asset       TEXT NOT NULL,
    data        TEXT NOT NULL,      -- the route item as downloaded (JSON)
    as_of       TEXT NOT NULL       -- the station's time of that page
);
CREATE INDEX IF NOT EXISTS customers_asset ON customers (asset);
CREATE INDEX IF NOT EXISTS customers_segment ON customers (segment, seq);
CREATE TABLE IF NOT EXISTS tariffs (
    name        TEXT PRIMARY KEY,
    version     TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dunning_tasks (
    task        TEXT PRIMARY KEY,
    segment     TEXT NOT NULL,
    cust        TEXT NOT NULL,
    data        TEXT NOT NULL,
    as_of       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS walk_order (
    segment     TEXT NOT NULL,
    cust        TEXT NOT NULL,
    pos         INTEGER NOT NULL,   -- the electrician's walking order (走访顺序), kept across downloads
    PRIMARY KEY (segment, cust)
);
CREATE TABLE IF NOT EXISTS premise_notes (
    cust        TEXT PRIMARY KEY,
    text        TEXT NOT NULL,      -- the electrician's own edit (门牌/注意事项); '' clears
    at          TEXT NOT NULL,
    txn         TEXT NOT NULL       -- its PREMISE_NOTE journal entry
);
CREATE TABLE IF NOT EXISTS printed (
    identity    TEXT PRIMARY KEY,
    at          TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    identity    TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS station_params (
    key         TEXT PRIMARY KEY,   -- a key of HELLO params (e.g. "penalty": the late-payment rule)
    value       TEXT NOT NULL,      -- JSON, as the station sent it
    at          TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settlements (
    slip        TEXT PRIMARY KEY,
    day         TEXT NOT NULL,
    at          TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dunning_results (   -- what this terminal recorded at the door, per task
    task        TEXT NOT NULL,
    result      TEXT NOT NULL,      -- domain.dunning.DunningResult
    at          TEXT NOT NULL,
    txn         TEXT NOT NULL       -- the journaled DUNNING_RESULT
);
CREATE TABLE IF NOT EXISTS reconnections (     -- 复电任务 opened by a cut on this terminal
    task        TEXT PRIMARY KEY,
    cust        TEXT NOT NULL,
    cut_at      TEXT NOT NULL,
    state       TEXT NOT NULL,      -- waiting_payment | released
    released_by TEXT                -- the payment that cleared the arrears
);
"""


@dataclass(frozen=True, slots=True)
class RouteProgress:
    """Where the download of one segment stands."""

    segment: str
    name: str
    pages: int
    page_size: int
    stored: frozenset[int]
    total: int
    complete: bool
    started_at: dt.datetime

    @property
    def missing(self) -> list[int]:
        return [p for p in range(1, self.pages + 1) if p not in self.stored]


class LocalStore:
    """The local store; open with :meth:`open`, a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> LocalStore:
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=5.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # a printed mark must survive a power cut
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (sqlite3.Error, OSError) as e:
            raise StorageError("The local store {path} cannot be opened ({error}).",
                               "Check the storage card; call the technician.", path=str(p), error=e) from e
        return cls(conn, p)

    @classmethod
    def beside(cls, journal_path: str | os.PathLike[str]) -> LocalStore:
        """The store next to the journal file (``store.sqlite`` in the same folder)."""
        return cls.open(Path(journal_path).with_name("store.sqlite"))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as e:
                raise StorageError("The local store {path} could not save ({error}).",
                                   "Call the technician; the journal still holds every payment.",
                                   path=str(self.path), error=e) from e

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as e:
                raise StorageError("The local store {path} could not be read ({error}).",
                                   "Call the technician.", path=str(self.path), error=e) from e

    # ------------------------------------------------------------------ route download
    def route_progress(self, segment: str) -> RouteProgress | None:
        rows = self._query("SELECT name, pages, page_size, total, complete, started_at FROM route_downloads"
                           " WHERE segment = ?", (segment,))
        if not rows:
            return None
        name, pages, page_size, total, complete, started = rows[0]
        stored = frozenset(r[0] for r in self._query("SELECT page FROM route_pages WHERE segment = ?", (segment,)))
        return RouteProgress(segment, name, pages, page_size, stored, total, bool(complete),
                             dt.datetime.fromisoformat(started))

    def downloaded_segments(self) -> list[str]:
        """Segments (表段号) with a download begun on this terminal, in order."""
        return [r[0] for r in self._query("SELECT segment FROM route_downloads ORDER BY segment")]

    def start_route(self, segment: str, name: str, pages: int, page_size: int, total: int,
                    at: dt.datetime) -> None:
        """Begin a fresh download of ``segment``: forget which pages were stored (not the customers:
        they stay usable until each page is replaced)."""
        with self._tx() as c:
            c.execute("DELETE FROM route_pages WHERE segment = ?", (segment,))
            c.execute("INSERT OR REPLACE INTO route_downloads VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                      (segment, name, pages, page_size, total, at.isoformat(), int(pages == 0)))

    def store_page(self, segment: str, page: int, as_of: str, customers: Sequence[tuple[Customer, Mapping[str, Any]]]
                   ) -> None:
        """One page of customers and its mark, in ONE transaction: a page is stored whole or not at all."""
        with self._tx() as c:
            for cust, item in customers:
                c.execute("INSERT OR REPLACE INTO customers VALUES (?, ?, ?, ?, ?, ?)",
                          (cust.number, segment, cust.seq, cust.meter.number,
                           json.dumps(dict(item), ensure_ascii=False), as_of))
            c.execute("INSERT OR REPLACE INTO route_pages VALUES (?, ?, ?)", (segment, page, as_of))
            pages = c.execute("SELECT pages FROM route_downloads WHERE segment = ?", (segment,)).fetchone()[0]
            stored = c.execute("SELECT count(*), min(as_of) FROM route_pages WHERE segment = ?", (segment,)).fetchone()
            c.execute("UPDATE route_downloads SET complete = ?, as_of = ? WHERE segment = ?",
                      (int(stored[0] >= pages), stored[1], segment))

    def finish_route(self, segment: str) -> None:
        """Drop customers that are no longer on a fully downloaded segment (moved or closed accounts)."""
        with self._tx() as c:
            c.execute("DELETE FROM customers WHERE segment = ? AND as_of < (SELECT min(as_of) FROM route_pages "
                      "WHERE segment = ?)", (segment, segment))

    def _customer(self, row: tuple[Any, ...]) -> Customer:
        data, segment, as_of = row
        item = json.loads(data)
        item["segment"] = segment
        return Customer.from_dict(item)

    def customer(self, cust: str) -> Customer | None:
        rows = self._query("SELECT data, segment, as_of FROM customers WHERE cust = ?", (cust,))
        return self._customer(rows[0]) if rows else None

    def customer_as_of(self, cust: str) -> dt.datetime | None:
        """The station time of the downloaded data for ``cust`` (its age is shown when offline)."""
        rows = self._query("SELECT as_of FROM customers WHERE cust = ?", (cust,))
        return dt.datetime.fromisoformat(rows[0][0]) if rows else None

    def customer_by_meter(self, asset: str) -> Customer | None:
        rows = self._query("SELECT data, segment, as_of FROM customers WHERE asset = ?", (asset,))
        return self._customer(rows[0]) if rows else None

    def customers(self, segment: str) -> list[Customer]:
        """The segment's customers in walking order: the electrician's order where set (it outlives
        every download), then the customers it does not name (new ones) in the station's order."""
        rows = self._query("SELECT c.data, c.segment, c.as_of FROM customers c LEFT JOIN walk_order w"
                           " ON w.segment = c.segment AND w.cust = c.cust WHERE c.segment = ?"
                           " ORDER BY w.pos IS NULL, w.pos, c.seq, c.cust", (segment,))
        return [self._customer(r) for r in rows]

    def premise_note(self, cust: str) -> PremiseNote | None:
        """The customer's premise note: the newest of the downloaded one and this terminal's edit."""
        down = None
        rows = self._query("SELECT data FROM customers WHERE cust = ?", (cust,))
        if rows:
            item = json.loads(rows[0][0]).get("note")
            down = PremiseNote.from_dict(item) if item is not None else None
        mine = self._query("SELECT text, at FROM premise_notes WHERE cust = ?", (cust,))
        local = PremiseNote(mine[0][0], dt.datetime.fromisoformat(mine[0][1])) if mine else None
        return newest(down, local)

    def save_premise_note(self, cust: str, note: PremiseNote, txn: str) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO premise_notes VALUES (?, ?, ?, ?)",
                      (cust, note.text, note.at.isoformat(), txn))

    def set_walk_order(self, segment: str, customers: Sequence[str]) -> None:
        """The walking order of ``segment`` as the electrician set it (replaces the earlier one)."""
        with self._tx() as c:
            c.execute("DELETE FROM walk_order WHERE segment = ?", (segment,))
            c.executemany("INSERT OR IGNORE INTO walk_order VALUES (?, ?, ?)",
                          [(segment, cust, i) for i, cust in enumerate(customers)])

    # ------------------------------------------------------------------ tariffs
    def tariff_versions(self) -> dict[str, str]:
        return dict(self._query("SELECT name, version FROM tariffs"))

    def tariff_text(self, name: str) -> str | None:
        rows = self._query("SELECT data FROM tariffs WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def store_tariff(self, name: str, version: str, text: str) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO tariffs VALUES (?, ?, ?)", (name, version, text))

    # ------------------------------------------------------------------ station params (HELLO)
    def store_param(self, key: str, value: Any, at: dt.datetime) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO station_params VALUES (?, ?, ?)",
                      (key, json.dumps(value, ensure_ascii=False), at.isoformat()))

    def param(self, key: str) -> Any:
        """A HELLO param as last received (None when never received)."""
        rows = self._query("SELECT value FROM station_params WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def penalty_rule(self) -> Any:
        """The late-payment rule the station sent (HELLO params.penalty), else the packaged default
        (供电营业规则 art. 98, docs/billing.md) — a malformed stored rule is refused, not guessed at."""
        from terminal_app.domain.penalty import DEFAULT_RULE, PenaltyRule

        value = self.param("penalty")
        return DEFAULT_RULE if value is None else PenaltyRule.from_params(value)

    # ------------------------------------------------------------------ dunning tasks
    def replace_dunning_tasks(self, segment: str, tasks: list[tuple[DunningTask, Mapping[str, Any]]],
                              as_of: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM dunning_tasks WHERE segment = ?", (segment,))
            for task, item in tasks:
                c.execute("INSERT OR REPLACE INTO dunning_tasks VALUES (?, ?, ?, ?, ?)",
                          (task.task, segment, task.customer, json.dumps(dict(item), ensure_ascii=False), as_of))

    def dunning_task(self, task: str) -> tuple[DunningTask, dict[str, Any]] | None:
        rows = self._query("SELECT data, segment FROM dunning_tasks WHERE task = ?", (task,))
        if not rows:
            return None
        item = json.loads(rows[0][0])
        return DunningTask.from_dict({**item, "segment": rows[0][1]}), item

    def dunning_as_of(self, task: str) -> dt.datetime | None:
        """The station's time of the downloaded figures of ``task``."""
        rows = self._query("SELECT as_of FROM dunning_tasks WHERE task = ?", (task,))
        try:
            return dt.datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None
        except ValueError:
            return None

    def dunning_segments(self) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT segment FROM dunning_tasks ORDER BY segment")]

    def dunning_tasks(self, segment: str) -> list[DunningTask]:
        rows = self._query("SELECT data FROM dunning_tasks WHERE segment = ? ORDER BY task", (segment,))
        return [DunningTask.from_dict({**json.loads(r[0]), "segment": segment}) for r in rows]

    def record_dunning_result(self, task: str, result: str, at: dt.datetime, txn: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO dunning_results VALUES (?, ?, ?, ?)", (task, result, at.isoformat(), txn))

    def dunning_results(self, task: str) -> list[str]:
        """The results this terminal recorded for ``task``, oldest first."""
        return [r[0] for r in self._query("SELECT result FROM dunning_results WHERE task = ? ORDER BY rowid",
                                          (task,))]

    # ------------------------------------------------------------------ reconnection tasks (复电)
    def open_reconnection(self, task: str, cust: str, at: dt.datetime) -> None:
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO reconnections VALUES (?, ?, ?, 'waiting_payment', NULL)",
                      (task, cust, at.isoformat()))

    def reconnections(self, cust: str | None = None) -> list[tuple[str, str, str, str | None]]:
        """(task, customer, state, releasing payment) of the cuts made on this terminal."""
        sql = "SELECT task, cust, state, released_by FROM reconnections"
        rows = self._query(sql + " WHERE cust = ? ORDER BY task", (cust,)) if cust is not None else \
            self._query(sql + " ORDER BY task")
        return [tuple(r) for r in rows]

    def release_reconnections(self, cust: str, by_txn: str) -> list[str]:
        """Release the customer's waiting reconnection tasks (the payment cleared the arrears)."""
        with self._tx() as c:
            tasks = [r[0] for r in c.execute("SELECT task FROM reconnections WHERE cust = ? AND"
                                             " state = 'waiting_payment'", (cust,))]
            c.execute("UPDATE reconnections SET state = 'released', released_by = ? WHERE cust = ? AND"
                      " state = 'waiting_payment'", (by_txn, cust))
        return tasks

    def hold_reconnections(self, by_txn: str) -> None:
        """The payment that released them was reversed: they wait for payment again."""
        with self._tx() as c:
            c.execute("UPDATE reconnections SET state = 'waiting_payment', released_by = NULL"
                      " WHERE released_by = ?", (by_txn,))

    # ------------------------------------------------------------------ printed originals
    def was_printed(self, identity: str) -> bool:
        return bool(self._query("SELECT 1 FROM printed WHERE identity = ?", (identity,)))

    def mark_printed(self, identity: str, at: dt.datetime) -> None:
        """Durable before the printer gets the job (the printer driver's ``mark_printed``)."""
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO printed VALUES (?, ?)", (identity, at.isoformat()))

    def save_document(self, identity: str, kind: str, data: Mapping[str, Any]) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO documents VALUES (?, ?, ?)",
                      (identity, kind, json.dumps(dict(data), ensure_ascii=False)))

    def documents(self, kinds: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
        """(identity, kind, data) of every saved document of ``kinds`` (the print history's source)."""
        marks = ",".join("?" * len(kinds))
        rows = self._query(f"SELECT identity, kind, data FROM documents WHERE kind IN ({marks})", kinds)
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    def printed_marks(self) -> set[str]:
        """Identities whose original may be on paper (one query for a whole list)."""
        return {r[0] for r in self._query("SELECT identity FROM printed")}

    def document(self, identity: str) -> tuple[str, dict[str, Any]] | None:
        rows = self._query("SELECT kind, data FROM documents WHERE identity = ?", (identity,))
        return (rows[0][0], json.loads(rows[0][1])) if rows else None

    # ------------------------------------------------------------------ daily settlement
    def settlements(self, day: dt.date) -> list[tuple[str, dict[str, Any]]]:
        rows = self._query("SELECT slip, data FROM settlements WHERE day = ? ORDER BY at, slip", (day.isoformat(),))
        return [(s, json.loads(d)) for s, d in rows]

    def record_settlement(self, slip: str, day: dt.date, at: dt.datetime, data: Mapping[str, Any]) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO settlements VALUES (?, ?, ?, ?)",
                      (slip, day.isoformat(), at.isoformat(), json.dumps(dict(data), ensure_ascii=False)))
