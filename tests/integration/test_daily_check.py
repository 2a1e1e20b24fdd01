"""每日账务核对 (issue 21): the station's daily check against the marketing system, run as the
command a station operator runs (``handheld-mocks station check``) over real sockets.

Each difference injected into one side's books raises exactly one alarm naming its txn;
a clean day — including one whose answer the marketing system lost after applying — none."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from hw_mocks.marketing import protocol as p
from hw_mocks.marketing.scenario import Scenario
from terminal_app.station.client import Outcome, Request
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import iso
from tests.integration.test_marketing_broker import NOW, TID, Rig, pay
from tests.rigs.station import rows

MOCKS = Path(sys.executable).parent / "handheld-mocks"
DAY = NOW.date().isoformat()


def check(r: Rig, *extra: str) -> tuple[int, dict | None, str]:
    if str(r.sdb).startswith("postgresql://"):  # no folder beside a PostgreSQL ledger: name the report
        r.checks = getattr(r, "checks", 0) + 1
        extra = ("--report", str(r.tmp / f"check-{DAY}-{r.checks}.txt"), *extra)
    proc = subprocess.run([str(MOCKS), "station", "check", "--day", DAY, "--db", str(r.sdb), "--marketing",
                           r.mkt.address, *extra], capture_output=True, text=True, timeout=60)
    out = proc.stdout.strip().splitlines()
    return proc.returncode, json.loads(out[-1]) if out else None, proc.stderr


def a_day(r: Rig) -> list[str]:
    """Four payments and a reversal, then the terminal's RECONCILE: the txns that count."""
    bodies = [pay(1, 10300), pay(2, 500, "1002"), pay(3, 2000), pay(4, 800, "1002")]
    out = r.client.exchange([Request(MsgType.PAYMENT, b) for b in bodies])
    assert [o.outcome for o in out] == [Outcome.OK] * 4, out
    rev = r.one(MsgType.REVERSAL, {"txn": f"{TID}-5", "orig": f"{TID}-4", "reason": "输错", "at": iso(NOW)})
    assert rev.outcome is Outcome.OK, rev
    live = [f"{TID}-1", f"{TID}-2", f"{TID}-3"]
    rec = r.client.call(Request(MsgType.RECONCILE, {"day": DAY, "count": 3, "amount": 12800, "txns": live}))
    assert rec["match"] is True
    return live


@pytest.fixture
def rig(tmp_path, ledger_target):
    r = Rig(tmp_path, ledger_target)
    yield r
    r.close()


def test_a_clean_day_has_no_alarm_and_keeps_its_originals(rig, tmp_path):
    a_day(rig)
    code, summary, err = check(rig)
    assert code == 0, err
    assert summary["alarms"] == 0 and summary["station"] == summary["marketing"] == {"count": 3, "amount": 12800}
    report = Path(summary["report"])
    assert report.parent == tmp_path and "告警 alarms: 0" in report.read_text(encoding="utf-8")
    # every page the marketing system sent is kept, byte for byte, in the ledger and beside the report
    kept = rig.st_rows("SELECT direction, raw FROM check_originals ORDER BY id")
    assert [d for d, _r in kept] == ["out", "in"]
    (page,) = p.Decoder().feed(bytes(kept[1][1]))
    assert page.trade is p.Trade.DETAIL and len(page.lines) == 5  # 4 payments (one reversed) + the reversal
    assert report.with_name(report.name + ".originals").read_bytes() == b"".join(bytes(r) for _d, r in kept)
    assert rig.st_rows("SELECT day, alarms FROM checks") == [(DAY, 0)]


def test_each_injected_difference_raises_exactly_one_alarm_naming_its_txn(rig):
    a_day(rig)
    with closing(sqlite3.connect(rig.mdb)) as m:  # the marketing side's detail is its ledger of serials
        m.execute("DELETE FROM mkt_serials WHERE txn = ?", (f"{TID}-1",))
        m.execute("UPDATE mkt_serials SET amount = 2100 WHERE txn = ? AND code = '2001'", (f"{TID}-3",))
        m.commit()
    rows(rig.sdb, "UPDATE payments SET reversed_by = 'X' WHERE txn = ? RETURNING txn", f"{TID}-2")  # station only
    before = rig.st_rows("SELECT txn, amount, reversed_by FROM payments ORDER BY txn")
    code, summary, err = check(rig)
    assert code == 3
    alarms = rig.st_rows("SELECT kind, txn, station_amount, mkt_amount FROM check_alarms ORDER BY txn")
    assert alarms == [("missing_at_marketing", f"{TID}-1", 10300, None),
                      ("reversed_at_station_only", f"{TID}-2", 500, 500),
                      ("amount_differs", f"{TID}-3", 2000, 2100)]
    assert summary["txns"] == [f"{TID}-1", f"{TID}-2", f"{TID}-3"]
    for txn in summary["txns"]:
        assert txn in err and txn in Path(summary["report"]).read_text(encoding="utf-8")
    assert rig.st_rows("SELECT txn, amount, reversed_by FROM payments ORDER BY txn") == before  # nothing fixed


def test_the_other_directions_missing_at_station_and_reversed_at_marketing_only(rig):
    a_day(rig)
    with closing(sqlite3.connect(rig.mdb)) as m:
        m.execute("UPDATE mkt_serials SET reversed_by = 'Y' WHERE txn = ?", (f"{TID}-3",))
        m.commit()
    rows(rig.sdb, "DELETE FROM allocations WHERE txn = ? RETURNING txn", f"{TID}-2")
    rows(rig.sdb, "DELETE FROM payments WHERE txn = ? RETURNING txn", f"{TID}-2")
    code, _summary, _err = check(rig)
    assert code == 3
    kinds = rig.st_rows("SELECT kind, txn FROM check_alarms WHERE kind != 'terminal_reconcile' ORDER BY txn")
    assert kinds == [("missing_at_station", f"{TID}-2"), ("reversed_at_marketing_only", f"{TID}-3")]


def test_a_terminal_reconcile_that_did_not_match_is_an_alarm(rig):
    a_day(rig)
    rec = rig.client.call(Request(MsgType.RECONCILE, {"day": DAY, "count": 2, "amount": 10800,
                                                      "txns": [f"{TID}-1", f"{TID}-3"]}))
    assert rec["match"] is False
    code, summary, _err = check(rig)
    assert code == 3 and summary["txns"] == [f"{TID}-2"]
    assert rig.st_rows("SELECT kind FROM check_alarms") == [("terminal_reconcile",)]


def test_an_answer_lost_after_applying_leaves_a_day_without_alarm(tmp_path, ledger_target):
    r = Rig(tmp_path, ledger_target, Scenario.from_dict({"fault": [{"trade": "2001", "nth": 2, "action": "lose_answer"}]}))
    try:
        a_day(r)
        assert r.mkt.lost_answers == 1
        code, summary, err = check(r)
        assert code == 0, err
        assert summary["marketing"] == {"count": 3, "amount": 12800}
    finally:
        r.close()


def test_no_check_without_the_marketing_system(rig):
    a_day(rig)
    rig.mkt.stop()
    code, _summary, err = check(rig)
    assert code == 1 and "could not be fetched" in err
    assert rig.st_rows("SELECT count(*) FROM checks") == [(0,)]
