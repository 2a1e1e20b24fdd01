"""Every screen rendered at 30×16 (and some at 40×15), driven by keypad keys, text asserted."""

from __future__ import annotations

import pytest
import urwid
from urwid import calc_width

from tests.unit.test_ui_support import CUSTOMERS, FakeBackend, logged_in, make_app
from ui.model import LinkState, PrinterState, TerminalStatus


def lines(text: str) -> list[str]:
    return text.split("\n")


def flat(text: str) -> str:
    """The screen as one string: a sentence may wrap anywhere at 30 columns."""
    return text.replace("\n", "").replace(" ", "")


def assert_fits(text: str, cols: int, rows: int) -> None:
    ls = lines(text)
    assert len(ls) == rows
    assert all(calc_width(line, 0, len(line)) == cols for line in ls), ls


def test_login_screen_at_30x16_in_chinese(tmp_path):
    app = make_app(tmp_path)
    app.push("login")
    text = app.render_text((30, 16))
    assert_fits(text, 30, 16)
    assert "登录" in lines(text)[2] and "工号：" in text and "密码：" in text
    assert lines(text)[-1].startswith("F2取重置 F3主管解锁 F4登录")  # the soft keys are labelled on the bottom line


def test_login_masks_the_pin_and_opens_the_main_menu(tmp_path):
    backend = FakeBackend()
    app = make_app(tmp_path, backend=backend)
    app.push("login")
    app.type("1001")
    app.press("enter")
    text = app.type("1234")
    assert "密码：****" in text and "1234" not in text
    app.press("backspace", "backspace", "backspace", "backspace")
    text = app.type("123456")
    text = app.press("enter")
    assert app.top.name == "main" and app.operator.id == "1001"
    assert ("login", "1001") in backend.calls
    for item in ("1 抄表", "2 收费", "3 催费", "4 购电", "5 日结", "6 设置"):
        assert item in text
    assert lines(text)[0].startswith("1001 ")  # the operator in the status bar


def test_wrong_pins_count_down_then_lock(tmp_path):
    app = make_app(tmp_path)
    app.push("login")
    app.type("1001")
    app.press("enter")
    for left in (4, 3, 2, 1):
        app.type("999999")
        text = app.press("enter")
        assert f"还可试{left}次" in text.replace("\n", "")
    app.type("999999")
    assert "已锁定" in app.press("enter").replace("\n", "")
    app.type("123456")  # even the right PIN is refused now
    text = app.press("enter").replace("\n", "")
    assert app.top.name == "login" and "请主管在本机解锁（F3）" in text


def test_a_supervisor_unlocks_a_locked_operator_on_the_device(tmp_path):
    """Issue 13 (11): no shell needed — a supervisor's own number and PIN unlock the operator."""
    app = make_app(tmp_path)
    app.push("login")
    app.type("1001")
    app.press("enter")
    for _ in range(5):
        app.type("999999")
        app.press("enter")
    assert app.operators.is_locked("1001")
    text = app.press("f3")
    assert app.top.name == "unlock" and "被锁工号：1001" in text and "主管工号：" in text
    app.type("1001")  # the operator cannot unlock themself …
    app.press("enter")
    app.type("123456")
    text = app.press("f4").replace("\n", "")
    assert "不能为自己解锁" in text and app.operators.is_locked("1001")
    app.press("up", "delete")  # the clear key empties the supervisor field
    app.type("9001")
    app.press("enter")
    app.type("111111")  # … a wrong supervisor PIN does not unlock …
    text = app.press("f4").replace("\n", "")
    assert "密码错误" in text and app.operators.is_locked("1001")
    app.type("888888")  # … the supervisor's PIN does
    text = app.press("f4").replace("\n", "")
    assert app.top.name == "login" and "工号1001已解锁。" in text and not app.operators.is_locked("1001")
    app.press("down")
    app.type("123456")
    app.press("enter")
    assert app.top.name == "main"


def test_the_keypad_field_edits_only_at_its_end(tmp_path):
    """Issue 13 (5): 219.04, Up/Down through the fields, Backspace and digits: never 1234.04."""
    app = logged_in(tmp_path)
    app.press("2", "1", "enter", "f1")  # the payment screen: amount prefilled, cash below it
    cash = app.top.cash
    cash.amount.set_edit_text("219.04")
    app.press("enter")  # to the cash field
    app.type("3")
    app.press("up")  # back to the amount: urwid would put the cursor in the middle of "219.04"
    app.press("left", "left", "home")  # the keypad has no such thing: nothing moves
    app.press("backspace")  # the LAST character goes
    app.type("1234")
    assert cash.amount.edit_text == "219.01234"[:9] and cash.amount.edit_pos == len(cash.amount.edit_text)
    app.press("delete")  # the clear key
    assert cash.amount.edit_text == ""
    app.type("219.05")
    assert cash.amount.edit_text == "219.05" and cash.tendered.edit_text == "3"
    app.press("down", "backspace")
    assert cash.tendered.edit_text == "" and cash.amount.edit_text == "219.05"
    app.type("a.5.")  # a letter is ignored, and so is a second point
    assert cash.tendered.edit_text == ".5"


def test_every_field_that_takes_digits_is_the_keypad_field(tmp_path):
    from ui.widgets import KeypadEdit

    app = logged_in(tmp_path)
    c = CUSTOMERS[0]
    fields = []
    for name, params in (("route_list", {"purpose": "read"}), ("reading", {"customer": c, "mode": "keypad"}),
                         ("payment", {"customer": c, "due_fen": 100}), ("dunning", {}), ("arrears_check", {}),
                         ("unlock", {})):
        app.push(name, **params)
        edits = [w for w in app.top.walker if isinstance(w, urwid.Edit)]
        assert edits, name
        fields += edits
        app.pop()
    assert all(isinstance(f, KeypadEdit) for f in fields)


def test_status_bar_shows_signal_link_queue_printer_and_time(tmp_path):
    app = logged_in(tmp_path)
    text = app.render_text((30, 16))
    row1, row2 = lines(text)[:2]
    assert row1.startswith("1001 ▁▂▃· 在线") and row1.endswith("12:00")
    assert row2.startswith("待传2 最早5分") and row2.endswith("打印机正常")
    app.set_status(TerminalStatus(csq=3, link=LinkState.DOWN, queue_depth=7, oldest_age_s=7300,
                                  printer=PrinterState.PAPER_OUT))
    row1, row2 = lines(app.render_text((30, 16)))[:2]
    assert "▁···" in row1 and "离线" in row1
    assert row2.startswith("待传7 最早2小时") and row2.endswith("缺纸")


def test_status_bar_names_the_radio_technology_when_the_modem_says(tmp_path):
    """Issue 20 (3): "4G" / "2G" before the bars; nothing when unknown; 30 columns in zh and en."""
    for language, online, worst in (("zh_CN", "在线", "无信号"), ("en", "Online", "No signal")):
        (tmp_path / language).mkdir()
        app = logged_in(tmp_path / language, language=language)
        for tech, shown in (("4G", "1001 4G▁▂▃· "), ("2G", "1001 2G▁▂▃· "), (None, "1001 ▁▂▃· ")):
            app.set_status(TerminalStatus(csq=18, link=LinkState.UP, queue_depth=0, printer=PrinterState.OK,
                                          technology=tech))
            row1 = lines(app.render_text((30, 16)))[0]
            assert row1.startswith(shown + online) and row1.endswith("12:00"), row1
            assert tech is not None or ("4G" not in row1 and "2G" not in row1)
        app.set_status(TerminalStatus(csq=None, link=LinkState.NO_SIGNAL, technology="4G"))  # the widest
        row1 = lines(app.render_text((30, 16)))[0]
        assert calc_width(row1, 0, len(row1)) <= 30
        assert row1.startswith("1001 4G···· " + worst) and row1.endswith("12:00"), row1


def test_on_4g_the_bars_are_rsrps_and_on_2g_csqs(tmp_path):
    """Issue 20 (3): signal shown honestly per technology — the same weak CSQ reads as a strong 4G
    cell when its RSRP is strong, and a weak RSRP shows few bars whatever CSQ says."""
    app = logged_in(tmp_path)
    for status, shown in (
            (TerminalStatus(csq=5, link=LinkState.UP, technology="4G", rsrp=-85), "1001 4G▁▂▃▄ "),
            (TerminalStatus(csq=25, link=LinkState.UP, technology="4G", rsrp=-120), "1001 4G▁··· "),
            (TerminalStatus(csq=5, link=LinkState.UP, technology="2G", rsrp=-85), "1001 2G▁··· "),
            (TerminalStatus(csq=25, link=LinkState.UP, technology="4G", rsrp=None), "1001 4G▁▂▃▄ ")):
        app.set_status(status)
        row1 = lines(app.render_text((30, 16)))[0]
        assert row1.startswith(shown), (status, row1)


def test_digits_pick_menu_items_and_esc_goes_back(tmp_path):
    app = logged_in(tmp_path)
    text = app.press("1")
    assert app.top.name == "reading_menu" and "1 下载抄表段" in text and "2 抄表清单/查找" in text
    app.press("esc")
    assert app.top.name == "main"
    app.press("down", "down", "enter")  # arrows + Enter work too: 3 催费
    assert app.top.name == "dunning"


def test_route_download_shows_segments_and_opens_the_list(tmp_path):
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    text = app.press("1", "1")
    assert "3101 桂花村 2户" in text
    text = app.press("enter")
    assert ("download", "3101") in backend.calls
    assert app.top.name == "route_list"
    assert "抄表段3101：已下载2户。" in text
    assert " 3101000001 王秀英" in text and " 3101000002 李德明" in text


def test_route_list_search_by_name_number_and_barcode(tmp_path):
    app = logged_in(tmp_path)
    app.press("1", "2")
    app.press("up")  # to the search field
    text = app.type("李德")
    assert "查找：李德" in text
    text = app.press("enter")
    assert app.top.name == "customer" and "3101000002 李德明" in text  # one match opens it
    app.press("esc")
    assert app.top.name == "route_list"
    app.top.on_scan(CUSTOMERS[0].meter)  # a scan on the list finds the customer by barcode
    assert app.top.name == "customer" and app.top.customer.number == "3101000001"


def test_digits_typed_on_the_route_list_go_to_its_search(tmp_path):
    """A keypad device: digits typed with a customer focused search at once (no Up first)."""
    app = logged_in(tmp_path)
    app.press("1", "2")
    assert app.top.widget.focus is not app.top.search  # the first customer is focused
    text = app.type("0002")
    assert "查找：0002" in text
    app.press("enter")
    assert app.top.name == "customer" and app.top.customer.number == "3101000002"


def test_customer_card_and_ir_reading_saved(tmp_path):
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    app.press("1", "2", "enter")
    text = app.render_text()
    assert "3101000001 王秀英" in text and "表号：6001000000000000000001" in text
    assert "上次示数：1020.50" in text and "欠费：123.45元" in text
    assert lines(text)[-1].rstrip() == "F1红外 F2手输 F3电费 F4返回"
    text = app.press("f1")  # IR read
    assert "示数：1120.50" in text and "电量：100.00" in text and "预算电费：52.24元" in text
    text = app.press("f1")  # save
    assert [c for c in backend.calls if c[0] == "save_reading"][0][:3] == ("save_reading", "3101000001", "1120.50")
    assert app.top.name == "customer" and "示数已保存，通知单已打印。" in text


def test_keypad_reading_needs_a_reason_and_can_be_abnormal(tmp_path):
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    app.press("1", "2", "down", "enter", "f2")
    app.type("93")
    text = app.press("enter").replace("\n", "")
    assert "手工录入需要原因：按F1选择。" in text
    text = app.press("f1")
    assert "选择原因：" in text and "1 红外抄不到" in text
    text = flat(app.press("2"))
    assert "原因：" in text and "手工录入需要原因" not in text  # the stale message goes once answered
    text = app.press("enter")
    assert "! 自上次示数88.00以来零电量。" in text and "第一档 5.00×0.5224=2.61" in text  # the tier line
    text = app.press("f2")  # answer the warning with an abnormal code
    assert "1 门闭" in text and "2 表停走" in text
    text = flat(app.press("2"))  # the pick is shown, nothing saved until the operator confirms it
    assert "异常：表停走" in text and "示数：93" in text and "F1确认" in text
    assert not [c for c in backend.calls if c[0] == "save_reading"]
    app.press("f1")
    saved = [c for c in backend.calls if c[0] == "save_reading"]
    assert saved[-1][:3] == ("save_reading", "3101000002", "93") and saved[-1][3].abnormal == "meter_stopped"


def test_a_reading_below_the_last_is_not_saved_without_an_abnormal_code(tmp_path):
    """Issue 13 (2) on the screen: F1 refuses; F2 offers the codes that account for it."""
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    app.press("1", "2", "enter", "f2", "f1", "1")
    app.type("600")
    text = app.press("enter")
    assert "! 示数600小于上次示数694.48。" in text.replace("\n", "")
    text = flat(app.press("f1"))
    assert "必须选异常代码（F2）才能保存" in text and not [c for c in backend.calls if c[0] == "save_reading"]
    text = app.press("f2")
    assert "1 表倒走" in text and "2 换表" in text and "门闭" not in text
    text = app.press("2")  # 换表 is confirmed, not picked by mistake
    assert "该电表是否已更换（换表）？" in text and not [c for c in backend.calls if c[0] == "save_reading"]
    app.press("f1")
    saved = [c for c in backend.calls if c[0] == "save_reading"][-1]
    assert saved[3].abnormal == "meter_replaced" and app.top.name == "customer"


def test_a_jump_asks_for_the_value_again_and_then_for_a_reason(tmp_path):
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    app.press("1", "2", "enter", "f2", "f1", "1")
    app.type("24020.01")
    app.press("enter")
    text = app.press("f1")
    assert "请看电表显示，再输入一次示数：" in text.replace("\n", "")
    app.type("14020.01")  # typed wrong again
    text = app.press("enter").replace("\n", "")
    assert "与24020.01不符" in text and app.top.step == "reentry"
    app.type("24020.01")
    text = app.press("enter")
    assert "用电量突增的原因：" in text and "1 新增用电设备" in text
    app.press("1")
    saved = [c for c in backend.calls if c[0] == "save_reading"][-1]
    assert (saved[3].reentered, saved[3].jump_reason) == ("24020.01", "new_appliance")


def test_bill_payment_change_and_receipt(tmp_path):
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    text = app.press("2", "1", "enter")  # 收费 → find → first customer's bill
    assert app.top.name == "bill"
    assert "2026-09 60.00 +0.45" in text and "合计应缴：123.45元" in text and "离线" not in text
    text = app.press("f1")
    assert "应缴：123.45元" in text and "金额：123.45" in text
    app.press("enter")
    text = app.type("200")
    assert "找零：76.55元" in text
    text = app.press("enter")
    assert ("pay", "3101000001", 12345, 20000) in backend.calls
    assert "已收123.45元。" in text and "找零：76.55元" in text and "凭证已打印。" in text
    app.press("f1")
    assert app.top.name == "route_list"


def test_bill_tier_lines_use_one_format_per_column(tmp_path):
    """A tier width from the tariff ("100") and a remainder ("20.5") are both shown with two
    decimals; prices with four; money with two (format_yuan): no "100" next to "20.50"."""
    backend = FakeBackend()
    backend.reading_estimate = lambda customer: (
        "120.5", 6397, (("第一档", "100", "0.5224", 5224), ("第二档", "20.5", "0.5724", 1173)))
    app = logged_in(tmp_path, backend=backend)
    text = app.press("2", "1", "enter")
    assert app.top.name == "bill"
    assert "今日已抄：120.50千瓦时，预算63.97元" in flat(text)
    assert " 第一档 100.00×0.5224=52.24" in text and " 第二档 20.50×0.5724=11.73" in text


def test_offline_bill_is_marked_and_payment_queued(tmp_path):
    backend = FakeBackend()
    backend.online = False
    app = logged_in(tmp_path, backend=backend)
    text = app.press("2", "1", "enter")
    assert "离线：11-24 12:00下载的数据。" in text
    app.press("f1", "enter")
    text = app.press("enter")
    assert "已保存，通道恢复后上传。" in text


def test_payment_refuses_too_little_cash(tmp_path):
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    app.press("2", "1", "enter", "f1", "enter")
    text = app.type("100")
    assert "实收少于金额。" in text
    text = app.press("enter").replace("\n", "")
    assert "实收少于金额：请核对。" in text and not [c for c in backend.calls if c[0] == "pay"]


def test_reversal_lists_todays_payments_asks_why_and_then_for_confirmation(tmp_path):
    """Issue 13 (9): no reversal at Enter plus one digit — the confirmation shows who, how much
    and why, F1 reverses, the 冲正凭证 prints."""
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    app.press("2", "1", "enter", "f1", "enter", "enter", "f1", "esc")
    text = app.press("2")
    assert app.top.name == "reversal" and "12:00 3101000001 123.45" in text
    text = app.press("enter")
    assert "冲正原因？" in text and "3 重复收费" in text
    text = app.press("3")
    assert not [c for c in backend.calls if c[0] == "reverse"]  # nothing happens before F1
    assert "确认冲正这笔收费？" in text and "金额：123.45元" in text and "原因：重复收费" in text
    assert lines(text)[-1].startswith("F1确认")
    text = app.press("f1")
    assert ("reverse", "00000001-00000001", "duplicate") in backend.calls
    assert "退还王秀英123.45元。" in text and "冲正凭证已打印。" in text
    # the result names the payment reversed (…-00000001), not the reversal's own txn (…-00000077)
    assert "收费001-00000001已冲正" in flat(text) and "冲正单号001-00000077" in flat(text)
    assert "00000077已冲正" not in flat(text)
    text = app.press("esc")
    assert "今天没有可冲正的收费。" in text


def test_dunning_list_notice_cut_check_and_results(tmp_path):
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    app.press("3")
    app.type("3101")
    text = app.press("enter")
    assert "3101000001 王秀英 123.45" in text
    text = flat(app.press("f1"))
    assert ("dunning_notice", "T0001") in backend.calls and "已打印3101000001的催费单：123.45元，限2026-12-01前缴清。" in text
    text = app.press("f3")  # the result of the visit
    assert "催费结果：" in text and "1 承诺缴费" in text and "2 无人" in text and "3 已缴清" in text
    text = app.press("2")
    assert ("dunning_result", "T0001", "not_home") in backend.calls and "3101000001王秀英123.45无人" in flat(text)
    text = app.press("f2")
    assert app.top.name == "arrears_check" and "户号：3101000001" in text
    text = flat(app.press("f1"))
    assert "仍欠123.45元；催费期限2026-11-17已过：可以停电。" in text
    text = app.press("f2")
    assert ("cut", "T0001") in backend.calls and "已登记停电；复电任务待缴费后放行。" in flat(text)
    app.press("delete")  # another customer: served a notice, deadline not reached
    app.type("3101000002")
    text = flat(app.press("enter"))
    assert "不得停电：" in text and "催费期限2026-12-01未到" in text and "F2已停电" not in text
    backend.online = False
    assert "无法确认：连不上主站。不得停电。" in flat(app.press("enter"))


def test_card_top_up(tmp_path):
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    text = app.press("4")
    assert "插入用户电卡，按F1。" in text and lines(text)[-1].startswith("F1读卡 F4返回")
    text = app.press("f1")
    assert "3101000009 张建平" in text and "购电次数：3" in text and "表内余额：20.00元" in text
    app.type("50")
    app.press("enter")
    app.type("100")
    text = app.press("enter")
    assert ("top_up", "3101000009", 5000) in backend.calls
    assert "已写卡50.00元。" in text and "找零：50.00元" in text


def test_card_shows_the_most_that_can_be_bought(tmp_path):
    import dataclasses

    backend = FakeBackend()
    backend.card = dataclasses.replace(backend.card, max_fen=198_000, hoard_limit_fen=200_000)
    app = logged_in(tmp_path, backend=backend)
    app.press("4", "f1")
    text = app.render_text()
    assert "本次最多可购1980.00元" in text and lines(text)[-1].startswith("F1读卡 F2充值")


@pytest.mark.parametrize("amount, keys", [(0, ()), (3000, ("30", "enter", "50"))])
def test_reissue_card_on_screen(tmp_path, amount, keys):
    import dataclasses

    backend = FakeBackend()
    backend.card = dataclasses.replace(backend.card, purchase_count=0, remaining_fen=None, reissue=True)
    app = logged_in(tmp_path, backend=backend)
    app.press("4", "f1")
    text = app.render_text()
    assert "补卡卡" in text and "不输金额：重写上次购电。" in text and "表内余额" not in text
    assert lines(text)[-1].startswith("F1读卡 F2补卡"), lines(text)[-1]
    for k in keys:
        app.press(k) if k == "enter" else app.type(k)
    text = app.press("f2")
    assert ("reissue", "3101000009", amount) in backend.calls and ("top_up", "3101000009", amount) not in backend.calls
    if amount:
        assert "补卡已写入30.00元。" in text and "找零：20.00元" in text
    else:
        assert "补卡已写：带上次购电。" in text


def test_settlement_rows_are_the_slips_and_a_second_one_is_a_copy(tmp_path):
    app = logged_in(tmp_path)
    text = app.press("5")
    assert "按F1" in text
    text = app.press("f1")
    assert "电费缴费 3笔 300.00元" in text and "预收电费 1笔 50.00元" in text and "购电 1笔 50.00元" in text
    assert "冲正 1笔 -20.00元" in text and "应交款：380.00元" in text and "与主站对账一致。" in text
    assert "违约金差额：-￥2.36" in text  # below the cash: not a row of money taken
    assert "日结单已打印。" in text
    text = app.press("f1").replace("\n", "")
    assert "今日已日结：补打同一张日结单（副本）。" in text and "日结单已补打（副本）。" in text


def test_settlement_shows_the_reading_statistics_per_segment_within_30_columns(tmp_path):
    from ui.model import SettlementView

    class WithReadings(FakeBackend):
        def settlement(self):
            return SettlementView((("Bills paid", 1, 1000), ("Reversals", 0, 0)), 0, 1000, (), True, True,
                                  readings=(("010101", 100, 85, 12, 2, 1), ("010201", 96, 0, 96, 0, 0)))

    for language, head in (("zh_CN", "抄表 已抄/未抄/异常/跳过："), ("en", "Read/unread/abnormal/skipped:")):
        app = logged_in(tmp_path, backend=WithReadings(), language=language)
        app.press("5")
        text = app.press("f1")
        assert_fits(text, 30, 16)
        assert head in text and "010101 85/12/2/1" in text and "010201 0/96/0/0" in text


def test_settings_language_switch_and_message_log(tmp_path):
    app = logged_in(tmp_path)
    text = app.press("6")
    assert "APN：cmiot.sc" in text and "主站：127.0.0.1:7600" in text
    text = app.press("2")  # modem diagnostics, in Chinese
    assert "信号（0-31）：18" in text and "网络：本地网" in text and "GPRS附着：是" in text
    text = app.press("3")  # language → English
    assert "1 Printer test" in text and "Station：127.0.0.1:7600" in text
    assert lines(text)[1].startswith("Queue 2 oldest 5min")
    app.press("esc")
    assert "1 Meter reading" in app.render_text()
    app.press("6", "3")  # and back to Chinese
    text = app.press("4")
    assert app.top.name == "messages" and "12:00 欢迎，王师傅。" in text


def test_settings_shows_the_receipts_folder_tail_at_30_columns(tmp_path):
    """The receipts path is longer than the screen: its tail (the part that differs) is shown
    on one line after "…", never cut off at the bottom of the screen."""
    backend = FakeBackend()
    folder = "/tmp/handheld-sim-8rp2sg00/tickets-by-day"
    backend.settings_summary = lambda: [("Terminal", "00000001"), ("APN", "cmiot.sc"),
                                        ("Station", "127.0.0.1:34659"), ("Channel", "GPRS modem"),
                                        ("Receipts folder", folder)]
    app = logged_in(tmp_path, backend=backend)
    text = app.press("6")
    assert_fits(text, 30, 16)
    assert "小票目录：" in text
    shown = [ln.rstrip() for ln in lines(text) if ln.startswith("…")]
    assert shown == ["…" + folder[-29:]], lines(text)


def test_cjk_punctuation_never_starts_a_line_at_30_columns(tmp_path):
    """A sentence of exactly 30 columns plus "。": the "。" does not wrap onto a line of its own,
    it takes the character before it along (禁则), on a screen and in any urwid.Text."""
    sentence = "一二三四五六七八九十一二三四五。"  # 15 CJK = 30 columns, then the full stop
    app = logged_in(tmp_path)  # the app installs the layout for every urwid.Text
    shown = [ln.decode("utf-8").rstrip() for ln in urwid.Text(sentence).render((30,)).text]
    assert shown == ["一二三四五六七八九十一二三四", "五。"]
    app.press("6")
    app.top.walker.append(urwid.Text(sentence + "请按F1继续，或按返回键退出"))
    text = app.press("down", "down", "down", "down", "down")
    assert "五。请按F1继续" in flat(text)
    assert not [ln for ln in lines(text) if ln[:1] in "。，、；：？！）"], lines(text)


def test_every_screen_fits_30x16_and_40x15(tmp_path):
    app = logged_in(tmp_path)
    c = CUSTOMERS[0]
    screens = [("main", {}), ("reading_menu", {}), ("route_download", {}), ("route_list", {"purpose": "read"}),
               ("customer", {"customer": c}), ("reading", {"customer": c, "mode": "keypad"}),
               ("charge", {}), ("bill", {"customer": c}), ("payment", {"customer": c, "due_fen": 100}),
               ("reversal", {}), ("dunning", {}), ("arrears_check", {}), ("topup", {}), ("settlement", {}),
               ("settings", {}), ("messages", {}), ("logout", {}), ("unlock", {}), ("new_pin", {"operator": "1001"}),
               ("documents", {}),
               ("unprinted", {"documents": []}), ("skip", {"customer": c}), ("note", {"customer": c}),
               ("sim_paycode", {})]
    from ui.app import SCREENS
    assert {name for name, _ in screens} | {"login"} == set(SCREENS)
    for name, params in screens:
        app.push(name, **params)
        for cols, rows in ((30, 16), (40, 15), (80, 24)):
            text = app.render_text((cols, rows))
            assert_fits(text, cols, rows)
            assert app._(app.top.title) in text, (name, text)
        app.pop()


@pytest.mark.parametrize("size", [(30, 16), (40, 15)])
def test_wide_characters_are_never_split(tmp_path, size):
    app = logged_in(tmp_path)
    app.press("2", "1", "enter")
    text = app.render_text(size)
    # a long Chinese address wraps between characters: every line is exactly the width
    assert_fits(text, *size)
    assert "王秀英" in text


def test_busy_state_blocks_keys_and_esc_cancels_only_safe_tasks(tmp_path):
    from ui.app import Busy

    app = logged_in(tmp_path)
    app.busy = Busy("抄表", cancellable=False)
    app._draw_chrome()
    text = app.press("1")
    assert app.top.name == "main" and "正在抄表…" in text and "Esc取消" not in text
    app.press("esc")
    assert app.busy is not None  # a payment in progress cannot be abandoned
    app.busy = Busy("抄表", cancellable=True)
    text = app.render_text()
    assert "Esc取消" in text
    text = app.press("esc")
    assert app.busy is None and "已取消：抄表。" in text


def test_route_download_shows_a_progress_bar(tmp_path):
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    shots: list[str] = []
    backend.on_progress = lambda: shots.append(app.render_text())
    app.press("1", "1", "enter")
    assert len(shots) == 2
    assert "正在下载抄表段3101…" in shots[0]
    assert "[##########..........] 1/2" in shots[0] and "Esc取消" in shots[0]
    assert "[####################] 2/2" in shots[1]
    assert "[" not in app.render_text().split("\n")[-2]  # gone when the task ends


def test_door_locked_is_registered_without_a_reading(tmp_path):
    backend = FakeBackend()
    backend.online = False  # the IR read fails: nobody home to open the meter box
    app = logged_in(tmp_path, backend=backend)
    app.press("1", "2", "enter", "f1")
    assert "F3异常" in app.render_text().split("\n")[-1]
    app.press("f3")
    text = flat(app.press("1"))  # 门闭: shown, registered only when confirmed
    assert "异常：门闭" in text and not [c for c in backend.calls if c[0] == "register_abnormal"]
    text = app.press("enter")
    assert ("register_abnormal", "3101000001", "door_locked") in backend.calls
    assert app.top.name == "customer" and "抄表异常已登记。" in text


def test_an_abnormal_code_picked_by_mistake_saves_nothing(tmp_path):
    """Walk (6): F2's code is a choice the operator confirms; Esc goes back and nothing is saved."""
    backend = FakeBackend()
    backend.online = False
    app = logged_in(tmp_path, backend=backend)
    app.press("1", "2", "enter", "f1", "f3")
    text = flat(app.press("2"))
    assert "异常：表停走" in text and "不录读数，只登记异常。" in text
    app.press("esc")
    assert app.top.name == "reading" and app.top.step is None
    assert not [c for c in backend.calls if c[0] in ("register_abnormal", "save_reading")]
    app.press("f3", "1", "f1")
    assert [c for c in backend.calls if c[0] == "register_abnormal"] == [("register_abnormal", "3101000001",
                                                                            "door_locked")]


def test_a_receipt_can_be_printed_again(tmp_path):
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    app.press("2", "1", "enter", "f1", "enter", "enter")
    assert app.render_text().split("\n")[-1].startswith("F1完成 F2重打")
    app.press("f2")
    assert ("reprint", "00000001-00000001") in backend.calls


def test_logging_out_says_how_many_records_still_wait(tmp_path):
    """Issue 13 (11): F4 on the main menu asks first, with the number of records not yet sent."""
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    text = app.press("f4")
    assert app.top.name == "logout" and "还有2条记录等待上传主站。" in text and app.operator is not None
    app.press("esc")
    assert app.top.name == "main" and app.operator is not None
    backend.status_value = TerminalStatus(csq=18, link=LinkState.UP, queue_depth=0, printer=PrinterState.OK)
    text = app.press("f4")
    assert "全部已上传主站。" in text
    app.press("f1")
    assert app.top.name == "login" and app.operator is None


def test_search_finds_a_customer_by_the_last_digits(tmp_path):
    app = logged_in(tmp_path)
    app.press("1", "2", "up")
    app.type("002")
    text = app.press("enter")
    assert app.top.name == "customer" and "3101000002 李德明" in text


def test_the_status_line_says_no_signal(tmp_path):
    app = logged_in(tmp_path)
    app.set_status(TerminalStatus(csq=None, link=LinkState.NO_SIGNAL, queue_depth=1, printer=PrinterState.OK))
    row1 = lines(app.render_text((30, 16)))[0]
    assert "····" in row1 and "无信号" in row1 and "在线" not in row1


def test_an_online_payment_does_not_say_it_waits_and_a_partial_one_says_what_is_owed(tmp_path):
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    app.press("2", "1", "enter", "f1")
    app.press("delete")
    app.type("100")
    app.press("enter", "enter")
    text = app.render_text().replace("\n", "")
    assert "已收100.00元。" in text and "尚欠：23.45元" in text and "已上传主站。" in text
    assert "通道恢复后上传" not in text
