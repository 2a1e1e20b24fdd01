"""Charging use cases end to end: bill query online/offline, cash payment (full, partial, prepayment,
overpayment), change, journal before receipt, reprint as copy, offline payment synced later,
same-day reversal (冲正) and its refusals.

The tiny area (tests/rigs/station.py): customer 1001 owes 2026-09 10000 + 300 penalty and
2026-10 8000 + 112 (18412 fen in all); 1002 owes nothing and holds a 500 fen balance."""

from __future__ import annotations

import datetime as dt

import pytest

from drivers.printer import COPY_MARK, PrintOutcome
from offline_queue.journal import EntryState
from terminal_app.errors import BusinessRuleError, LinkError, StorageError
from terminal_app.services.payment import PaymentKind
from terminal_app.station.protocol import encode_body_fast
from tests.integration.test_usecase_rig import TID, Rig


@pytest.fixture
def rig(tmp_path):
    with Rig(tmp_path) as r:
        r.terminal.download_route("S1")
        yield r


def test_bill_query_online_then_offline_marked_with_its_age(rig):
    t = rig.terminal
    online = t.query_bill("1001")
    assert online.online and online.label == "实时数据"
    assert [(a.period, a.amount, a.penalty) for a in online.arrears] == [("2026-09", 10000, 300),
                                                                          ("2026-10", 8000, 112)]
    assert online.arrears_total == 18412
    rig.offline()
    rig.clock.advance(dt.timedelta(hours=3))
    offline = t.query_bill("1001")
    assert not offline.online and offline.age == dt.timedelta(hours=3)
    assert offline.label == "离线数据（3小时前下载）"
    assert offline.arrears_total == 18412 and offline.estimated  # counted to the same day: same figures
    with pytest.raises(LinkError) as info:
        t.query_bill("2001")  # segment S2 was never downloaded
    assert "not in the downloaded routes" in str(info.value)


def test_full_payment_with_change_is_journaled_before_the_receipt_prints(rig):
    t = rig.terminal
    bill = t.query_bill("1001")
    pay = t.take_payment("1001", 18412, bill=bill, tendered=20000)
    assert pay.kind is PaymentKind.FULL and pay.change == 1588  # 200.00 − 184.12 元
    entry = rig.journal.get(pay.txn)
    assert entry.kind == "payment" and entry.txn.startswith(TID + "-")
    assert entry.body_dict() == {"txn": pay.txn, "cust": "1001", "amount": 18412, "method": "cash",
                                 "at": "2026-11-24T09:00:00+08:00", "op": "0007"}
    assert pay.printed.outcome is PrintOutcome.ORIGINAL_PRINTED
    text = rig.tickets(1)[0]
    assert "缴费凭证" in text and pay.txn in text and "￥184.12" in text and "2026-09，2026-10" in text
    assert rig.printer_mock.tickets[0].qr_codes == [pay.txn]
    report = t.sync_now()
    assert report.applied == 1
    reply = rig.journal.get(pay.txn).reply
    assert reply["applied"] == [{"period": "2026-09", "amount": 10300, "penalty": 300},
                                {"period": "2026-10", "amount": 8112, "penalty": 112}]
    assert reply["to_balance"] == 0 and reply["arrears"] == 0


def test_partial_prepayment_and_overpayment_follow_the_station_allocation(rig):
    t = rig.terminal
    partial = t.take_payment("1001", 5000, bill=t.query_bill("1001"))
    prepay = t.take_payment("1002", 3000, bill=t.query_bill("1002"))
    assert (partial.kind, prepay.kind) == (PaymentKind.PARTIAL, PaymentKind.PREPAYMENT)
    t.sync_now()
    # partial: penalty first (300), then 4700 of the 2026-09 charge
    assert rig.journal.get(partial.txn).reply["applied"] == [{"period": "2026-09", "amount": 5000, "penalty": 300}]
    assert rig.journal.get(prepay.txn).reply["balance"] == 3500  # 500 held before + 3000
    bill = t.query_bill("1001")
    assert bill.arrears_total == 13412  # 18412 − 5000
    over = t.take_payment("1001", 15000, bill=bill)
    assert over.kind is PaymentKind.OVERPAYMENT and over.receipt.balance_fen == 1588
    t.sync_now()
    reply = rig.journal.get(over.txn).reply
    assert reply["to_balance"] == 1588 and reply["balance"] == 1588 and reply["arrears"] == 0
    texts = rig.tickets(3)
    assert "电费（部分缴费）" in texts[0] and "预收电费" in texts[1] and "电费及预存" in texts[2]


def test_nothing_prints_when_the_journal_cannot_record_the_payment(rig):
    rig.journal.min_free_bytes = 1 << 62  # "disk full": the capture is refused
    with pytest.raises(StorageError) as info:
        rig.terminal.take_payment("1001", 18412)
    assert "Do not take money" in str(info.value)
    with pytest.raises(BusinessRuleError):
        rig.terminal.take_payment("1001", 0)
    with pytest.raises(BusinessRuleError):
        rig.terminal.take_payment("1001", 18412, tendered=10000)  # less cash than the amount
    assert rig.journal.entries() == [] and rig.printer_mock.tickets == []


def test_reprint_of_a_receipt_is_marked_as_a_copy(rig):
    pay = rig.terminal.take_payment("1002", 1000)
    again = rig.terminal.reprint_receipt(pay.txn)
    assert again.outcome is PrintOutcome.COPY_PRINTED
    original, copy = rig.tickets(2)
    assert COPY_MARK not in original and COPY_MARK in copy
    assert pay.txn in copy and "￥10.00" in copy
    with pytest.raises(BusinessRuleError):
        rig.terminal.reprint_receipt(f"{TID}-999")


def test_offline_payment_prints_at_once_and_reaches_the_station_once_online(rig):
    t = rig.terminal
    rig.offline()
    bill = t.query_bill("1001")
    assert not bill.online
    pay = t.take_payment("1001", 8112, bill=bill)
    assert pay.printed.outcome is PrintOutcome.ORIGINAL_PRINTED
    assert pay.receipt.balance_fen is None  # not printed from stale figures
    assert not t.sync_now().ok
    assert rig.journal.get(pay.txn).state is EntryState.PENDING
    assert rig.station_rows("SELECT count(*) FROM payments") == [(0,)]
    # the offline bill view counts the money taken but not yet at the station
    assert t.query_bill("1001").still_owed == 18412 - 8112
    rig.online()
    assert t.sync_now().applied == 1
    assert t.sync_now().applied == 0  # nothing twice
    assert rig.station_rows("SELECT txn, amount FROM payments") == [(pay.txn, 8112)]


def test_same_day_reversal_once_with_a_reason(rig):
    t = rig.terminal
    pay = t.take_payment("1001", 18412)
    with pytest.raises(BusinessRuleError):
        t.reverse_payment(pay.txn, "  ")  # a reason is required
    rev = t.reverse_payment(pay.txn, "金额输错")
    assert rev.amount == 18412 and rig.journal.get(rev.txn).depends_on == pay.txn
    with pytest.raises(BusinessRuleError) as info:
        t.reverse_payment(pay.txn, "再次冲正")
    assert "already reversed" in str(info.value)
    report = t.sync_now()  # payment and reversal in one pipelined connection, payment first
    assert report.applied == 2
    assert rig.station_rows("SELECT orig, reason FROM reversals") == [(pay.txn, "金额输错")]
    assert t.query_bill("1001").arrears_total == 18412  # every bill got back what the payment applied


def test_reversal_is_refused_after_the_business_day_or_the_settlement(rig):
    t = rig.terminal
    late = t.take_payment("1001", 1000)
    settled_day = t.take_payment("1002", 2000)
    rig.clock.advance(dt.timedelta(hours=15))  # 24:00 Asia/Shanghai: the business day is over
    with pytest.raises(BusinessRuleError) as info:
        t.reverse_payment(late.txn, "金额输错")
    assert "reversal is allowed on that day only" in str(info.value)
    rig.clock.advance(dt.timedelta(hours=-1))  # back to 23:00 the same day, after the 日结
    t.settle_day()
    with pytest.raises(BusinessRuleError) as info:
        t.reverse_payment(settled_day.txn, "金额输错")
    assert "closed by the daily settlement" in str(info.value)
    with pytest.raises(BusinessRuleError) as info:
        t.reverse_payment("40000002-1", "不是本机")  # another terminal's payment
    assert "not taken on this terminal" in str(info.value)
    assert [e.kind for e in rig.journal.entries()] == ["payment", "payment"]


def test_paper_running_out_mid_receipt_keeps_the_payment_and_the_retry_is_a_copy(rig):
    rig.printer_mock.load_paper(lines=6)
    pay = rig.terminal.take_payment("1001", 18412, tendered=20000)
    assert pay.print_error is not None and "marked as a copy" in str(pay.print_error)
    assert rig.journal.get(pay.txn).kind == "payment" and pay.change == 1588  # the payment stands
    assert rig.terminal.unprinted_receipts() == []  # the original may be (partly) on paper
    rig.printer_mock.load_paper()
    assert rig.terminal.reprint_receipt(pay.txn).outcome is PrintOutcome.COPY_PRINTED
    torn, copy = rig.tickets(2)
    assert COPY_MARK in copy and "￥184.12" in copy


def test_a_receipt_that_never_printed_is_found_and_printed_as_the_original(rig):
    from terminal_app.station.messages import MsgType

    # the terminal stopped right after the journal commit: no receipt, no document
    entry = rig.journal.capture("payment", MsgType.PAYMENT, encode_body_fast({"cust": "1001", "amount": 5000, "method": "cash",
                                                             "at": "2026-11-24T09:00:00+08:00", "op": "0007"}))
    assert rig.terminal.unprinted_receipts() == [entry.txn]
    assert rig.terminal.reprint_receipt(entry.txn).outcome is PrintOutcome.ORIGINAL_PRINTED
    assert rig.terminal.unprinted_receipts() == []
    text = rig.tickets(1)[0]
    assert COPY_MARK not in text and "王秀英" in text and "￥50.00" in text and entry.txn in text
