"""THE FIELD DAY (issues 5 and 13), as one integration test on real parts end to end.

An electrician's day on segment 010101 of the demo area (hw_mocks.station.seed, 1800 customers,
300 per segment): download the 300-customer route; read 50 meters (scan the barcode, read over
IR), with the bad paths of issue 13 on the way — a reading below the last one (refused on a
plain "yes", saved with 表倒走), 10 000 kWh on a household (typed again, then explained), the
same meter read twice, a door locked, an estimate typed; collect 20 payments with receipts (3
while out of coverage, synced later, one partial that says what is still owed); reverse one
(with its 冲正凭证); dun the segment — no notice for a customer who has paid, no cut before a
notice's deadline, a lawful cut whose reconnection task the customer's payment releases —;
settle: the rows add up, the station agrees to the fen, no money after 日结, a second 日结 is
the same slip as a copy.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from drivers.printer import COPY_MARK, PrintOutcome
from offline_queue.journal import EntryState
from terminal_app.domain.abnormal import Abnormal, AbnormalCode
from terminal_app.domain.dunning import CutRefusal, NoticeAction
from terminal_app.domain.money import format_fen
from terminal_app.domain.reading import ReadingSource
from terminal_app.domain.validation import Need, WarningKind
from terminal_app.errors import BusinessRuleError
from terminal_app.services.payment import PaymentKind
from tests.integration.test_usecase_rig import TID, Rig
from tests.util import wait_for

SEGMENT = "010101"
MORNING = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def test_field_day(tmp_path):
    with Rig(tmp_path, customers=1800, at=MORNING) as rig:
        t = rig.terminal
        printed = 0

        # 1. download the route: 300 customers in pages of 100, with progress
        progress: list[tuple[int, int]] = []
        summary = t.download_route(SEGMENT, progress=lambda done, pages: progress.append((done, pages)))
        assert (summary.customers, summary.pages) == (300, 3) and progress[-1] == (3, 3)
        route = t.route_customers(SEGMENT)
        assert len(route) == 300 and route[0].number == "0101010001"
        assert all(c.avg_daily_kwh is not None for c in route)  # the station's usual use, per customer

        # 2. read 50 meters along the route: scan → customer → IR read → validate → journal → notice
        visits = {7: "reverse", 12: "jump", 19: "door_locked", 25: "read_twice", 33: "keyed_estimate"}
        readings = {}
        for i, expected in enumerate(route[:50]):
            rig.clock.advance(dt.timedelta(minutes=4))
            rig.scanner_device.scan(expected.meter.number)
            customer = t.scan_customer(timeout=2)
            assert customer == expected
            kind = visits.get(i)
            usual = customer.avg_daily_kwh * 30  # the last readings are a month old
            if kind == "door_locked":  # 门闭: nothing read, the abnormality registered
                result = t.save_reading(customer, None, abnormal=Abnormal(AbnormalCode.DOOR_LOCKED))
                assert result.txn is None and result.abnormal_txn
                continue
            if kind == "keyed_estimate":  # IR window broken: 估抄 typed on the keypad
                value = customer.last_reading + Decimal("80")
                check = t.check_reading(customer, value)
                result = t.save_reading(customer, check, source=ReadingSource.KEYPAD, reason="红外窗口损坏",
                                        abnormal=Abnormal(AbnormalCode.ESTIMATED))
            else:
                shown = customer.last_reading - Decimal("3.5") if kind == "reverse" else \
                    customer.last_reading + Decimal(10000) if kind == "jump" else \
                    customer.last_reading + (usual * Decimal("0.9")).quantize(Decimal("0.01"))
                with rig.meter_showing(customer, f"{shown:.2f}") as meter:
                    value = t.read_meter(customer)
                    if kind == "read_twice":  # the same meter read again: the IR port reopens
                        # as in test_serial_port: no client reopens within microseconds of a close
                        # (on a busy machine the mock's watcher may not have run yet); wait for it
                        wait_for(lambda: meter.link.restores >= 1, what="the pty's line restored after the read")
                        assert t.read_meter(customer) == value
                assert value == shown
                check = t.check_reading(customer, value)
                if kind == "reverse":  # lower than last time: no plain "yes" — an abnormal code
                    assert [w.kind for w in check.warnings] == [WarningKind.REVERSE]
                    assert check.needs() == (Need.ABNORMAL_CODE,)
                    with pytest.raises(BusinessRuleError):
                        t.save_reading(customer, check, confirmed=(WarningKind.REVERSE,))
                    result = t.save_reading(customer, check, abnormal=Abnormal(AbnormalCode.RUNNING_BACKWARDS))
                    assert result.bill is None and result.reading.consumption is None
                elif kind == "jump":  # 10 000 kWh on a household: typed again, then explained
                    assert [w.kind for w in check.warnings] == [WarningKind.JUMP]
                    with pytest.raises(BusinessRuleError):
                        t.save_reading(customer, check, confirmed=(WarningKind.JUMP,))
                    result = t.save_reading(customer, check, reentered=value, jump_reason="新增用电设备")
                else:
                    assert check.warnings == ()
                    result = t.save_reading(customer, check)
                    assert result.bill is not None and result.bill.total > 0
            assert result.printed.outcome is PrintOutcome.ORIGINAL_PRINTED
            printed += 1
            readings[customer.number] = value
        assert len(readings) == 49
        notices = rig.tickets(printed)
        reverse_notice = next(n for n in notices if route[7].number in n)
        assert "抄表异常：表倒走" in reverse_notice and "待核实" in reverse_notice  # no bill from a reverse
        jump_notice = next(n for n in notices if route[12].number in n)
        assert "电量突增原因：新增用电设备" in jump_notice.replace(" ", "")
        # the tier lines of the bill (bounds for the 30-day period), on the notice
        assert "第三档：9720.00×0.8224=7993.73" in jump_notice and "抄表天数 30天" in " ".join(jump_notice.split())
        status = t.upload_readings()
        assert (status.waiting, status.uploaded, status.refused) == (0, 49 + 3, 0)  # 49 readings + 3 abnormal
        station_readings = dict(rig.station_rows("SELECT cust, value FROM readings"))
        assert station_readings == {c: f"{v:.2f}" for c, v in readings.items()}
        assert rig.station_rows("SELECT abnormal, note FROM readings WHERE cust = ?", route[12].number) == [
            (None, "新增用电设备")]
        assert rig.station_rows("SELECT abnormal FROM readings WHERE cust = ?", route[7].number) == [
            ("running_backwards",)]
        assert len(rig.station_rows("SELECT ref FROM abnormal")) == 3

        # 3. collect 20 payments, full / partial / overpaid / prepaid; payments 9–11 out of coverage
        owing = [c for c in route if c.arrears_total > 0][:19]
        prepaid = next(c for c in route if c.arrears_total == 0 and not c.meter.card)
        payers = owing[:10] + [prepaid] + owing[10:]
        payments = []
        for n, customer in enumerate(payers):
            rig.clock.advance(dt.timedelta(minutes=6))
            if n == 8:
                rig.offline()
            if n == 11:
                rig.online()
            bill = t.query_bill(customer.number)
            assert bill.online == (not 8 <= n <= 10)
            owed = bill.still_owed
            amount = (owed if n % 3 == 0 else owed // 2 if n % 3 == 1 else owed + 2000) if owed else 5000
            tendered = (amount + 9999) // 10000 * 10000  # 100-yuan notes
            pay = t.take_payment(customer.number, amount, bill=bill, tendered=tendered)
            assert pay.change == tendered - amount
            assert pay.printed.outcome is PrintOutcome.ORIGINAL_PRINTED
            if pay.kind is PaymentKind.PARTIAL:
                assert pay.owed_after == owed - amount and pay.receipt.owed_after_fen == owed - amount
            printed += 1
            payments.append(pay)
        assert {p.kind for p in payments} == set(PaymentKind)
        partial = next(p for p in payments if p.kind is PaymentKind.PARTIAL)
        receipt = next(x for x in rig.tickets(printed) if partial.txn in x and "缴费凭证" in x)
        assert f"尚欠金额 ￥{format_fen(partial.owed_after)}".replace(" ", "") in receipt.replace(" ", "")
        offline_txns = [p.txn for p in payments[8:11]]
        assert all(rig.journal.get(x).state is EntryState.PENDING for x in offline_txns)

        # 4. reverse one (the operator took the wrong amount), same day, with a reason: 冲正凭证
        wrong = payments[4]
        preview = t.preview_reversal(wrong.txn)
        assert (preview.customer, preview.amount) == (wrong.customer, wrong.amount)
        rev = t.reverse_payment(wrong.txn, "金额错误")
        assert rev.printed.outcome is PrintOutcome.ORIGINAL_PRINTED
        printed += 1
        voucher = rig.tickets(printed)[-1]
        assert "冲正凭证" in voucher and wrong.txn in voucher and f"￥{format_fen(wrong.amount)}" in voucher

        # 5. dun the segment: notices only for what is owed now; no cut before the deadline; a lawful cut
        tasks = t.download_dunning_tasks(SEGMENT)
        assert len(tasks) > 20
        paid_up = {p.customer for p in payments if p.kind in (PaymentKind.FULL, PaymentKind.OVERPAYMENT)}
        for task in tasks:
            if task.customer in paid_up:  # paid at the door today: no notice, not even a copy
                with pytest.raises(BusinessRuleError, match="owes nothing now"):
                    t.print_dunning_notice(task.task)
                continue
            outcome = t.print_dunning_notice(task.task)
            assert outcome.action is NoticeAction.ORIGINAL and outcome.owed.total > 0
            assert outcome.printed.outcome is PrintOutcome.ORIGINAL_PRINTED
            printed += 1
        assert any(tk.customer in paid_up for tk in tasks)
        fresh = next(tk for tk in tasks if tk.notice is None and tk.customer not in paid_up)
        check = t.check_cut(fresh.task)  # a notice served just now: the customer has a week
        assert check.decision.refusals == (CutRefusal.BEFORE_DEADLINE,)
        with pytest.raises(BusinessRuleError, match="not lawful"):
            t.confirm_disconnection(fresh.task)
        served = next(tk for tk in tasks if tk.notice is not None and tk.customer not in {p.customer for p in payments})
        cut = t.confirm_disconnection(served.task)  # served two weeks ago, deadline passed, still owes
        assert cut.check.allowed and cut.check.decision.owed == served.amount_due
        # the customer pays it all at once: the reconnection task is released
        release = t.take_payment(served.customer, t.query_bill(served.customer).still_owed)
        assert release.reconnection == (served.task,) and release.owed_after == 0
        printed += 1
        payments.append(release)

        # 6. back in coverage: everything reaches the station exactly once
        report = t.sync_now()
        assert report.ok and report.rejected == 0
        assert t.queue_status().depth == 0 and t.queue_status().parked == 0
        assert all(rig.journal.get(x).state is EntryState.APPLIED for x in offline_txns)
        assert rig.station_rows("SELECT state FROM reconnections WHERE task = ?", served.task) == [("released",)]

        # 7. settle: the rows add up, the slip and the station's ledger agree to the fen
        rig.clock.at = dt.datetime(2026, 11, 24, 18, 30, tzinfo=MORNING.tzinfo)
        result = t.settle_day()
        slip = result.slip
        station_count, station_fen = rig.station_rows(
            "SELECT count(*), coalesce(sum(amount), 0) FROM payments WHERE terminal = ? AND day = '2026-11-24'"
            " AND reversed_by IS NULL", TID)[0]
        assert result.reconciled is True and result.differences == ()
        assert (len(result.figures.kept), slip.collected_fen) == (station_count, station_fen) == (
            20, sum(p.amount for p in payments) - wrong.amount)
        assert slip.cash_to_deliver_fen == station_fen == sum(line.fen for line in result.lines())
        assert result.lines()[-1].fen == -wrong.amount  # the reversal row, in the sum
        assert (slip.reversal_count, slip.reversal_fen) == (1, wrong.amount)
        assert sum(r.count for r in slip.rows) == 21
        printed += 1
        tickets = rig.tickets(printed)
        assert len(rig.printer_mock.tickets) == printed  # nothing printed twice
        slip_text = tickets[-1]
        assert f"￥{format_fen(station_fen)}" in slip_text and "一致" in slip_text

        # 8. after 日结: no money on the day; a second 日结 prints the same slip, as a copy
        with pytest.raises(BusinessRuleError, match="closed by the daily settlement"):
            t.take_payment(owing[0].number, 100)
        with pytest.raises(BusinessRuleError, match="closed by the daily settlement"):
            t.reverse_payment(payments[0].txn, "金额错误")
        again = t.settle_day()
        assert again.again and again.printed.outcome is PrintOutcome.COPY_PRINTED
        assert again.slip == slip
        printed += 1
        copy = rig.tickets(printed)[-1]
        assert COPY_MARK in copy and copy.replace(COPY_MARK, "").strip() == slip_text.strip()

        # a receipt, drawn as QA sees it (legible Chinese PNG)
        receipt = rig.printer_mock.tickets[49]
        receipt.save(tmp_path / "png")
        assert "缴费凭证" in receipt.text and receipt.png_path.stat().st_size > 5000
