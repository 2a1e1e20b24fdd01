"""Demo seed (deterministic, realistic shape), the CSV import of a real area, provisioning files."""

from __future__ import annotations

import datetime as dt
import os
import re
from contextlib import closing

import pytest

from hw_mocks.station import ledger, seed
from hw_mocks.station.area import insert, packaged_tariffs, read_area, write_area
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


def test_csv_import_round_trip(tmp_path):
    custs, bills, tasks = seed.generate(3, AS_OF, customers=50)
    write_area(tmp_path / "area", custs, bills, tasks)
    tariffs, c2, b2, t2 = read_area(tmp_path / "area")
    assert (c2, b2, t2) == (custs, bills, tasks)
    assert [t.name for t in tariffs] == [t.name for t in packaged_tariffs()]
    with closing(ledger.connect(tmp_path / "s.sqlite")) as conn:
        counts = insert(conn, tariffs, c2, b2, t2, as_of=AS_OF)
        assert counts == {"tariffs": len(tariffs), "customers": 50, "bills": len(bills),
                          "dunning_tasks": len(tasks), "balance_uses": counts["balance_uses"]}


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
