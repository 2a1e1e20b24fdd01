"""The print history screen (打印记录) and the offer of originals never printed, on the fake backend
(the use cases behind them: tests/integration/test_print_history.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from urwid import calc_width

from terminal_app.timeutil import SHANGHAI
from tests.unit.test_ui_support import FakeBackend, logged_in, make_app
from ui.model import DocumentView

DAY = dt.datetime(2026, 11, 23, 10, 5, tzinfo=SHANGHAI)


def docs() -> list[DocumentView]:
    return [
        DocumentView("30000001-7", "receipt", "3101000001", "王秀英", DAY, 18412, True),
        DocumentView("30000001-9", "reading_notice", "3101000002", "李德明", DAY + dt.timedelta(hours=1), 261, True),
        DocumentView("30000001-12", "receipt", "3101000002", "李德明", DAY + dt.timedelta(days=1), 5000, False),
    ]


def test_history_lists_newest_first_finds_by_customer_and_reprints_as_a_copy(tmp_path):
    backend = FakeBackend()
    backend.docs = docs()
    backend.docs[2] = dataclasses.replace(backend.docs[2], printed=True)
    app = logged_in(tmp_path, backend=backend)
    screen = app.press("7")
    assert "打印记录" in screen
    lines = screen.splitlines()
    rows = [ln for ln in lines if "3101" in ln]
    assert [r.split()[1] for r in rows] == ["收据", "抄表", "收据"]
    assert rows[0].split()[0] == "11-24" and "50.00" in rows[0]
    assert all(calc_width(ln, 0, len(ln)) <= 30 for ln in lines)
    app.type("0001")  # the last digits of 3101000001
    screen = app.press("enter")
    rows = [ln for ln in screen.splitlines() if "3101" in ln]
    assert len(rows) == 1 and "3101000001" in rows[0] and "184.12" in rows[0]
    screen = app.press("enter")  # on the row: print it again
    assert ("print_document", "30000001-7") in backend.calls
    assert "已打印（副本）" in screen
    app.press("up", "delete")  # to the number field, cleared (the keypad's 清除)
    app.type("9999")
    screen = app.press("enter")
    assert "户号" in screen and "没有单据" in screen


def test_unprinted_originals_are_offered_at_login_and_printed_once_as_originals(tmp_path):
    backend = FakeBackend()
    backend.docs = docs()
    app = make_app(tmp_path, backend=backend)
    app.push("login")
    app.type("1001")
    app.press("enter")
    app.type("123456")
    screen = app.press("enter")
    assert app.top.name == "unprinted", screen
    assert "有1张单据未打印出来" in screen and "*11-24 收据 3101000002 50.00" in screen
    screen = app.press("f1")
    assert backend.calls.count(("print_document", "30000001-12")) == 1
    assert app.top.name == "main" and "已打印1张正本" in screen
    app.press("7")  # the history shows it printed now (no '*')
    assert "*11-24" not in app.render_text()
    app.press("esc")
    assert app.top.name == "main"  # back on the menu: nothing offered again (no failure since)
    assert backend.calls.count(("print_document", "30000001-12")) == 1


def test_after_a_print_failure_the_menu_offers_the_originals_again(tmp_path):
    backend = FakeBackend()
    backend.docs = docs()
    app = make_app(tmp_path, backend=backend)
    app.push("login")
    app.type("1001")
    app.press("enter")
    app.type("123456")
    app.press("enter")
    assert app.top.name == "unprinted"
    backend.printer_fails = True
    screen = app.press("f1")  # the printer is out of paper: shown, the document stays offered
    assert "缺纸" in screen or "out of paper" in screen or "纸" in screen, screen
    assert app.top.name == "unprinted" and "*11-24" in screen
    screen = app.press("esc")  # later
    assert app.top.name == "main"
    app.press("7")
    assert app.top.name == "documents"  # no failure since "later": not offered again meanwhile
    app.press("down", "f1")  # a reprint fails too (still no paper)
    backend.printer_fails = False
    app.press("esc")  # back on the menu after a failure: offered again
    assert app.top.name == "unprinted"
    app.press("f1")
    assert backend.calls.count(("print_document", "30000001-12")) == 1
    assert app.top.name == "main"


def test_history_when_nothing_was_printed(tmp_path):
    app = logged_in(tmp_path, backend=FakeBackend())
    screen = app.press("7")
    assert "没有打印过的单据" in screen
