"""QR payment (付款码) on the terminal, below the UI (issue 17): FieldSession/Terminal → the real station
server → the mock acquirer as a process.  Journal first (code redacted), refused offline, a timeout is
"outcome unknown" resolved by TXN_STATUS, the receipt names the wallet and the acquirer's id."""

from __future__ import annotations

import itertools
import json

import pytest

from hw_mocks.station.acquirer import load_channels
from hw_mocks.station.acquirer_policy import Params
from offline_queue.journal import EntryState
from terminal_app.domain.paycode import PayChannel, PayCodeError
from terminal_app.services.qr_payment import QrOfflineError, QrRefusedError
from tests.integration.test_usecase_rig import Rig
from tests.rigs.acquirer import WHOLE_CODE, code_for, make_keys, order_of, running_acquirer
from tests.rigs.station import rows

FAST = Params(query_interval=0.05, query_limit=12, unknown_wait=0.05, reverse_interval=0.05, reverse_limit=4,
              refund_interval=0.05, refund_limit=3)
_serial = itertools.count(70_000_000)


@pytest.fixture
def acquirer(tmp_path_factory):
    # one per test: every test's terminal counts its txns (the merchant's order numbers) from 1 again
    keys = make_keys(tmp_path_factory.mktemp("acq-keys"))
    with running_acquirer(keys) as acq:
        yield acq
    assert not WHOLE_CODE.search(acq["log"].read_text(encoding="utf-8"))


@pytest.fixture
def rig(tmp_path, acquirer):
    channels = load_channels(acquirer["url"], acquirer["keys"], timeout=0.5)
    with Rig(tmp_path, station_kw={"acquirer": channels, "acquirer_params": FAST}) as r:
        r.terminal.download_route("S1")
        r.acq = acquirer
        yield r
    # nothing the terminal wrote down holds a whole code
    for (body,) in rows(r.journal.path, "SELECT body FROM entries"):
        assert not WHOLE_CODE.search(bytes(body).decode())


def code(channel: PayChannel, digits: str) -> str:
    return code_for(channel, next(_serial), digits)


@pytest.mark.parametrize("channel", [PayChannel.WECHAT, PayChannel.ALIPAY])
def test_paid_journaled_redacted_and_the_receipt_names_wallet_and_acquirer_id(rig, channel):
    t = rig.terminal
    scanned = code(channel, "0001") + "\r\n"
    r = t.take_qr_payment("1001", 18412, scanned, bill=t.query_bill("1001"))
    entry = rig.journal.get(r.txn)
    assert entry.state is EntryState.APPLIED and entry.reply["acquirer_id"] == r.acquirer_id != ""
    body = entry.body_dict()
    assert body["method"] == channel.value and body["auth_code"] == r.code and "*" in r.code
    text = rig.tickets(1)[0]
    wallet = {"wechat": "微信支付", "alipay": "支付宝"}[channel.value]
    assert wallet in text and r.code.split(":")[1] in text and r.acquirer_id in text
    assert not WHOLE_CODE.search(text)
    assert rows(rig.db, "SELECT method, acquirer_id FROM payments WHERE txn = ?", r.txn) == \
        [(channel.value, r.acquirer_id)]
    assert order_of(rig.acq["url"], channel, r.txn)["charges"] == 1
    assert t.sync_now().applied == 0  # nothing left to send


def test_refusal_says_why_and_nothing_waits(rig):
    t = rig.terminal
    with pytest.raises(QrRefusedError) as info:
        t.take_qr_payment("1001", 5000, code(PayChannel.ALIPAY, "0003"))
    assert info.value.params["reason"] == "insufficient_funds"
    [entry] = rig.journal.entries()
    assert entry.state is EntryState.REJECTED and entry.reject_code == "E_PAY_REFUSED"


def test_not_a_payment_code_is_refused_before_anything_is_journaled(rig):
    with pytest.raises(PayCodeError):
        rig.terminal.take_qr_payment("1001", 5000, "993456789012345678")
    assert rig.journal.entries() == []


def test_offline_is_refused_clearly_never_queued_never_cash(rig):
    rig.offline()
    with pytest.raises(QrOfflineError):
        rig.terminal.take_qr_payment("1001", 5000, code(PayChannel.WECHAT, "0000"))
    [entry] = rig.journal.entries()
    assert entry.state is EntryState.REJECTED and entry.reject_code == "E_OFFLINE"
    assert json.loads(entry.body)["method"] == "wechat"  # not turned into cash
    rig.online()
    assert rig.terminal.sync_now().exchanges == 0  # nothing waited to be sent
    assert order_of(rig.acq["url"], PayChannel.WECHAT, entry.txn) is None


def test_a_timeout_is_outcome_unknown_resolved_by_txn_status_never_a_second_charge(rig):
    """The answer does not come in time (the customer types the password for 0.3 s; the terminal
    waits 0.1 s): outcome unknown → TXN_STATUS first ("unknown": the order still runs) → the journaled
    (redacted) copy sent again, which the station answers once the order ended — one charge."""
    import terminal_app.services.qr_payment as qp
    from terminal_app.station.messages import MsgType
    from tests.rigs.station import audit_rows

    t = rig.terminal
    r = qp.take_qr_payment(t.context(), cust="1001", amount=5000, code_text=code(PayChannel.WECHAT, "0001"),
                           response_timeout=0.1)
    assert r.acquirer_id and rig.journal.get(r.txn).state is EntryState.APPLIED
    assert rig.client.response_timeout == 5.0  # the QR timeout was for that one exchange
    sent = [(a[3], json.loads(a[5])) for a in audit_rows(rig.db) if a[0] == "in" and a[5]]
    sent = sent[sent.index(next(x for x in sent if x[0] == MsgType.PAYMENT)):]  # after the route download
    kinds = [mt for mt, _b in sent]
    assert kinds == [MsgType.PAYMENT, MsgType.TXN_STATUS, MsgType.PAYMENT], kinds
    assert "*" in sent[2][1]["auth_code"]  # the resend is the journal's copy: never the whole code
    assert order_of(rig.acq["url"], PayChannel.WECHAT, r.txn)["charges"] == 1
    assert rig.tickets(1)  # the receipt printed once the answer came


def test_reversal_of_a_qr_payment_is_a_refund_through_the_acquirer_once(rig):
    """冲正 of a QR payment: the same rules as cash (journaled, synced, same business day); at the
    station it is a refund through the acquirer, whose refund number is the reversal's txn."""
    t = rig.terminal
    r = t.take_qr_payment("1001", 5000, code(PayChannel.ALIPAY, "0010"))  # the first refund call fails
    assert [p.txn for p in t.payments_today()] == [r.txn]
    rev = t.reverse_payment(r.txn, "录错金额")
    t.sync_now()
    assert rig.journal.get(rev.txn).state is EntryState.APPLIED
    order = order_of(rig.acq["url"], PayChannel.ALIPAY, r.txn)
    assert order["refunded"] == 5000 and order["held"] == 0 and order["charges"] == 1
    assert rows(rig.db, "SELECT reversed_by FROM payments WHERE txn = ?", r.txn) == [(rev.txn,)]
    assert rows(rig.db, "SELECT outcome FROM qr_refunds WHERE refund_no = ?", rev.txn) == [("REFUNDED",)]
    with pytest.raises(Exception, match="reversed"):
        t.reverse_payment(r.txn, "录错金额")  # once


def test_day_end_hands_in_cash_only_and_shows_qr_per_channel_apart(rig):
    t = rig.terminal
    t.take_payment("1001", 1000, bill=t.query_bill("1001"))
    wx = t.take_qr_payment("1001", 2000, code(PayChannel.WECHAT, "0000"))
    ali = t.take_qr_payment("1002", 3000, code(PayChannel.ALIPAY, "0000"))
    gone = t.take_qr_payment("1002", 700, code(PayChannel.ALIPAY, "0000"))
    t.reverse_payment(gone.txn, "录错金额")
    with pytest.raises(QrRefusedError):
        t.take_qr_payment("1001", 500, code(PayChannel.WECHAT, "0003"))
    t.sync_now()
    res = t.settle_day()
    assert res.slip.cash_to_deliver_fen == 1000  # the cash only
    assert dict((n, (c, f)) for n, c, f in res.slip.qr_rows) == {"微信支付": (1, 2000), "支付宝": (1, 3000)}
    assert res.figures.qr_by_channel == {"wechat": (1, 2000), "alipay": (1, 3000)}
    assert res.reconciled is True, res.differences  # the station's RECONCILE counts cash and QR alike
    assert {wx.txn, ali.txn} <= {x for x, _ in res.figures.reconciled_payments}
    text = rig.tickets(6)[5]  # 3 receipts, 1 receipt reversed and its voucher, then the slip
    assert "日结单" in text
    assert "扫码收款" in text and "微信支付" in text and "￥10.00" in text and not WHOLE_CODE.search(text)


def test_a_qr_payment_not_charged_has_no_receipt_to_print(rig):
    from terminal_app.errors import BusinessRuleError

    t = rig.terminal
    with pytest.raises(QrRefusedError):
        t.take_qr_payment("1001", 5000, code(PayChannel.WECHAT, "0003"))
    rig.offline()
    with pytest.raises(QrOfflineError):
        t.take_qr_payment("1001", 5000, code(PayChannel.WECHAT, "0000"))
    refused, offline = (e.txn for e in rig.journal.entries())
    assert t.unprinted_receipts() == []  # never offered for printing
    for txn in (refused, offline):
        with pytest.raises(BusinessRuleError, match="not confirmed as charged"):
            t.reprint_receipt(txn)
