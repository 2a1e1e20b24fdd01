"""What the screens show: small frozen records the backend returns (money in integer fen).

The screens depend on these and on :class:`ui.backend.Backend`, not on the use cases' own
types, so a change in a use case's return value is absorbed in one adapter (ui/backend.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class LinkState(StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"
    SYNCING = "syncing"


class PrinterState(StrEnum):
    OK = "ok"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class TerminalStatus:
    csq: int | None = None  # AT+CSQ RSSI 0–31, None or 99 = unknown
    link: LinkState = LinkState.UNKNOWN
    queue_depth: int = 0
    oldest_age_s: int | None = None
    printer: PrinterState = PrinterState.UNKNOWN


@dataclass(frozen=True, slots=True)
class CustomerView:
    number: str
    name: str
    address: str = ""
    meter: str = ""  # meter asset number (the barcode on the meter)
    segment: str = ""
    arrears_fen: int = 0
    last_reading: str = ""
    read_today: bool = False


@dataclass(frozen=True, slots=True)
class ReadingOutcome:
    """A reading before it is saved: value, use since last time, warnings, bill preview."""

    customer: str
    value: str
    source: str  # "ir" | "keypad"
    consumption: str = ""
    warnings: tuple[tuple[str, dict[str, str]], ...] = ()  # (msgid, format params), translated when shown
    bill_fen: int | None = None
    token: object = None  # the backend's own object for save_reading
    no_bill: BaseException | None = None  # why there is no bill estimate (shown translated)
    period_days: int | None = None  # the reading period the tier bounds were prorated to
    from_balance_fen: int = 0  # what the prepayment balance pays of it (预存抵扣)


@dataclass(frozen=True, slots=True)
class ArrearsLine:
    period: str
    amount_fen: int
    penalty_fen: int = 0
    from_balance_fen: int = 0  # what the prepayment balance already paid of this bill


@dataclass(frozen=True, slots=True)
class BillView:
    customer: str
    name: str
    lines: tuple[ArrearsLine, ...]
    total_fen: int
    balance_fen: int = 0
    offline: bool = False
    as_of: dt.datetime | None = None
    estimated: bool = False  # penalties counted offline on the terminal (估算)
    penalty_day: dt.date | None = None  # the day the penalties are counted to
    balance_used_fen: int = 0  # what the prepayment balance paid lately (预存抵扣)


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    txn: str
    amount_fen: int
    change_fen: int
    printed: bool
    print_error: BaseException | None = None  # why the receipt did not print (shown translated)
    queued: bool = False  # journaled, waiting for the link


@dataclass(frozen=True, slots=True)
class PaymentView:
    txn: str
    customer: str
    amount_fen: int
    at: dt.datetime
    reversed: bool = False


@dataclass(frozen=True, slots=True)
class DunningView:
    customer: str
    name: str
    amount_fen: int
    status: str = ""
    task: str = ""  # the station's task id


@dataclass(frozen=True, slots=True)
class ArrearsCheck:
    customer: str
    arrears_fen: int
    may_disconnect: bool
    online: bool = True


@dataclass(frozen=True, slots=True)
class CardView:
    customer: str
    name: str
    meter: str
    purchase_count: int
    remaining_fen: int | None = None


@dataclass(frozen=True, slots=True)
class SettlementView:
    lines: tuple[tuple[str, int, int], ...]  # (kind msgid, count, fen)
    reversals: int
    cash_fen: int
    differences: tuple[str, ...] = ()
    reconciled: bool = False
    printed: bool = False
