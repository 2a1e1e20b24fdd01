"""The station as a broker (issue 21): terminal → station → marketing system, over real sockets.

Each fault of the marketing system is scenario data; the assertions read both sides' books."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from contextlib import closing

import pytest

from hw_mocks.marketing import client as mclient
from hw_mocks.marketing import protocol as p
from hw_mocks.marketing.scenario import Scenario
from hw_mocks.marketing.server import MarketingServer
from hw_mocks.marketing.store import connect as mkt_connect
from hw_mocks.station import ledger
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.server import StationServer
from terminal_app.station.client import Outcome, Request, StationClient
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import Suite
from terminal_app.station.seq import FileSeqCounter
from terminal_app.station.transport import SocketTransport
from terminal_app.timeutil import SHANGHAI, FixedClock, iso
from tests.rigs.station import load_tiny, rows

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
TID = "00000001"
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")


class Rig:
    """The marketing stand-in (SQLite, its own books) and a station in front of it whose ledger is
    ``target``: an SQLite file or a PostgreSQL URL."""

    def __init__(self, tmp_path, target, scenario: Scenario | None = None, timeout: float = 2.0) -> None:
        self.tmp = tmp_path
        self.clock = FixedClock(at=NOW)
        self.mdb = tmp_path / "marketing.sqlite"
        with closing(mkt_connect(self.mdb)) as conn:
            load_tiny(conn)
        self.sdb = target
        with closing(ledger.connect(self.sdb)) as conn:
            load_tiny(conn)
        self.mkt = MarketingServer(self.mdb, clock=self.clock, scenario=scenario).start()
        self.st = StationServer(self.sdb, {TID: TerminalKey(TID, 2, KEY)}, clock=self.clock,
                                marketing=self.mkt.address, marketing_timeout=timeout).start()
        self.client = StationClient(terminal_id=TID, key=KEY, suite=Suite.AES_GCM, transport=SocketTransport(),
                                    seq=FileSeqCounter(tmp_path / "seq"), host="127.0.0.1", port=self.st.port,
                                    connect_timeout=5, response_timeout=10, clock=FixedClock(at=NOW))

    def close(self) -> None:
        self.st.stop()
        self.mkt.stop()

    def one(self, mt: MsgType, body: dict):
        return self.client.exchange([Request(mt, body)])[0]

    def mkt_rows(self, sql: str, *args):
        with closing(sqlite3.connect(self.mdb)) as c:
            return c.execute(sql, args).fetchall()

    def st_rows(self, sql: str, *args):
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows(self.sdb, sql, *args)]


@pytest.fixture
def rig(tmp_path, ledger_target):
    r = Rig(tmp_path, ledger_target)
    yield r
    r.close()


def pay(n: int, amount: int = 10300, cust: str = "1001") -> dict:
    return {"txn": f"{TID}-{n}", "cust": cust, "amount": amount, "method": "cash", "at": iso(NOW)}


def test_a_payment_is_applied_by_the_marketing_system_then_by_the_station(rig):
    res = rig.one(MsgType.PAYMENT, pay(1))
    assert res.outcome is Outcome.OK, res
    assert res.body["applied"] == [{"period": "2026-09", "amount": 10300, "penalty": 300}]
    (mrow,) = rig.mkt_rows("SELECT serial, txn, amount, state FROM mkt_serials")
    assert mrow[1:] == (f"{TID}-1", 10300, "A")
    assert rig.mkt_rows("SELECT txn, amount FROM payments") == [(f"{TID}-1", 10300)]
    (srow,) = rig.st_rows("SELECT serial, state, rc FROM mkt_exchanges WHERE txn = ?", f"{TID}-1")
    assert srow == (mrow[0], "applied", "0000")
    # raw messages on both sides: the station's request and the marketing system's answer
    wire = rig.st_rows("SELECT direction, raw FROM mkt_messages WHERE txn = ? ORDER BY id", f"{TID}-1")
    assert [d for d, _r in wire] == ["out", "in"]
    assert [bytes(r) for _d, r in wire] == [bytes(r) for (r,) in rig.mkt_rows(
        "SELECT raw FROM mkt_log ORDER BY id")]
    # the same txn again: the stored answer, no second exchange
    again = rig.one(MsgType.PAYMENT, pay(1))
    assert again.body == res.body and len(rig.mkt_rows("SELECT * FROM mkt_log")) == 2


def test_a_refusal_of_the_marketing_system_is_the_txns_final_answer(tmp_path, ledger_target):
    r = Rig(tmp_path, ledger_target, Scenario(closed_days=["2026-11-24"]))
    try:
        res = r.one(MsgType.PAYMENT, pay(1))
        assert res.outcome is Outcome.REFUSED and res.code == "E_NOT_ALLOWED" and res.body["mkt_rc"] == "9002"
        status = r.client.call(Request(MsgType.TXN_STATUS, {"txns": [f"{TID}-1"]}))["status"]
        assert status == {f"{TID}-1": "rejected"}
        assert r.st_rows("SELECT count(*) FROM payments") == [(0,)]
        assert r.mkt_rows("SELECT count(*) FROM payments") == [(0,)]
    finally:
        r.close()


def test_an_answer_lost_after_applying_is_resolved_by_query_not_by_a_second_payment(tmp_path, ledger_target):
    r = Rig(tmp_path, ledger_target, Scenario.from_dict({"fault": [{"trade": "2001", "nth": 1, "action": "lose_answer"}]}))
    try:
        res = r.one(MsgType.PAYMENT, pay(1))
        assert res.outcome is Outcome.OK and r.mkt.lost_answers == 1
        trades = [p.Decoder().feed(bytes(raw))[0].trade for (raw,) in r.st_rows(
            "SELECT raw FROM mkt_messages WHERE direction = 'out' ORDER BY id")]
        assert trades == [p.Trade.PAYMENT, p.Trade.QUERY]
        assert r.mkt_rows("SELECT txn, amount FROM payments") == [(f"{TID}-1", 10300)]
        assert r.st_rows("SELECT txn, amount FROM payments") == [(f"{TID}-1", 10300)]
        assert r.mkt_rows("SELECT count(*) FROM mkt_serials") == [(1,)]
    finally:
        r.close()


def test_marketing_down_means_not_applied_and_unknown_then_applied_once_when_back(tmp_path, ledger_target):
    r = Rig(tmp_path, ledger_target)
    try:
        address = r.mkt.address
        r.mkt.stop()
        res = r.one(MsgType.PAYMENT, pay(1))
        assert res.outcome is Outcome.UNKNOWN or (res.outcome is Outcome.REFUSED and res.code == "E_INTERNAL"), res
        status = r.client.call(Request(MsgType.TXN_STATUS, {"txns": [f"{TID}-1"]}))["status"]
        assert status == {f"{TID}-1": "unknown"}  # never "applied" without the marketing system
        assert r.st_rows("SELECT count(*) FROM payments") == [(0,)]
        assert r.st_rows("SELECT state FROM mkt_exchanges") == [("not_sent",)]
        r.mkt = MarketingServer(r.mdb, port=int(address.rsplit(":", 1)[1]), clock=r.clock).start()
        again = r.one(MsgType.PAYMENT, pay(1))
        assert again.outcome is Outcome.OK
        assert r.mkt_rows("SELECT txn FROM payments") == [(f"{TID}-1",)]
    finally:
        r.close()


def test_a_slow_marketing_system_leaves_the_outcome_unknown_and_the_retry_asks_first(tmp_path, ledger_target):
    r = Rig(tmp_path, ledger_target, Scenario.from_dict({"fault": [{"trade": "2001", "nth": 1, "action": "delay",
                                                      "seconds": 1.5}]}), timeout=0.3)
    try:
        res = r.one(MsgType.PAYMENT, pay(1))
        assert res.outcome is Outcome.REFUSED and res.code == "E_INTERNAL", res
        assert r.st_rows("SELECT state FROM mkt_exchanges") == [("unknown",)]
        deadline = time.monotonic() + 10  # the slow marketing system applies it in the end
        while not r.mkt_rows("SELECT 1 FROM payments"):
            assert time.monotonic() < deadline, "the delayed payment never reached the marketing books"
            time.sleep(0.02)
        again = r.one(MsgType.PAYMENT, pay(1))
        assert again.outcome is Outcome.OK
        outs = [p.Decoder().feed(bytes(raw))[0].trade for (raw,) in r.st_rows(
            "SELECT raw FROM mkt_messages WHERE direction = 'out' ORDER BY id")]
        assert outs[-1] is p.Trade.QUERY and outs.count(p.Trade.PAYMENT) == 1  # the retry asked, never resent
        assert r.mkt_rows("SELECT count(*) FROM payments") == [(1,)]
    finally:
        r.close()


def test_the_marketing_system_refuses_a_serial_it_has_seen(tmp_path, ledger_target):
    r = Rig(tmp_path, ledger_target)
    try:
        req = p.request(p.Trade.PAYMENT, "20261124000100000077", "20261124100000", txn=f"{TID}-9",
                        terminal=TID, operator="", cust="1001", amount="500", method="cash", at="20261124100000")
        first = mclient.exchange(r.mkt.address, req, 5)
        second = mclient.exchange(r.mkt.address, req, 5)
        assert first.rc is p.Rc.OK and second.rc is p.Rc.DUPLICATE_SERIAL
        q = mclient.exchange(r.mkt.address, p.request(p.Trade.QUERY, "20261124000100000078", "20261124100000",
                                                      qserial=req.serial), 5)
        assert q.fields["state"] == "A" and q.fields["txn"] == f"{TID}-9"
        assert r.mkt_rows("SELECT count(*) FROM payments") == [(1,)]
    finally:
        r.close()


def test_pipelined_requests_are_answered_in_order_around_a_forwarded_one(rig):
    reqs = [Request(MsgType.PAYMENT, pay(1, 500)), Request(MsgType.BILL_QUERY, {"cust": "1002"}),
            Request(MsgType.PAYMENT, pay(2, 700, "1002")), Request(MsgType.TXN_STATUS, {"txns": [f"{TID}-1"]})]
    out = rig.client.exchange(reqs)
    assert [o.outcome for o in out] == [Outcome.OK] * 4
    assert out[1].body["cust"] == "1002" and out[2].body["amount"] == 700
    assert out[3].body["status"] == {f"{TID}-1": "applied"}


def test_a_reversal_goes_through_the_marketing_system(rig):
    assert rig.one(MsgType.PAYMENT, pay(1, 500)).outcome is Outcome.OK
    rev = rig.one(MsgType.REVERSAL, {"txn": f"{TID}-2", "orig": f"{TID}-1", "reason": "输错金额", "at": iso(NOW)})
    assert rev.outcome is Outcome.OK, rev
    assert rig.mkt_rows("SELECT txn, reversed_by FROM payments") == [(f"{TID}-1", f"{TID}-2")]
    assert rig.st_rows("SELECT txn, reversed_by FROM payments") == [(f"{TID}-1", f"{TID}-2")]
    assert rig.mkt_rows("SELECT reversed_by FROM mkt_serials WHERE code = '2001'") == [(f"{TID}-2",)]


def test_a_reversal_pipelined_behind_its_payment_waits_for_it(rig):
    # the sync engine sends a reversal right behind its payment in one connection
    out = rig.client.exchange([Request(MsgType.PAYMENT, pay(1, 500)), Request(MsgType.REVERSAL, {
        "txn": f"{TID}-2", "orig": f"{TID}-1", "reason": "输错金额", "at": iso(NOW)})])
    assert [o.outcome for o in out] == [Outcome.OK, Outcome.OK], out
    assert rig.mkt_rows("SELECT reversed_by FROM payments") == [(f"{TID}-2",)]


def test_the_marketing_command_is_its_own_process_with_a_scenario_file(tmp_path):
    """``handheld-mocks marketing`` as an operator runs it: its own process, the demo area, faults
    from a TOML file (the first payment's answer lost after applying)."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    scenario = tmp_path / "faults.toml"
    scenario.write_text('[[fault]]\ntrade = "2001"\nnth = 1\naction = "lose_answer"\n', encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "hw_mocks.cli", "marketing", "--port", "0", "--db",
                             str(tmp_path / "m.sqlite"), "--seed", "demo", "--seed-customers", "60",
                             "--seed-as-of", "2026-11-24", "--scenario", str(scenario)], cwd=root,
                            env=dict(os.environ, PYTHONPATH=str(root)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        while line and "listening on" not in line:  # "demo area loaded: …" first
            line = proc.stdout.readline()
        assert "listening on" in line, proc.stderr.read()
        address = line.split("listening on ", 1)[1].split(";")[0]
        (cust,) = mkt_one_customer(tmp_path / "m.sqlite")
        bill = mclient.exchange(address, p.request(p.Trade.BILL_QUERY, "20261124000100000001", "20261124100000",
                                                   cust=cust), 5)
        assert bill.ok and int(bill.fields["arrears"]) >= 0 and bill.fields["name"]
        pay_req = p.request(p.Trade.PAYMENT, "20261124000100000002", "20261124100000", txn=f"{TID}-1",
                            terminal=TID, operator="王师傅", cust=cust, amount="100", method="cash",
                            at="20261124100000")
        with pytest.raises(mclient.NoAnswer):  # the scenario: done, answer lost
            mclient.exchange(address, pay_req, 5)
        q = mclient.exchange(address, p.request(p.Trade.QUERY, pay_req.serial, "20261124100001",
                                                qserial=pay_req.serial), 5)
        assert q.fields["state"] == "A" and q.fields["amount"] == "100"
        assert mclient.exchange(address, pay_req, 5).rc is p.Rc.DUPLICATE_SERIAL
        with pytest.raises(mclient.NotSent):
            mclient.exchange("127.0.0.1:1", pay_req, 2)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def mkt_one_customer(db) -> tuple[str]:
    with closing(sqlite3.connect(db)) as c:
        return c.execute("SELECT cust FROM customers ORDER BY cust LIMIT 1").fetchone()


def test_garbage_to_the_marketing_system_closes_that_connection_only(rig):
    import socket

    host, port = mclient.parse_address(rig.mkt.address)
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"00001xQ|garbage")
        s.settimeout(5)
        assert s.recv(100) == b""  # closed, nothing answered
    assert rig.one(MsgType.PAYMENT, pay(1)).outcome is Outcome.OK  # the next one is served


@pytest.mark.parametrize("bad", [{"fault": [{"action": "explode"}]}, {"fault": [{"action": "drop", "nth": 0}]},
                                 {"fault": [{"trade": "2001"}]}])
def test_a_scenario_that_is_not_valid_is_refused_with_its_reason(bad):
    from terminal_app.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        Scenario.from_dict(bad)


def test_a_request_lost_on_the_way_is_sent_again_under_its_serial_after_the_query_says_never_seen(tmp_path,
                                                                                                     ledger_target):
    r = Rig(tmp_path, ledger_target, Scenario.from_dict({"fault": [{"trade": "2001", "nth": 1, "action": "drop"}]}))
    try:
        first = r.one(MsgType.PAYMENT, pay(1))
        assert first.outcome is Outcome.REFUSED and first.code == "E_INTERNAL"  # unknown: nothing applied yet
        assert r.mkt_rows("SELECT count(*) FROM payments") == [(0,)]
        again = r.one(MsgType.PAYMENT, pay(1))
        assert again.outcome is Outcome.OK
        sent = [p.Decoder().feed(bytes(raw))[0] for (raw,) in r.st_rows(
            "SELECT raw FROM mkt_messages WHERE direction = 'out' ORDER BY id")]
        assert [m.trade for m in sent] == [p.Trade.PAYMENT, p.Trade.QUERY, p.Trade.QUERY, p.Trade.PAYMENT]
        assert len({m.serial for m in sent}) == 1  # one serial for the txn, every time
        assert r.mkt_rows("SELECT txn FROM payments") == [(f"{TID}-1",)]
    finally:
        r.close()
