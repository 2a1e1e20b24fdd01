"""A supply area (供电区域) in the ledger: validated records, and the CSV import of a real one.

The demo seed (:mod:`hw_mocks.station.seed`) and a real area both go through :func:`insert`, so
the same checks hold for both.  docs/station.md describes the import directory::

    AREA/customers.csv   one row per customer with its meter (UTF-8, header row)
    AREA/bills.csv       bills with their unpaid parts (optional)
    AREA/dunning.csv     open dunning tasks (optional)
    AREA/usage.csv       billed use per customer and period (optional; the jump check's usual use)
    AREA/tariffs/*.toml  tariff data files (optional; else the terminal's packaged ones)
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import re
import sqlite3
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hw_mocks.station import billing
from hw_mocks.station.validate import ASSET_RE, CUST_RE, READING_RE, SEGMENT_RE
from terminal_app.domain.penalty import DEFAULT_RULE, PenaltyRule
from terminal_app.errors import ConfigurationError
from terminal_app.timeutil import SHANGHAI, iso


@dataclass(frozen=True, slots=True)
class Tariff:
    name: str
    version: str
    title: str
    data: str  # TOML text


@dataclass(frozen=True, slots=True)
class Customer:
    cust: str
    name: str
    addr: str
    segment: str
    segment_name: str
    meter_asset: str
    meter_addr: str  # 12 digits
    standard: str  # "2007" | "1997"
    card: bool
    tariff: str
    last_value: str | None = None
    last_at: str | None = None
    balance: int = 0
    purchase_count: int = 0
    category: str = "residential"  # penalty category: a key of params.penalty.rates


@dataclass(frozen=True, slots=True)
class Bill:
    """A bill as issued.  ``penalty`` is what had accrued (fen) through ``penalty_through`` (default:
    the due day) — e.g. the figure an earlier system computed; from the next day on the station
    accrues the penalty itself, day by day, on the unpaid charge."""

    cust: str
    period: str  # YYYY-MM
    amount: int  # fen
    penalty: int  # fen
    due: str  # YYYY-MM-DD
    paid_amount: int = 0
    paid_penalty: int = 0
    penalty_through: str | None = None  # YYYY-MM-DD, not before due


@dataclass(frozen=True, slots=True)
class DunningTask:
    task: str
    cust: str
    action: str  # notice | disconnect
    issued: str  # YYYY-MM-DD
    served: str | None = None  # YYYY-MM-DD: a notice was already served (on an earlier visit) …
    pay_by: str | None = None  # … giving the customer until this day


@dataclass(frozen=True, slots=True)
class Usage:
    """Use billed for one period (the station's "usual use" of a customer comes from these)."""

    cust: str
    period: str  # YYYY-MM
    kwh: str  # decimal string
    days: int  # days the period's reading covered


def packaged_tariffs() -> list[Tariff]:
    """The tariff files the terminal ships (terminal_app/tariffs/*.toml, issue 5's format)."""
    folder = resources.files("terminal_app.tariffs")
    return [parse_tariff(f.read_text(encoding="utf-8"), f.name)
            for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".toml")]


def parse_tariff(text: str, source: str) -> Tariff:
    """Name, title and version of a tariff file; the station stores and sends the text as is.

    The name (used everywhere, e.g. "sichuan-residential"), the Chinese title and the version
    come from top-level ``name``/``title``/``version`` keys, or from a ``[tariff]`` table with
    ``id``/``name``/``version`` (both layouts of terminal_app/tariffs/).  Without a version the
    first 16 hex digits of the sha256 of the text stand in, so any edit gives a new version the
    terminal notices in HELLO's params.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError("Tariff file {source} is not valid TOML: {error}.", "Fix the line it names.",
                                 source=source, error=str(e)) from e
    table = data.get("tariff")
    if isinstance(table, dict):
        name, title, version = table.get("id"), table.get("name"), table.get("version")
    else:
        name, title, version = data.get("name"), data.get("title"), data.get("version")
    if not (isinstance(name, str) and re.fullmatch(r"[a-z0-9][a-z0-9-]{0,47}", name) and isinstance(title, str)
            and title):
        raise ConfigurationError("Tariff file {source} has no tariff name and title.",
                                 "See terminal_app/tariffs/loader.py for the tariff file format.", source=source)
    if not isinstance(version, str) or not version:
        version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return Tariff(name, version, title, text)


_PERIOD_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_DIGITS12 = re.compile(r"\d{12}")


def _check_customer(c: Customer, where: str, rule: PenaltyRule) -> None:
    def fail(problem: str) -> None:
        raise ConfigurationError("{where}: {problem}.", "Correct the row and import again.", where=where,
                                 problem=problem)

    if not CUST_RE.fullmatch(c.cust):
        fail(f"customer number {c.cust!r} is not 1–20 letters/digits")
    if not c.name.strip() or len(c.name) > 60 or not c.addr.strip() or len(c.addr) > 120:
        fail("name (≤60) and address (≤120) must not be empty")
    if not SEGMENT_RE.fullmatch(c.segment):
        fail(f"segment {c.segment!r} is not 1–16 letters/digits")
    if not ASSET_RE.fullmatch(c.meter_asset):
        fail(f"meter asset number {c.meter_asset!r} is not 1–32 letters/digits")
    if not _DIGITS12.fullmatch(c.meter_addr):
        fail(f"meter address {c.meter_addr!r} is not 12 digits (DL/T 645)")
    if c.standard not in ("2007", "1997"):
        fail(f"standard {c.standard!r} is not 2007 or 1997")
    if (c.last_value is None) != (c.last_at is None):
        fail("last_value and last_at go together")
    if c.last_value is not None and not READING_RE.fullmatch(c.last_value):
        fail(f"last reading {c.last_value!r} is not a decimal number as read")
    if c.last_at is not None:
        try:
            at = dt.datetime.fromisoformat(c.last_at)
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            fail(f"last_at {c.last_at!r} is not an ISO 8601 time with offset")
    if c.balance < 0 or c.purchase_count < 0:
        fail("balance and purchase_count cannot be negative")
    if c.category not in rule.rates:
        fail(f"category {c.category!r} is not one of {', '.join(sorted(rule.rates))}")


def insert(conn: sqlite3.Connection, tariffs: Iterable[Tariff], customers: Iterable[Customer],
           bills: Iterable[Bill] = (), tasks: Iterable[DunningTask] = (), usage: Iterable[Usage] = (), *,
           as_of: dt.date | None = None, rule: PenaltyRule = DEFAULT_RULE) -> dict[str, int]:
    """Load an area in one transaction (all or nothing); returns how many rows of each kind.

    Issuing the bills: a customer's prepayment balance then pays its unpaid bills (oldest first,
    penalty before charge, counted as of ``as_of`` — default today in Asia/Shanghai)."""
    counts = {"tariffs": 0, "customers": 0, "bills": 0, "dunning_tasks": 0, "usage": 0, "balance_uses": 0}
    day = as_of or dt.datetime.now(SHANGHAI).date()
    conn.execute("BEGIN IMMEDIATE")
    try:
        for t in tariffs:
            conn.execute("INSERT INTO tariffs VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                         " version = excluded.version, title = excluded.title, data = excluded.data",
                         (t.name, t.version, t.title, t.data))
            counts["tariffs"] += 1
        known_tariffs = {r[0] for r in conn.execute("SELECT name FROM tariffs")}
        position: dict[str, int] = {}
        for n, c in enumerate(customers, 1):
            where = f"customer #{n} ({c.cust})"
            _check_customer(c, where, rule)
            if c.tariff not in known_tariffs:
                raise ConfigurationError("{where}: tariff {tariff!r} is not loaded.",
                                         "Add its file under tariffs/ or correct the name.", where=where,
                                         tariff=c.tariff)
            conn.execute("INSERT INTO segments VALUES (?, ?) ON CONFLICT(segment) DO NOTHING",
                         (c.segment, c.segment_name))
            position[c.segment] = position.get(c.segment, 0) + 1
            try:
                conn.execute("INSERT INTO meters VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (c.meter_asset, c.meter_addr, c.standard, int(c.card), c.last_value, c.last_at,
                              c.purchase_count))
                conn.execute("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (c.cust, c.name, c.addr, c.segment, position[c.segment], c.meter_asset, c.tariff,
                              c.balance, c.category))
            except sqlite3.IntegrityError as e:
                raise ConfigurationError("{where}: duplicate customer, meter asset or meter address ({error}).",
                                         "Each customer, meter and address may appear once.", where=where,
                                         error=str(e)) from e
            counts["customers"] += 1
        for n, b in enumerate(bills, 1):
            where = f"bill #{n} ({b.cust} {b.period})"
            if not _PERIOD_RE.fullmatch(b.period) or not 0 <= b.paid_amount <= b.amount \
                    or not 0 <= b.paid_penalty <= b.penalty:
                raise ConfigurationError("{where}: period must be YYYY-MM and 0 ≤ paid ≤ amount (fen).",
                                         "Correct the row.", where=where)
            try:
                through = b.penalty_through or b.due
                if dt.date.fromisoformat(through) < dt.date.fromisoformat(b.due):
                    raise ValueError(f"penalty_through {through} is before the due day {b.due}")
                conn.execute("INSERT INTO bills VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (b.cust, b.period, b.amount, b.due, b.paid_amount, b.paid_penalty, str(b.penalty),
                              through))
            except (ValueError, sqlite3.IntegrityError) as e:
                raise ConfigurationError("{where}: {error}.", "Check the due day and that the customer exists.",
                                         where=where, error=str(e)) from e
            counts["bills"] += 1
        for n, t in enumerate(tasks, 1):
            where = f"dunning task #{n} ({t.task})"
            if t.action not in ("notice", "disconnect") or not ASSET_RE.fullmatch(t.task):
                raise ConfigurationError("{where}: action must be notice or disconnect.", "Correct the row.",
                                         where=where)
            seg = conn.execute("SELECT segment FROM customers WHERE cust = ?", (t.cust,)).fetchone()
            if seg is None:
                raise ConfigurationError("{where}: customer {cust} is unknown.", "Correct the row.", where=where,
                                         cust=t.cust)
            conn.execute("INSERT INTO dunning_tasks VALUES (?, ?, ?, ?, ?, 'open')",
                         (t.task, t.cust, seg[0], t.action, t.issued))
            if (t.served is None) != (t.pay_by is None):
                raise ConfigurationError("{where}: served and pay_by go together.", "Correct the row.", where=where)
            if t.served is not None and t.pay_by is not None:
                try:
                    if dt.date.fromisoformat(t.pay_by) < dt.date.fromisoformat(t.served):
                        raise ValueError("pay_by is before served")
                except ValueError as e:
                    raise ConfigurationError("{where}: {error}.", "Write the days as YYYY-MM-DD.", where=where,
                                             error=str(e)) from e
                conn.execute("INSERT INTO dunning_notices VALUES (?, ?, ?, NULL, NULL)", (t.task, t.served, t.pay_by))
            counts["dunning_tasks"] += 1
        for n, u in enumerate(usage, 1):
            where = f"usage #{n} ({u.cust} {u.period})"
            if not _PERIOD_RE.fullmatch(u.period) or not READING_RE.fullmatch(u.kwh) or not 0 < u.days <= 400:
                raise ConfigurationError("{where}: period YYYY-MM, kWh a decimal number, days 1–400.",
                                         "Correct the row.", where=where)
            try:
                conn.execute("INSERT INTO usage_history VALUES (?, ?, ?, ?)", (u.cust, u.period, u.kwh, u.days))
            except sqlite3.IntegrityError as e:
                raise ConfigurationError("{where}: {error}.", "Check that the customer exists, once per period.",
                                         where=where, error=str(e)) from e
            counts["usage"] += 1
        at = iso(dt.datetime.now(SHANGHAI))
        for (cust,) in conn.execute("SELECT cust FROM customers WHERE balance > 0").fetchall():
            counts["balance_uses"] += len(billing.offset_balance(rule, conn, cust, day, at).applied)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return counts


# ---------------------------------------------------------------------------- CSV import

CUSTOMER_COLUMNS = ("cust", "name", "addr", "segment", "segment_name", "meter_asset", "meter_addr", "standard",
                    "card", "tariff", "last_value", "last_at", "balance", "purchase_count", "category")
BILL_COLUMNS = ("cust", "period", "amount", "penalty", "due", "paid_amount", "paid_penalty", "penalty_through")
DUNNING_COLUMNS = ("task", "cust", "action", "issued", "served", "pay_by")
USAGE_COLUMNS = ("cust", "period", "kwh", "days")


def _rows(path: Path, columns: tuple[str, ...], required: int) -> Iterable[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = tuple(reader.fieldnames or ())
        if header[:required] != columns[:required] or not set(header) <= set(columns):
            raise ConfigurationError("{path}: the header must be {columns}.", "Fix the first line of the file.",
                                     path=str(path), columns=",".join(columns))
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}


def _int(value: str, where: str, default: int = 0) -> int:
    if value == "":
        return default
    if not re.fullmatch(r"\d{1,12}", value):
        raise ConfigurationError("{where}: {value!r} is not a whole number of fen.",
                                 "Money is integer fen (分): 12.34 元 is 1234.", where=where, value=value)
    return int(value)


def read_area(folder: str | os.PathLike[str]) -> tuple[list[Tariff], list[Customer], list[Bill], list[DunningTask]]:
    """Parse an import directory (see the module docstring and docs/station.md)."""
    root = Path(folder)
    if not (root / "customers.csv").is_file():
        raise ConfigurationError("{path} has no customers.csv.", "See docs/station.md for the import format.",
                                 path=str(root))
    tariff_dir = root / "tariffs"
    tariffs = ([parse_tariff(p.read_text(encoding="utf-8"), str(p)) for p in sorted(tariff_dir.glob("*.toml"))]
               if tariff_dir.is_dir() else packaged_tariffs())
    customers = []
    path = root / "customers.csv"
    for line, r in _rows(path, CUSTOMER_COLUMNS, 10):
        where = f"{path}:{line}"
        if r["card"] not in ("0", "1"):
            raise ConfigurationError("{where}: card must be 0 or 1.", "Correct the row.", where=where)
        customers.append(Customer(
            r["cust"], r["name"], r["addr"], r["segment"], r["segment_name"] or r["segment"], r["meter_asset"],
            r["meter_addr"], r["standard"], r["card"] == "1", r["tariff"], r.get("last_value") or None,
            r.get("last_at") or None, _int(r.get("balance", ""), where), _int(r.get("purchase_count", ""), where),
            r.get("category") or "residential"))
    bills = []
    path = root / "bills.csv"
    if path.is_file():
        for line, r in _rows(path, BILL_COLUMNS, 5):
            where = f"{path}:{line}"
            bills.append(Bill(r["cust"], r["period"], _int(r["amount"], where), _int(r["penalty"], where), r["due"],
                              _int(r.get("paid_amount", ""), where), _int(r.get("paid_penalty", ""), where),
                              r.get("penalty_through") or None))
    tasks = []
    path = root / "dunning.csv"
    if path.is_file():
        for _line, r in _rows(path, DUNNING_COLUMNS, 4):
            tasks.append(DunningTask(r["task"], r["cust"], r["action"], r["issued"], r.get("served") or None,
                                     r.get("pay_by") or None))
    return tariffs, customers, bills, tasks


def read_usage(folder: str | os.PathLike[str]) -> list[Usage]:
    """``usage.csv`` of an import directory (empty when there is none)."""
    path = Path(folder) / "usage.csv"
    if not path.is_file():
        return []
    out = []
    for line, r in _rows(path, USAGE_COLUMNS, 4):
        out.append(Usage(r["cust"], r["period"], r["kwh"], _int(r["days"], f"{path}:{line}")))
    return out


def write_area(folder: str | os.PathLike[str], customers: Iterable[Customer], bills: Iterable[Bill],
               tasks: Iterable[DunningTask], usage: Iterable[Usage] = ()) -> None:
    """Write records in the import format (used to export the demo area as a worked example)."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    with (root / "customers.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CUSTOMER_COLUMNS)
        for c in customers:
            w.writerow((c.cust, c.name, c.addr, c.segment, c.segment_name, c.meter_asset, c.meter_addr, c.standard,
                        int(c.card), c.tariff, c.last_value or "", c.last_at or "", c.balance, c.purchase_count,
                        c.category))
    with (root / "bills.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(BILL_COLUMNS)
        for b in bills:
            w.writerow((b.cust, b.period, b.amount, b.penalty, b.due, b.paid_amount, b.paid_penalty,
                        b.penalty_through or ""))
    with (root / "dunning.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(DUNNING_COLUMNS)
        for t in tasks:
            w.writerow((t.task, t.cust, t.action, t.issued, t.served or "", t.pay_by or ""))
    with (root / "usage.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(USAGE_COLUMNS)
        for u in usage:
            w.writerow((u.cust, u.period, u.kwh, u.days))
