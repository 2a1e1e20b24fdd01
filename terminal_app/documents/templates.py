"""The business documents as pure functions: data → :class:`~drivers.printer.ticket.Ticket`.

缴费凭证 (payment receipt), 冲正凭证 (reversal voucher), 抄表通知单 (reading notice),
催费通知单 (dunning notice), 日结单 (daily settlement slip), 购电凭证 (purchase voucher), and
the issuer they are printed under.  They belong to the core: the printer driver lays out and
prints whatever ticket it is given (its own test page is the one page it makes itself).  Inputs are small dataclasses of
their own (the domain layer converts into them); money is integer fen, times are aware
datetimes shown in Asia/Shanghai, meter readings are ``Decimal`` kWh.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from drivers.printer import layout
from drivers.printer.ticket import Align, Block, Feed, Line, Qr, Ticket, TicketKind
from drivers.printer.ticket import header as _header
from drivers.printer.ticket import lines as _lines
from drivers.printer.ticket import time_text as _time

DEFAULT_ISSUER = "国网四川省电力公司"


def _kwh(value: Decimal) -> str:
    return f"{value:.2f}"


@dataclass(frozen=True)
class ReceiptData:
    """One payment (缴费凭证)."""

    receipt_no: str
    customer_no: str
    customer_name: str
    address: str
    amount_fen: int  # money taken now
    paid_at: dt.datetime
    operator: str  # 收费员
    terminal_id: str
    periods: tuple[str, ...] = ()  # 电费年月 settled, e.g. ("2026-09", "2026-10")
    kind: str = "电费"  # 电费 / 预收电费 …
    method: str = "现金"
    arrears_fen: int | None = None  # owed before this payment
    balance_fen: int | None = None  # prepaid balance after it (预存余额)
    owed_after_fen: int | None = None  # still owed after a partial payment (尚欠金额)
    issuer: str = DEFAULT_ISSUER
    penalty_fen: int | None = None  # part of the amount that pays penalties (违约金), as of the day paid
    penalty_estimated: bool = False  # counted offline on the terminal: 估算, the station's figure rules
    from_balance_fen: int = 0  # what the prepayment balance had already paid of these bills (预存抵扣)
    acquirer_id: str = ""  # a QR payment's transaction id at WeChat Pay / Alipay (支付单号); method = wallet + masked code


def receipt(data: ReceiptData, columns: int = layout.COLUMNS_58MM) -> Ticket:
    w = columns
    blocks: list[Block] = _header(data.issuer, "缴费凭证", w)
    blocks += _lines(layout.pair("收据号", data.receipt_no, w))
    blocks += _lines(layout.field("户号", data.customer_no, w))
    blocks += _lines(layout.field("户名", data.customer_name, w))
    blocks += _lines(layout.field("地址", data.address, w))
    if data.periods:
        blocks += _lines(layout.field("电费年月", "，".join(data.periods), w))
    blocks += _lines(layout.pair("缴费项目", data.kind, w))
    if data.acquirer_id:  # QR: the wallet and the masked code may not fit one line; the acquirer's id never does
        # the masked code whole on a line of its own (an Alipay code masks to 24 characters: indented
        # after 缴费方式 it would break in two)
        wallet, _sp, masked = data.method.partition(" ")
        blocks += _lines([f"缴费方式：{wallet}", masked] if masked and len(masked) <= w
                         else layout.field("缴费方式", data.method, w))
        # the id on a line of its own (28 characters): a person reads it out to the acquirer's hotline
        blocks += _lines(["支付单号：", data.acquirer_id] if len(data.acquirer_id) <= w
                         else layout.field("支付单号", data.acquirer_id, w))
    else:
        blocks += _lines(layout.pair("缴费方式", data.method, w))
    if data.from_balance_fen:
        blocks += _lines(layout.pair("预存抵扣", layout.yuan(data.from_balance_fen), w))
    if data.arrears_fen is not None:
        blocks += _lines(layout.pair("应缴金额", layout.yuan(data.arrears_fen), w))
    blocks.append(Line(layout.rule(w)))
    blocks += _lines(layout.pair("实收金额", layout.yuan(data.amount_fen), w), bold=True)
    blocks += _lines(layout.field("大写", layout.yuan_in_words(data.amount_fen), w))
    if data.penalty_fen:
        label = "其中违约金（估算）" if data.penalty_estimated else "其中违约金"
        blocks += _lines(layout.pair(label, layout.yuan(data.penalty_fen), w))
        if data.penalty_estimated:
            blocks += _lines(layout.wrap("违约金为离线估算，以供电公司核算为准。", w))
    if data.owed_after_fen is not None:
        blocks += _lines(layout.pair("尚欠金额", layout.yuan(data.owed_after_fen), w), bold=True)
    if data.balance_fen is not None:
        blocks += _lines(layout.pair("预存余额", layout.yuan(data.balance_fen), w))
    blocks.append(Line(layout.rule(w)))
    blocks += _lines(layout.pair("收费员", data.operator, w))
    blocks += _lines(layout.pair("终端号", data.terminal_id, w))
    blocks += _lines(layout.pair("时间", _time(data.paid_at), w))
    blocks.append(Qr(data.receipt_no))
    blocks += _lines(layout.wrap("请妥善保管本凭证，如有疑问请拨打95598。", w), align=Align.CENTER)
    return Ticket(data.receipt_no, TicketKind.RECEIPT, tuple(blocks))


@dataclass(frozen=True)
class ReversalVoucherData:
    """A same-day reversal (冲正凭证): the cash given back against the original receipt."""

    voucher_no: str  # the reversal's txn
    orig_receipt_no: str  # the payment's receipt number (its txn)
    customer_no: str
    customer_name: str
    amount_fen: int  # cash given back
    reason: str
    paid_at: dt.datetime  # when the reversed payment was taken
    at: dt.datetime
    operator: str
    terminal_id: str
    issuer: str = DEFAULT_ISSUER


def reversal_voucher(data: ReversalVoucherData, columns: int = layout.COLUMNS_58MM) -> Ticket:
    w = columns
    blocks: list[Block] = _header(data.issuer, "冲正凭证", w)
    blocks += _lines(layout.pair("冲正单号", data.voucher_no, w))
    blocks += _lines(layout.pair("原收据号", data.orig_receipt_no, w))
    blocks += _lines(layout.pair("原缴费时间", _time(data.paid_at), w))
    blocks += _lines(layout.field("户号", data.customer_no, w))
    blocks += _lines(layout.field("户名", data.customer_name, w))
    blocks += _lines(layout.field("冲正原因", data.reason, w))
    blocks.append(Line(layout.rule(w)))
    blocks += _lines(layout.pair("退还金额", layout.yuan(data.amount_fen), w), bold=True)
    blocks += _lines(layout.field("大写", layout.yuan_in_words(data.amount_fen), w))
    blocks.append(Line(layout.rule(w)))
    blocks += _lines(layout.pair("收费员", data.operator, w))
    blocks += _lines(layout.pair("终端号", data.terminal_id, w))
    blocks += _lines(layout.pair("时间", _time(data.at), w))
    blocks += _lines(layout.wrap("原缴费凭证作废，现金已退还客户。", w))
    blocks += [Feed(1), Line("客户签收：")]
    return Ticket(data.voucher_no, TicketKind.REVERSAL_VOUCHER, tuple(blocks))


@dataclass(frozen=True)
class ReadingNoticeData:
    """One meter reading (抄表通知单) with the pre-calculated bill."""

    notice_no: str
    customer_no: str
    customer_name: str
    address: str
    meter_no: str
    read_at: dt.datetime
    previous_reading: Decimal
    current_reading: Decimal
    consumption_kwh: Decimal | None  # None: no use can be computed (表倒走, 换表 …): 待核实
    amount_fen: int | None  # 预计电费 (None with the use)
    operator: str  # 抄表员
    terminal_id: str
    period: str = ""  # 电费年月
    multiplier: int = 1  # 倍率
    abnormal: str = ""  # 抄表异常 (its code's name, e.g. 表倒走), empty if none
    arrears_fen: int = 0
    note: str = ""  # 用电量突增原因, as the operator chose it
    #: the bill's lines (阶梯/季节/附加): (name, kWh, price 元/kWh, amount fen)
    lines: tuple[tuple[str, Decimal, Decimal, int], ...] = ()
    issuer: str = DEFAULT_ISSUER
    period_days: int | None = None  # 抄表天数: the days the tier bounds were prorated to
    from_balance_fen: int = 0  # what the prepayment balance pays (预存抵扣)
    no_bill: str = ""  # why there is no 本期电费 (e.g. a reading period outside 15–62 days)


def reading_notice(data: ReadingNoticeData, columns: int = layout.COLUMNS_58MM) -> Ticket:
    w = columns
    blocks: list[Block] = _header(data.issuer, "抄表通知单", w)
    blocks += _lines(layout.field("户号", data.customer_no, w))
    blocks += _lines(layout.field("户名", data.customer_name, w))
    blocks += _lines(layout.field("地址", data.address, w))
    blocks += _lines(layout.field("表号", data.meter_no, w))
    if data.period:
        blocks += _lines(layout.pair("电费年月", data.period, w))
    blocks += _lines(layout.pair("抄表时间", _time(data.read_at), w))
    blocks.append(Line(layout.rule(w)))
    blocks += _lines(layout.pair("上次示数", _kwh(data.previous_reading), w))
    blocks += _lines(layout.pair("本次示数", _kwh(data.current_reading), w))
    if data.multiplier != 1:
        blocks += _lines(layout.pair("倍率", str(data.multiplier), w))
    if data.abnormal:
        blocks += _lines(layout.field("抄表异常", data.abnormal, w), bold=True)
    pending = data.consumption_kwh is None or data.amount_fen is None
    amount = 0
    if pending:
        blocks += _lines(layout.pair("用电量(kWh)", "待核实", w))
        blocks += _lines(layout.pair("本期电费", "待核实", w), bold=True)
    else:
        assert data.consumption_kwh is not None and data.amount_fen is not None  # not pending
        blocks += _lines(layout.pair("用电量(kWh)", _kwh(data.consumption_kwh), w))
        if data.period_days is not None:
            blocks += _lines(layout.pair("抄表天数", f"{data.period_days}天", w))
        if data.no_bill:
            blocks += _lines(layout.field("本期电费", data.no_bill, w), bold=True)
        else:
            for name, kwh, price, fen in data.lines:
                blocks += _lines(layout.field(name, f"{_kwh(kwh)}×{price}={layout.yuan(fen, sign=False)}", w))
            blocks += _lines(layout.pair("本期电费", layout.yuan(data.amount_fen), w), bold=True)
            amount = data.amount_fen
    if data.note:
        blocks += _lines(layout.field("电量突增原因", data.note, w))
    if data.arrears_fen:
        blocks += _lines(layout.pair("往期欠费", layout.yuan(data.arrears_fen), w))
    if data.from_balance_fen:
        blocks += _lines(layout.pair("预存抵扣", layout.yuan(-data.from_balance_fen), w))
    if data.arrears_fen or data.from_balance_fen:
        due = max(0, amount + data.arrears_fen - data.from_balance_fen)
        blocks += _lines(layout.pair("合计应缴", layout.yuan(due), w), bold=True)
    blocks.append(Line(layout.rule(w)))
    blocks += _lines(layout.pair("抄表员", data.operator, w))
    blocks += _lines(layout.pair("终端号", data.terminal_id, w))
    footer = ("本期电费以供电公司账单为准。" if pending or data.no_bill
              else "本期电费为预算金额，以供电公司账单为准。")
    blocks += _lines(layout.wrap(footer + "请及时缴纳电费。", w))
    return Ticket(data.notice_no, TicketKind.READING_NOTICE, tuple(blocks))


@dataclass(frozen=True)
class ArrearsItem:
    period: str  # 电费年月
    amount_fen: int
    late_fee_fen: int = 0  # 违约金


@dataclass(frozen=True)
class DunningNoticeData:
    """A dunning notice (催费通知单) left with the customer."""

    notice_no: str
    customer_no: str
    customer_name: str
    address: str
    segment: str  # 表段号
    items: tuple[ArrearsItem, ...]
    pay_by: dt.date  # 缴费期限
    issued_at: dt.datetime
    operator: str
    terminal_id: str
    phone: str = "95598"
    issuer: str = DEFAULT_ISSUER

    @property
    def total_fen(self) -> int:
        return sum(i.amount_fen + i.late_fee_fen for i in self.items)


def dunning_notice(data: DunningNoticeData, columns: int = layout.COLUMNS_58MM) -> Ticket:
    w = columns
    blocks: list[Block] = _header(data.issuer, "催费通知单", w)
    blocks += _lines(layout.pair("通知单号", data.notice_no, w))
    blocks += _lines(layout.field("户号", data.customer_no, w))
    blocks += _lines(layout.field("户名", data.customer_name, w))
    blocks += _lines(layout.field("地址", data.address, w))
    blocks += _lines(layout.pair("表段号", data.segment, w))
    blocks.append(Line(layout.rule(w)))
    third = w // 3
    blocks.append(Line(layout.columns_row([("电费年月", third, "<"), ("电费", third, ">"),
                                           ("违约金", w - 2 * third, ">")])))
    for item in data.items:
        blocks.append(Line(layout.columns_row([
            (item.period, third, "<"), (layout.yuan(item.amount_fen, sign=False), third, ">"),
            (layout.yuan(item.late_fee_fen, sign=False), w - 2 * third, ">")])))
    blocks.append(Line(layout.rule(w)))
    blocks += _lines(layout.pair("欠费合计", layout.yuan(data.total_fen), w), bold=True)
    blocks += _lines(layout.field("大写", layout.yuan_in_words(data.total_fen), w))
    deadline = f"{data.pay_by.year}年{data.pay_by.month}月{data.pay_by.day}日"
    text = (f"尊敬的客户：您的电费已逾期未交，请于{deadline}前缴清。"
            f"逾期不交将按规定停止供电。咨询电话{data.phone}。")
    blocks += _lines(layout.wrap(text, w))
    blocks.append(Line(layout.rule(w)))
    blocks += _lines(layout.pair("催费员", data.operator, w))
    blocks += _lines(layout.pair("终端号", data.terminal_id, w))
    blocks += _lines(layout.pair("时间", _time(data.issued_at), w))
    blocks += [Feed(1), Line("客户签收：")]
    return Ticket(data.notice_no, TicketKind.DUNNING_NOTICE, tuple(blocks))


@dataclass(frozen=True)
class SettlementRow:
    kind: str  # 现金缴费 / 预收电费 / 购电 …
    count: int
    amount_fen: int


@dataclass(frozen=True)
class SettlementData:
    """A daily settlement slip (日结单) the operator hands in with the cash."""

    slip_no: str
    business_day: dt.date
    operator: str
    terminal_id: str
    rows: tuple[SettlementRow, ...]
    reversal_count: int
    reversal_fen: int
    cash_to_deliver_fen: int  # 在途资金 to hand in
    printed_at: dt.datetime
    station_agrees: bool | None = None  # 代收对账: None = not reconciled (offline)
    differences: tuple[str, ...] = ()  # one text per difference found by the reconciliation
    issuer: str = DEFAULT_ISSUER
    extra: tuple[tuple[str, str], ...] = field(default=())
    #: 抄表统计 per segment: (segment, customers, read, unread, abnormal, skipped) — services.reading_stats
    readings: tuple[tuple[str, int, int, int, int, int], ...] = field(default=())
    #: QR payments (付款码) of the day, not reversed: (channel's name, count, fen) — held by the acquirer, not cash
    qr_rows: tuple[tuple[str, int, int], ...] = field(default=())

    @property
    def collected_fen(self) -> int:
        return sum(r.amount_fen for r in self.rows) - self.reversal_fen


def settlement_slip(data: SettlementData, columns: int = layout.COLUMNS_58MM) -> Ticket:
    w = columns
    blocks: list[Block] = _header(data.issuer, "日结单", w)
    blocks += _lines(layout.pair("日结单号", data.slip_no, w))
    blocks += _lines(layout.pair("营业日", data.business_day.isoformat(), w))
    blocks += _lines(layout.pair("收费员", data.operator, w))
    blocks += _lines(layout.pair("终端号", data.terminal_id, w))
    blocks.append(Line(layout.rule(w)))
    name_w, count_w = w - 16, 5
    blocks.append(Line(layout.columns_row([("项目", name_w, "<"), ("笔数", count_w, ">"),
                                           ("金额", w - name_w - count_w, ">")])))
    for row in data.rows:
        blocks.append(Line(layout.columns_row([
            (row.kind, name_w, "<"), (str(row.count), count_w, ">"),
            (layout.yuan(row.amount_fen, sign=False), w - name_w - count_w, ">")])))
    blocks.append(Line(layout.columns_row([
        ("冲正", name_w, "<"), (str(data.reversal_count), count_w, ">"),
        (layout.yuan(-data.reversal_fen, sign=False), w - name_w - count_w, ">")])))
    blocks.append(Line(layout.rule(w)))
    blocks += _lines(layout.pair("实收合计", layout.yuan(data.collected_fen), w), bold=True)
    blocks += _lines(layout.pair("应交在途资金", layout.yuan(data.cash_to_deliver_fen), w), bold=True)
    blocks += _lines(layout.field("大写", layout.yuan_in_words(data.cash_to_deliver_fen), w))
    if data.qr_rows:  # apart from the cash: the acquirer holds this money, nobody hands it in
        blocks.append(Line(layout.rule(w)))
        blocks += _lines(layout.wrap("扫码收款（不含在应交现金内）", w))
        for name, count, fen in data.qr_rows:
            blocks.append(Line(layout.columns_row([
                (name, name_w, "<"), (str(count), count_w, ">"),
                (layout.yuan(fen, sign=False), w - name_w - count_w, ">")])))
    for label, value in data.extra:
        blocks += _lines(layout.pair(label, value, w))
    blocks.append(Line(layout.rule(w)))
    if data.station_agrees is None:
        blocks += _lines(layout.wrap("代收对账：未对账（离线），请联网后重新对账。", w))
    elif data.station_agrees and not data.differences:
        blocks += _lines(layout.pair("代收对账", "一致", w))
    else:
        blocks += _lines(layout.pair("代收对账", f"不一致 {len(data.differences)} 项", w), bold=True)
        for diff in data.differences:
            blocks += _lines(layout.wrap("· " + diff, w, indent=2))
    if data.readings:
        blocks += _reading_table(data.readings, w)
    blocks += _lines(layout.pair("打印时间", _time(data.printed_at), w))
    blocks += [Feed(1), Line("收费员签字："), Feed(1), Line("复核人签字：")]
    return Ticket(data.slip_no, TicketKind.SETTLEMENT_SLIP, tuple(blocks))


def _reading_table(rows: tuple[tuple[str, int, int, int, int, int], ...], w: int) -> list[Block]:
    """抄表统计: one row per segment — customers (应抄), read (已抄), unread (未抄), abnormal (异常),
    skipped (跳过); a long segment number is cut to its cell, the numbers never are."""
    num_w = 5
    name_w = w - 5 * num_w
    heads = ("应抄", "已抄", "未抄", "异常", "跳过")
    blocks: list[Block] = [Line(layout.rule(w)), Line("抄表统计", bold=True),
                           Line(layout.columns_row([("表段", name_w, "<"), *((h, num_w, ">") for h in heads)]))]
    for seg, *counts in rows:
        blocks.append(Line(layout.columns_row([(seg, name_w, "<"), *((str(n), num_w, ">") for n in counts)])))
    return blocks


@dataclass(frozen=True)
class PurchaseVoucherData:
    receipt_no: str
    customer_no: str
    customer_name: str
    meter_no: str
    amount_fen: int  # money taken for this purchase (0 for a re-issue without purchase)
    purchase_count: int  # 购电次数 written to the card
    at: dt.datetime
    operator: str
    terminal_id: str
    kind: str = "购电"  # 购电 / 补卡
    remaining_fen: int | None = None  # 表内剩余金额 from the card's return data, when known
    issuer: str = DEFAULT_ISSUER
    method: str = ""  # paid by payment code: the wallet and the masked code (微信支付 13************3456)
    acquirer_id: str = ""  # its transaction id at WeChat Pay / Alipay (支付单号)


def purchase_voucher(data: PurchaseVoucherData, columns: int = layout.COLUMNS_58MM) -> Ticket:
    """购电凭证: the receipt of a prepaid card purchase or re-issue (补卡)."""
    w = columns
    blocks: list[Block] = _header(data.issuer, "购电凭证", w)
    blocks += _lines(layout.pair("收据号", data.receipt_no, w))
    blocks += _lines(layout.field("户号", data.customer_no, w))
    if data.customer_name:
        blocks += _lines(layout.field("户名", data.customer_name, w))
    blocks += _lines(layout.field("表号", data.meter_no, w))
    blocks += _lines(layout.pair("业务类型", data.kind, w))
    blocks += _lines(layout.pair("购电次数", str(data.purchase_count), w))
    if data.remaining_fen is not None:
        blocks += _lines(layout.pair("表内余额", layout.yuan(data.remaining_fen), w))
    blocks.append(Line(layout.rule(w)))
    blocks += _lines(layout.pair("购电金额", layout.yuan(data.amount_fen), w), bold=True)
    blocks += _lines(layout.field("大写", layout.yuan_in_words(data.amount_fen), w))
    if data.acquirer_id:  # paid by payment code: as on the payment receipt, each on a line of its own
        wallet, _sp, masked = data.method.partition(" ")
        blocks += _lines([f"支付方式：{wallet}", masked] if masked and len(masked) <= w
                         else layout.field("支付方式", data.method, w))
        blocks += _lines(["支付单号：", data.acquirer_id] if len(data.acquirer_id) <= w
                         else layout.field("支付单号", data.acquirer_id, w))
    blocks.append(Line(layout.rule(w)))
    blocks += _lines(layout.pair("收费员", data.operator, w))
    blocks += _lines(layout.pair("终端号", data.terminal_id, w))
    blocks += _lines(layout.pair("时间", _time(data.at), w))
    blocks.append(Qr(data.receipt_no))
    blocks += _lines(layout.wrap("请将卡插入电能表完成充值。如有疑问请拨打95598。", w), align=Align.CENTER)
    return Ticket(data.receipt_no, TicketKind.RECEIPT, tuple(blocks))
