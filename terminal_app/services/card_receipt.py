"""The 购电凭证 (prepaid purchase voucher): data → printer ticket, in the printer templates' style."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from drivers.printer import layout
from drivers.printer.templates import DEFAULT_ISSUER, _header, _lines, _time
from drivers.printer.ticket import Align, Block, Line, Qr, Ticket, TicketKind


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


def purchase_voucher(data: PurchaseVoucherData, columns: int = layout.COLUMNS_58MM) -> Ticket:
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
    blocks.append(Line(layout.rule(w)))
    blocks += _lines(layout.pair("收费员", data.operator, w))
    blocks += _lines(layout.pair("终端号", data.terminal_id, w))
    blocks += _lines(layout.pair("时间", _time(data.at), w))
    blocks.append(Qr(data.receipt_no))
    blocks += _lines(layout.wrap("请将卡插入电能表完成充值。如有疑问请拨打95598。", w), align=Align.CENTER)
    return Ticket(data.receipt_no, TicketKind.RECEIPT, tuple(blocks))
