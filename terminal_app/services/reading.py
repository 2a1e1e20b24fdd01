"""Read a meter (抄表): barcode → customer, IR read or keypad entry, validation, bill pre-calculation,
reading journaled, reading notice (抄表通知单) printed — in that order.

The screen flow the UI drives, one synchronous call per step::

    customer = find_customer(store, scanner.read_code(timeout=30))     # or a typed customer number
    value = read_meter(ir_head, customer)                             # or typed, with a reason
    check = check_reading(customer, value)                            # warnings to show
    result = save_reading(..., check=check, confirmed=..., abnormal=...)  # journal, then print

The reading is captured in the journal BEFORE the notice prints: if the printer fails, the
reading stands and :func:`reprint_notice` prints it later (a copy if the original may be on
paper).  A reading with a value travels as READINGS_UPLOAD (one reading per entry, drained by
the sync engine, pipelined); an abnormality (抄表异常) is also registered with ABNORMAL_REGISTER;
a visit with no value at all (门闭, 表计未找到) only registers the abnormality.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from drivers.ir_meter.driver import IrMeter
from terminal_app.documents import templates
from terminal_app.domain.abnormal import Abnormal
from terminal_app.domain.allocation import Owed, allocate
from terminal_app.domain.bill import Bill
from terminal_app.domain.customer import Customer, Meter
from terminal_app.domain.reading import Reading, ReadingSource
from terminal_app.domain.tariff import PeriodOutOfRangeError, TariffKind, compute_bill
from terminal_app.domain.validation import (
    ReadingCheck,
    ValidationPolicy,
    WarningKind,
    expected_use,
    register_abnormal,
)
from terminal_app.domain.validation import check_reading as _domain_check
from terminal_app.errors import BusinessRuleError, DeviceError, HandheldError
from terminal_app.services import ports
from terminal_app.services.common import Operator, TariffBook, print_once
from terminal_app.services.ports import UseCaseContext
from terminal_app.services.store import LocalStore
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast
from terminal_app.timeutil import SHANGHAI, business_day

if TYPE_CHECKING:
    from drivers.printer.ticket import PrintResult

log = logging.getLogger(__name__)

#: DL/T 645-2007 forward active energy, total (the 1997 meter's 9010 is translated by the driver)
TOTAL_ENERGY_DI = "00010000"


#: whatever reads a meter's total forward active energy (the IR head in the field)
MeterReader = ports.MeterReader


class IrHead:
    """The infrared head: one DL/T 645 read of the meter the route names (its address and standard)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings  # terminal_app.config.IrMeterSettings

    def read_total(self, meter: Meter) -> Decimal:
        s = self.settings
        with IrMeter(s.url, baudrate=s.baudrate, parity=s.parity, address=meter.address or None,
                     standard=meter.standard or s.standard, retries=s.retries, reply_timeout_s=s.reply_timeout_s,
                     byte_gap_s=s.byte_gap_s) as ir:
            value = ir.read(TOTAL_ENERGY_DI).value
        if not isinstance(value, Decimal):
            raise DeviceError("The meter's energy register gave no number.",
                              "Read the meter again, or type the reading with a reason.")
        return value


def now_s(clock: ports.Clock) -> dt.datetime:
    """The clock's time in Asia/Shanghai to the second (the wire's precision)."""
    return clock.now().astimezone(SHANGHAI).replace(microsecond=0)


def find_customer(store: LocalStore, code: str) -> Customer:
    """The customer whose meter carries barcode ``code`` (资产编号), or whose number (户号) it is."""
    code = code.strip()
    customer = store.customer_by_meter(code) or store.customer(code)
    if customer is None:
        raise BusinessRuleError("No customer with meter or number {code} in the downloaded routes.",
                                "Check the barcode, or download the route (抄表段) this meter belongs to.",
                                code=code[:40])
    return customer


def scan(scanner: ports.Scanner, store: LocalStore, timeout: float = 30.0) -> tuple[str, Customer | None]:
    """Wait for one barcode scan (bounded by ``timeout``): the code and its customer, if any."""
    code = scanner.read_code(timeout)
    try:
        return code, find_customer(store, code)
    except BusinessRuleError:
        return code, None


def read_meter(reader: MeterReader, customer: Customer) -> Decimal:
    """Read the customer's meter over IR (raises DeviceTimeoutError etc. with advice to the operator)."""
    return reader.read_total(customer.meter)


def check_reading(customer: Customer, value: Decimal, *, at: dt.datetime, found_meter: str | None = None,
                  policy: ValidationPolicy | None = None) -> ReadingCheck:
    """Validate ``value`` (read at ``at``) against the customer's last reading and usual use (the
    station's average daily use × the days since the last reading): warnings and what they need."""
    expected = expected_use(customer.avg_daily_kwh, customer.last_read_at, at)
    return _domain_check(customer.meter, value, previous=customer.last_reading, read_meter=found_meter,
                         expected_kwh=expected, policy=policy or ValidationPolicy())


@dataclass(frozen=True, slots=True)
class ReadingResult:
    reading: Reading
    txn: str | None            # READINGS_UPLOAD entry (None when no value was taken)
    abnormal_txn: str | None   # ABNORMAL_REGISTER entry
    bill: Bill | None          # 抄表预算电费, when the consumption and the tariff allow it
    printed: Any = None        # drivers.printer.PrintResult of the notice
    print_error: HandheldError | None = None  # the notice did not print: offer reprint_notice(txn)
    no_bill: HandheldError | None = None  # why there is no bill (period out of range, time-of-use …)
    from_balance: int = 0      # what the customer's prepayment balance pays of the bills (预存抵扣)


def period_days(customer: Customer, reading: Reading) -> int | None:
    """Days of the reading period: from the last reading's day to this one's (Asia/Shanghai)."""
    if customer.last_read_at is None:
        return None
    return (business_day(reading.read_at) - business_day(customer.last_read_at)).days


def precalculate_or_why(tariffs: TariffBook, customer: Customer, reading: Reading
                        ) -> tuple[Bill | None, HandheldError | None]:
    """The bill for the reading's consumption in its month, tier bounds prorated to the reading
    period's days; or why there is none (a period outside 15–62 days, a time-of-use tariff …)."""
    if reading.consumption is None:
        return None, None
    try:
        tariff = tariffs.get(customer.tariff)
        if tariff.kind is TariffKind.TOU:
            # needs the per-register energies, and a tiered time-of-use scheme is not modelled here
            raise BusinessRuleError("Tariff {tariff} is time-of-use: this terminal does not estimate its bill.",
                                    "The station bills it from the meter's register readings.",
                                    tariff=customer.tariff)
        return compute_bill(tariff, month=reading.read_at.strftime("%Y-%m"), kwh=reading.consumption,
                            customer=customer.number, days=period_days(customer, reading)), None
    except HandheldError as e:
        log.warning("no bill pre-calculation for %s: %s", customer.number, e)
        return None, e


def precalculate(tariffs: TariffBook, customer: Customer, reading: Reading) -> Bill | None:
    """The bill for the reading (None when there is none: see :func:`precalculate_or_why`)."""
    return precalculate_or_why(tariffs, customer, reading)[0]


def balance_cover(customer: Customer, bill: Bill | None, rule: Any, day: Any) -> int:
    """What the customer's prepayment balance pays — the PAYMENT rule, oldest first — of its
    arrears (penalties counted to ``day``) and this bill."""
    if not customer.balance:
        return 0
    owed = [Owed(a.period, a.penalty, a.amount) for a in (x.as_of(rule, day) for x in customer.arrears)]
    if bill is not None and bill.total:
        owed.append(Owed(bill.period, 0, bill.total))
    return allocate(customer.balance, owed).paid_to_bills


def save_reading(ctx: UseCaseContext, customer: Customer, *, check: ReadingCheck | None, source: ReadingSource,
                 reason: str = "", confirmed: tuple[WarningKind, ...] = (), abnormal: Abnormal | None = None,
                 rollover: bool = False, reentered: Decimal | None = None, jump_reason: str = "",
                 place: Mapping[str, Any] | None = None, photo: bytes | None = None) -> ReadingResult:
    """Accept the reading, journal it (with its ``place``: services.place.place_now), then print
    the reading notice.

    ``check`` None means no value could be taken: ``abnormal`` must say why (门闭 …).  Every
    warning of ``check`` must be answered as its rule says (domain.validation: an abnormal code
    or a plausible ``rollover`` for a lower reading, the value ``reentered`` and a ``jump_reason``
    for a jump, ``confirmed`` for zero use or a replaced meter) — BusinessRuleError otherwise,
    nothing journaled.  ``sync`` (a SyncEngine) is told about the capture.  ``photo`` (a JPEG from
    :func:`terminal_app.services.photo.take_photo`) is journaled as the reading's photo right after
    the reading, before the notice prints (it uploads in the photo lane); a visit without a value
    has no reading to attach it to and keeps none.
    """
    journal, store, printer, tariffs = ctx.journal, ctx.store, ctx.printer, ctx.tariffs
    operator, clock, sync = ctx.operator, ctx.clock, ctx.sync
    at = now_s(clock)
    if check is None:
        if abnormal is None:
            raise BusinessRuleError("A visit without a reading needs an abnormal code.",
                                    "Choose the abnormality (门闭, 表计未找到 …).")
        reading = register_abnormal(customer=customer.number, meter=customer.meter, read_at=at, abnormal=abnormal,
                                    previous=customer.last_reading)
    else:
        reading = check.accept(customer=customer.number, read_at=at, source=source, reason=reason,
                               confirmed=confirmed, abnormal=abnormal, rollover=rollover, reentered=reentered,
                               jump_reason=jump_reason)
    if place is not None:
        reading = dataclasses.replace(reading, place=place)
    bill, no_bill = precalculate_or_why(tariffs, customer, reading)
    rule = store.penalty_rule()
    from_balance = balance_cover(customer, bill, rule, business_day(at))
    txn = abnormal_txn = None
    # capture BEFORE anything is printed: from here on the reading cannot be lost
    if reading.value is not None and photo:  # the reading and its photo in one transaction
        from terminal_app.services.photo import capture_reading_with_photo

        txn, _chunks = capture_reading_with_photo(ctx, encode_body_fast({"readings": [reading.upload_item()]}), photo)
    elif reading.value is not None:
        txn = journal.capture("reading", MsgType.READINGS_UPLOAD, encode_body_fast({"readings": [reading.upload_item()]})).txn
    if reading.abnormal is not None:
        abnormal_txn = journal.capture("abnormal", MsgType.ABNORMAL_REGISTER, encode_body_fast(reading.abnormal_registration())).txn
    if sync is not None:
        sync.notify_captured()
    if txn is None:
        return ReadingResult(reading, txn, abnormal_txn, bill, no_bill=no_bill)
    arrears = sum(a.as_of(rule, business_day(at)).total for a in customer.arrears)
    notice = _notice_data(customer, reading, bill, txn, operator, no_bill=no_bill, from_balance=from_balance,
                          arrears=arrears)
    store.save_document(txn, "reading_notice", _notice_json(notice))
    printed, error = _print_notice(printer, store, notice, clock)
    return ReadingResult(reading, txn, abnormal_txn, bill, printed, error, no_bill, from_balance)


def _no_bill_text(e: HandheldError | None, customer: Customer, reading: Reading) -> str:
    """Why the notice carries no bill, in Chinese (paper is Chinese)."""
    if isinstance(e, PeriodOutOfRangeError):
        return f"未预算：抄表周期{e.params['days']}天，不在{e.params['low']}–{e.params['high']}天内，由营业厅核算"
    if e is not None and "time-of-use" in e.what:
        return "未预算：分时电价用户，由主站按分时电量核算"
    if e is not None:
        return "未预算：以供电公司账单为准"
    return ""


def _notice_data(customer: Customer, reading: Reading, bill: Bill | None, txn: str,
                 operator: Operator, *, no_bill: HandheldError | None = None, from_balance: int = 0,
                 arrears: int | None = None) -> templates.ReadingNoticeData:
    assert reading.value is not None
    return templates.ReadingNoticeData(
        notice_no=txn, customer_no=customer.number, customer_name=customer.name, address=customer.address,
        meter_no=customer.meter.number, read_at=reading.read_at,
        previous_reading=reading.previous if reading.previous is not None else reading.value,
        current_reading=reading.value, consumption_kwh=reading.consumption,
        amount_fen=bill.total if bill is not None else (0 if reading.consumption is not None else None),
        operator=operator.operator, terminal_id=operator.terminal_id, period=reading.read_at.strftime("%Y-%m"),
        multiplier=customer.meter.multiplier, abnormal=reading.abnormal.label if reading.abnormal else "",
        arrears_fen=customer.arrears_total if arrears is None else arrears, note=reading.note,
        lines=tuple((ln.name, ln.kwh, ln.price, ln.amount) for ln in bill.lines) if bill is not None else (),
        period_days=period_days(customer, reading), from_balance_fen=from_balance,
        no_bill=_no_bill_text(no_bill, customer, reading) if bill is None and reading.consumption else "")


def _notice_json(n: templates.ReadingNoticeData) -> dict[str, Any]:
    return {"notice_no": n.notice_no, "customer_no": n.customer_no, "customer_name": n.customer_name,
            "address": n.address, "meter_no": n.meter_no, "read_at": n.read_at.isoformat(),
            "previous_reading": str(n.previous_reading), "current_reading": str(n.current_reading),
            "amount_fen": n.amount_fen, "operator": n.operator,
            "terminal_id": n.terminal_id, "period": n.period, "multiplier": n.multiplier, "abnormal": n.abnormal,
            "arrears_fen": n.arrears_fen, "note": n.note,
            "consumption_kwh": None if n.consumption_kwh is None else str(n.consumption_kwh),
            "lines": [[name, str(kwh), str(price), fen] for name, kwh, price, fen in n.lines],
            "period_days": n.period_days, "from_balance_fen": n.from_balance_fen, "no_bill": n.no_bill}


def _print_notice(printer: ports.Printer, store: LocalStore, notice: templates.ReadingNoticeData,
                  clock: ports.Clock) -> tuple[Any, HandheldError | None]:
    try:
        return print_once(printer, store, templates.reading_notice(notice), clock), None
    except HandheldError as e:  # the reading is journaled; the notice can be printed again
        log.warning("reading notice %s not printed: %s", notice.notice_no, e)
        return None, e


def reprint_notice(ctx: UseCaseContext, txn: str) -> PrintResult:
    """Print the reading notice of reading ``txn`` again (a copy if the original may be on paper)."""
    store, printer, clock = ctx.store, ctx.printer, ctx.clock
    doc = store.document(txn)
    if doc is None or doc[0] != "reading_notice":
        raise BusinessRuleError("No reading notice {txn} on this terminal.", "Check the number.", txn=txn)
    d = doc[1]
    notice = templates.ReadingNoticeData(**{
        **d, "read_at": dt.datetime.fromisoformat(d["read_at"]),
        **{k: Decimal(d[k]) for k in ("previous_reading", "current_reading")},
        "consumption_kwh": None if d.get("consumption_kwh") is None else Decimal(d["consumption_kwh"]),
        "lines": tuple((n, Decimal(k), Decimal(p), f) for n, k, p, f in d.get("lines", ()))})
    return print_once(printer, store, templates.reading_notice(notice), clock)
