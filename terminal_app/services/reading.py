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

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from drivers.ir_meter.driver import IrMeter
from drivers.printer import templates
from terminal_app.domain.abnormal import Abnormal
from terminal_app.domain.bill import Bill
from terminal_app.domain.customer import Customer, Meter
from terminal_app.domain.reading import Reading, ReadingSource
from terminal_app.domain.tariff import TariffKind, compute_bill
from terminal_app.domain.validation import (
    ReadingCheck,
    ValidationPolicy,
    WarningKind,
    expected_use,
    register_abnormal,
)
from terminal_app.domain.validation import check_reading as _domain_check
from terminal_app.errors import BusinessRuleError, DeviceError, HandheldError
from terminal_app.services.common import Operator, TariffBook, print_once
from terminal_app.services.store import LocalStore
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import SHANGHAI, Clock

log = logging.getLogger(__name__)

#: DL/T 645-2007 forward active energy, total (the 1997 meter's 9010 is translated by the driver)
TOTAL_ENERGY_DI = "00010000"


class MeterReader(Protocol):
    """Whatever reads a meter's total forward active energy (the IR head in the field)."""

    def read_total(self, meter: Meter) -> Decimal: ...


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


def now_s(clock: Clock) -> dt.datetime:
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


def scan_customer(scanner: Any, store: LocalStore, timeout: float = 30.0) -> Customer:
    """Wait for one barcode scan (bounded by ``timeout``) and find its customer."""
    return find_customer(store, scanner.read_code(timeout))


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


def precalculate(tariffs: TariffBook, customer: Customer, reading: Reading) -> Bill | None:
    """The bill for the reading's consumption in its month (None for TOU or unknown tariffs)."""
    if reading.consumption is None:
        return None
    try:
        tariff = tariffs.get(customer.tariff)
        if tariff.kind is TariffKind.TOU:
            return None  # needs the per-register energies: the station bills it
        return compute_bill(tariff, month=reading.read_at.strftime("%Y-%m"), kwh=reading.consumption,
                            customer=customer.number)
    except HandheldError as e:
        log.warning("no bill pre-calculation for %s: %s", customer.number, e)
        return None


def save_reading(journal: Any, store: LocalStore, printer: Any, tariffs: TariffBook, customer: Customer, *,
                 check: ReadingCheck | None, source: ReadingSource, operator: Operator, clock: Clock,
                 reason: str = "", confirmed: tuple[WarningKind, ...] = (), abnormal: Abnormal | None = None,
                 rollover: bool = False, reentered: Decimal | None = None, jump_reason: str = "",
                 sync: Any = None) -> ReadingResult:
    """Accept the reading, journal it, then print the reading notice.

    ``check`` None means no value could be taken: ``abnormal`` must say why (门闭 …).  Every
    warning of ``check`` must be answered as its rule says (domain.validation: an abnormal code
    or a plausible ``rollover`` for a lower reading, the value ``reentered`` and a ``jump_reason``
    for a jump, ``confirmed`` for zero use or a replaced meter) — BusinessRuleError otherwise,
    nothing journaled.  ``sync`` (a SyncEngine) is told about the capture.
    """
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
    bill = precalculate(tariffs, customer, reading)
    txn = abnormal_txn = None
    # capture BEFORE anything is printed: from here on the reading cannot be lost
    if reading.value is not None:
        txn = journal.capture("reading", MsgType.READINGS_UPLOAD, {"readings": [reading.upload_item()]}).txn
    if reading.abnormal is not None:
        abnormal_txn = journal.capture("abnormal", MsgType.ABNORMAL_REGISTER, reading.abnormal_registration()).txn
    if sync is not None:
        sync.notify_captured()
    if txn is None:
        return ReadingResult(reading, txn, abnormal_txn, bill)
    notice = _notice_data(customer, reading, bill, txn, operator)
    store.save_document(txn, "reading_notice", _notice_json(notice))
    printed, error = _print_notice(printer, store, notice, clock)
    return ReadingResult(reading, txn, abnormal_txn, bill, printed, error)


def _notice_data(customer: Customer, reading: Reading, bill: Bill | None, txn: str,
                 operator: Operator) -> templates.ReadingNoticeData:
    assert reading.value is not None
    return templates.ReadingNoticeData(
        notice_no=txn, customer_no=customer.number, customer_name=customer.name, address=customer.address,
        meter_no=customer.meter.number, read_at=reading.read_at,
        previous_reading=reading.previous if reading.previous is not None else reading.value,
        current_reading=reading.value, consumption_kwh=reading.consumption,
        amount_fen=bill.total if bill is not None else (0 if reading.consumption is not None else None),
        operator=operator.operator, terminal_id=operator.terminal_id, period=reading.read_at.strftime("%Y-%m"),
        multiplier=customer.meter.multiplier, abnormal=reading.abnormal.label if reading.abnormal else "",
        arrears_fen=customer.arrears_total, note=reading.note,
        lines=tuple((ln.name, ln.kwh, ln.price, ln.amount) for ln in bill.lines) if bill is not None else ())


def _notice_json(n: templates.ReadingNoticeData) -> dict[str, Any]:
    return {"notice_no": n.notice_no, "customer_no": n.customer_no, "customer_name": n.customer_name,
            "address": n.address, "meter_no": n.meter_no, "read_at": n.read_at.isoformat(),
            "previous_reading": str(n.previous_reading), "current_reading": str(n.current_reading),
            "amount_fen": n.amount_fen, "operator": n.operator,
            "terminal_id": n.terminal_id, "period": n.period, "multiplier": n.multiplier, "abnormal": n.abnormal,
            "arrears_fen": n.arrears_fen, "note": n.note,
            "consumption_kwh": None if n.consumption_kwh is None else str(n.consumption_kwh),
            "lines": [[name, str(kwh), str(price), fen] for name, kwh, price, fen in n.lines]}


def _print_notice(printer: Any, store: LocalStore, notice: templates.ReadingNoticeData,
                  clock: Clock) -> tuple[Any, HandheldError | None]:
    try:
        return print_once(printer, store, templates.reading_notice(notice), clock), None
    except HandheldError as e:  # the reading is journaled; the notice can be printed again
        log.warning("reading notice %s not printed: %s", notice.notice_no, e)
        return None, e


def reprint_notice(store: LocalStore, printer: Any, txn: str, clock: Clock) -> Any:
    """Print the reading notice of reading ``txn`` again (a copy if the original may be on paper)."""
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
