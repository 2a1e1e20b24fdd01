"""QR payments (付款码) at the station (issue 17): PAYMENT ``method: wechat|alipay`` with ``auth_code``
through the real station server, its ledger (SQLite and PostgreSQL) and the mock acquirer as a process."""

from __future__ import annotations

import datetime as dt
import itertools
from contextlib import closing

import pytest

from hw_mocks.station import ledger
from hw_mocks.station.acquirer import OrderJournal, load_channels
from hw_mocks.station.acquirer_policy import Params
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.server import StationServer
from terminal_app.domain.paycode import PayChannel
from terminal_app.station.client import Outcome, Request, StationClient
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import Suite
from terminal_app.station.seq import FileSeqCounter
from terminal_app.station.transport import SocketTransport
from terminal_app.timeutil import SHANGHAI, FixedClock, iso
from tests.rigs.acquirer import WHOLE_CODE, code_for, make_keys, order_of, running_acquirer
from tests.rigs.station import audit_rows, load_tiny, rows
from tests.util import wait_for

NOW = dt.datetime.now(SHANGHAI).replace(microsecond=0)
TID = "00000001"
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
FAST = Params(query_interval=0.05, query_limit=12, unknown_wait=0.05, reverse_interval=0.05, reverse_limit=4,
              refund_interval=0.05, refund_limit=3)
_serial = itertools.count(50_000_000)


@pytest.fixture(scope="module")
def acquirer(tmp_path_factory):
    keys = make_keys(tmp_path_factory.mktemp("acq-keys"))
    with running_acquirer(keys) as acq:
        yield acq
    assert not WHOLE_CODE.search(acq["log"].read_text(encoding="utf-8"))


class Rig:
    def __init__(self, tmp_path, target, acquirer) -> None:
        self.db, self.acq = target, acquirer
        with closing(ledger.connect(target)) as conn:
            load_tiny(conn)
        self.clock = FixedClock(at=NOW)
        self.channels = load_channels(acquirer["url"], acquirer["keys"], timeout=0.5)
        self.tmp = tmp_path
        self.start()

    def start(self) -> None:
        self.st = StationServer(self.db, {TID: TerminalKey(TID, 2, KEY)}, clock=self.clock, acquirer=self.channels,
                                acquirer_params=FAST).start()
        self.client = StationClient(terminal_id=TID, key=KEY, suite=Suite.AES_GCM, transport=SocketTransport(),
                                    seq=FileSeqCounter(self.tmp / "seq"), host="127.0.0.1", port=self.st.port,
                                    connect_timeout=5, response_timeout=60, clock=FixedClock(at=NOW))

    def one(self, mt: MsgType, body: dict):
        return self.client.exchange([Request(mt, body)])[0]


@pytest.fixture
def rig(tmp_path, ledger_target, acquirer):
    r = Rig(tmp_path, ledger_target, acquirer)
    yield r
    r.st.stop()


_txn = itertools.count(1)


def qr_pay(channel: PayChannel, digits: str, amount: int = 10300, cust: str = "1001") -> dict:
    return {"txn": f"{TID}-{next(_txn)}", "cust": cust, "amount": amount, "method": channel.value,
            "auth_code": code_for(channel, next(_serial), digits), "at": iso(NOW)}


@pytest.mark.parametrize("channel", [PayChannel.WECHAT, PayChannel.ALIPAY])
def test_paid_once_on_the_ledger_with_the_acquirer_id(rig, channel):
    hello = rig.one(MsgType.HELLO, {"op": "7", "app": "t"})
    assert {"cash", "wechat", "alipay"} <= set(hello.body["params"]["payment_methods"])
    body = qr_pay(channel, "0001")  # USERPAYING for 0.3 s, then paid
    r = rig.one(MsgType.PAYMENT, body)
    assert r.outcome is Outcome.OK, r.body
    assert r.body["acquirer_id"] and r.body["method"] == channel.value
    assert rows(rig.db, "SELECT method, acquirer_id, amount FROM payments WHERE txn = ?", body["txn"]) == \
        [(channel.value, r.body["acquirer_id"], 10300)]
    order = order_of(rig.acq["url"], channel, body["txn"])
    assert order["charges"] == 1 and order["held"] == 10300
    again = rig.one(MsgType.PAYMENT, body)  # a repeat: the stored answer, nothing sent to the acquirer
    assert again.body["receipt"] == r.body["receipt"] and again.body["acquirer_id"] == r.body["acquirer_id"]
    after = order_of(rig.acq["url"], channel, body["txn"])
    assert after["charges"] == 1 and after["queries"] == order["queries"]
    # the audit keeps the request's body with the code redacted, never whole
    bodies = [a[5] for a in audit_rows(rig.db) if a[5]]
    assert any("auth_code" in b for b in bodies)
    assert not any(WHOLE_CODE.search(b) for b in bodies)


@pytest.mark.parametrize(("channel", "digits", "reason"), [
    (PayChannel.ALIPAY, "0003", "insufficient_funds"), (PayChannel.WECHAT, "0002", "user_cancels"),
    (PayChannel.WECHAT, "0008", "code_invalid"), (PayChannel.ALIPAY, "0007", "not_charged"),
])
def test_refused_is_the_txns_decision(rig, channel, digits, reason):
    body = qr_pay(channel, digits)
    r = rig.one(MsgType.PAYMENT, body)
    assert r.body["code"] == "E_PAY_REFUSED" and r.body["reason"] == reason, r.body
    assert not rows(rig.db, "SELECT * FROM payments WHERE txn = ?", body["txn"])
    order = order_of(rig.acq["url"], channel, body["txn"])
    assert order["held"] == 0
    st = rig.one(MsgType.TXN_STATUS, {"txns": [body["txn"]]})
    assert st.body["status"][body["txn"]] == "rejected"
    again = rig.one(MsgType.PAYMENT, body)
    assert again.body == r.body
    assert order_of(rig.acq["url"], channel, body["txn"])["charges"] == order["charges"]


def test_a_code_of_the_other_channel_or_no_code_is_a_bad_request(rig):
    body = qr_pay(PayChannel.WECHAT, "0000")
    body["method"] = "alipay"
    assert rig.one(MsgType.PAYMENT, body).body["code"] == "E_BAD_REQUEST"
    body = qr_pay(PayChannel.WECHAT, "0000")
    body["auth_code"] = "1234"
    assert rig.one(MsgType.PAYMENT, body).body["code"] == "E_BAD_REQUEST"
    assert order_of(rig.acq["url"], PayChannel.WECHAT, body["txn"]) is None


@pytest.mark.parametrize("channel", [PayChannel.WECHAT, PayChannel.ALIPAY])
def test_reversal_of_a_qr_payment_is_a_refund_once(rig, channel):
    body = qr_pay(channel, "0010")  # paid; the first refund call fails
    assert rig.one(MsgType.PAYMENT, body).outcome is Outcome.OK
    rev = {"txn": f"{TID}-{next(_txn)}", "orig": body["txn"], "reason": "录错金额", "at": iso(NOW)}
    r = rig.one(MsgType.REVERSAL, rev)
    assert r.outcome is Outcome.OK, r.body
    order = order_of(rig.acq["url"], channel, body["txn"])
    assert order["held"] == 0 and order["refunded"] == 10300
    assert rig.one(MsgType.REVERSAL, rev).body == r.body
    again = {**rev, "txn": f"{TID}-{next(_txn)}"}
    assert rig.one(MsgType.REVERSAL, again).body["code"] == "E_NOT_ALLOWED"
    assert order_of(rig.acq["url"], channel, body["txn"])["refunded"] == 10300


def test_unfinished_orders_are_resumed_at_start_up(rig):
    """An order the station journaled but never finished (it died mid-flight) is queried first at
    start-up, never paid again; here the acquirer never saw it, so it is reversed (a tombstone)."""
    rig.st.stop()
    txn = f"{TID}-{next(_txn)}"
    journal = OrderJournal.on_ledger(rig.db, rig.clock.now)
    journal.begin(txn, PayChannel.WECHAT, 500, "wechat:13************0000")
    journal.close()
    rig.start()
    wait_for(lambda: rows(rig.db, "SELECT outcome FROM qr_orders WHERE txn = ?", txn)[0][0] == "REVERSED",
             timeout=30, what="the unfinished order resumed")
    order = order_of(rig.acq["url"], PayChannel.WECHAT, txn)
    assert order is None or order["charges"] == 0  # the tombstone: a late pay under it cannot charge


@pytest.fixture
def own_acquirer(tmp_path_factory):
    """An acquirer of this test alone: its statement files hold only this test's orders."""
    keys = make_keys(tmp_path_factory.mktemp("acq-own"))
    with running_acquirer(keys) as acq:
        yield acq


def test_the_daily_check_compares_qr_payments_with_the_statement_files(tmp_path, own_acquirer):
    import json
    import subprocess
    import sys

    from hw_mocks.station.check import qr_alarms
    from tests.rigs.acquirer import ROOT

    db = str(tmp_path / "station.sqlite")
    r = Rig(tmp_path, db, own_acquirer)
    try:
        paid = qr_pay(PayChannel.WECHAT, "0000")
        refunded = qr_pay(PayChannel.ALIPAY, "0000", amount=2000)
        refused = qr_pay(PayChannel.ALIPAY, "0003")
        assert r.one(MsgType.PAYMENT, paid).outcome is Outcome.OK
        assert r.one(MsgType.PAYMENT, refunded).outcome is Outcome.OK
        assert r.one(MsgType.PAYMENT, refused).body["code"] == "E_PAY_REFUSED"
        rev = {"txn": f"{TID}-{next(_txn)}", "orig": refunded["txn"], "reason": "录错金额", "at": iso(NOW)}
        assert r.one(MsgType.REVERSAL, rev).outcome is Outcome.OK
    finally:
        r.st.stop()
    journal = OrderJournal.on_ledger(db)
    try:
        assert qr_alarms(journal, r.channels, NOW.date()) == []  # the day agrees
        # the station's record loses the WeChat payment (a restored backup, a bug): the acquirer has the money
        with closing(ledger.connect(db)) as conn:
            conn.execute("UPDATE qr_orders SET outcome = 'NOT_PAID' WHERE txn = ?", (paid["txn"],))
        [alarm] = qr_alarms(journal, r.channels, NOW.date())
        assert (alarm.kind, alarm.txn, alarm.station_amount, alarm.mkt_amount) == \
            ("qr_not_on_station", paid["txn"], 0, 10300)
    finally:
        journal.close()
    # the same from the command line (no marketing system: the QR part alone)
    out = subprocess.run([sys.executable, "-m", "hw_mocks.cli", "station", "check", "--db", db, "--day",
                          NOW.date().isoformat(), "--acquirer", own_acquirer["url"], "--acquirer-keys",
                          str(own_acquirer["keys"])], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 3, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["txns"] == [paid["txn"]]
    assert "ALARM qr_not_on_station" in out.stderr and not WHOLE_CODE.search(out.stderr + out.stdout)


def test_an_unknown_customer_is_refused_before_any_wallet_is_charged(rig):
    body = qr_pay(PayChannel.WECHAT, "0000", cust="9999")
    assert rig.one(MsgType.PAYMENT, body).body["code"] == "E_UNKNOWN_CUSTOMER"
    assert order_of(rig.acq["url"], PayChannel.WECHAT, body["txn"]) is None  # the acquirer was never asked
    assert not rows(rig.db, "SELECT * FROM qr_orders WHERE txn = ?", body["txn"])


@pytest.mark.parametrize("channel", [PayChannel.WECHAT, PayChannel.ALIPAY])
def test_a_payment_charged_then_refused_is_given_back_once(rig, channel):
    """The wallet paid, then the books refused the payment (the marketing system behind the station,
    say) and the station died before it could give the money back: its next start refunds it, once."""
    from hw_mocks.station.acquirer import Outcome as QrOutcome
    from hw_mocks.station.acquirer import QrPayments, give_back_no
    from hw_mocks.station.handlers import body_hash
    from terminal_app.domain.paycode import parse_paycode

    rig.st.stop()
    body = qr_pay(channel, "0000")
    journal = OrderJournal.on_ledger(rig.db, rig.clock.now)
    try:
        paid = QrPayments(journal, rig.channels, FAST).charge(body["txn"], parse_paycode(body["auth_code"]), 10300)
    finally:
        journal.close()
    assert paid.outcome is QrOutcome.PAID and order_of(rig.acq["url"], channel, body["txn"])["held"] == 10300
    with closing(ledger.connect(rig.db)) as conn:  # the refusal the broker stores for the txn
        conn.execute("INSERT INTO txns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (body["txn"], TID, int(MsgType.PAYMENT), body_hash(body), "rejected",
                      '{"ok":false,"code":"E_NOT_ALLOWED"}', 1, iso(NOW)))
        if hasattr(conn, "commit"):  # sqlite3 (the PostgreSQL connection commits each statement)
            conn.commit()
    rig.start()
    wait_for(lambda: rows(rig.db, "SELECT outcome FROM qr_refunds WHERE refund_no = ?",
                          give_back_no(body["txn"])) == [("REFUNDED",)], timeout=30, what="the money given back")
    order = order_of(rig.acq["url"], channel, body["txn"])
    assert order["charges"] == 1 and order["held"] == 0 and order["refunded"] == 10300
    assert rig.one(MsgType.PAYMENT, body).body["code"] == "E_NOT_ALLOWED"  # the stored decision, not a new charge
    rig.st.stop()
    rig.start()  # a second start finds nothing left to give back
    assert rig.one(MsgType.HELLO, {"op": "7", "app": "t"}).outcome is Outcome.OK
    assert rows(rig.db, "SELECT count(*) FROM qr_refunds WHERE txn = ?", body["txn"]) == [(1,)]
    assert order_of(rig.acq["url"], channel, body["txn"])["refunded"] == 10300
