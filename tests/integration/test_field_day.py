"""THE FIELD DAY (issue 5, "Done when"), as one integration test on real parts end to end.

An electrician's day on segment 010101 of the demo area (hw_mocks.station.seed, 1800 customers,
300 per segment): download the 300-customer route; read 50 meters (scan the barcode, read over
IR — a few abnormal); collect 20 payments with receipts (3 while out of coverage, synced later);
reverse 1; dun the segment (every notice printed) with one pre-disconnection check; settle.
At the end the station's ledger and the settlement slip agree to the fen.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from drivers.printer import PrintOutcome
from offline_queue.journal import EntryState
from terminal_app.domain.abnormal import Abnormal, AbnormalCode
from terminal_app.domain.money import format_fen
from terminal_app.domain.reading import ReadingSource
from terminal_app.domain.validation import WarningKind
from terminal_app.services.payment import PaymentKind
from tests.integration.test_usecase_rig import TID, Rig

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

        # 2. read 50 meters along the route: scan → customer → IR read → validate → journal → notice
        abnormal_visits = {7: "reverse", 19: "door_locked", 33: "keyed_estimate"}
        readings = {}
        for i, expected in enumerate(route[:50]):
            rig.clock.advance(dt.timedelta(minutes=4))
            rig.scanner_device.scan(expected.meter.number)
            customer = t.scan_customer(timeout=2)
            assert customer == expected
            kind = abnormal_visits.get(i)
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
                    customer.last_reading + Decimal(40 + 7 * i)
                with rig.meter_showing(customer, f"{shown:.2f}"):
                    value = t.read_meter(customer)
                assert value == shown
                check = t.check_reading(customer, value)
                if kind == "reverse":  # lower than last time: the operator answers with 表倒走
                    assert [w.kind for w in check.warnings] == [WarningKind.REVERSE]
                    result = t.save_reading(customer, check, abnormal=Abnormal(AbnormalCode.RUNNING_BACKWARDS))
                else:
                    assert check.warnings == ()
                    result = t.save_reading(customer, check)
                    assert result.bill is not None and result.bill.total > 0
            assert result.printed.outcome is PrintOutcome.ORIGINAL_PRINTED
            printed += 1
            readings[customer.number] = value
        assert len(readings) == 49
        status = t.upload_readings()
        assert (status.waiting, status.uploaded, status.refused) == (0, 49 + 3, 0)  # 49 readings + 3 abnormal
        station_readings = dict(rig.station_rows("SELECT cust, value FROM readings"))
        assert station_readings == {c: f"{v:.2f}" for c, v in readings.items()}
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
            printed += 1
            payments.append(pay)
        assert {p.kind for p in payments} == set(PaymentKind)
        offline_txns = [p.txn for p in payments[8:11]]
        assert all(rig.journal.get(x).state is EntryState.PENDING for x in offline_txns)

        # 4. reverse one (the operator took the wrong amount), same day, with a reason
        wrong = payments[4]
        t.reverse_payment(wrong.txn, "金额输错，退还现金")

        # 5. dun the segment: every task's notice printed, one disconnection after a real-time check
        tasks = t.download_dunning_tasks(SEGMENT)
        assert len(tasks) > 20
        for task in tasks:
            assert t.print_dunning_notice(task.task).outcome is PrintOutcome.ORIGINAL_PRINTED
            printed += 1
        paid = {p.customer for p in payments}
        target = next(x for x in tasks if x.customer not in paid and x.amount_due > 0)
        cut = t.confirm_disconnection(target.task)
        assert cut.check.may_disconnect and cut.check.total == target.amount_due

        # 6. back in coverage: everything reaches the station exactly once
        report = t.sync_now()
        assert report.ok and report.rejected == 0
        assert t.queue_status().depth == 0 and t.queue_status().parked == 0
        assert all(rig.journal.get(x).state is EntryState.APPLIED for x in offline_txns)

        # 7. settle: the slip and the station's ledger agree to the fen
        rig.clock.at = dt.datetime(2026, 11, 24, 18, 30, tzinfo=MORNING.tzinfo)
        result = t.settle_day()
        slip = result.slip
        station_count, station_fen = rig.station_rows(
            "SELECT count(*), coalesce(sum(amount), 0) FROM payments WHERE terminal = ? AND day = '2026-11-24'"
            " AND reversed_by IS NULL", TID)[0]
        assert result.reconciled is True and result.differences == ()
        assert (len(result.figures.kept), slip.collected_fen) == (station_count, station_fen) == (
            19, sum(p.amount for p in payments) - wrong.amount)
        assert slip.cash_to_deliver_fen == station_fen
        assert (slip.reversal_count, slip.reversal_fen) == (1, wrong.amount)
        assert sum(r.count for r in slip.rows) == 20
        printed += 1
        tickets = rig.tickets(printed)
        assert len(rig.printer_mock.tickets) == printed  # nothing printed twice
        slip_text = tickets[-1]
        assert f"￥{format_fen(station_fen)}" in slip_text and "一致" in slip_text
        # a receipt, drawn as QA sees it (legible Chinese PNG)
        receipt = rig.printer_mock.tickets[49]
        receipt.save(tmp_path / "png")
        assert "缴费凭证" in receipt.text and receipt.png_path.stat().st_size > 5000
