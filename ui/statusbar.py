"""The chrome around the screen: the status bar, the message line and the soft-key help line.

Rows 1-2 show the operator, the radio technology (4G / 2G, when the modem says) and signal bars,
link, battery, queue depth + oldest age, the place's fix (3D / 2D / 无星 / 旧位), printer and time; the message line the busy state of a running
task or the last result/error; the last row the F1–F4 labels — built from the key bindings of
the top screen's context, so a label is shown exactly when its key does something.  Events
(status changed, message logged) are blinker signals of this instance (never module globals).
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import blinker
from urwid import calc_width

from ui.model import LinkState, PrinterState, TerminalStatus

log = logging.getLogger(__name__)

SOFT_KEYS = ("f1", "f2", "f3", "f4")


def signal_bars(csq: int | None) -> int | None:
    """AT+CSQ RSSI → 0–4 bars (27.007: 0 ≤ −113 dBm … 31 ≥ −51 dBm, 99 unknown)."""
    if csq is None or csq == 99 or not 0 <= csq <= 31:
        return None
    if csq < 2:
        return 0
    if csq < 10:
        return 1
    if csq < 15:
        return 2
    if csq < 20:
        return 3
    return 4


def rsrp_bars(rsrp: int | None) -> int | None:
    """LTE RSRP (dBm; 3GPP TS 36.133 reports −140 … −44) → 0–4 bars, 10 dB a bar: the driver's
    0–5 scale (drivers.modem.protocol.rsrp_to_bars) with its top two steps shown as one."""
    if rsrp is None or not -140 <= rsrp <= -44:
        return None
    for bars, floor in ((4, -98), (3, -108), (2, -118), (1, -128)):
        if rsrp >= floor:
            return bars
    return 0


def emit(signal: blinker.Signal, sender: Any, **values: Any) -> None:
    """Send ``signal``; a failing receiver is logged and never takes the UI down."""
    for receiver in signal.receivers_for(sender):
        try:
            receiver(sender, **values)
        except Exception:  # noqa: BLE001
            log.exception("UI event receiver %r failed", receiver)


class StatusBar:
    """The status, the message log and the drawing of the chrome of one app."""

    def __init__(self, app: Any, clock: Callable[[], dt.datetime]) -> None:
        self.app = app
        self.clock = clock
        self.status = TerminalStatus()
        self.messages: collections.deque[tuple[dt.datetime, str, bool]] = collections.deque(maxlen=200)
        self.message: tuple[str, str] = ("", "")  # (text, attr)
        self.on_status = blinker.Signal("status changed")
        self.on_message = blinker.Signal("message logged")

    def set_message(self, text: str, attr: str = "") -> None:
        self.message = (text, attr)
        if text:
            self.messages.append((self.clock(), text, attr == "error"))
            emit(self.on_message, self.app, text=text, attr=attr)

    def set_status(self, status: TerminalStatus) -> None:
        self.status = status
        emit(self.on_status, self.app, status=status)

    def status_lines(self, width: int) -> tuple[str, str]:
        _ = self.app._
        s = self.status
        op = self.app.operator.id if self.app.operator else "----"
        # on 4G the bars are RSRP's (CSQ's RSSI says little on LTE); on 2G, or without RSRP, CSQ's
        bars = rsrp_bars(s.rsrp) if s.technology == "4G" and s.rsrp is not None else signal_bars(s.csq)
        sig = "▁▂▃▄"[:bars].ljust(4, "·") if bars is not None else "····"
        sig = (s.technology or "") + sig  # "4G▁▂▃·": the technology the modem is on, when known
        # before the first log-in the terminal's devices are not open: the journal, the modem (and
        # so the signal) are not asked yet, and "····" would read as "no signal"
        opened = getattr(self.app.backend, "logged_in", True)
        if not opened and bars is None:
            sig = ""
        # a state nobody has asked yet (before the first log-in opens the terminal, a socket link
        # before its first exchange) shows as nothing: "通道?/打印机?" only puzzled the operator
        link = {LinkState.UP: _("Online"), LinkState.DOWN: _("Offline"), LinkState.NO_SIGNAL: _("No signal"),
                LinkState.SYNCING: _("Syncing"), LinkState.UNKNOWN: ""}[s.link]
        clock = self.clock().strftime("%H:%M")
        left = " ".join(part for part in (op, sig, link) if part)
        # the battery before the clock: 电80%, shortened to 80% (then without its mark) when the
        # line would pass the screen's width (4G, 同步中 and a full battery charging)
        right = clock
        for battery in battery_texts(s, _):
            right = f"{battery} {clock}"
            if _width(left) + 1 + _width(right) <= width:
                break
        row1 = _pad_between(left, right, width)
        queue = ""
        if opened:
            queue = _("Queue {n}").format(n=s.queue_depth)
            if s.oldest_age_s is not None and s.queue_depth:
                queue += " " + _("oldest {age}").format(age=_age(s.oldest_age_s, _))
        printer = {PrinterState.OK: _("Printer OK"), PrinterState.PAPER_OUT: _("No paper"),
                   PrinterState.COVER_OPEN: _("Cover open"), PrinterState.OFFLINE: _("Printer off"),
                   PrinterState.UNKNOWN: ""}[s.printer]
        fix = fix_text(s.fix, _)
        fix_printer = f"{fix} {printer}".strip()
        short = _("Queue {n}").format(n=s.queue_depth) if opened else ""
        walk = getattr(self.app, "walk_progress", None)
        if walk is not None:  # on the route walk: 抄37/100 first, the queue shortened to fit
            done, total = walk
            left2 = _("Read {done}/{total}").format(done=done, total=total)
            lefts = [f"{left2} {queue}".strip(), f"{left2} {short}".strip()]
        else:
            lefts = [queue, short]
        # what gives way, first to last: the queue's age, the fix (3D / 2D / 无星 / 旧位), the queue
        rights = [fix_printer, printer] if fix else [printer]
        tries = [(left, right) for right in rights for left in lefts]
        if walk is not None:
            tries += [(left2, right) for right in rights]
        for left, right in tries:
            if _width(left) + 1 + _width(right) <= width:
                return row1, _pad_between(left, right, width) if left or right else ""
        left, right = tries[-1]
        return row1, _pad_between(left, right, width) if left or right else ""

    def softkey_line(self) -> str:
        """F1–F4 labels of the top screen: the help of the F-key bindings of its context."""
        app = self.app
        if not app.stack:
            return ""
        top = app.top
        app.km.bind_screen(top)  # a screen's soft keys may change with its state
        labels = []
        for i, key in enumerate(SOFT_KEYS, start=1):
            b = app.km.lookup(key, [top.name])
            if b is not None:
                labels.append(f"F{i}{app._(b.help)}")
        return " ".join(labels)

    def draw(self, root: Any, width: int) -> None:
        app = self.app
        root.status_text.set_text("\n".join(self.status_lines(width)))
        busy = app.busy
        if busy is not None:
            text = app._("Working: {what}…").format(what=busy.label)
            if busy.cancellable:
                text += " " + app._("Esc cancels")
            elif busy.keys_note and busy.key_pressed:
                text += "\n" + app._(busy.keys_note)
            if busy.progress is not None:
                done, total = busy.progress
                text += "\n" + _bar(done, total, width)
            if busy.refused and not busy.keys_note:  # a task with its own note says it
                text += "\n" + app._("Busy: that key was not taken. Wait until this ends.")
            root.message_text.set_text(("busy", text))
        else:
            text, attr = self.message
            root.message_text.set_text((attr, text) if attr else text)
        if app.stack:
            root.softkey_text.set_text(self.softkey_line())


def battery_texts(s: TerminalStatus, _: Callable[[str], str]) -> list[str]:
    """The battery on the status line, longest first: 电85% (+ while charging, ! when low or
    critical), 85%+, 85%; none when no battery is found."""
    if s.battery is None:
        return []
    mark = "+" if s.charging else ("!" if s.power in ("low", "critical") else "")
    return [_("Bat {n}%").format(n=s.battery) + mark, f"{s.battery}%{mark}", f"{s.battery}%"]


def fix_text(fix: str, _: Callable[[str], str]) -> str:
    """The place source's fix on the status line (services.place.FixStatus values); "" unknown."""
    texts = {"3D": _("3D fix"), "2D": _("2D fix"), "none": _("No fix"), "stale": _("Old fix")}
    return texts.get(fix, "")


def _width(text: str) -> int:
    return calc_width(text, 0, len(text))


def _pad_between(left: str, right: str, width: int) -> str:
    gap = width - calc_width(left, 0, len(left)) - calc_width(right, 0, len(right))
    return left + " " * max(1, gap) + right


def _bar(done: int, total: int, width: int) -> str:
    cells = max(4, width - 10)
    filled = cells * done // total if total > 0 else 0
    return "[" + "#" * filled + "." * (cells - filled) + f"] {done}/{total}"


def _age(seconds: int, _: Callable[[str], str]) -> str:
    if seconds < 60:
        return _("{n}s").format(n=seconds)
    if seconds < 3600:
        return _("{n}min").format(n=seconds // 60)
    return _("{n}h").format(n=seconds // 3600)
