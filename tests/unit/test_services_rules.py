"""Pure rules of the use cases: payment kind, the periods a payment covers, change due, and the
bill view's offline label and what is still owed."""

from __future__ import annotations

import datetime as dt

import pytest

from terminal_app.domain.customer import Arrears
from terminal_app.errors import BusinessRuleError
from terminal_app.services.bill_query import BillView
from terminal_app.services.payment import PaymentKind, check_amount, classify, covered_periods
from terminal_app.station.protocol import encode_body_fast
from terminal_app.timeutil import SHANGHAI

ARREARS = (Arrears("2026-10", 8000, 50), Arrears("2026-09", 10000, 300))


@pytest.mark.parametrize(("amount", "owed", "kind"), [
    (18350, 18350, PaymentKind.FULL), (1, 18350, PaymentKind.PARTIAL), (18351, 18350, PaymentKind.OVERPAYMENT),
    (500, 0, PaymentKind.PREPAYMENT)])
def test_classify(amount, owed, kind):
    assert classify(amount, owed) is kind


def test_covered_periods_oldest_first():
    assert covered_periods(ARREARS, 10300) == ("2026-09",)          # exactly the oldest month
    assert covered_periods(ARREARS, 10301) == ("2026-09", "2026-10")  # one fen into the next
    assert covered_periods(ARREARS, 1) == ("2026-09",)
    assert covered_periods((), 500) == ()


def test_change_due_and_bad_amounts():
    assert check_amount(18350, 20000) == 1650
    assert check_amount(18350, None) == 0
    for amount, tendered in ((0, None), (-5, None), (True, None), (10_000_001, None), (100, 99)):
        with pytest.raises(BusinessRuleError):
            check_amount(amount, tendered)


def test_bill_view_labels_and_still_owed():
    at = dt.datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)
    online = BillView("1001", "王秀英", "", ARREARS, 0, at, True, dt.timedelta(0), 0)
    assert online.label == "实时数据" and online.arrears_total == 18350 and online.still_owed == 18350
    offline = BillView("1001", "王秀英", "", ARREARS, 0, at, False, dt.timedelta(hours=26, minutes=5), 20000)
    assert offline.label == "离线数据（26小时前下载）" and offline.still_owed == 0
    fresh = BillView("1001", "王秀英", "", ARREARS, 0, at, False, dt.timedelta(minutes=5), 350)
    assert fresh.label == "离线数据（1小时内下载）" and fresh.still_owed == 18000


# ---- issue 13 (8): what is owed follows this terminal's payments ---------------------------------

def test_owed_now_takes_this_terminals_unsent_payments_off_oldest_first(tmp_path):
    from offline_queue.journal import EntryState, Journal, Settlement
    from terminal_app.domain.customer import Arrears
    from terminal_app.services.bill_query import not_included, owed_now
    from terminal_app.station.messages import MsgType
    from terminal_app.timeutil import SHANGHAI, FixedClock

    clock = FixedClock(at=dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))
    arrears = (Arrears("2026-09", 10000, 300), Arrears("2026-10", 8000, 50))
    downloaded = dt.datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI)
    with Journal.open(tmp_path / "j.sqlite", "40000001", clock=clock) as journal:
        assert owed_now(arrears, journal, "1001", downloaded) == arrears
        p = journal.capture("payment", MsgType.PAYMENT, encode_body_fast({"cust": "1001", "amount": 10400, "method": "cash",
                                                         "at": "2026-11-24T10:00:00+08:00"}))
        journal.capture("payment", MsgType.PAYMENT, encode_body_fast({"cust": "1002", "amount": 999, "method": "cash",
                                                     "at": "2026-11-24T10:00:00+08:00"}))
        # 2026-09 paid off (penalty first: 300 + 10000), the 100 left pays 2026-10's 50 penalty and 50 of its charge
        assert owed_now(arrears, journal, "1001", downloaded) == (Arrears("2026-10", 7950, 0),)
        assert owed_now(arrears, journal, "1001") == (Arrears("2026-10", 7950, 0),)  # online: not sent yet
        journal.mark_in_flight([p.txn])
        journal.settle([Settlement(p.txn, EntryState.APPLIED, reply={"ok": True})])
        assert not_included(journal, "1001") == 0  # online figures include it now …
        assert not_included(journal, "1001", downloaded) == 10400  # … downloaded ones do not
        journal.capture("reversal", MsgType.REVERSAL, encode_body_fast({"orig": p.txn, "reason": "错", "at": "2026-11-24T10:05:00+08:00"}),
                        depends_on=p.txn)
        assert not_included(journal, "1001") == -10400  # reversed here, not yet at the station
        assert owed_now(arrears, journal, "1001", downloaded) == arrears
