"""Scan-to-pay (扫码支付 / 付款码) on the payment and top-up screens, and the day-end's QR rows, at 30×16.

The backend is the screen tests' fake (tests/unit/test_ui_support.py) with the two QR calls; the
real service and station run under the simulate-mode field day (tests/e2e/test_tmux_qr_day.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

from terminal_app.domain.paycode import PayChannel
from terminal_app.errors import BusinessRuleError
from tests.unit.test_ui_support import FakeBackend, logged_in
from ui.model import LinkState, PaymentOutcome, TerminalStatus

WECHAT = "134567890123450000"        # 18 digits, 13…: a WeChat Pay code
ALIPAY = "28765432109876543210"      # 20 digits, 28…: an Alipay code
WECHAT_MASKED = "13************0000"


def flat(text: str) -> str:
    return text.replace("\n", "").replace(" ", "")


def outcome(txn: str, amount: int, channel: str, acquirer_id: str) -> Any:
    """The service's PaymentOutcome of a QR payment: channel and the acquirer's id."""
    fields = {f.name for f in dataclasses.fields(PaymentOutcome)}
    if {"channel", "acquirer_id"} <= fields:
        return PaymentOutcome(txn, amount, 0, True, channel=channel, acquirer_id=acquirer_id)  # type: ignore[call-arg]

    @dataclasses.dataclass(frozen=True)
    class Qr:
        txn: str
        amount_fen: int
        change_fen: int
        printed: bool
        print_error: Any = None
        queued: bool = False
        owed_after_fen: int = 0
        reconnection: tuple[str, ...] = ()
        channel: str = ""
        acquirer_id: str = ""
    return Qr(txn, amount, 0, True, channel=channel, acquirer_id=acquirer_id)


class QrBackend(FakeBackend):
    def __init__(self) -> None:
        super().__init__()
        self.refuse: list[BaseException] = []  # the next QR calls raise these, in order

    def pay_qr(self, customer: str, amount_fen: int, code_text: str) -> Any:
        self.calls.append(("pay_qr", customer, amount_fen, code_text))
        if self.refuse:
            raise self.refuse.pop(0)
        channel = "wechat" if code_text.startswith("1") else "alipay"
        return outcome("00000001-00000042", amount_fen, channel, "4200001234202611240000000042")

    def top_up_qr(self, card: Any, amount_fen: int, code_text: str) -> Any:
        self.calls.append(("top_up_qr", card.customer, amount_fen, code_text))
        return outcome("00000001-00000043", amount_fen, "alipay", "2026112422001400001234567890")


def to_payment(app: Any) -> str:
    app.press("2", "1", "enter")  # 收费 → find → the first customer's bill
    return app.press("f1")


def test_f2_scans_a_wechat_code_and_the_outcome_names_the_wallet_and_its_id(tmp_path):
    backend = QrBackend()
    app = logged_in(tmp_path, backend=backend)
    text = to_payment(app)
    assert "F2扫码支付" in text.splitlines()[-1]
    text = app.press("f2")
    assert "扫码支付：123.45元" in flat(text) and "请顾客打开微信或支付宝的付款码" in flat(text)
    assert "F1" not in text.splitlines()[-1]  # no cash key while the code is awaited
    app.scanned(WECHAT + "\r\n")  # as the serial scanner hands it over
    assert ("pay_qr", "3101000001", 12345, WECHAT) in backend.calls
    assert not [c for c in backend.calls if c[0] == "pay"]
    text = app.render_text()
    f = flat(text)
    assert "已收123.45元。" in f and f"微信支付{WECHAT_MASKED}" in f and "支付单号：4200001234202611240000000042" in f
    assert "找零" not in f and "凭证已打印。" in f and WECHAT not in f
    app.press("f1")
    assert app.top.name == "route_list"


def test_what_is_not_a_payment_code_is_refused_and_nothing_is_sent(tmp_path):
    backend = QrBackend()
    app = logged_in(tmp_path, backend=backend)
    to_payment(app)
    app.press("f2")
    app.scanned("6001000000000000000001")  # the meter's own barcode
    f = flat(app.render_text())
    assert "既不是微信付款码" in f or "不是付款码" in f, f
    assert app.top.qr.active and not [c for c in backend.calls if c[0] == "pay_qr"]
    app.scanned("1345678901234X0000")
    assert "不是付款码" in flat(app.render_text()) and "1345678901234X0000" not in flat(app.render_text())
    app.scanned(ALIPAY)  # a good code after the bad ones: paid
    assert [c[3] for c in backend.calls if c[0] == "pay_qr"] == [ALIPAY]
    assert "支付宝28**************3210" in flat(app.render_text())


def test_without_signal_scan_to_pay_is_refused_at_once_and_never_becomes_cash(tmp_path):
    backend = QrBackend()
    app = logged_in(tmp_path, backend=backend)
    to_payment(app)
    app.set_status(TerminalStatus(csq=None, link=LinkState.NO_SIGNAL))
    text = app.press("f2")
    assert "需要联网" in flat(text) and not app.top.qr.active
    assert not [ln for ln in text.split("\n") if ln[:1] in "。，、；：？！）"], text  # 禁则 at 30 columns
    assert not [c for c in backend.calls if c[0] in ("pay", "pay_qr")]
    # signal goes while the code is awaited: the scan is refused too, still no cash
    app.set_status(TerminalStatus(csq=18, link=LinkState.UP))
    app.press("f2")
    app.set_status(TerminalStatus(csq=None, link=LinkState.NO_SIGNAL))
    app.scanned(WECHAT)
    f = flat(app.render_text())
    assert "需要联网" in f and app.top.qr.active and app.top.result is None
    assert not [c for c in backend.calls if c[0] in ("pay", "pay_qr")]


def test_a_refusal_is_shown_with_what_to_do_and_a_new_code_can_be_scanned(tmp_path):
    backend = QrBackend()
    backend.refuse.append(BusinessRuleError("The customer's wallet refused the payment: not enough money.",
                                            "Ask the customer for another way to pay."))
    app = logged_in(tmp_path, backend=backend)
    to_payment(app)
    app.press("f2")
    app.scanned(WECHAT)
    screen = flat(app.render_text())
    assert "notenoughmoney" in screen.lower() and "anotherwaytopay" in screen.lower()
    assert app.top.name == "payment" and app.top.result is None and app.top.qr.active
    app.scanned(ALIPAY)
    assert app.top.result is not None and [c[3] for c in backend.calls if c[0] == "pay_qr"] == [WECHAT, ALIPAY]


def test_esc_goes_back_to_the_cash_form_where_only_f1_takes_cash(tmp_path):
    backend = QrBackend()
    app = logged_in(tmp_path, backend=backend)
    to_payment(app)
    app.press("f2")
    app.press("enter", "f1")  # neither takes cash while the code is awaited
    assert not [c for c in backend.calls if c[0] in ("pay", "pay_qr")]
    text = app.press("esc")
    assert app.top.name == "payment" and not app.top.qr.active and "金额：123.45" in text
    app.press("f1")
    assert [c for c in backend.calls if c[0] == "pay"] == [("pay", "3101000001", 12345, 12345)]


class HeldRunner:
    """Holds the task until the test lets it finish: the screen while the customer types a password."""

    def __init__(self) -> None:
        self.held: list[tuple] = []

    def start(self, app, fn, done, failed):
        self.held.append((fn, done, failed))
        return None

    def call_soon(self, fn):
        fn()

    def finish(self) -> None:
        fn, done, failed = self.held.pop(0)
        try:
            result = fn()
        except Exception as e:  # noqa: BLE001
            failed(e)
        else:
            done(result)


def test_keys_during_the_wait_do_nothing_and_say_so_and_the_outcome_stays(tmp_path):
    backend = QrBackend()
    app = logged_in(tmp_path, backend=backend)
    to_payment(app)
    app.press("f2")
    runner = HeldRunner()
    app.runner = runner
    app.scanned(WECHAT)
    text = app.render_text()
    assert "顾客支付中…" in flat(text) and "等待顾客支付" in flat(text) and app.busy is not None
    assert "不能取消" in flat(text)
    text = app.press("enter", "esc", "f1", "1", "f2")  # none may pay, cancel, or queue for the outcome
    assert "现在按键无效" in flat(text) and app.busy is not None
    app.scanned(ALIPAY)  # a second scan while the first is with the wallet: dropped
    assert not [c for c in backend.calls if c[0] in ("pay", "pay_qr")]
    runner.finish()
    assert [c[0] for c in backend.calls if c[0] in ("pay", "pay_qr")] == ["pay_qr"]
    text = app.render_text()
    assert app.top.name == "payment" and "已收123.45元。" in flat(text) and "现在按键无效" not in flat(text)


def test_the_wait_shows_the_seconds_on_a_bar(tmp_path):
    backend = QrBackend()
    app = logged_in(tmp_path, backend=backend)
    to_payment(app)
    app.press("f2")
    runner = HeldRunner()
    app.runner = runner
    app.scanned(WECHAT)
    app.progress(12, 60)  # what the ticker thread calls each second
    assert "12/60" in app.render_text()
    runner.finish()


def test_a_payment_code_scanned_elsewhere_is_neither_shown_nor_looked_up(tmp_path):
    backend = QrBackend()
    app = logged_in(tmp_path, backend=backend)
    app.scanned(WECHAT)
    f = flat(app.render_text())
    assert "付款码" in f and WECHAT not in f and not [c for c in backend.calls if c[0] == "barcode"]
    to_payment(app)
    app.scanned(WECHAT)  # on the cash form: a hint, no payment
    f = flat(app.render_text())
    assert "请先按F2扫码支付" in f and WECHAT not in f and not [c for c in backend.calls if c[0] == "pay_qr"]


def test_card_top_up_by_payment_code(tmp_path):
    backend = QrBackend()
    app = logged_in(tmp_path, backend=backend)
    app.press("4", "f1")  # 购电, read the card
    app.top.cash.amount.set_edit_text("50")
    text = app.press("f3")
    assert "扫码支付：50.00元" in flat(text)
    app.scanned(ALIPAY)
    assert ("top_up_qr", "3101000009", 5000, ALIPAY) in backend.calls
    f = flat(app.render_text())
    assert "已写卡50.00元。" in f and "支付宝28**************3210" in f and "支付单号：" in f and ALIPAY not in f


def test_the_day_end_shows_the_wallets_apart_from_the_cash(tmp_path):
    backend = QrBackend()
    base = backend.settlement

    def settlement():
        s = base()
        qr = ((PayChannel.WECHAT.title, 1, 3550), (PayChannel.ALIPAY.value, 2, 4000), ("Alipay", 0, 0))
        try:
            return dataclasses.replace(s, qr=qr)
        except TypeError:  # before the service's view has the field
            class WithQr:
                def __getattr__(self, name):
                    return qr if name == "qr" else getattr(s, name)
            return WithQr()
    backend.settlement = settlement
    app = logged_in(tmp_path, backend=backend)
    app.press("5")
    text = app.press("f1")
    f = flat(text)
    assert "应交款：380.00元" in f and "扫码收款（不计入现金）：" in f
    assert "微信支付：1笔，35.50元" in f and "支付宝：2笔，40.00元" in f
    assert all(len(line) for line in text.splitlines())


class SimPresenter:
    """The simulate-mode controls as the UI sees them: F5's choices, and the customer's code handed
    to the scanner (here straight to the app, as the scanner thread would)."""

    operator_id, operator_pin = "1001", "123456"
    PAYCODES = (("WeChat: paid at once", "wechat", "success"), ("Alipay: not enough money", "alipay",
                                                                 "insufficient_funds"))

    def __init__(self) -> None:
        self.app: Any = None
        self.shown: list[int] = []

    def present_code(self, choice: int) -> str:
        self.shown.append(choice)
        self.app.scanned(WECHAT if choice == 0 else ALIPAY)
        return self.PAYCODES[choice][0]


def test_f5_in_simulate_mode_picks_the_code_the_customer_shows(tmp_path):
    backend, sim = QrBackend(), SimPresenter()
    app = logged_in(tmp_path, backend=backend, sim=sim)
    sim.app = app
    text = app.press("f5")  # not waiting for a code: says what to do first
    assert "先在收费或购电界面按扫码支付" in flat(text) and app.top.name == "main"
    to_payment(app)
    app.press("f2")
    text = app.press("f5")
    assert app.top.name == "sim_paycode" and "1微信：当即付款成功" in flat(text) and "2支付宝：余额不足" in flat(text)
    app.press("1")
    assert sim.shown == [0] and app.top.name == "payment"
    assert [c[3] for c in backend.calls if c[0] == "pay_qr"] == [WECHAT]
    assert "已收123.45元。" in flat(app.render_text())


def test_reversing_a_qr_payment_says_the_money_goes_back_to_the_wallet_not_cash(tmp_path):
    backend = QrBackend()
    base_reverse = backend.reverse

    def reverse(txn, reason):
        r = base_reverse(txn, reason)

        class WithChannel:  # the service's ReversalView of a QR payment names its wallet
            channel = "wechat"

            def __getattr__(self, name):
                return getattr(r, name)
        return WithChannel()
    backend.reverse = reverse
    app = logged_in(tmp_path, backend=backend)
    app.press("2", "1", "enter", "f1", "enter", "enter", "f1", "esc")  # a payment to reverse
    app.press("2", "enter", "3")
    text = flat(app.press("f1"))
    assert "123.45元已原路退回顾客的微信支付，不退现金。" in text and "退还王秀英" not in text


def test_an_unknown_outcome_is_not_called_not_paid_and_takes_no_new_code_nor_cash(tmp_path):
    from terminal_app.services.qr_payment import QrOutcomeUnknownError

    backend = QrBackend()
    backend.refuse.append(QrOutcomeUnknownError("The station's answer to QR payment {txn} did not come.",
                                                txn="00000001-00000042"))
    app = logged_in(tmp_path, backend=backend)
    to_payment(app)
    app.press("f2")
    app.scanned(WECHAT)
    f = flat(app.render_text())
    assert "结果未知" in f and "未收款" not in f and "00000001-00000042" in f, f
    app.scanned(ALIPAY)  # a new code could charge twice: refused until the answer is known
    assert [c[3] for c in backend.calls if c[0] == "pay_qr"] == [WECHAT]
    app.press("esc")  # leaves the payment, not to the cash form
    assert app.top.name == "bill" and not [c for c in backend.calls if c[0] == "pay"]


def test_the_scan_to_pay_states_fit_30x16_and_40x15(tmp_path):
    from tests.unit.test_ui_screens import assert_fits

    for size in ((30, 16), (40, 15)):
        backend = QrBackend()
        backend.refuse.append(BusinessRuleError("The customer's wallet has not enough money; the customer was "
                                                "not charged."))
        (tmp_path / f"{size[0]}").mkdir()
        app = logged_in(tmp_path / f"{size[0]}", backend=backend)
        to_payment(app)
        assert_fits(app.press("f2", size=size), *size)
        app.scanned("6001000000000000000001")
        assert_fits(app.render_text(size), *size)
        app.scanned(WECHAT)
        assert_fits(app.render_text(size), *size)
        runner = HeldRunner()
        app.runner = runner
        app.scanned(ALIPAY)
        app.progress(30, 60)
        assert_fits(app.press("enter", size=size), *size)
        runner.finish()
        text = app.render_text(size)
        assert_fits(text, *size)
        assert "支付宝" in flat(text) and "已收123.45元。" in flat(text)


def test_top_up_offers_no_scan_to_pay_when_the_backend_has_no_qr_purchase(tmp_path):
    backend = FakeBackend()  # like the core today: no top_up_qr
    app = logged_in(tmp_path, backend=backend)
    text = app.press("4", "f1")
    assert "扫码支付" not in text.splitlines()[-1]
    app.top.cash.amount.set_edit_text("50")
    app.press("f3")
    assert not app.top.qr.active
    app.scanned(ALIPAY)
    f = flat(app.render_text())
    assert "购电在本机只收现金。" in f and ALIPAY not in f
