"""The money at the door on any day (issue 14), on the production services and the reference
station over real GT/1 — the services-level form of the field-day claim: one customer paid on the
download day, one ten days later, and the receipts differ by exactly the penalty accrued between.

Two residential customers of segment S3 owe the same 131.12 元 bill due 2026-11-15.  On
2026-11-24 (download day, 9 days late) the penalty is 13112 × 9 × 1‰ = 118.008 → 118 fen; on
2026-12-04 (19 days late) 249.128 → 249 fen (docs/billing.md).  The second customer pays
offline: the terminal counts the penalty itself (估算) and the station's answer, when the payment
syncs, must be the same figure; the day-end slip prints both.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from hw_mocks.station import assignments, ledger
from hw_mocks.station.area import Bill, Customer, insert
from offline_queue.journal import EntryState
from tests.integration.test_usecase_rig import Rig
from tests.rigs.station import TINY_OPERATOR

READ_AT = "2026-10-25T10:00:00+08:00"
BILL = 13112
DUE = "2026-11-15"


def _customer(n: int, *, balance: int = 0, last_at: str = READ_AT) -> Customer:
    return Customer(f"310{n}", f"赵{n}", f"四川省仪陇县石佛乡马鞍村1组{n}号", "S3", "马鞍村", f"A310{n}",
                    f"00000000310{n}", "2007", False, "sichuan-residential", "1000.00", last_at, balance)


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)  # its clock: 2026-11-24 09:00, shared by the terminal and the station
    conn = ledger.connect(r.db)
    try:
        insert(conn, [], [_customer(1), _customer(2), _customer(3, balance=5000),
                          _customer(4, last_at="2026-09-24T10:00:00+08:00"),
                          _customer(5, last_at="2026-11-10T10:00:00+08:00"), _customer(6, balance=30000)],
               [Bill("3101", "2026-10", BILL, 0, DUE), Bill("3102", "2026-10", BILL, 0, DUE),
                Bill("3103", "2026-10", BILL, 0, DUE)], as_of=dt.date(2026, 11, 5))
        assignments.assign(conn, [("S3", TINY_OPERATOR)], by="test")  # the rig's operator reads S3
    finally:
        conn.close()
    with r:
        yield r


def slip_line(text: str, label: str) -> str:
    found = [ln.rstrip() for ln in text.splitlines() if ln.startswith(label)]
    assert len(found) == 1, (label, text)
    return found[0]


def test_receipts_ten_days_apart_differ_by_exactly_the_accrued_penalty(rig):
    t = rig.terminal
    t.download_route("S3")

    # download day, online: the station counts 9 days
    first_bill = t.query_bill("3101")
    assert first_bill.online and [(a.amount, a.penalty) for a in first_bill.arrears] == [(BILL, 118)]
    first = t.take_payment("3101", first_bill.still_owed, bill=first_bill)
    assert first.amount == BILL + 118 and t.sync_now().applied == 1

    # ten days later, out of coverage: the terminal counts 19 days itself, from the downloaded state
    rig.clock.advance(dt.timedelta(days=10))
    rig.offline()
    second_bill = t.query_bill("3102")
    assert not second_bill.online and second_bill.estimated
    assert [(a.amount, a.penalty) for a in second_bill.arrears] == [(BILL, 249)]
    second = t.take_payment("3102", second_bill.still_owed, bill=second_bill)
    assert second.amount - first.amount == 249 - 118  # exactly the penalty accrued in ten days

    receipt1, receipt2 = rig.tickets(2)
    assert "￥132.30" in receipt1 and "其中违约金" in receipt1 and "￥1.18" in receipt1 and "估算" not in receipt1
    assert "￥133.61" in receipt2 and "其中违约金（估算）" in receipt2 and "￥2.49" in receipt2

    # back in coverage only the next morning: the station counts the penalty to the day the
    # customer paid (the receipt's day), not to the day the payment reached it — the same figure
    rig.clock.advance(dt.timedelta(hours=20))
    rig.online()
    assert t.sync_now().applied == 1
    entry = rig.journal.get(second.txn)
    assert entry.state is EntryState.APPLIED
    assert entry.reply["applied"] == [{"period": "2026-10", "amount": BILL + 249, "penalty": 249}]
    assert entry.reply["penalty_day"] == "2026-12-04" and entry.reply["arrears"] == 0

    # the day-end slip of 2026-12-04: the estimate, the station's figure, the difference
    result = t.settle_day(dt.date(2026, 12, 4))
    assert [(c.txn, c.estimated, c.station) for c in result.penalty_corrections] == [(second.txn, 249, 249)]
    slip = rig.tickets(3)[-1]
    assert slip_line(slip, "违约金估算 ").endswith("￥2.49") and slip_line(slip, "主站核定违约金").endswith("￥2.49")
    assert slip_line(slip, "违约金差额").endswith("￥0.00")


def test_the_station_and_the_estimate_differ_when_the_station_knows_more(rig):
    """A payment taken elsewhere after the download (here: straight at the station) changes the
    unpaid charge; the terminal's estimate cannot know it, the station's answer does, and the
    day-end slip shows the difference instead of hiding it."""
    t = rig.terminal
    t.download_route("S3")
    rig.clock.advance(dt.timedelta(days=10))  # 2026-12-04
    rig.offline()
    bill = t.query_bill("3102")
    assert bill.estimated and bill.arrears[0].penalty == 249
    # meanwhile the customer's family paid 100 元 at the service hall on 2026-11-30 (day 15: 197 fen)
    conn = ledger.connect(rig.db)
    try:
        conn.execute("UPDATE bills SET paid_penalty = 197, paid_amount = 10000 - 197, accrued = '196.68',"
                     " accrued_through = '2026-11-30' WHERE cust = '3102'")
    finally:
        conn.close()
    pay = t.take_payment("3102", bill.still_owed, bill=bill)
    rig.online()
    t.sync_now()
    station_penalty = rig.journal.get(pay.txn).reply["applied"][0]["penalty"]
    # from 2026-12-01 to 12-04 on the 3309 fen still unpaid: 196.68 + 3309 × 4 × 1‰ = 209.916 → 210, less 197 paid
    assert station_penalty == 13
    result = t.settle_day()
    assert [(c.estimated, c.station, c.difference) for c in result.penalty_corrections] == [(249, 13, 13 - 249)]
    assert slip_line(rig.tickets(2)[-1], "违约金差额").endswith("-￥2.36")
    # the day-end screen shows the slip's lines below the cash; the money rows still add up to it
    assert ("Penalty difference", "-￥2.36") in result.notes()
    assert sum(line.fen for line in result.lines()) == result.slip.cash_to_deliver_fen == pay.amount


def test_a_prepayment_balance_paid_the_bill_and_the_screens_say_so(rig):
    t = rig.terminal
    t.download_route("S3")
    bill = t.query_bill("3103")  # 50 元 balance paid part of the bill when it was issued (before due)
    assert bill.balance == 0 and bill.from_balance_fen == 5000
    assert [(a.amount, a.penalty, a.from_balance) for a in bill.arrears] == [(BILL - 5000, 100, 5000)]
    assert [(u.period, u.amount) for u in bill.balance_used] == [("2026-10", 5000)]
    pay = t.take_payment("3103", bill.still_owed, bill=bill)
    assert "预存抵扣" in rig.tickets(1)[0] and "￥50.00" in rig.tickets(1)[0]
    assert pay.amount == BILL - 5000 + 100  # 8112 × 9 × 1‰ = 73.008 → under 1 元: 1 元


def test_a_bimonthly_reading_prorates_the_tiers_and_a_short_period_is_refused(rig):
    t = rig.terminal
    t.download_route("S3")
    c = rig.store.customer("3104")  # last read 2026-09-24: 61 days before 2026-11-24
    with rig.meter_showing(c, "1400.00"):
        value = t.read_meter(c)
    result = t.save_reading(c, t.check_reading(c, value))
    # 400 kWh over 61 days: bounds 366 / 569 kWh: 366 × 0.5224 → 19120, 34 × 0.6224 → 2116
    assert result.bill.days == 61 and result.bill.total == 21236
    notice = rig.tickets(1)[0]
    assert "抄表天数" in notice and "61天" in notice and "￥212.36" in notice

    # a reading 14 days after the last one (2026-11-10): no bill at the door, and the notice says why
    c2 = rig.store.customer("3105")
    with rig.meter_showing(c2, "1100.00"):
        value = t.read_meter(c2)
    short = t.save_reading(c2, t.check_reading(c2, value))
    assert short.bill is None and short.no_bill is not None and short.no_bill.params["days"] == 14
    flat = "".join(rig.tickets(2)[-1].split())  # the reason wraps over lines on 58 mm paper
    assert "本期电费：未预算：抄表周期14天，不在15–62天内，由营业厅核算" in flat and "预算金额" not in flat
    assert Decimal(str(short.reading.consumption)) == Decimal("100.00")


def test_the_reading_notice_shows_what_the_balance_pays_of_the_new_bill(rig):
    t = rig.terminal
    t.download_route("S3")
    c = rig.store.customer("3106")  # owes nothing, 300 元 prepaid
    with rig.meter_showing(c, "1200.00"):
        value = t.read_meter(c)
    result = t.save_reading(c, t.check_reading(c, value))
    # 200 kWh in 30 days: 180 × 0.5224 = 94.032 → 9403; 20 × 0.6224 = 12.448 → 1245
    assert result.bill.total == 10648 and result.from_balance == 10648
    notice = rig.tickets(1)[0]
    assert "预存抵扣" in notice and "-￥106.48" in notice
    assert [ln for ln in notice.splitlines() if ln.startswith("合计应缴")][0].endswith("￥0.00")
