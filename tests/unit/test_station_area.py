"""Demo seed (deterministic, realistic shape), the CSV import of a real area, provisioning files."""

from __future__ import annotations

import datetime as dt
import os
import re
from contextlib import closing

import pytest

from hw_mocks.station import ledger, seed
from hw_mocks.station.area import insert, packaged_tariffs, read_area, read_usage, write_area
from hw_mocks.station.provisioning import load_terminals, parse_terminals
from terminal_app.errors import ConfigurationError

AS_OF = dt.date(2026, 11, 24)


def test_seed_is_deterministic_per_seed_number():
    a = seed.generate(7, AS_OF)
    assert a == seed.generate(7, AS_OF)
    assert a[0] != seed.generate(8, AS_OF)[0]


def test_demo_area_shape():
    custs, bills, tasks = seed.generate(1, AS_OF)
    assert len(custs) == 600
    assert len({c.segment for c in custs}) == 6
    assert len({c.cust for c in custs}) == len({c.meter_asset for c in custs}) == len({c.meter_addr for c in custs}) \
        == 600
    assert all(re.fullmatch(r"\d{12}", c.meter_addr) and re.fullmatch(r"\d{22}", c.meter_asset) for c in custs)
    assert all(re.fullmatch(r"四川省.+县.+乡.+村\d+组\d+号", c.addr) for c in custs)
    assert all(re.fullmatch(r"[\u4e00-\u9fff][\u4e00-\u9fff\d]{1,11}", c.name) for c in custs)
    card = sum(c.card for c in custs)
    assert 40 <= card <= 90  # about 10 %
    assert {c.tariff for c in custs} == {"sichuan-residential", "flat-agricultural", "flat-commercial"}
    owing = {b.cust for b in bills if b.paid_amount < b.amount}
    assert 90 <= len(owing) <= 200 and not owing & {c.cust for c in custs if c.card}
    # bills are issued with nothing accrued: the station counts the penalty to the day it is asked
    assert all(b.penalty == 0 and b.penalty_through is None for b in bills)
    # village shops and pumping stations pay the non-residential penalty rates
    assert {c.category for c in custs if c.tariff != "sichuan-residential"} == {"other"}
    assert {c.category for c in custs if c.tariff == "sichuan-residential"} == {"residential"}
    # some owing customers hold a prepayment balance (it pays their bills when the area is loaded)
    assert 5 <= len({c.cust for c in custs if c.balance} & owing) <= 40
    # one segment is read every two months (双月抄表): its last readings are 61 days old, the others 30
    ages = {c.segment: (AS_OF - dt.datetime.fromisoformat(c.last_at).date()).days for c in custs}
    assert ages == {s: 61 if s == seed.BIMONTHLY_SEGMENT else 30 for s in ages}
    assert tasks and {t.cust for t in tasks} <= owing


def test_demo_area_loads_into_a_ledger(tmp_path):
    with closing(ledger.connect(tmp_path / "s.sqlite")) as conn:
        counts = seed.load(conn, 1, AS_OF)
        assert counts["customers"] == 600 and counts["tariffs"] == len(packaged_tariffs()) >= 3
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 600
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_version_2_ledger_gains_the_later_tables_and_columns_and_version_1_is_refused(tmp_path):
    """Schema 2 (issue 14) refuses older ledgers; what came later without touching existing rows
    (issue 13's dunning_notices, reconnections, usage_history, readings.note) is added on open."""
    import sqlite3

    old = tmp_path / "v2.sqlite"
    with closing(sqlite3.connect(old)) as conn:  # a version-2 ledger from before those additions
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '2')")
        conn.execute("CREATE TABLE readings (txn TEXT NOT NULL, n INTEGER NOT NULL, cust TEXT NOT NULL,"
                     " meter TEXT NOT NULL, value TEXT NOT NULL, at TEXT NOT NULL, source TEXT NOT NULL,"
                     " reason TEXT, abnormal TEXT, terminal TEXT NOT NULL, PRIMARY KEY (txn, n))")
        conn.execute("INSERT INTO readings VALUES ('00000001-1', 0, '1001', 'A1001', '1.00',"
                     " '2026-11-24T09:00:00+08:00', 'ir', NULL, NULL, '00000001')")
        conn.commit()
    with closing(ledger.connect(old)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"dunning_notices", "reconnections", "usage_history", "balance_uses"} <= tables
        assert conn.execute("SELECT value, note FROM readings").fetchall() == [("1.00", None)]
    v1 = tmp_path / "v1.sqlite"
    with closing(sqlite3.connect(v1)) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.commit()
    with pytest.raises(ConfigurationError, match="has schema 1, this station needs 2"):
        ledger.connect(v1)


def test_csv_import_round_trip(tmp_path):
    custs, bills, tasks, usage = seed.generate_area(3, AS_OF, customers=50)
    assert any(t.served for t in tasks) and len(usage) == 3 * 50  # notices served earlier; 3 months of use
    write_area(tmp_path / "area", custs, bills, tasks, usage)
    tariffs, c2, b2, t2 = read_area(tmp_path / "area")
    u2 = read_usage(tmp_path / "area")
    assert (c2, b2, t2, u2) == (custs, bills, tasks, usage)
    assert [t.name for t in tariffs] == [t.name for t in packaged_tariffs()]
    with closing(ledger.connect(tmp_path / "s.sqlite")) as conn:
        counts = insert(conn, tariffs, c2, b2, t2, u2, as_of=AS_OF)
        assert counts == {"tariffs": len(tariffs), "customers": 50, "bills": len(bills),
                          "dunning_tasks": len(tasks), "usage": len(usage), "balance_uses": counts["balance_uses"]}


@pytest.mark.parametrize("column, value, message", [
    ("meter_addr", "12345", "12 digits"), ("standard", "2013", "2007 or 1997"),
    ("balance", "12.50", "integer fen"), ("card", "yes", "card must be 0 or 1"),
    ("tariff", "nonesuch", "not loaded"), ("last_value", "12.5.1", "decimal number"),
])
def test_csv_import_refuses_bad_rows_and_loads_nothing(tmp_path, column, value, message):
    custs, bills, tasks = seed.generate(3, AS_OF, customers=5)
    write_area(tmp_path / "area", custs, [], [])
    path = tmp_path / "area" / "customers.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    row = lines[3].split(",")
    row[header.index(column)] = value
    lines[3] = ",".join(row)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with closing(ledger.connect(tmp_path / "s.sqlite")) as conn:
        with pytest.raises(ConfigurationError, match=message):
            insert(conn, *read_area(tmp_path / "area"))
        assert ledger.is_empty(conn)


def test_provisioning_file(tmp_path):
    p = tmp_path / "terminals.toml"
    p.write_text('[[terminal]]\nid = "00000001"\nsuite = 1\nkey = "00112233445566778899aabbccddeeff"\n'
                 '[[terminal]]\nid = "00000002"\nsuite = 2\nkey = "ffeeddccbbaa99887766554433221100"\n')
    os.chmod(p, 0o600)
    terms = load_terminals(p)
    assert terms["00000001"].suite == 1 and terms["00000002"].key == bytes.fromhex("ffeeddccbbaa99887766554433221100")
    assert "0011" not in repr(terms["00000001"])  # the key never shows in a repr
    os.chmod(p, 0o644)
    with pytest.raises(ConfigurationError, match="readable by other users"):
        load_terminals(p)


@pytest.mark.parametrize("table, message", [
    ({"id": "1", "suite": 1, "key": "00" * 16}, "8 digits"),
    ({"id": "00000001", "suite": 3, "key": "00" * 16}, "suite must be 1 or 2"),
    ({"id": "00000001", "suite": 1, "key": "zz" * 16}, "32 hex"),
    ({"id": "00000001", "suite": 1}, "exactly id, suite and key"),
])
def test_provisioning_errors_never_echo_the_key(table, message):
    with pytest.raises(ConfigurationError, match=message) as e:
        parse_terminals({"terminal": [table]})
    assert "zz" * 16 not in str(e.value)


def test_a_corrupt_ledger_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database " * 100)
    with pytest.raises(ConfigurationError, match="not a usable SQLite database"):
        ledger.connect(bad)
    assert bad.read_bytes() == b"not a database " * 100  # kept as it was, for inspection
