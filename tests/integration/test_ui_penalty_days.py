"""The simulator's demo area shows penalties growing from day to day (issue 14): F9 moves the
date a day on (the reference station's clock and the terminal's), the bill screen's figure grows
by that day's penalty; out of coverage the terminal counts the same figure itself and says 估算.

The simulated site and the UI over it: the ``field`` fixture of tests/integration/conftest.py."""

from __future__ import annotations

import datetime as dt
import sqlite3
from contextlib import closing

SEGMENT = "010101"


def flat(text: str) -> str:
    return text.replace("\n", "").replace(" ", "")


def most_overdue_residential(db, today: dt.date) -> str:
    """A residential customer of the segment whose oldest unpaid charge × days late is largest
    (its penalty is above the 1 元 minimum, so one more day shows)."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT b.cust, b.amount - b.paid_amount, b.due FROM bills b JOIN customers c"
                            " ON c.cust = b.cust WHERE c.segment = ? AND c.category = 'residential'"
                            " AND b.amount > b.paid_amount", (SEGMENT,)).fetchall()
    return max(rows, key=lambda r: r[1] * (today - dt.date.fromisoformat(r[2])).days)[0]


def test_f9_moves_a_day_on_and_the_penalty_grows(field):
    app, site = field
    app.push("login")
    app.type("1001")
    app.press("enter")
    app.type("123456")
    app.press("enter")
    text = app.press("1", "1", "enter")  # 抄表 → 下载抄表段 → the first segment (010101)
    assert app.top.name == "route_list" and "已下载" in flat(text)
    today = site.station_clock.now().date()
    cust = most_overdue_residential(site.workdir / "station.sqlite", today)
    index = [c.number for c in app.top.customers].index(cust)
    app.press(*(["down"] * index), "enter", "f3")
    assert app.top.name == "bill" and not app.top.bill.offline
    before = app.top.bill
    penalty = sum(ln.penalty_fen for ln in before.lines)
    assert penalty > 100 and "含违约金计至" in flat(app.render_text())

    app.press("f9")  # tomorrow, for the station and the terminal
    assert f"模拟：日期已到{today + dt.timedelta(days=1)}" in flat(app.render_text())
    app.press("f2")  # refresh the bill
    after = app.top.bill
    grown = sum(ln.penalty_fen for ln in after.lines)
    basis = sum(ln.amount_fen for ln in after.lines)
    assert grown > penalty and grown - penalty <= basis // 1000 + 1  # one day's penalty, rounding aside
    assert after.total_fen - before.total_fen == grown - penalty

    app.press("f8")  # out of coverage: the terminal counts the same day's penalty itself, and says so
    app.press("f2")
    offline = app.top.bill
    assert offline.offline and offline.estimated
    assert [ln.penalty_fen for ln in offline.lines] == [ln.penalty_fen for ln in after.lines]
    assert "估算" in app.render_text()
