"""The UI over the real use cases and the simulated site (station, mock meter, modem, printer,
scanner on ptys): the screens drive ServicesBackend → terminal_app.services → drivers → mocks.

Tasks run inline (InlineRunner) so every key's effect is complete when ``press`` returns; the
asyncio path is covered by test_ui_async.py and the tmux end-to-end test.
"""

from __future__ import annotations

from tests.rigs.card import held
from tests.util import wait_for
from ui.main import ScannerThread


def log_in(app) -> None:
    """The demo operator of the login screen's hint, by keys."""
    app.push("login")
    app.type("1001")
    app.press("enter")
    app.type("123456")
    app.press("enter")


def flat(text: str) -> str:
    return text.replace("\n", "").replace(" ", "")


def test_a_short_field_day_through_the_screens(field):
    app, site = field
    app.push("login")
    app.type("1001")
    app.press("enter")
    app.type("123456")
    assert "主菜单" in app.press("enter")

    text = app.press("1", "1")  # 抄表 → 下载抄表段: the station's segments
    assert "010101 石佛乡桂花村 100户" in text
    text = app.press("enter")
    assert app.top.name == "route_list" and "抄表段010101：已下载100户。" in flat(text)

    customer = app.top.customers[1]
    app.press("down", "enter")
    assert app.top.name == "customer" and customer.number in app.render_text()
    codes: list[str] = []
    scanner = ScannerThread(app.backend, codes.append).start()  # the core opens and owns the scanner
    try:
        assert scanner.ready.wait(5) and scanner.error is None, scanner.error
        app.press("f6")  # simulate: the mock serial scanner reads this meter's barcode
        code = wait_for(lambda: codes and codes[0], what="the scan through the scanner driver")
    finally:
        scanner.stop()
    assert code == customer.meter
    app.scanned(code)  # what ui.main's scanner thread hands to the UI loop
    assert "条码与本户电表一致" in flat(app.render_text())

    text = app.press("f1")  # IR read through the real driver and the mock meter
    assert "示数：" in text and "电量：" in text and "预算电费" in text, text
    app.press("f1")
    assert "示数已保存，通知单已打印。" in flat(app.render_text())
    assert wait_for(lambda: list((site.workdir / "tickets").glob("*.txt")), what="notice ticket")

    app.press("f3")  # the bill, in real time
    text = app.render_text()
    assert "合计应缴" in text and "离线" not in text
    app.press("f1")
    app.top.cash.amount.set_edit_text("10")
    app.press("down")
    app.type("20")
    text = app.press("enter")
    assert "已收10.00元。" in text and "找零：10.00元" in text and "凭证已打印。" in text

    # coverage off: the payment is still taken and journaled; the status bar says what waits
    app.press("f1")  # done: back to the customer card
    assert app.top.name == "customer"
    app.press("f8")
    assert app.sim.coverage is False
    app.press("f3")
    text = flat(app.render_text())
    assert "离线" in text, text
    app.press("f1")
    app.top.cash.amount.set_edit_text("5")
    app.press("down")
    text = app.press("enter")
    assert "已收5.00元。" in text and "已保存，通道恢复后上传。" in flat(text)
    # the status line counted it when the payment's screen came back (issue 13, point 10)
    assert app.status.queue_depth >= 1 and "待传1" in app.render_text()

    app.press("f8")  # coverage back: sync sends everything
    app.press("f1", "esc", "esc", "esc", "esc")
    assert app.top.name == "main"
    app.press("f1")
    assert "全部已上传主站。" in flat(app.render_text()), app.render_text()
    assert app.status.queue_depth == 0

    app.press("2", "2")  # 收费 → 冲正
    text = app.render_text()
    assert "10.00" in text and "5.00" in text
    app.press("enter", "1")
    assert "确认冲正这笔收费？" in flat(app.render_text())  # nothing reversed yet
    app.press("f1")
    text = flat(app.render_text())
    assert "已冲正" in text and "冲正凭证已打印。" in text, text
    app.press("esc", "esc", "esc", "5", "f1")  # 日结
    text = flat(app.render_text())
    assert "冲正1笔-10.00元" in text and "应交款：5.00元" in text and "与主站对账一致" in text, text


def test_card_top_up_through_the_screens(field):
    app, site = field
    assert site.card_reader is not None, "the simulated site has a card reader with the demo card"
    log_in(app)
    app.press("4", "f1")  # 购电 → read the card
    text = flat(app.render_text())
    before = app.top.card
    assert before.customer == site.card_cust and f"购电次数：{before.purchase_count}" in text, text
    app.type("50")
    app.press("enter")
    app.type("100")
    text = flat(app.press("enter"))
    assert "已写卡50.00元。" in text and "找零：50.00元" in text and "凭证已打印。" in text, text
    assert held(site.card)[0] == before.purchase_count + 1  # the virtual card holds the purchase
    app.press("f7")  # the customer takes the card to the meter, which loads it …
    assert site.card_meter.count == before.purchase_count + 1
    app.press("f7", "f1")  # … and brings it back: the meter's return data shows the new credit
    app.press("f1")
    after = app.top.card
    assert after.purchase_count == before.purchase_count + 1
    assert after.remaining_fen == before.remaining_fen + 5000


def test_status_bar_follows_the_link_and_the_queue(field):
    app, site = field
    log_in(app)
    app.press("1", "1", "enter")  # a successful exchange: the link is up
    app.refresh_status()
    row1, row2 = app.render_text().split("\n")[:2]
    assert "在线" in row1 and "▁▂▃▄" in row1 and row2.endswith("打印机正常"), row1 + row2
    app.press("f8")  # coverage off
    app.top.on_select()  # open the first customer
    app.press("f3")  # the bill falls back to the downloaded data
    app.refresh_status()
    row1 = app.render_text().split("\n")[0]
    assert "无信号" in row1 and "▁▂▃▄" not in row1, row1  # the radio says so, not a timeout


def test_dunning_notice_and_the_check_before_cutting(field):
    app, site = field
    log_in(app)
    app.press("1", "1", "enter", "esc", "esc")  # the route first: names and arrears are local
    app.press("3")
    app.type("010101")
    app.press("enter")
    tasks = app.top.tasks
    assert tasks, flat(app.render_text())
    first = tasks[0]
    assert f"{first.customer}" in app.render_text() and first.amount_fen > 0
    app.press("f1")
    assert f"已打印{first.customer}的催费单：" in flat(app.render_text())
    app.press("f2", "f1")  # 停电前核查 of that customer, in real time: the notice is a minute old
    text = flat(app.render_text())
    assert "不得停电：" in text and "未到" in text and "可以停电" not in text, text
    app.press("esc")
    served = next(t for t in app.top.tasks if t.pay_by is not None)  # a notice served two weeks ago
    app.top.walker.set_focus(app.top.walker.index(next(w for w in app.top.walker
                                                       if getattr(getattr(w, "original_widget", w), "value", None) is served)))
    app.press("f2", "f1")
    text = flat(app.render_text())
    assert f"仍欠{served.amount_fen // 100}." in text and "可以停电" in text, text
    site.modem.set_coverage(False)
    app.press("f1")
    assert "无法确认：连不上主站。不得停电。" in flat(app.render_text())


def test_settings_printer_test_and_modem_diagnostics(field):
    app, site = field
    log_in(app)
    text = flat(app.press("6"))
    assert "APN：cmiot.sc" in text and f"主站：127.0.0.1:{site.station_port}" in text
    app.press("1")
    assert "测试页已打印。" in flat(app.render_text())
    assert wait_for(lambda: list((site.workdir / "tickets").glob("*.txt")), what="the test page")
    app.press("2")
    text = flat(app.render_text())
    text = flat(app.render_text((40, 40)))  # the whole report (it scrolls at 30×16)
    assert "SIM卡：就绪" in text and "信号（0-31）：20" in text and "GPRS附着：是" in text, text  # in Chinese
    assert "True" not in text and "None" not in text and "rssi" not in text


def test_door_locked_is_journaled_for_the_station(field):
    app, site = field
    log_in(app)
    app.press("1", "1", "enter")
    app.top.on_select()
    cust = app.top.customer.number
    app.press("f2", "f3", "1", "f1")  # keypad entry → abnormal → 门闭 confirmed, no reading
    assert "抄表异常已登记。" in flat(app.render_text())
    entries = app.backend.session.terminal.journal.entries()
    assert [e.body_dict().get("cust") for e in entries if e.kind == "abnormal"] == [cust]
    assert not [e for e in entries if e.kind == "reading"]


def test_paper_out_during_a_payment_is_said_in_chinese_and_the_money_is_kept(field):
    app, site = field
    log_in(app)
    app.press("1", "1")
    app.press("enter")
    app.press("down", "enter")
    assert app.top.name == "customer"
    app.press("f3")
    app.press("f1")
    site.printer.paper_end = True  # the roll ran out before this receipt
    app.top.cash.amount.set_edit_text("10")
    app.press("down")
    app.type("10")
    text = flat(app.press("enter"))
    assert "已收10.00元。" in text, text  # journaled first: the payment stands
    assert "打印机缺纸（尚未打印）。" in text and "请装纸后重试。" in text, text
    assert "paper" not in text.lower(), text


def test_the_meter_reads_again_and_the_screens_follow_the_money(field):
    """Issue 13 on the simulated site: (1) the IR head reads customer after customer, and the same
    meter twice, through the same pty; (8) the customer card's arrears follow a payment at once;
    (10) an online payment is at the station when its screen says so, the queue is empty; (11)
    the bill screen shows today's reading tier by tier."""
    app, site = field
    log_in(app)
    app.press("1", "1", "enter")
    for n in range(3):  # three customers, then the first one again
        app.top.walker.set_focus(n + 3)  # (0: the title, 1: the search field, 2: the segment's progress)
        app.press("enter", "f1")
        text = flat(app.render_text())
        assert "示数：" in text and "预算电费" in text and "无法打开" not in text, text
        app.press("esc", "esc")
    app.top.walker.set_focus(3)
    app.press("enter", "f1")
    assert "示数：" in flat(app.render_text()), app.render_text()
    app.press("f1")  # saved: the notice prints
    assert "示数已保存" in flat(app.render_text())
    before = app.top.customer.arrears_fen
    assert before > 0, "the demo's first customer owes money"
    app.press("f3")
    text = flat(app.render_text((30, 30)))
    assert "今日已抄" in text and "第一档" in text, text  # the tier lines of today's bill
    app.press("f1", "delete")
    app.type("10")
    text = flat(app.press("enter", "enter"))
    assert "已上传主站。" in text and "通道恢复后上传" not in text and f"尚欠：{(before - 1000) / 100:.2f}元" in text
    assert app.status.queue_depth == 0  # updated as the screen came back, not 5 s later
    app.press("f1")  # done: back to the customer's card
    assert app.top.name == "customer"
    assert f"欠费：{(before - 1000) / 100:.2f}元" in flat(app.render_text()) and "今日已抄" in flat(app.render_text())
