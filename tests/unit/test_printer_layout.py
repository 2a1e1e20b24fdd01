"""Layout by display width, money as 元, and the four printed documents' shape."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wcwidth import wcswidth

from drivers.printer import layout, testpage
from drivers.printer.ticket import Line, Qr, Ticket, TicketKind
from terminal_app.documents import templates
from terminal_app.errors import LocalProtocolError
from terminal_app.timeutil import SHANGHAI

AT = dt.datetime(2026, 11, 24, 10, 5, 9, tzinfo=SHANGHAI)
LONG_ADDRESS = "四川省凉山彝族自治州会理市鹿厂镇铜矿村三组（原二组）上坪子Road 12号附3号"


def test_widths_count_cjk_and_fullwidth_punctuation_as_two():
    assert layout.width("ABC") == 3
    assert layout.width("缴费") == 4
    assert layout.width("：，。￥") == 8
    # an ambiguous-width character is drawn in a 24-dot cell by a GB18030 printer
    assert layout.width("—") == 2 and wcswidth("—") == 1


def test_clean_replaces_yen_and_neutralises_escape_sequences():
    assert layout.clean("¥5") == "￥5"
    # an ESC smuggled into a customer name must not reach the printer as a command
    assert layout.clean("张\x1bd\x09三") == "张 d 三"


@pytest.mark.parametrize("fen, text", [(0, "￥0.00"), (5, "￥0.05"), (12345, "￥123.45"), (-250, "-￥2.50"),
                                       (100000000, "￥1000000.00")])
def test_yuan(fen, text):
    assert layout.yuan(fen) == text


def test_yuan_refuses_float():
    with pytest.raises(LocalProtocolError):
        layout.yuan(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("fen, words", [
    (0, "零元整"), (1, "壹分"), (100, "壹元整"), (12345, "壹佰贰拾叁元肆角伍分"), (10000, "壹佰元整"),
    (100005, "壹仟元零伍分"), (101000, "壹仟零壹拾元整"), (10000001, "壹拾万元零壹分"),
    (20304050607, "贰亿零叁佰零肆万零伍佰零陆元零柒分"), (1000000, "壹万元整"), (1010, "壹拾元壹角整"),
])
def test_yuan_in_words(fen, words):
    assert layout.yuan_in_words(fen) == words


def test_wrap_keeps_ascii_words_and_breaks_cjk_anywhere():
    lines = layout.wrap("hello world this is a long ASCII sentence exceeding", 32)
    assert lines == ["hello world this is a long ASCII", "sentence exceeding"]
    lines = layout.wrap(LONG_ADDRESS, 32, indent=6)
    assert all(layout.width(line) <= 32 for line in lines)
    assert "".join(line.strip() for line in lines).replace(" ", "") == LONG_ADDRESS.replace(" ", "")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab1 .-") + list("电费缴凭证：，￥") + ["—", "𠀀"]), max_size=80),
       st.integers(min_value=4, max_value=48), st.integers(min_value=0, max_value=2))
def test_wrap_never_overflows_and_never_splits_a_character(text, columns, indent):
    lines = layout.wrap(text, columns, indent=indent)
    for line in lines:
        assert layout.width(line) <= columns
        assert wcswidth(line) <= columns
    # nothing lost but spaces (which may be where the line broke)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_pair_puts_the_value_flush_right_or_below():
    assert layout.pair("实收金额", "￥123.45") == ["实收金额" + " " * 16 + "￥123.45"]
    lines = layout.pair("收费单位", "国网四川省电力公司凉山供电公司会理营业所")
    assert lines[0] == "收费单位" and all(layout.width(x) == 32 for x in lines[1:])


def receipt_data(**over) -> templates.ReceiptData:
    base = dict(receipt_no="R20261124000123", customer_no="0012345678", customer_name="张三丰",
                address=LONG_ADDRESS, amount_fen=12345, paid_at=AT, operator="李四", terminal_id="00000001",
                periods=("2026-09", "2026-10"), arrears_fen=23456, balance_fen=0)
    base.update(over)
    return templates.ReceiptData(**base)


def all_documents() -> list[Ticket]:
    return [
        templates.receipt(receipt_data()),
        templates.reading_notice(templates.ReadingNoticeData(
            notice_no="N1", customer_no="0012345678", customer_name="张三丰", address=LONG_ADDRESS,
            meter_no="3300123456789012345678", read_at=AT, previous_reading=Decimal("1234.56"),
            current_reading=Decimal("1334.56"), consumption_kwh=Decimal("100.00"), amount_fen=5224,
            operator="李四", terminal_id="00000001", period="2026-11", abnormal="表计停走", arrears_fen=100)),
        templates.dunning_notice(templates.DunningNoticeData(
            notice_no="D1", customer_no="0012345678", customer_name="张三丰", address=LONG_ADDRESS,
            segment="0101", items=(templates.ArrearsItem("2026-09", 12345, 62),
                                   templates.ArrearsItem("2026-10", 9999999, 0)),
            pay_by=dt.date(2026, 12, 5), issued_at=AT, operator="李四", terminal_id="00000001")),
        templates.settlement_slip(templates.SettlementData(
            slip_no="S20261124", business_day=dt.date(2026, 11, 24), operator="李四", terminal_id="00000001",
            rows=(templates.SettlementRow("现金缴费", 20, 246800), templates.SettlementRow("预收电费", 3, 30000)),
            reversal_count=1, reversal_fen=12345, cash_to_deliver_fen=264455, printed_at=AT,
            station_agrees=False, differences=("R20261124000007 终端 ￥50.00，主站 无记录",))),
        testpage.test_page("00000001", AT),
    ]


@pytest.mark.parametrize("ticket", all_documents(), ids=lambda t: t.kind.name)
def test_every_document_line_fits_32_columns_by_wcwidth(ticket):
    assert ticket.lines
    for block in ticket.blocks:
        if isinstance(block, Line):
            limit = 16 if block.double else 32
            assert wcswidth(block.text) <= limit, block.text
            assert layout.width(block.text) <= limit, block.text
            assert "?" not in block.text and "\u00a5" not in block.text


def test_receipt_carries_amount_in_figures_and_words_and_a_qr_of_its_number():
    t = templates.receipt(receipt_data())
    assert t.identity == "R20261124000123" and t.kind is TicketKind.RECEIPT
    assert any(line.startswith("实收金额") and line.endswith("￥123.45") for line in t.lines)
    assert "大写：壹佰贰拾叁元肆角伍分" in t.lines
    assert [b.data for b in t.blocks if isinstance(b, Qr)] == ["R20261124000123"]
    assert any("2026-11-24 10:05:09" in line for line in t.lines)


def test_dunning_total_and_settlement_net_are_sums_in_fen():
    dunning, slip = all_documents()[2:4]
    # 12345 + 62 (违约金) + 9999999 = 10012406 fen
    assert any(line.startswith("欠费合计") and line.endswith("￥100124.06") for line in dunning.lines)
    # 246800 + 30000 − 12345 = 264455 fen collected
    assert any(line.startswith("实收合计") and line.endswith("￥2644.55") for line in slip.lines)
    assert any("不一致 1 项" in line for line in slip.lines)


def test_a_naive_time_is_refused():
    with pytest.raises(LocalProtocolError):
        templates.receipt(receipt_data(paid_at=dt.datetime(2026, 11, 24, 10, 5)))


def test_a_line_wider_than_the_paper_is_a_template_error():
    ticket = Ticket("X1", TicketKind.TEST_PAGE, (Line("汉" * 17),))
    with pytest.raises(LocalProtocolError):
        ticket.check_width(32)


def test_closing_punctuation_never_starts_a_line():
    assert layout.wrap("一二三四五六七八九十一二三四五六，七", 32) == ["一二三四五六七八九十一二三四五", "六，七"]
    assert layout.wrap("请妥善保管本凭证，如有疑问请拨打95598。", 32) == ["请妥善保管本凭证，如有疑问请拨打", "95598。"]


def test_purchase_voucher_fits_the_paper_and_names_the_purchase():
    from terminal_app.timeutil import SHANGHAI

    data = templates.PurchaseVoucherData(receipt_no="00000001-42", customer_no="0101010007", customer_name="欧阳建国",
                               meter_no="A0101010007", amount_fen=12345, purchase_count=3,
                               at=dt.datetime(2026, 11, 24, 10, 5, tzinfo=SHANGHAI), operator="1001",
                               terminal_id="00000001", remaining_fen=850)
    ticket = templates.purchase_voucher(data)
    lines = [b.text for b in ticket.blocks if isinstance(b, Line)]
    text = "\n".join(lines)
    assert "购电凭证" in text and "￥123.45" in text and "壹佰贰拾叁元肆角伍分" in text
    assert "购电次数" in text and "3" in text and "￥8.50" in text
    assert all(wcswidth(t) <= (16 if b.double else 32) for b in ticket.blocks if isinstance(b, Line)
               for t in [b.text])
