"""What the field UI shows: small frozen records the session's queries return (money in integer fen).

:class:`terminal_app.services.session.FieldSession` answers the UI's questions with these (the
read side of the use cases), so a change in a use case's own return value is absorbed in one
place in the core, and the UI (ui.model re-exports them) never sees the journal, the store or the
station's wire bodies.  Texts are msgids (translated when shown).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from terminal_app.services.link_status import LinkState  # the core's rule decides it


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
    technology: str | None = None  # the modem's radio technology: "4G" | "2G"; None: unknown / no modem
    rsrp: int | None = None  # on 4G: RSRP in dBm (AT+QCSQ), which the bars then show instead of CSQ
    battery: int | None = None  # % from the power-supply class; None = no battery found
    charging: bool = False
    power: str = "unknown"  # terminal_app.domain.battery.PowerLevel value: ok / low / critical / unknown
    fix: str = ""  # the place source's fix (services.place.FixStatus value): 3D / 2D / stale / none; "" unknown


@dataclass(frozen=True, slots=True)
class CustomerView:  # arrears_fen: owed now (the downloaded figures less this terminal's payments)
    number: str
    name: str
    address: str = ""
    meter: str = ""  # meter asset number (the barcode on the meter)
    segment: str = ""
    arrears_fen: int = 0
    last_reading: str = ""
    read_today: bool = False  # visited today: read, or skipped with an abnormal code
    skipped: bool = False  # visited today without a reading (门闭 …): the abnormal code says why
    note: str = ""  # the premise note (门牌/注意事项), shown when the customer opens


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
    needs: tuple[str, ...] = ()  # terminal_app.domain.validation.Need values, in order
    lines: tuple[tuple[str, str, str, int], ...] = ()  # the bill's tier lines: (name, kWh, price, fen)
    rollover_use: str = ""  # the use if the register rolled over (when that is plausible)
    kinds: tuple[str, ...] = ()  # domain.validation.WarningKind values of the warnings
    no_bill: BaseException | None = None  # why there is no bill estimate (shown translated)
    period_days: int | None = None  # the reading period the tier bounds were prorated to
    from_balance_fen: int = 0  # what the prepayment balance pays of it (预存抵扣)


@dataclass(frozen=True, slots=True)
class ReadingAnswer:
    """How the operator answered the reading's warnings (domain.validation.ReadingCheck.accept)."""

    abnormal: str | None = None  # an abnormal code
    confirmed: bool = False      # zero use / another meter: confirmed
    rollover: bool = False       # the register rolled over
    reentered: str | None = None  # the value typed again
    jump_reason: str | None = None  # a JUMP_REASONS code


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
    collected_fen: int = 0  # this terminal's payments the lines do not include yet (total = lines − this)


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    txn: str
    amount_fen: int
    change_fen: int
    printed: bool
    print_error: BaseException | None = None  # why the receipt did not print (shown translated)
    queued: bool = False  # journaled, and not at the station yet (no signal): waits for the link
    owed_after_fen: int = 0  # still owed after this payment (a partial payment)
    reconnection: tuple[str, ...] = ()  # reconnection tasks (复电) the payment released
    channel: str = "cash"  # cash, or the wallet of a QR payment: wechat | alipay
    code: str = ""  # a QR payment's code, redacted (wechat:13************3456)
    acquirer_id: str = ""  # a QR payment's transaction id at the acquirer


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
    status: str = ""  # the last result recorded here (a DunningResult value), "" when none
    task: str = ""  # the station's task id
    pay_by: dt.date | None = None  # the deadline of a notice served
    overdue: bool = False  # a notice was served and its deadline has passed (a cut may be lawful)


@dataclass(frozen=True, slots=True)
class NoticeView:
    """A dunning notice printed: ``kind`` original / copy / new (part paid since)."""

    task: str
    kind: str
    owed_fen: int
    online: bool
    pay_by: dt.date
    printed: bool = True


@dataclass(frozen=True, slots=True)
class ArrearsCheck:
    """The check at the door before a cut."""

    customer: str
    arrears_fen: int
    may_disconnect: bool       # the cut is lawful now
    online: bool = True        # False: the station could not be asked: no cut
    task: str = ""
    refusals: tuple[tuple[str, dict[str, str]], ...] = ()  # why not: (msgid, params), translated when shown
    pay_by: dt.date | None = None


@dataclass(frozen=True, slots=True)
class ReversalView:
    """A reversal to confirm (before) or done (after)."""

    txn: str
    customer: str
    name: str
    amount_fen: int
    reason: str = ""
    voucher_printed: bool = False
    print_error: BaseException | None = None
    channel: str = "cash"  # how the payment reversed was paid: cash, or wechat | alipay (refunded to the wallet)


@dataclass(frozen=True, slots=True)
class CardView:
    customer: str
    name: str
    meter: str
    purchase_count: int
    remaining_fen: int | None = None
    serial: str = ""  # the card's serial number: a top-up goes to this card only
    reissue: bool = False  # a re-issue card (补卡卡) personalised for this customer: 补卡, not 购电
    max_fen: int | None = None  # the most that can be bought now (card, hoarding, cash limits); None: unknown
    hoard_limit_fen: int | None = None  # the meter's 囤积上限, when the station sets one


@dataclass(frozen=True, slots=True)
class SettlementView:
    """The day's figures as the slip prints them: every row (the reversal row negative) adds up to
    ``cash_fen``."""

    lines: tuple[tuple[str, int, int], ...]  # (row msgid, count, fen), the reversal row last
    reversals: int
    cash_fen: int
    differences: tuple[str, ...] = ()
    reconciled: bool = False
    printed: bool = False
    again: bool = False  # the day was settled before: the same slip, printed as a copy
    print_error: BaseException | None = None
    #: the slip's lines below the cash, not money taken (offline penalty estimates against the
    #: station's figures, entries not sent): (label msgid, value as printed)
    notes: tuple[tuple[str, str], ...] = ()
    #: 抄表统计 per segment, as the slip prints it: (segment, customers, read, unread, abnormal, skipped)
    readings: tuple[tuple[str, int, int, int, int, int], ...] = ()

    #: QR payments of the day, apart from the cash: (channel msgid, count, fen)
    qr: tuple[tuple[str, int, int], ...] = ()

@dataclass(frozen=True, slots=True)
class DocumentView:
    """A document in the print history (打印记录): a receipt, a reading notice or a settlement slip."""

    identity: str  # the receipt / notice / slip number (a receipt's and a notice's is the txn)
    kind: str  # "receipt" | "reading_notice" | "settlement_slip"
    customer: str  # "" for a settlement slip
    name: str
    at: dt.datetime
    amount_fen: int | None
    printed: bool  # the original may be on paper: printing again makes a copy (副本)
