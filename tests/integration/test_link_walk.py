"""The field-day walk's link oddities, over the real use cases and the simulated site (mock GPRS
modem on a pty, reference station): a link known down is not waited for, a link shown down is
re-checked in the background, and an offline bill's figures add up."""

from __future__ import annotations

from typing import Any

from terminal_app.services.link_status import ProbeTimer
from tests.util import wait_for


def log_in(app) -> None:
    app.push("login")
    app.type("1001")
    app.press("enter")
    app.type("123456")
    app.press("enter")


def flat(text: str) -> str:
    return text.replace("\n", "").replace(" ", "")


def row1(app) -> str:
    return app.render_text().split("\n")[0]


def count_exchanges(session: Any) -> list[int]:
    """Counts every exchange the station client starts (wraps the real client; it still runs)."""
    client = session.t.client
    real = client.exchange
    calls: list[int] = []

    def exchange(requests):
        calls.append(len(requests))
        return real(requests)
    client.exchange = exchange
    return calls


def status_says(app, word: str) -> str:
    """Poll the status (as ui.main's tick does) until the status line says ``word``: the mock modem
    applies a coverage switch on its own thread."""
    def says() -> str:
        app.refresh_status()
        return word in row1(app) and row1(app)
    return wait_for(says, timeout=20, interval=0.2, what=f"{word} on the status line")


def open_bill(app) -> str:
    while app.top.name not in ("route_list", "main"):
        app.press("esc")
    if app.top.name == "main":
        app.press("2", "1")
    app.top.on_select()  # the first customer of the route
    return flat(app.press("f3"))


def test_with_no_signal_shown_the_bill_and_a_payment_do_not_wait_for_the_link(field):
    """Walk (1, 5): 无信号 on the status line → the bill comes from the downloaded data and the
    payment is journaled and printed without one exchange being tried; the bill then shows the
    payment as a line (本机已收) so its figures add up; the link is re-checked in the background."""
    app, site = field
    log_in(app)
    app.press("1", "1", "enter")  # the route: 100 customers downloaded
    app.refresh_status()
    assert "在线" in row1(app)
    app.press("f8")  # coverage off: the status poll reads the modem's CREG/CSQ
    status_says(app, "无信号")
    session = app.backend.session
    exchanges = count_exchanges(session)

    text = open_bill(app)
    assert "离线" in text and exchanges == [], (text, exchanges)
    total_before = app.top.bill.total_fen
    app.press("f1")
    app.top.cash.amount.set_edit_text("5")
    app.press("down")
    text = flat(app.press("enter"))
    assert "已收5.00元。" in text and "已保存，通道恢复后上传。" in text, text
    assert exchanges == [], exchanges  # not even the send straight after the capture

    app.press("f1")  # done: back to the customer card
    text = flat(app.press("f3"))
    bill = app.top.bill
    assert "本机已收：-5.00元" in text and bill.collected_fen == 500, text
    lines = sum(ln.amount_fen + ln.penalty_fen - ln.from_balance_fen for ln in bill.lines)
    assert bill.total_fen == max(0, lines - bill.collected_fen) == max(0, total_before - 500)
    assert exchanges == []

    app.press("f8")  # coverage back: a status poll finds the radio and says so
    status_says(app, "在线")


def test_a_link_shown_down_is_probed_in_the_background_and_shows_online_when_back(field):
    """Walk (2): after a failed exchange the status says 离线; with coverage back and nothing to
    send, the status poll probes the station (HELLO) when its timer is due — not before — and shows
    在线; meanwhile a bill query answers from the downloaded data without waiting."""
    app, site = field
    log_in(app)
    app.press("1", "1", "enter")
    app.refresh_status()
    assert "在线" in row1(app)
    session = app.backend.session
    now = [1000.0]
    session.monotonic = lambda: now[0]

    site.modem.set_coverage(False)  # the status line has not seen it yet: the bill tries the station
    wait_for(lambda: site.modem.coverage is False, what="the mock modem to drop coverage")
    text = open_bill(app)
    assert "离线" in text, text
    site.modem.set_coverage(True)
    status_says(app, "离线")  # the radio is back, the failure is the latest exchange, the probe not due

    exchanges = count_exchanges(session)
    app.refresh_status()  # polls go on: no probe before its time (bounded, no busy loop)
    assert exchanges == [] and "离线" in row1(app)
    text = open_bill(app)  # 离线 shown: the downloaded data at once
    assert "离线" in text and exchanges == [], exchanges

    now[0] += ProbeTimer().cap + 1  # the probe's timer is due
    app.refresh_status()
    assert exchanges == [1] and "在线" in row1(app), (exchanges, row1(app))  # one HELLO, answered
    text = open_bill(app)  # the link is back: the station answers in real time
    assert "离线" not in text and len(exchanges) == 2, (text, exchanges)
