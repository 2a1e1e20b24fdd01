"""A card top-up (购电) paid by the customer's payment code (issue 17): CARD_AUTHORIZE with ``method``
and ``auth_code`` through the real station server, its ledger (SQLite and PostgreSQL), the card key
holder and the mock acquirer as a process; CARD_CANCEL (a charged purchase given up) refunds once."""

from __future__ import annotations

import pytest

from hw_mocks.station.acquirer import give_back_no
from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.server import StationServer
from terminal_app.domain.paycode import PayChannel
from terminal_app.station.client import Outcome, StationClient
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import Suite
from terminal_app.station.seq import FileSeqCounter
from terminal_app.station.transport import SocketTransport
from terminal_app.timeutil import FixedClock, iso
from tests.integration.test_station_qr import FAST, KEY, NOW, TID, Rig, _serial, _txn, acquirer  # noqa: F401
from tests.rigs.acquirer import WHOLE_CODE, code_for, order_of
from tests.rigs.station import audit_rows, rows

HOLDER = CardKeyHolder(DEMO_MASTER_KEY)
CARD = "1003000000000001"
CH1, CH2 = "0011223344556677", "8899aabbccddeeff"


class CardRig(Rig):
    def start(self) -> None:
        self.st = StationServer(self.db, {TID: TerminalKey(TID, 2, KEY)}, clock=self.clock, acquirer=self.channels,
                                acquirer_params=FAST, card_mac=HOLDER).start()
        self.client = StationClient(terminal_id=TID, key=KEY, suite=Suite.AES_GCM, transport=SocketTransport(),
                                    seq=FileSeqCounter(self.tmp / "seq"), host="127.0.0.1", port=self.st.port,
                                    connect_timeout=5, response_timeout=60, clock=FixedClock(at=NOW))

    def count(self) -> int:
        return rows(self.db, "SELECT purchase_count FROM meters WHERE asset = ?", "A1003")[0][0]


@pytest.fixture
def rig(tmp_path, ledger_target, acquirer):  # noqa: F811
    r = CardRig(tmp_path, ledger_target, acquirer)
    yield r
    r.st.stop()


def buy(channel: PayChannel, digits: str, count: int, amount: int = 5000, challenge: str = CH1) -> dict:
    return {"txn": f"{TID}-{next(_txn)}", "cust": "1003", "meter": "A1003", "amount": amount, "card_count": count,
            "serial": CARD, "challenge": challenge, "method": channel.value,
            "auth_code": code_for(channel, next(_serial), digits), "at": iso(NOW)}


def cancel(auth: str, card_count: int) -> dict:
    return {"txn": f"{TID}-{next(_txn)}", "auth": auth, "card_count": card_count, "serial": CARD,
            "reason": "card_pulled", "at": iso(NOW)}


@pytest.mark.parametrize("channel", [PayChannel.WECHAT, PayChannel.ALIPAY])
def test_charged_once_before_the_mac_and_a_repeat_gets_the_stored_outcome(rig, channel):
    count = rig.count()
    body = buy(channel, "0001", count)  # USERPAYING a moment, then paid
    r = rig.one(MsgType.CARD_AUTHORIZE, body)
    assert r.outcome is Outcome.OK, r.body
    assert r.body["mac"] == HOLDER("1003", "A1003", 5000, count + 1, CH1)
    assert r.body["method"] == channel.value and r.body["acquirer_id"]
    assert r.body["cancel"] is True  # no marketing system behind: the terminal may give it up (0405)
    assert rows(rig.db, "SELECT method, acquirer_id, amount, state FROM card_purchases WHERE txn = ?",
                body["txn"]) == [(channel.value, r.body["acquirer_id"], 5000, "authorized")]
    order = order_of(rig.acq["url"], channel, body["txn"])
    assert order["charges"] == 1 and order["held"] == 5000
    again = rig.one(MsgType.CARD_AUTHORIZE, body)
    assert again.body == r.body
    # the terminal's journaled copy (the code redacted) is the same request: the stored answer
    from terminal_app.domain.paycode import parse_paycode, redact

    resent = rig.one(MsgType.CARD_AUTHORIZE, {**body, "auth_code": redact(parse_paycode(body["auth_code"]))})
    assert resent.body == r.body
    after = order_of(rig.acq["url"], channel, body["txn"])
    assert after["charges"] == 1 and after["queries"] == order["queries"]
    assert rig.count() == count + 1
    # confirmed like a cash purchase; the audit never holds the whole code
    conf = rig.one(MsgType.CARD_CONFIRM, {"txn": f"{TID}-{next(_txn)}", "auth": body["txn"],
                                          "purchase_count": count + 1, "at": iso(NOW)})
    assert conf.outcome is Outcome.OK, conf.body
    assert not any(WHOLE_CODE.search(a[5]) for a in audit_rows(rig.db) if a[5])


@pytest.mark.parametrize(("channel", "digits", "reason"), [
    (PayChannel.ALIPAY, "0003", "insufficient_funds"), (PayChannel.WECHAT, "0002", "user_cancels"),
    (PayChannel.WECHAT, "0007", "not_charged"),
])
def test_not_charged_is_refused_without_a_mac_or_a_purchase(rig, channel, digits, reason):
    count = rig.count()
    body = buy(channel, digits, count)
    r = rig.one(MsgType.CARD_AUTHORIZE, body)
    assert r.body["code"] == "E_PAY_REFUSED" and r.body["reason"] == reason, r.body
    assert "mac" not in r.body
    assert not rows(rig.db, "SELECT * FROM card_purchases WHERE txn = ?", body["txn"])
    assert rig.count() == count
    assert order_of(rig.acq["url"], channel, body["txn"])["held"] == 0
    assert rig.one(MsgType.CARD_AUTHORIZE, body).body == r.body
    # the card is free for the next purchase
    ok = rig.one(MsgType.CARD_AUTHORIZE, buy(channel, "0000", count))
    assert ok.outcome is Outcome.OK, ok.body


def test_validation_before_any_wallet_is_charged(rig):
    count = rig.count()
    wrong_count = buy(PayChannel.WECHAT, "0000", count + 5)
    assert rig.one(MsgType.CARD_AUTHORIZE, wrong_count).body["code"] == "E_CARD_COUNT"
    other_channel = {**buy(PayChannel.WECHAT, "0000", count), "method": "alipay"}
    assert rig.one(MsgType.CARD_AUTHORIZE, other_channel).body["code"] == "E_BAD_REQUEST"
    too_much = buy(PayChannel.ALIPAY, "0000", count, amount=10 ** 9)
    assert rig.one(MsgType.CARD_AUTHORIZE, too_much).body["code"] == "E_LIMIT"
    for b in (wrong_count, other_channel, too_much):
        assert not rows(rig.db, "SELECT * FROM qr_orders WHERE txn = ?", b["txn"])


@pytest.mark.parametrize("channel", [PayChannel.WECHAT, PayChannel.ALIPAY])
def test_a_charged_purchase_given_up_is_refunded_once(rig, channel):
    count = rig.count()
    body = buy(channel, "0010", count)  # paid; the first refund call fails
    auth = rig.one(MsgType.CARD_AUTHORIZE, body)
    assert auth.outcome is Outcome.OK, auth.body
    # while not given up, a reinserted card gets a fresh MAC for the same purchase, nothing refunded
    resume = {"txn": f"{TID}-{next(_txn)}", "cust": "1003", "meter": "A1003", "card_count": count, "serial": CARD,
              "challenge": CH2, "resume": body["txn"], "at": iso(NOW)}
    r = rig.one(MsgType.CARD_AUTHORIZE, resume)
    assert r.outcome is Outcome.OK and r.body["mac"] == HOLDER("1003", "A1003", 5000, count + 1, CH2)
    assert order_of(rig.acq["url"], channel, body["txn"])["refunded"] == 0
    # the card holds the purchase: it is confirmed, never given up
    assert rig.one(MsgType.CARD_CANCEL, cancel(body["txn"], count + 1)).body["code"] == "E_CARD_COUNT"
    c = cancel(body["txn"], count)
    out = rig.one(MsgType.CARD_CANCEL, c)
    assert out.outcome is Outcome.OK, out.body
    assert out.body["refund_no"] == give_back_no(body["txn"]) and out.body["amount"] == 5000
    order = order_of(rig.acq["url"], channel, body["txn"])
    assert order["held"] == 0 and order["refunded"] == 5000
    assert rig.count() == count  # the meter's count back: the next purchase is count + 1 again
    assert rig.one(MsgType.CARD_CANCEL, c).body == out.body  # a repeat: the stored answer
    assert rig.one(MsgType.CARD_CANCEL, cancel(body["txn"], count)).body["code"] == "E_NOT_ALLOWED"
    assert rig.one(MsgType.CARD_AUTHORIZE, {**resume, "txn": f"{TID}-{next(_txn)}"}).body["code"] == "E_NOT_ALLOWED"
    conf = {"txn": f"{TID}-{next(_txn)}", "auth": body["txn"], "purchase_count": count + 1, "at": iso(NOW)}
    assert rig.one(MsgType.CARD_CONFIRM, conf).body["code"] == "E_NOT_ALLOWED"
    assert order_of(rig.acq["url"], channel, body["txn"])["refunded"] == 5000
    assert rows(rig.db, "SELECT count(*) FROM qr_refunds WHERE txn = ?", body["txn"]) == [(1,)]
    # RECONCILE no longer counts it; a new purchase on the card goes through
    rec = rig.one(MsgType.RECONCILE, {"day": NOW.date().isoformat(), "count": 0, "amount": 0, "txns": []})
    assert body["txn"] not in rec.body["extra"]
    assert rig.one(MsgType.CARD_AUTHORIZE, buy(channel, "0000", count)).outcome is Outcome.OK


def test_a_cash_purchase_given_up_moves_no_money_at_the_acquirer(rig):
    count = rig.count()
    body = {"txn": f"{TID}-{next(_txn)}", "cust": "1003", "meter": "A1003", "amount": 3000, "card_count": count,
            "serial": CARD, "challenge": CH1, "at": iso(NOW)}
    assert rig.one(MsgType.CARD_AUTHORIZE, body).outcome is Outcome.OK
    out = rig.one(MsgType.CARD_CANCEL, cancel(body["txn"], count))
    assert out.outcome is Outcome.OK and "refund_no" not in out.body
    assert rig.count() == count
    assert not rows(rig.db, "SELECT * FROM qr_refunds WHERE txn = ?", body["txn"])
