"""Chinese everywhere (issue 13, point 6): every screen driven through its error cases on the
simulated site — the real use cases, drivers and mocks, faults injected like the field's (no
signal, paper out, the card pulled, a silent meter, the station refusing) — and not one English
word on the screen, in a message, in the message log or on paper.

The whitelist is short, and each word is there because the operator reads it as such on the
device or in the manual: F1–F4 are printed on the keys; PIN, APN, SIM, GPRS, IP, QR, kWh and dBm
are how those things are written in Chinese documents too; Esc is the key's label; "English" is
the name of the language one can switch to.
"""

from __future__ import annotations

import re

from hw_mocks.meter.profile import load_scenario
from ui.app import HandheldApp

WHITELIST = frozenset({"PIN", "APN", "SIM", "GPRS", "IP", "QR", "kWh", "dBm", "Esc", "English"})
WORD = re.compile(r"[A-Za-z]{2,}")
#: a device's port (/dev/ttyIR0, here the simulator's pty link) is an identifier for the
#: technician, shown only when a port cannot be opened
PATH = re.compile(r"/[\w./-]+")
#: document numbers: letters (the pinyin initials of 催费 CF, 日结 RJ …) run into digits
NUMBER = re.compile(r"\b[A-Z]+\d[\w-]*")
#: configured values, not words: the private APN's name as the carrier spells it
CONFIGURED = ("cmiot.sc",)


def to_main(app: HandheldApp) -> None:
    while app.top.name != "main":
        app.pop()


def english(text: str) -> set[str]:
    for value in CONFIGURED:
        text = text.replace(value, " ")
    return {w for w in WORD.findall(NUMBER.sub(" ", PATH.sub(" ", text))) if w not in WHITELIST}


class Seen:
    """Everything the operator saw: each screen after each key, and each message in full."""

    def __init__(self, app: HandheldApp) -> None:
        self.app = app
        self.shots: list[tuple[str, str]] = []

    def press(self, *keys: str) -> str:
        for k in keys:
            self.app.press(k)
            self.look(k)
        return self.app.render_text()

    def type(self, text: str) -> None:
        self.app.type(text)
        self.look(f"type {text}")

    def look(self, step: str) -> None:
        step = f"#{len(self.shots) // 2} {step}"
        self.shots.append((step, self.app.render_text((30, 16))))
        self.shots.append((step + " (message)", self.app.message[0]))

    def words(self) -> dict[str, set[str]]:
        return {step: found for step, text in self.shots if (found := english(text))}


def test_every_screen_and_its_errors_are_in_chinese(field):
    app, site = field
    s = Seen(app)
    app.push("login")
    s.look("login")
    # login: an unknown operator, wrong PINs to the lock, a wrong supervisor, the unlock
    s.type("7777")
    s.press("enter")
    s.type("123456")
    s.press("enter")
    s.press("up", "delete")
    s.type("1001")
    s.press("enter")
    for _ in range(5):
        s.type("999999")
        s.press("enter")
    s.press("f3")
    s.type("1001")
    s.press("enter")
    s.type("888888")
    s.press("f4")  # not a supervisor (and it is the locked one)
    s.press("up", "delete")
    s.type("9001")
    s.press("enter")
    s.type("111111")
    s.press("f4")  # wrong supervisor PIN
    s.type("888888")
    s.press("f4")
    s.press("down")
    s.type("123456")
    s.press("enter")
    assert app.top.name == "main", app.render_text()

    # no signal: sync, segment list, route download
    site.modem.set_coverage(False)
    s.press("f8", "f1")
    s.press("1", "1")
    text = app.render_text().replace("\n", "").replace(" ", "")
    assert "未能取得表段列表" in text and "主站没有本终端的抄表段" not in text, text  # the failure, not "none"
    s.press("f8")
    s.press("f2", "enter")
    assert app.top.name == "route_list", app.render_text()
    s.press("up")
    s.type("98765")
    s.press("enter")  # nothing found
    s.press("delete")
    s.type("002")
    s.press("enter")  # trailing digits
    assert app.top.name == "customer", app.render_text()

    # reading: a silent meter, then keypad errors, a lower reading, a jump
    meter = next(iter(site.meters.values()))
    silent = load_scenario("silent")
    app.sim.aim(app.top.customer.number)
    meter.scenario = silent
    original_aim = app.sim.aim
    app.sim.aim = lambda cust: None  # keep the silent meter for this read
    s.press("f1")
    app.sim.aim = original_aim
    meter.scenario = load_scenario(None)
    s.press("f2")  # keypad entry
    s.press("enter")  # no value
    s.type("1")
    s.press("enter")  # no reason
    s.press("f1", "1")
    s.press("enter")  # 1 kWh: below the last reading
    s.press("f1", "f2")
    s.press("esc", "esc")
    last = float(app.top.customer.last_reading)
    s.press("f2", "f1", "1")
    s.type(f"{last + 10000:.2f}")
    s.press("enter", "f1")
    s.type("1")
    s.press("enter")  # typed again, wrong
    s.type(f"{last + 10000:.2f}")
    s.press("enter", "1")
    assert app.top.name == "customer", app.render_text()

    # charging: offline bill and a queued payment, too little cash, paper out
    site.modem.set_coverage(False)
    s.press("f3")
    assert app.top.name == "bill", app.render_text()
    s.press("f1", "delete")
    s.type("10")
    s.press("enter")
    s.type("5")
    s.press("enter")  # less cash than the amount
    s.press("delete")
    site.printer.paper_end = True
    s.press("enter")  # paid, journaled, the receipt did not print
    assert "缺纸" in app.render_text().replace("\n", ""), app.render_text()
    site.printer.paper_end = False
    site.modem.set_coverage(True)
    s.press("f2", "f1")  # reprint, done
    to_main(app)
    # reversal with its confirmation
    s.press("2", "2", "enter", "1", "f1")
    assert app.top.done is not None, app.render_text()
    to_main(app)

    # dunning: no segment, an unknown segment, a paid customer's notice, checks before cutting
    s.press("3", "enter")
    s.type("999")
    s.press("enter")
    s.press("delete")
    s.type("010101")
    s.press("enter")
    s.press("down", "f1")
    s.press("f3", "3")  # 已缴清 while the customer owes: refused
    s.press("f2", "f1")  # before the deadline
    assert "不得停电：" in app.render_text().replace("\n", ""), app.render_text()
    site.modem.set_coverage(False)
    s.press("f1")  # offline: cannot confirm
    site.modem.set_coverage(True)
    to_main(app)

    # card top-up: no card in the reader, then an amount below the minimum
    card = site.card_reader.remove()
    s.press("4", "f1")
    site.card_reader.insert(card)
    s.press("f1")
    s.type("1")
    s.press("enter", "enter")
    to_main(app)

    # settlement, twice, then money after 日结
    s.press("5", "f1", "f1")
    assert app.top.summary.again, app.render_text()
    to_main(app)
    s.press("1", "2", "enter", "f3", "f1", "enter", "enter")
    to_main(app)

    # settings: printer test out of paper, modem diagnostics, the message log, logout
    site.printer.paper_end = True
    s.press("6", "1")
    site.printer.paper_end = False
    s.press("2", "4")
    assert app.top.name == "messages", app.render_text()
    log = app.render_text((60, 200))
    s.shots.append(("message log", log))
    s.shots += [(f"logged #{i}", text) for i, (_at, text, _err) in enumerate(app.messages)]
    to_main(app)
    s.press("f4")
    assert app.top.name == "logout"

    assert len(app.messages) > 30, "the walk must reach the error cases"
    found = s.words()
    assert found == {}, "English on a Chinese terminal:\n" + "\n".join(
        f"{step}: {sorted(words)}\n{next(t for st, t in s.shots if st == step)}" for step, words in found.items())
    tickets = [p.read_text(encoding="utf-8") for p in (site.workdir / "tickets").glob("*.txt")]
    assert len(tickets) >= 5
    paper = {w for t in tickets for w in english(t)}
    assert paper == set(), paper
