"""Issue 19 point 6, the shop's limits, end to end against the reference station:

* the agent cash limit (代收款限额) the station sets per operator and sends in HELLO: a payment or
  card top-up that would take the terminal's cash in hand above it is refused before anything is
  journaled, until the daily settlement (日结) hands the cash in;
* the meter's hoarding limit (囤积上限) the station sends with CARD_QUERY: a purchase the meter
  would refuse is refused before the money is taken, with the most that can be bought.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3

import pytest

from drivers.ic_card.model import CardType
from hw_mocks.card.meter import Insertion
from hw_mocks.station import ledger, limits
from terminal_app.errors import BusinessRuleError
from terminal_app.services import cash_limit
from terminal_app.services.store import LocalStore
from terminal_app.services.topup import Reason, TopupRefused
from terminal_app.timeutil import FixedClock
from tests.integration.test_usecase_rig import Rig
from tests.rigs.card import CUST, METER, START_COUNT, issue_card, rig


def set_limit(db, fn, *args) -> None:
    with contextlib.closing(ledger.connect(db)) as conn:
        fn(conn, *args)


def card_rows(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT amount, purchase_count, state FROM card_purchases ORDER BY rowid").fetchall()


# ------------------------------------------------------------------ agent cash limit: payments


@pytest.fixture
def shop(tmp_path):
    with Rig(tmp_path) as r:
        yield r


def test_hello_carries_the_operators_cash_limit_and_the_terminal_keeps_it(shop):
    set_limit(shop.db, limits.set_cash_limit, "0007", 20_000)
    set_limit(shop.db, limits.set_cash_limit, "0008", 99_000)
    shop.terminal.download_route("S1")
    assert cash_limit.limit_of(shop.store, "0007") == 20_000
    assert cash_limit.limit_of(shop.store, "0008") is None  # only the operator who said HELLO
    set_limit(shop.db, limits.set_cash_limit, "0007", 0)  # removed at the station: null in HELLO
    shop.terminal.download_route("S1")
    assert cash_limit.limit_of(shop.store, "0007") is None


def test_payments_stop_at_the_cash_limit_until_the_day_end_hands_the_cash_in(shop):
    t = shop.terminal
    set_limit(shop.db, limits.set_cash_limit, "0007", 20_000)
    t.download_route("S1")
    t.take_payment("1001", 15_000)
    before = len(shop.journal.entries())
    with pytest.raises(BusinessRuleError) as e:
        t.take_payment("1002", 6_000)
    assert isinstance(e.value, cash_limit.CashLimitError)
    assert "150.00" in str(e.value) and "200.00" in str(e.value) and "at most 50.00 yuan" in str(e.value)
    assert len(shop.journal.entries()) == before  # nothing journaled: no money changes hands
    assert cash_limit.room(shop.journal, shop.store, "0007") == 5_000
    wrong = t.take_payment("1002", 5_000)  # exactly up to the limit is allowed
    with pytest.raises(cash_limit.CashLimitError):
        t.take_payment("1003", 1)
    t.reverse_payment(wrong.txn, "金额输错")  # a reversal gives the money back: room again
    assert cash_limit.cash_in_hand(shop.journal, shop.store) == 15_000
    t.take_payment("1003", 4_000)
    shop.clock.advance(dt.timedelta(hours=8))
    t.settle_day()  # 日结: the slip the cash is handed in with
    assert cash_limit.cash_in_hand(shop.journal, shop.store) == 0
    shop.clock.advance(dt.timedelta(hours=14))  # the next business day
    t.take_payment("1003", 19_000)
    with pytest.raises(cash_limit.CashLimitError):
        t.take_payment("1004", 1_001)


def test_money_paid_by_payment_code_is_not_cash_in_hand(shop):
    """A QR payment or QR top-up is the acquirer's money: it never fills the operator's cash limit
    (the journal's own entries, as pay_qr and top_up_qr write them)."""
    from offline_queue.journal import EntryState
    from terminal_app.station.messages import MsgType
    from terminal_app.station.protocol import encode_body_fast

    t = shop.terminal
    set_limit(shop.db, limits.set_cash_limit, "0007", 20_000)
    t.download_route("S1")
    t.take_payment("1001", 15_000)
    at = shop.clock.now().isoformat()
    for kind, msg_type, method in (("payment", MsgType.PAYMENT, "wechat"), ("purchase", MsgType.CARD_AUTHORIZE, "alipay")):
        e = shop.journal.capture(kind, msg_type, encode_body_fast({"cust": "1002", "amount": 90_000, "method": method,
                                                                   "auth_code": "10**************01", "at": at}))
        assert shop.journal.get(e.txn).state is not EntryState.REJECTED
    assert cash_limit.cash_in_hand(shop.journal, shop.store) == 15_000
    assert cash_limit.room(shop.journal, shop.store, "0007") == 5_000


def test_without_a_limit_nothing_is_refused(shop):
    shop.terminal.download_route("S1")
    shop.terminal.take_payment("1001", 400_000)
    assert cash_limit.room(shop.journal, shop.store, "0007") is None


# ------------------------------------------------------------------ hoarding limit: card top-ups


def test_purchase_above_the_meters_hoarding_limit_is_refused_before_money_is_taken(tmp_path):
    with rig(tmp_path) as r:
        set_limit(r.db, limits.set_hoard_limit, METER, 10_000)
        r.meter.limit = 10_000  # the meter's own parameter, as the station knows it
        # the card says the meter held 20.00 元 when it was last inserted: 80.00 元 can go on
        contents = r.terminal.service.card.read()
        allowance = r.terminal.service.allowance(contents)
        assert (allowance.most, allowance.hoard_limit, allowance.cash_room) == (8_000, 10_000, None)
        with pytest.raises(TopupRefused) as e:
            r.terminal.service.topup(8_001)
        assert e.value.reason is Reason.HOARDING
        assert "at most 80.00 yuan" in str(e.value) and "100.00" in str(e.value) and "20.00" in str(e.value)
        assert r.terminal.journal.entries() == [] and card_rows(r.db) == []
        res = r.terminal.service.topup(8_000)
        assert res.amount == 8_000 and r.insert_into_meter() is Insertion.LOADED
        assert r.meter.remaining == 10_000


def test_the_meter_would_have_refused_what_the_terminal_refuses(tmp_path):
    # the same limit on the mock meter: a purchase one fen above the room is refused by the meter
    with rig(tmp_path) as r:
        r.meter.limit = 10_000
        r.terminal.service.topup(8_001)  # no limit at the station: the terminal cannot know
        assert r.insert_into_meter() is Insertion.OVER_LIMIT


def test_reissue_with_money_respects_the_hoarding_limit(tmp_path):
    with rig(tmp_path) as r:
        set_limit(r.db, limits.set_hoard_limit, METER, 10_000)
        r.device.remove()
        new = issue_card(r.holder, serial="8610000000002003", card_type=CardType.REISSUE, count=0, amount=0)
        new.ret = new.ret.__class__(False, 0, 0, 0, 0)
        r.device.insert(new)
        with pytest.raises(TopupRefused) as e:
            r.terminal.service.reissue(CUST, METER, amount=10_001)
        assert e.value.reason is Reason.HOARDING and r.terminal.journal.entries() == []
        res = r.terminal.service.reissue(CUST, METER, amount=10_000)
        assert (res.amount, res.purchase_count) == (10_000, START_COUNT + 1)


def test_card_top_up_counts_against_the_cash_limit(tmp_path):
    with rig(tmp_path) as r:
        svc = r.terminal.service
        svc.clock = FixedClock(at=dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
        svc.store = LocalStore.open(tmp_path / "store.sqlite")
        try:
            svc.store.store_param("cash_limit:op1", 15_000, svc.clock.now())
            svc.topup(10_000)
            assert r.insert_into_meter() is Insertion.LOADED
            assert svc.allowance(svc.card.read()).most == 5_000
            with pytest.raises(cash_limit.CashLimitError):
                svc.topup(6_000)
            assert len(card_rows(r.db)) == 1  # nothing more reached the station
            svc.store.record_settlement("S-1", dt.date(2026, 11, 24), svc.clock.now(), {})  # 日结 of the day
            svc.clock.advance(dt.timedelta(days=1))
            assert svc.topup(6_000).amount == 6_000
        finally:
            svc.store.close()
