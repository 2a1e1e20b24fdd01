"""The field-day walk's oddities on the screen (status before log-in, the bill's figures adding up,
keys pressed while a task runs), at 30×16 and in Chinese."""

from __future__ import annotations

from typing import Any

from drivers.power import write_mock_battery
from terminal_app.config import load_settings
from tests.unit.test_ui_support import NOON, FakeBackend, logged_in, make_app
from ui.model import ArrearsLine, BillView
from ui.services_backend import ServicesBackend


def rows(text: str) -> list[str]:
    return text.split("\n")


def flat(text: str) -> str:
    return text.replace("\n", "").replace(" ", "")


def test_before_log_in_the_status_shows_the_battery_and_no_question_marks(tmp_path):
    """Walk (3, 4): the real core's session before anyone logs in — the battery is polled from
    start-up; the link, the queue and the printer are not known yet and show as nothing."""
    power = tmp_path / "power"
    write_mock_battery(str(power), 64)
    settings = load_settings(None, env={}, overrides={"devices": {"power": {"path": str(power)}}})
    backend = ServicesBackend(settings)
    try:
        app = make_app(tmp_path, backend=backend)  # type: ignore[arg-type]
        app.push("login")
        app.run_command("status.refresh")  # what ui.main's clock tick runs every 2 s, from the start
        row1, row2 = rows(app.render_text((30, 16)))[:2]
        assert row1.startswith("---- ") and "电64% 12:00" in row1 and "·" not in row1, row1
        assert "?" not in row1 + row2 and "？" not in row1 + row2
        assert "通道" not in row1 and "打印机" not in row2 and "待传" not in row2, row1 + row2
        write_mock_battery(str(power), 12)  # the battery runs down before anyone logs in
        app.run_command("status.refresh")
        assert "电12%!" in rows(app.render_text((30, 16)))[0]
    finally:
        backend.close()


class OfflinePaidBackend(FakeBackend):
    """The bill of a customer who paid 50.00 on this terminal while the link was down."""

    def bill(self, customer: str) -> BillView:
        return BillView(customer, "王秀英", (ArrearsLine("2026-09", 13112, 0),), 8112, offline=True, as_of=NOON,
                        collected_fen=5000)


def test_an_offline_bill_shows_what_this_terminal_collected_so_the_figures_add_up(tmp_path):
    """Walk (5): 131.12 on the bill's line, 81.12 due: the 50.00 taken here is a line between them."""
    app = logged_in(tmp_path, backend=OfflinePaidBackend())
    text = flat(app.press("2", "1", "enter", "f3"))
    assert "2026-09131.12" in text and "本机已收：-50.00元" in text and "合计应缴：81.12元" in text, text
    assert text.index("131.12") < text.index("本机已收") < text.index("合计应缴")
    text = flat(app.press("f1"))  # the payment starts from what is still due
    assert app.top.name == "payment" and app.top.due_fen == 8112


def test_nothing_collected_shows_no_collected_line(tmp_path):
    app = logged_in(tmp_path)
    text = flat(app.press("2", "1", "enter", "f3"))
    assert "本机已收" not in text and "123.45" in text


class HeldRunner:
    """A task runner that holds each task until the test lets it finish (a slow meter or link)."""

    def __init__(self) -> None:
        self.held: list[tuple[Any, Any, Any]] = []

    def start(self, app: Any, fn: Any, done: Any, failed: Any) -> None:
        self.held.append((fn, done, failed))

    def call_soon(self, fn: Any) -> None:
        fn()

    def finish(self) -> None:
        fn, done, _failed = self.held.pop(0)
        done(fn())


def test_a_key_pressed_while_a_task_runs_is_refused_and_the_terminal_says_so(tmp_path):
    """Walk (7): keys are not silently dropped — the message line says the terminal is busy and the
    key was not taken; the screen does not change under the task; the note goes with the task."""
    backend = FakeBackend()
    app = logged_in(tmp_path, backend=backend)
    app.press("2", "1", "enter", "f3")
    assert app.top.name == "bill"
    held = HeldRunner()
    app.runner = held
    app.press("f2")  # the bill asked for again: held in flight
    assert app.busy is not None and held.held
    text = flat(app.render_text())
    assert "正在" in text and "终端忙" not in text
    text = flat(app.press("f1"))  # F1 (pay) while the bill is being asked for
    assert "终端忙，按键未接收，请稍候。" in text, text
    assert app.top.name == "bill" and app.busy is not None
    held.finish()
    text = flat(app.render_text())
    assert app.busy is None and "终端忙" not in text and "123.45" in text
    assert app.top.name == "bill"  # the refused F1 did not open the payment afterwards


def test_esc_on_a_task_that_cannot_be_cancelled_says_busy_too(tmp_path):
    app = logged_in(tmp_path)
    held = HeldRunner()
    app.runner = held
    app.run_task("保存", lambda: True, done=lambda _r: None)  # not cancellable (journaled work)
    text = flat(app.press("esc"))
    assert app.busy is not None and "终端忙，按键未接收" in text
    held.finish()
    assert app.busy is None
