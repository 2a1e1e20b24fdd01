"""Pure rules of the use cases: payment kind, the periods a payment covers, change due, and the
bill view's offline label and what is still owed."""

from __future__ import annotations

import datetime as dt

import pytest

from terminal_app.domain.customer import Arrears
from terminal_app.errors import BusinessRuleError
from terminal_app.services.bill_query import BillView
from terminal_app.services.payment import PaymentKind, check_amount, classify, covered_periods
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
