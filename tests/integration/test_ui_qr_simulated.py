"""Scan-to-pay (扫码支付) through the screens over the real stack of the simulated site: ServicesBackend →
FieldSession.pay_qr → the station → the mock acquirer; the customer's code drawn as a QR picture,
decoded by the camera path and read by the SerialScanner driver from the mock scanner's pty (F5).

Tasks run inline (InlineRunner): each key's effect is complete when ``press`` returns."""

from __future__ import annotations

import json
import urllib.request

from terminal_app.domain.paycode import channel_of
from tests.util import wait_for
from ui.main import ScannerThread


def flat(text: str) -> str:
    return text.replace("\n", "").replace(" ", "")


def scan_shown_code(app, choice: int) -> str:
    """F5 and the numbered choice: the code arrives by the scanner driver; handed to the UI as
    ui.main's scanner thread does.  Returns it (the test's own copy, for the checks)."""
    codes: list[str] = []
    scanner = ScannerThread(app.backend, codes.append).start()
    try:
        assert scanner.ready.wait(5) and scanner.error is None, scanner.error
        app.press("f5")
        assert app.top.name == "sim_paycode", app.render_text()
        app.press(str(choice))
        code = wait_for(lambda: codes and codes[0], what="the customer's code through the scanner driver")
    finally:
        scanner.stop()
    app.scanned(code)
    return code


def acquirer_orders(site) -> list[dict]:
    with urllib.request.urlopen(site.acquirer_url + "/_mock/orders", timeout=10) as r:
        return json.loads(r.read())


def test_wechat_and_alipay_by_code_then_the_day_end_keeps_them_apart_from_cash(field):
    app, site = field
    app.push("login")
    app.type("1001")
    app.press("enter")
    app.type("123456")
    app.press("enter")
    app.press("1", "1")
    app.press("enter")  # the first segment downloaded
    app.press("esc", "esc")
    assert app.top.name == "main"

    app.press("2", "1", "enter")  # 收费 → the list → the first customer's bill
    assert app.top.name == "bill"
    app.press("f1")
    app.top.cash.amount.set_edit_text("30")
    text = app.press("f2")
    assert "扫码支付：30.00元" in flat(text)
    wechat = scan_shown_code(app, 1)  # WeChat, paid at once
    assert channel_of(wechat) is not None and wechat.startswith(("10", "11", "12", "13", "14", "15"))
    text = flat(app.render_text())
    assert "已收30.00元。" in text and "微信支付" in text and "支付单号：4200000" in text, text
    assert wechat not in text and "凭证已打印。" in text
    app.press("f1")

    app.press("down", "enter")  # the next customer
    app.press("f1")
    app.top.cash.amount.set_edit_text("20")
    app.press("f2")
    scan_shown_code(app, 4)  # Alipay without the money
    text = flat(app.render_text())
    assert "未收款" in text and app.top.result is None and app.top.qr.active, text
    alipay = scan_shown_code(app, 2)  # another code: paid
    text = flat(app.render_text())
    assert "已收20.00元。" in text and "支付宝" in text and alipay not in text, text
    app.press("f1")

    app.press("down", "down", "enter")
    app.press("f1")
    app.top.cash.amount.set_edit_text("10")
    app.press("down")
    app.press("enter")  # exact cash
    assert "已收10.00元。" in flat(app.render_text())
    app.press("f1", "esc", "esc", "esc")
    assert app.top.name == "main"

    orders = acquirer_orders(site)
    held = sorted(o["held"] for o in (orders if isinstance(orders, list) else orders.get("orders", [])))
    assert 3000 in held and 2000 in held  # the acquirer holds each once

    app.press("5")
    text = flat(app.press("f1"))
    assert "应交款：10.00元" in text, text
    assert "微信支付：1笔，30.00元" in text and "支付宝：1笔，20.00元" in text, text
    tickets = "\n".join(p.read_text(encoding="utf-8") for p in (site.workdir / "tickets").glob("*.txt"))
    assert wechat not in tickets and alipay not in tickets and "微信支付" in tickets and "支付宝" in tickets


def test_f5_codes_reach_the_terminal_through_the_camera_path_and_the_scanner(field):
    """Each F5 choice: a code of the named wallet whose last four digits pick the named scenario
    (the mock acquirer's [select]), read by the terminal's SerialScanner driver; one choice is
    no payment code at all."""
    from hw_mocks.acquirer import scenarios
    from hw_mocks.acquirer.codes import selector
    from terminal_app.domain.paycode import PayChannel

    app, site = field
    app.push("login")
    app.type("1001")
    app.press("enter")
    app.type("123456")
    app.press("enter")
    book = scenarios.load()
    codes: list[str] = []
    scanner = ScannerThread(app.backend, codes.append).start()
    try:
        assert scanner.ready.wait(5) and scanner.error is None, scanner.error
        for n, (_label, channel, scenario) in enumerate(app.sim.PAYCODES):
            codes.clear()
            app.sim.present_code(n)
            code = wait_for(lambda: codes and codes[0], what=f"choice {n + 1} through the scanner driver")
            if channel is None:
                assert channel_of(code) is None
            else:
                # "+pull": the same code; the simulator pulls the card at the top-up's write
                assert channel_of(code) is PayChannel(channel) and \
                    code.endswith(selector(scenario.removesuffix("+pull"), book)), code
        site.card_reader.disarm()
    finally:
        scanner.stop()


def test_reversing_a_wechat_payment_refunds_the_wallet_and_says_no_cash(field):
    app, site = field
    app.push("login")
    app.type("1001")
    app.press("enter")
    app.type("123456")
    app.press("enter")
    app.press("1", "1")
    app.press("enter")
    app.press("esc", "esc")
    app.press("2", "1", "enter", "f1")
    app.top.cash.amount.set_edit_text("25")
    app.press("f2")
    scan_shown_code(app, 1)
    assert "已收25.00元。" in flat(app.render_text())
    app.press("f1", "esc")  # done: the list; Esc: the charging menu
    assert app.top.name == "charge"
    app.press("2")  # 冲正: today's payments
    app.press("enter", "1")  # the WeChat payment, the first reason
    text = flat(app.press("f1"))
    assert "25.00元已原路退回顾客的微信支付，不退现金。" in text and "冲正凭证已打印。" in text, text
    orders = acquirer_orders(site)
    orders = orders if isinstance(orders, list) else orders.get("orders", [])
    assert [(o["charges"], o["refunded"], o["held"]) for o in orders] == [(1, 2500, 0)], orders


def test_a_card_top_up_by_code_a_refusal_and_a_card_pulled_after_the_charge(field):
    """购电 by payment code through the screens (F3 scan-to-pay on the top-up screen → FieldSession.
    top_up_qr → the station charges the wallet, then the card is written): paid at once; refused
    (the card untouched); paid and the card pulled at the write — the screen says it is paid and to
    insert the same card, which F1 then finishes (the acquirer charged once)."""
    app, site = field
    app.push("login")
    app.type("1001")
    app.press("enter")
    app.type("123456")
    app.press("enter")
    app.press("4")  # 购电
    assert app.top.name == "topup"
    app.press("f1")  # the simulator's card is in the reader
    assert app.top.card is not None, app.render_text()
    count = app.top.card.purchase_count
    app.top.cash.amount.set_edit_text("50")
    assert "扫码支付：50.00元" in flat(app.press("f3"))
    wechat = scan_shown_code(app, 1)  # WeChat, paid at once
    text = flat(app.render_text())
    assert "已写卡50.00元。" in text and "微信支付" in text and "支付单号：4200000" in text, text
    assert wechat not in text
    app.press("f1")  # done
    app.press("f7", "f7")  # the card into the meter (it loads the purchase) and back into the reader
    app.press("f1")
    assert app.top.card.purchase_count == count + 1

    app.top.cash.amount.set_edit_text("30")
    app.press("f3")
    scan_shown_code(app, 4)  # Alipay without the money
    text = flat(app.render_text())
    assert "余额不足" in text and "未收款" in text and app.top.result is None, text
    app.press("esc")  # back to the cash form: nothing taken
    assert not app.top.qr.active

    app.top.cash.amount.set_edit_text("40")
    app.press("f3")
    scan_shown_code(app, 8)  # WeChat paid, the card pulled while it is written
    text = flat(app.render_text())
    assert "支付40.00元，但卡未写入" in text and "请重新插入同一张卡" in text, text
    assert app.top.result is None and app.top.unwritten is not None
    # the simulated station sits behind the marketing system: the purchase is given up there (the
    # supervisor), so the screen offers no F2 and says whom to call — and F2 does nothing
    assert "请联系班长在营销系统放弃购电" in text and "F2放弃" not in text and "按F2" not in text, text
    app.press("f2")
    assert app.top.unwritten is not None and app.top.given_up is None
    app.press("f7")  # the customer puts the same card back
    text = flat(app.press("f1"))
    assert "已写卡40.00元。" in text and "微信支付" in text, text
    orders = acquirer_orders(site)
    orders = orders if isinstance(orders, list) else orders.get("orders", [])
    assert sorted(o["held"] for o in orders if o["held"]) == [4000, 5000]  # each charged once
    assert all(o["charges"] <= 1 for o in orders)
    tickets = "\n".join(p.read_text(encoding="utf-8") for p in (site.workdir / "tickets").glob("*.txt"))
    assert wechat not in tickets and "支付单号" in tickets
