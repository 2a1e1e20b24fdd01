"""Daily settlement (日结) end to end: statistics by kind, reversals, cash to hand in (在途资金),
reconciliation with the station (代收对账) — matching, with differences, and offline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from terminal_app.domain.abnormal import Abnormal, AbnormalCode
from terminal_app.domain.reading import ReadingSource
from terminal_app.services.ports import UseCaseContext
from terminal_app.services.settlement import daily_settlement
from tests.integration.test_usecase_rig import Rig


@pytest.fixture
def rig(tmp_path):
    with Rig(tmp_path) as r:
        r.terminal.download_route("S1")
        r.terminal.download_route("S2")
        yield r


def station_day_total(rig) -> tuple[int, int]:
    return rig.station_rows("SELECT count(*), coalesce(sum(amount), 0) FROM payments WHERE day = '2026-11-24'"
                            " AND reversed_by IS NULL")[0]


def test_settlement_agrees_with_the_station_to_the_fen(rig):
    t = rig.terminal
    full = t.take_payment("1001", 18412)
    wrong = t.take_payment("1002", 3000)
    t.take_payment("2001", 1000)
    t.reverse_payment(wrong.txn, "户号选错")
    rig.clock.advance(dt.timedelta(hours=8))
    result = t.settle_day()
    slip = result.slip
    assert {r.kind: (r.count, r.amount_fen) for r in slip.rows} == {"电费缴费": (1, 18412), "预收电费": (2, 4000)}
    assert (slip.reversal_count, slip.reversal_fen) == (1, 3000)
    # 18412 + 3000 + 1000 − 3000 = 19412 fen in hand
    assert slip.cash_to_deliver_fen == slip.collected_fen == 19412
    assert result.reconciled is True and result.differences == ()
    assert station_day_total(rig) == (2, 19412)
    assert result.station["reversed"] == {"count": 1, "amount": 3000}
    text = rig.tickets(3 + 1)[-1]
    assert "日结单" in text and "代收对账" in text and "一致" in text
    assert "应交在途资金" in text and "￥194.12" in text
    assert full.txn in {txn for txn, _ in result.figures.kept}


def test_unsynced_payment_shows_as_a_difference(rig):
    t = rig.terminal
    synced = t.take_payment("1001", 5000)
    t.sync_now()
    unsynced = t.take_payment("2002", 700)
    # settle without draining the journal first: the station has not got the second payment
    result = daily_settlement(UseCaseContext(journal=rig.journal, store=rig.store, printer=rig.printer, link=rig.client,
                                             operator=t.operator, clock=rig.clock, tariffs=t.tariffs))
    assert result.reconciled is False
    assert result.differences == (f"主站无此笔：{unsynced.txn} ￥7.00（未上传）",
                                  "笔数金额：终端2笔￥57.00，主站1笔￥50.00")
    assert result.station["station"] == {"count": 1, "amount": 5000}
    assert synced.txn not in result.station["missing"]
    text = rig.tickets(3)[-1]
    assert "不一致 2 项" in text and unsynced.txn in text


def test_offline_settlement_prints_the_figures_marked_not_reconciled(rig):
    t = rig.terminal
    t.take_payment("1001", 5000)
    rig.offline()
    result = t.settle_day()
    assert result.reconciled is None and result.slip.cash_to_deliver_fen == 5000
    text = rig.tickets(2)[-1]
    assert "未对账（离线）" in text and "未上传笔数" in text


def test_reading_statistics_per_segment_on_the_slip_and_again_on_its_copy(rig):
    """Issue 18 point 3: per downloaded segment, read / unread / abnormal / skipped of the day, each
    customer in one class; a refused or another day's reading does not count."""
    t = rig.terminal
    c1001, c1002, c1003 = (t.find_customer(n) for n in ("1001", "1002", "1003"))
    t.save_reading(c1001, t.check_reading(c1001, Decimal("1300.00")), source=ReadingSource.IR)  # read
    backwards = t.check_reading(c1002, Decimal("80.00"))  # below its last 88.10: read, abnormal
    t.save_reading(c1002, backwards, source=ReadingSource.IR, abnormal=Abnormal(AbnormalCode.RUNNING_BACKWARDS))
    t.save_reading(c1003, None, abnormal=Abnormal(AbnormalCode.DOOR_LOCKED))  # visited, no value: skipped
    s2 = t.find_customer("2001")
    t.save_reading(s2, t.check_reading(s2, Decimal("1.00")), source=ReadingSource.KEYPAD, reason="红外口被遮挡",
                   confirmed=tuple(w.kind for w in t.check_reading(s2, Decimal("1.00")).warnings))
    rig.clock.advance(dt.timedelta(hours=8))
    result = t.settle_day()
    assert result.slip.readings == (("S1", 3, 1, 0, 1, 1), ("S2", 23, 1, 22, 0, 0))
    assert all(total == read + unread + abnormal + skipped
               for _s, total, read, unread, abnormal, skipped in result.slip.readings)
    text = rig.tickets(4)[-1]  # three reading notices (the door-locked visit prints none), then the slip
    assert "抄表统计" in text
    assert "应抄 已抄 未抄 异常 跳过" in " ".join(text.split())
    assert "S1 3 1 0 1 1" in " ".join(text.split()) and "S2 23 1 22 0 0" in " ".join(text.split())
    # the second 日结 prints the same slip, statistics included (a copy: nothing changed it)
    again = t.settle_day()
    assert again.again and again.slip.readings == result.slip.readings
