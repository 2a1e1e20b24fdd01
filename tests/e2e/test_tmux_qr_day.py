"""End to end: scan-to-pay (扫码支付 / 付款码, issue 17) on ``handheld --simulate`` in tmux at 30×16.

The simulator runs the mock acquirer (WeChat Pay and Alipay) behind its station.  F5 is the customer
holding up a phone: the code of the picked wallet and scenario is drawn as the QR picture a phone
shows, read back through the camera path (``drivers.scanner.camera.decode_image``, zbar), and handed
to the terminal by the mock serial scanner on its pty — the production SerialScanner reads it.

The day: a WeChat payment and an Alipay payment; a customer who types a password (顾客支付中… with
the seconds, keys pressed meanwhile do nothing); what is not a payment code; an Alipay wallet without
the money; a customer who cancels; no signal (refused: 需要联网, never cash by itself); a cash
payment; a card top-up paid by code; the day-end with the wallets apart from the cash to hand in.

Then the grep (issue 17, Done when): no receipt the printer mock printed, no screen the test saw,
no line of the UI's log or stderr, and no byte of the terminal's journal holds a whole payment code.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest

from terminal_app.domain.paycode import channel_of
from tests.e2e.test_tmux_field_day import Tmux, amount_after

#: a run of digits the length and prefix of either wallet's code; whole runs only (a 28-digit acquirer
#: id is not a code, nor is any 18 of its digits)
DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]{16,24}(?![0-9])")


def whole_codes(text: str) -> list[str]:
    return [m for m in DIGIT_RUN.findall(text) if channel_of(m) is not None]


class RecordingTmux(Tmux):
    """Keeps every screen it captured, for the grep."""

    def __init__(self, *a, **kw) -> None:
        self.seen: list[str] = []
        super().__init__(*a, **kw)

    def screen(self) -> str:
        s = super().screen()
        if not self.seen or self.seen[-1] != s:
            self.seen.append(s)
        return s


@pytest.fixture
def term(tmp_path):
    t = RecordingTmux(tmp_path, 30, 16, args="--sim-link fast")
    try:
        yield t
    finally:
        t.close()


def open_bill(term: Tmux, last_digits: str, customer: str) -> None:
    term.keys("2")
    term.wait("1查询用户/缴费", "2冲正")
    term.keys("1")
    term.wait("查找：", "0101010001")
    term.keys("Up")
    term.type(last_digits)
    term.keys("Enter")
    term.wait(customer, "合计应缴", "F1收费", timeout=30)


def show_code(term: Tmux, choice: str, label: str) -> None:
    """F5, then the numbered choice: the customer holds up that code."""
    term.keys("F5")
    term.wait("模拟：顾客付款码", label)
    term.keys(choice)


def test_the_grep_finds_a_whole_code_and_only_whole_codes():
    assert whole_codes("付款码 134567890123450000\n") == ["134567890123450000"]
    assert whole_codes("x2876543210987654321y") == ["2876543210987654321"]
    assert not whole_codes("13************0000 4200000202611240000000000042 6001000000000000000001")


def test_scan_to_pay_day_on_the_simulated_terminal(term, tmp_path):
    site = tmp_path / "site"
    term.wait("登录", "F5付款码", timeout=90)
    term.type("1001")
    term.keys("Enter")
    term.type("123456")
    term.keys("Enter")
    term.wait("主菜单", "在线")
    term.keys("1")
    term.wait("1下载抄表段")
    term.keys("1")
    term.wait("010101石佛乡桂花村100户", timeout=60)
    term.keys("Enter")
    term.wait("抄表段010101：已下载100户。", "查找：", timeout=120)
    term.keys("Escape", "Escape")
    term.wait("主菜单")

    # WeChat: the amount, F2, the customer's code (a picture, through the camera path and the scanner)
    open_bill(term, "001", "0101010001")
    term.keys("F1")
    term.wait("金额：", "F2扫码支付")
    term.keys("DC")
    term.type("30")
    term.keys("F2")
    term.wait("扫码支付：30.00元", "请顾客打开微信或支付宝的付款码", "F4返回")
    term.shot("F2: scan-to-pay waits for the customer's code")
    show_code(term, "1", "1微信：当即付款成功")
    screen = term.wait("已收30.00元。", "微信支付", "支付单号：", "凭证已打印。", "已上传主站。", timeout=60)
    assert "找零" not in screen
    term.shot("Paid by WeChat: the wallet, the masked code, the acquirer's id")
    term.keys("F1")
    term.wait("查找：")
    term.keys("Escape", "Escape")
    term.wait("主菜单")

    # 0101010002: bad paths first — not a payment code, no money, cancelled, no signal — then Alipay
    open_bill(term, "002", "0101010002")
    term.keys("F1")
    term.wait("金额：")
    term.keys("DC")
    term.type("20")
    term.keys("F2")
    term.wait("扫码支付：20.00元")
    show_code(term, "7", "7不是付款码")
    term.wait("13位的码既不是微信付款码", "未收款：原因见上。", timeout=30)
    term.shot("Not a payment code: refused, nothing sent")
    show_code(term, "4", "4支付宝：余额不足")
    screen = term.wait("未收款：原因见上。", "余额不足", "扫码支付：20.00元", timeout=60,
                       absent=("13位的码",))
    term.shot("Alipay without the money: refused, with what to do")
    show_code(term, "5", "5微信：顾客取消支付")
    term.wait("顾客支付中…", timeout=30)
    term.keys("Enter", "F1")  # while the customer decides: nothing happens, and the screen says so
    term.wait("现在按键无效", "/60")
    term.shot("顾客支付中…: the seconds on a bar; keys do nothing")
    term.wait("未收款：原因见上。", "取消", timeout=90)
    term.shot("The customer cancelled: not charged")
    term.keys("F8")  # no signal
    term.wait("····无信号", timeout=15)
    term.keys("Escape")
    term.wait("金额：", "F2扫码支付")
    term.keys("F2")
    term.wait("需要联网", timeout=15)
    term.shot("No signal: scan-to-pay refused, the cash form stays")
    term.keys("F8")
    term.wait("模拟：信号恢复。", "在线", timeout=15)
    term.keys("F2")
    term.wait("扫码支付：20.00元")
    show_code(term, "2", "2支付宝：当即付款成功")
    term.wait("已收20.00元。", "支付宝", "支付单号：", "已上传主站。", timeout=60)
    term.shot("Paid by Alipay")
    term.keys("F1")
    term.wait("查找：")
    term.keys("Escape", "Escape")
    term.wait("主菜单")

    # 0101010003: a customer who types a password first (USERPAYING, then the station's query), and
    # the rest of the bill in cash
    open_bill(term, "003", "0101010003")
    term.keys("F1")
    term.wait("金额：")
    term.keys("DC")
    term.type("15")
    term.keys("F2")
    term.wait("扫码支付：15.00元")
    show_code(term, "3", "3微信：先输密码")
    term.wait("顾客支付中…", timeout=30)
    term.wait("已收15.00元。", "微信支付", "支付单号：", timeout=90)
    term.keys("F1")
    term.wait("查找：")
    term.keys("Up", "DC")  # the search field keeps the last query: the clear key first
    term.type("003")
    term.keys("Enter")
    term.wait("0101010003", "合计应缴", timeout=30)
    term.keys("F1")
    term.wait("金额：")
    term.keys("DC")
    term.type("10")
    term.keys("Enter", "Enter")
    term.wait("已收10.00元。", "找零：0.00元", "已上传主站。", timeout=30)
    term.keys("F1")
    term.wait("查找：")
    term.keys("Escape", "Escape")
    term.wait("主菜单")

    # the day-end: the cash to hand in is the 10 yuan; the wallets apart
    term.keys("5")
    term.wait("日结", "F1日结")
    term.keys("F1")
    screen = term.wait("应交款：", "扫码收款（不计入现金）：", "微信支付：2笔，45.00元", "支付宝：1笔，20.00元",
                       "日结单已打印。", timeout=60)
    assert amount_after(screen, "应交款：") == Decimal("10.00")
    rows = [Decimal(a) for a in re.findall(r"笔(-?\d+\.\d\d)元", screen)]
    assert sum(rows) == amount_after(screen, "应交款：")  # the cash rows add up; no QR row is one of them
    term.shot("The day-end: cash to hand in is cash only; WeChat and Alipay apart")
    term.keys("Escape")
    term.wait("主菜单")
    term.keys("F4")
    term.wait("全部已上传主站。", "F1退出", timeout=30)  # the count is in: F1 is taken (not while it is asked)
    term.keys("F1")
    term.wait("登录", "工号：")
    term.keys("F10")
    deadline = time.monotonic() + 30
    while "HANDHELD-EXIT=0" not in term.flat():
        assert time.monotonic() < deadline, term.screen()
        time.sleep(0.05)  # polling interval of the exit condition

    tickets = {p.name: p.read_text(encoding="utf-8") for p in (site / "tickets").glob("*.txt")}
    paper = "\n".join(tickets.values())
    assert "微信支付" in paper and "支付宝" in paper
    assert re.search(r"1[0-5]\*{12}[0-9]{4}", paper) and re.search(r"(2[5-9]|30)\*{10,18}[0-9]{4}", paper)
    assert re.search(r"4200000[0-9]{21}", paper)  # the WeChat transaction id on the receipt

    # the grep: no whole payment code on paper, on a screen, in the UI's log, in the journal
    assert term.seen and not [s for s in term.seen if whole_codes(s) or whole_codes(s.replace("\n", ""))]
    assert not {n: whole_codes(t) for n, t in tickets.items() if whole_codes(t)}
    for log in [tmp_path / "stderr.txt", *site.glob("*.log")]:
        assert not whole_codes(log.read_text(errors="replace")), log
    for db in site.glob("journal.sqlite*"):
        assert not whole_codes(db.read_bytes().decode("latin-1")), db
