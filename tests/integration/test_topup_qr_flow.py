"""购电 paid by the customer's payment code (issue 17), below the UI: the production CardService
(topup_qr, abandon), SerialCardReader, journal, sync engine and StationClient against the mock card
reader (pty), the reference station with the card key holder and the mock acquirer as a process.

Exactly once, three ways: the acquirer's books (charged once, or refunded), the station's ledger
(card_purchases) and the card; the journal never holds the whole code."""

from __future__ import annotations

import sqlite3

import pytest

from drivers.ic_card.reader import CardRemovedError
from hw_mocks.card.meter import Insertion
from hw_mocks.station.acquirer import give_back_no, load_channels
from offline_queue.journal import EntryState
from terminal_app.domain.paycode import PayChannel, PayCodeError
from terminal_app.services.qr_payment import QrOfflineError, QrRefusedError
from terminal_app.services.topup import KIND_CANCEL, KIND_CONFIRM, KIND_PURCHASE, CardIdentity, PaidNotWrittenError
from tests.integration.test_usecase_qr import FAST, code
from tests.rigs.acquirer import WHOLE_CODE, make_keys, order_of, running_acquirer
from tests.rigs.card import CUST, METER, SERIAL, START_COUNT, rig

CARD = CardIdentity(CUST, METER, SERIAL)


@pytest.fixture
def acquirer(tmp_path_factory):
    # one per test: every test's terminal counts its txns (the merchant's order numbers) from 1 again
    keys = make_keys(tmp_path_factory.mktemp("acq-keys"))
    with running_acquirer(keys) as acq:
        yield acq
    assert not WHOLE_CODE.search(acq["log"].read_text(encoding="utf-8"))


@pytest.fixture
def qrig(tmp_path, acquirer):
    channels = load_channels(acquirer["url"], acquirer["keys"], timeout=0.5)
    with rig(tmp_path, station_kw={"acquirer": channels, "acquirer_params": FAST}) as r:
        r.acq = acquirer
        yield r
        for e in r.terminal.journal.entries():  # nothing the terminal wrote down holds a whole code
            assert not WHOLE_CODE.search(e.body.decode() if isinstance(e.body, bytes) else str(e.body))


def ledger(db, txn):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT amount, purchase_count, state, method, acquirer_id, cancelled_at FROM card_purchases"
                         " WHERE txn = ?", (txn,)).fetchall()


@pytest.mark.parametrize("channel", [PayChannel.WECHAT, PayChannel.ALIPAY])
def test_paid_by_code_then_written_confirmed_and_the_voucher_names_the_wallet(qrig, channel):
    r = qrig
    res = r.terminal.service.topup_qr(12_300, code(channel, "0001") + "\r\n", card=CARD)
    assert (res.amount, res.purchase_count, res.recovered, res.method) == (12_300, START_COUNT + 1, False,
                                                                           channel.value)
    assert res.acquirer_id and "*" in res.code
    assert ledger(r.db, res.auth_txn) == [(12_300, START_COUNT + 1, "confirmed", channel.value, res.acquirer_id,
                                           None)]
    assert order_of(r.acq["url"], channel, res.auth_txn)["charges"] == 1
    auth = r.terminal.journal.get(res.auth_txn)
    assert auth.state is EntryState.APPLIED and auth.body_dict()["auth_code"] == res.code
    text = "\n".join(res.voucher.lines)
    wallet = {"wechat": "微信支付", "alipay": "支付宝"}[channel.value]
    assert wallet in text and res.code.split(":")[1] in text and res.acquirer_id in text and "支付单号" in text
    assert not WHOLE_CODE.search(text)
    assert r.insert_into_meter() is Insertion.LOADED


def test_refused_writes_nothing_and_takes_nothing(qrig):
    r = qrig
    with pytest.raises(QrRefusedError) as e:
        r.terminal.service.topup_qr(5_000, code(PayChannel.ALIPAY, "0003"), card=CARD)
    assert e.value.params.get("reason") == "insufficient_funds"
    [entry] = [x for x in r.terminal.journal.entries() if x.kind == KIND_PURCHASE]
    assert entry.state is EntryState.REJECTED
    assert (r.card.purchase.count, ledger(r.db, entry.txn)) == (START_COUNT, [])
    # a new code: paid, the card loads once
    res = r.terminal.service.topup_qr(5_000, code(PayChannel.ALIPAY, "0000"), card=CARD)
    assert res.purchase_count == START_COUNT + 1 and r.card.purchase.count == START_COUNT + 1


def test_not_a_payment_code_and_offline_are_refused_before_anything_is_charged(qrig):
    r = qrig
    with pytest.raises(PayCodeError):
        r.terminal.service.topup_qr(5_000, "A1003", card=CARD)
    assert not r.terminal.journal.entries()
    r.station.stop()  # no station: refused on the spot, never queued, never cash
    with pytest.raises(QrOfflineError):
        r.terminal.service.topup_qr(5_000, code(PayChannel.WECHAT, "0000"), card=CARD)
    assert not r.terminal.journal.entries()  # nothing journaled, nothing waits to be sent
    assert r.card.purchase.count == START_COUNT


def test_a_card_pulled_after_the_charge_is_finished_by_the_same_card_and_charged_once(qrig):
    r = qrig
    r.device.pull_after(6)  # the write APDU never reaches the chip
    with pytest.raises(PaidNotWrittenError) as e:
        r.terminal.service.topup_qr(8_800, code(PayChannel.WECHAT, "0000"), card=CARD)
    assert isinstance(e.value.__cause__, CardRemovedError)  # the card left the reader mid-write
    [auth] = [x for x in r.terminal.journal.entries() if x.kind == KIND_PURCHASE]
    assert auth.state is EntryState.APPLIED and r.card.purchase.count == START_COUNT
    r.device.insert(r.card)
    # the operator tries again with a NEW code: the earlier purchase is finished instead, the code unused
    again = code(PayChannel.WECHAT, "0000")
    res = r.terminal.service.topup_qr(8_800, again, card=CARD)
    assert res.recovered and res.auth_txn == auth.txn and r.card.purchase.count == START_COUNT + 1
    assert order_of(r.acq["url"], PayChannel.WECHAT, auth.txn)["charges"] == 1
    assert len([x for x in r.terminal.journal.entries() if x.kind == KIND_PURCHASE]) == 1
    assert ledger(r.db, auth.txn)[0][2] == "confirmed"


def test_a_charged_purchase_given_up_is_refunded_once_and_leaves_the_day(qrig):
    r = qrig
    r.device.pull_after(6)
    with pytest.raises(PaidNotWrittenError):
        r.terminal.service.topup_qr(6_600, code(PayChannel.ALIPAY, "0010"), card=CARD)  # refund fails once
    r.device.insert(r.card)
    out = r.terminal.service.abandon(card=CARD)
    assert out.confirmed is None and not out.pending and out.method == "alipay" and out.refund_id
    assert out.amount == 6_600
    order = order_of(r.acq["url"], PayChannel.ALIPAY, out.auth_txn)
    assert order["charges"] == 1 and order["refunded"] == 6_600 and order["held"] == 0
    assert ledger(r.db, out.auth_txn)[0][5] is not None
    [cancel] = [x for x in r.terminal.journal.entries() if x.kind == KIND_CANCEL]
    assert cancel.state is EntryState.APPLIED and cancel.reply["refund_no"] == give_back_no(out.auth_txn)
    # the card is as before: a new purchase goes through and is the next count
    res = r.terminal.service.topup(3_000, card=CARD)
    assert not res.recovered and res.purchase_count == START_COUNT + 1
    assert order_of(r.acq["url"], PayChannel.ALIPAY, out.auth_txn)["refunded"] == 6_600


def test_giving_up_a_purchase_the_card_holds_confirms_it_instead(qrig):
    r = qrig
    r.device.pull_after(6, executed=True)  # the write landed on the chip, its answer was lost
    with pytest.raises(PaidNotWrittenError):
        r.terminal.service.topup_qr(4_400, code(PayChannel.WECHAT, "0000"), card=CARD)
    r.device.insert(r.card)
    out = r.terminal.service.abandon(card=CARD)
    assert out.confirmed is not None and out.cancel_txn is None
    assert order_of(r.acq["url"], PayChannel.WECHAT, out.auth_txn)["refunded"] == 0
    assert [x.kind for x in r.terminal.journal.entries()].count(KIND_CONFIRM) == 1
    assert ledger(r.db, out.auth_txn)[0][2] == "confirmed"
