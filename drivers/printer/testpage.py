"""The printer's own test page: shows the printer works (Chinese, full-width punctuation, ￥,
widths, QR).  The one page the driver composes itself; business documents are the core's."""

from __future__ import annotations

import datetime as dt

from drivers.printer import layout
from drivers.printer.ticket import Align, Block, Line, Qr, Ticket, TicketKind
from drivers.printer.ticket import header as _header
from drivers.printer.ticket import lines as _lines
from drivers.printer.ticket import time_text as _time


def test_page(terminal_id: str, at: dt.datetime, columns: int = layout.COLUMNS_58MM) -> Ticket:
    """A page that shows the printer works: Chinese, full-width punctuation, ￥, widths, QR."""
    w = columns
    ruler = "".join(str(i % 10) for i in range(1, w + 1))
    blocks: list[Block] = _header("抄收催一体机", "打印测试页", w)
    blocks += [
        Line(ruler),
        Line("汉" * (w // 2)),
        *(_lines(layout.wrap("中文打印测试：电费、缴费凭证、抄表通知单，￥0.01～￥9999.99。", w))),
        Line("ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789"[:w]),
        Line("粗体 BOLD", bold=True),
        Line("居中 CENTER", align=Align.CENTER),
        Line("右对齐 RIGHT", align=Align.RIGHT),
        Line("倍宽倍高", double=True),
        *(_lines(layout.pair("金额", layout.yuan(123456), w))),
        *(_lines(layout.field("大写", layout.yuan_in_words(123456), w))),
        *(_lines(layout.pair("终端号", terminal_id, w))),
        *(_lines(layout.pair("时间", _time(at), w))),
        Qr("TEST-" + terminal_id),
        Line("测试结束", align=Align.CENTER),
    ]
    return Ticket("TEST-" + at.strftime("%Y%m%d%H%M%S"), TicketKind.TEST_PAGE, tuple(blocks))


test_page.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported
