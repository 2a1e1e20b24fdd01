"""The field UI application: screens pushed and popped by name, named commands, a status bar.

Layout (30×16 first; 40×15 and larger reflow)::

    row 1-2   status bar: operator, signal bars, link, queue depth + oldest age, printer, time
    body      the top screen (a ListBox: scrolls when the screen is small)
    message   the busy state of a running task, or the last result/error (wraps as needed)
    last row  F1–F4 soft-key labels

Keys go first to the focused widget (edits take digits), then through :mod:`ui.keymap` to a
named command.  Slow work (meter reads, printing, card and station exchanges) runs in worker
threads via :meth:`HandheldApp.run_task` on the one asyncio loop urwid shares with the core
(``urwid.AsyncioEventLoop``); while it runs the message line says so and only Esc is accepted,
which cancels the task when the screen says that is safe (the thread's result is then dropped).

Events (status changed, message logged) are :class:`Signal` attributes of the app instance.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urwid

from ui.i18n import Translator
from ui.keymap import Keymap, default_keymap
from ui.model import LinkState, PrinterState, TerminalStatus

log = logging.getLogger(__name__)

PALETTE = [
    ("status", "white", "dark blue"),
    ("title", "yellow,bold", ""),
    ("focus", "black", "light gray"),
    ("softkeys", "black", "light gray"),
    ("busy", "yellow,bold", ""),
    ("error", "light red,bold", ""),
    ("ok", "light green,bold", ""),
    ("warn", "yellow", ""),
    ("dim", "dark gray", ""),
]

#: screen name → "module:Class"; imported on first push so startup only loads the login screen
SCREENS: dict[str, str] = {
    "login": "ui.screens.login:LoginScreen",
    "main": "ui.screens.menu:MainMenu",
    "logout": "ui.screens.menu:LogoutConfirm",
    "unlock": "ui.screens.login:UnlockScreen",
    "reading_menu": "ui.screens.menu:ReadingMenu",
    "route_download": "ui.screens.route:RouteDownload",
    "route_list": "ui.screens.route:RouteList",
    "customer": "ui.screens.customer:CustomerCard",
    "reading": "ui.screens.reading:ReadingEntry",
    "charge": "ui.screens.charge:ChargeSearch",
    "bill": "ui.screens.charge:BillScreen",
    "payment": "ui.screens.charge:PaymentScreen",
    "reversal": "ui.screens.charge:ReversalScreen",
    "dunning": "ui.screens.dunning:DunningList",
    "arrears_check": "ui.screens.dunning:ArrearsCheckScreen",
    "topup": "ui.screens.topup:TopUpScreen",
    "settlement": "ui.screens.settlement:SettlementScreen",
    "settings": "ui.screens.settings:SettingsScreen",
    "messages": "ui.screens.settings:MessageLog",
}


class Signal:
    """Callbacks of one app instance (never module globals)."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., None]] = []

    def connect(self, cb: Callable[..., None]) -> None:
        self._callbacks.append(cb)

    def emit(self, *args: Any) -> None:
        for cb in list(self._callbacks):
            try:
                cb(*args)
            except Exception:
                log.exception("UI event callback %r failed", cb)


def fen(amount: int) -> str:
    """12345 → "123.45" (integer arithmetic only)."""
    sign = "-" if amount < 0 else ""
    a = abs(amount)
    return f"{sign}{a // 100}.{a % 100:02d}"


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


@dataclass
class Busy:
    label: str
    cancellable: bool
    task: Any = None  # asyncio.Task in the loop runner
    progress: tuple[int, int] | None = None


class InlineRunner:
    """Runs a task at once in the calling thread (screen tests: deterministic, no loop)."""

    def start(self, app: HandheldApp, fn: Callable[[], Any], done: Callable[[Any], None],
              failed: Callable[[BaseException], None]) -> Any:
        try:
            result = fn()
        except Exception as e:  # noqa: BLE001 — every failure is shown to the operator
            failed(e)
        else:
            done(result)
        return None

    def call_soon(self, fn: Callable[[], None]) -> None:
        fn()


class LoopRunner:
    """Runs a task with ``asyncio.to_thread`` on the loop urwid shares; results come back on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def start(self, app: HandheldApp, fn: Callable[[], Any], done: Callable[[Any], None],
              failed: Callable[[BaseException], None]) -> asyncio.Task:
        async def job() -> None:
            try:
                result = await asyncio.to_thread(fn)
            except asyncio.CancelledError:
                return
            except Exception as e:  # noqa: BLE001
                failed(e)
            else:
                done(result)
            app.redraw()
        return self.loop.create_task(job())

    def call_soon(self, fn: Callable[[], None]) -> None:
        """From a worker thread: run ``fn`` on the UI loop."""
        self.loop.call_soon_threadsafe(fn)


class Root(urwid.WidgetWrap):
    def __init__(self, app: HandheldApp) -> None:
        self.app = app
        self.status_text = urwid.Text("", wrap="clip")
        self.message_text = urwid.Text("")
        self.softkey_text = urwid.Text("", wrap="clip")
        self.frame = urwid.Frame(
            urwid.SolidFill(" "),
            header=urwid.AttrMap(self.status_text, "status"),
            footer=urwid.Pile([self.message_text, urwid.AttrMap(self.softkey_text, "softkeys")]))
        super().__init__(self.frame)

    def keypress(self, size: tuple[int, ...], key: str) -> str | None:
        return self.app.handle_key(size, key)


class HandheldApp:
    """One terminal session: the screen stack, the operator, the status, the message log."""

    def __init__(self, backend: Any, *, language: str = "zh_CN", operators: Any = None,
                 sim: Any = None, runner: Any = None, keymap: Keymap | None = None,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.backend = backend
        self.operators = operators
        self.sim = sim
        self._ = Translator(language)
        self.km = keymap or default_keymap()
        self.runner = runner or InlineRunner()
        self.clock = clock or _shanghai_now
        self.stack: list[Any] = []
        self.operator: Any = None
        self.status = TerminalStatus()
        self.messages: collections.deque[tuple[dt.datetime, str, bool]] = collections.deque(maxlen=200)
        self.message: tuple[str, str] = ("", "")  # (text, attr)
        self.busy: Busy | None = None
        self.on_status = Signal()
        self.on_message = Signal()
        self.loop: urwid.MainLoop | None = None
        self.commands: dict[str, Callable[..., None]] = {}
        self._register_commands()
        self.root = Root(self)

    # ---- commands -------------------------------------------------------------------------
    def _register_commands(self) -> None:
        self.commands.update({
            "back": lambda: self.back(),
            "select": lambda: self.top.on_select(),
            "softkey": lambda n: self.softkey(int(n)),
            "menu.pick": lambda n: self.top.on_pick(int(n)),
            "screen.push": lambda name: self.push(name),
            "sim.scan": lambda: self.sim_scan(),
            "sim.card": lambda: self.sim_card(),
            "sim.coverage": lambda: self.sim_coverage(),
            "sim.next_day": lambda: self.sim_next_day(),
            "lang.set": lambda lang: self.set_language(lang),
            "status.refresh": lambda: self.refresh_status(),
            "quit": lambda: None,  # ui.main replaces it: leaves the main loop
        })

    def run_command(self, cmdline: str) -> None:
        name, *args = cmdline.split()
        self.commands[name](*args)

    def handle_key(self, size: tuple[int, ...], key: str) -> str | None:
        if self.busy is not None:
            if key == "esc":
                self.cancel_task()
            return None
        rest = self.root.frame.keypress(size, key)
        if rest is None:
            return None
        top = self.top if self.stack else None
        contexts = [top.name, top.kind] if top else []
        if self.sim is not None:
            contexts.append("simulate")
        contexts.append("global")
        b = self.km.lookup(rest, [c for c in contexts if c])
        if b is None:
            return rest
        self.run_command(b.command)
        self.redraw()
        return None

    # ---- screens --------------------------------------------------------------------------
    @property
    def top(self) -> Any:
        return self.stack[-1]

    def _make(self, name: str, params: dict[str, Any]) -> Any:
        module, cls = SCREENS[name].split(":")
        screen = getattr(importlib.import_module(module), cls)(self, **params)
        screen.params = params
        return screen

    def push(self, name: str, **params: Any) -> Any:
        screen = self._make(name, params)
        self.stack.append(screen)
        self._show()
        screen.on_show()
        return screen

    def replace(self, name: str, **params: Any) -> Any:
        if self.stack:
            self.stack.pop()
        return self.push(name, **params)

    def pop(self) -> None:
        if len(self.stack) > 1:
            self.stack.pop()
            self._show()
            self.top.on_show()

    def home(self) -> None:
        while len(self.stack) > 2:
            self.stack.pop()
        self._show()
        self.top.on_show()

    def back(self) -> None:
        if not self.top.on_back():
            self.pop()

    def logout(self) -> None:
        self.operator = None
        self.stack.clear()
        self.push("login")

    def _show(self) -> None:
        self.root.frame.body = self.top.widget
        self.set_message("")
        self._draw_chrome()

    def set_language(self, language: str) -> None:
        """Switch the catalog and rebuild every screen on the stack in the new language."""
        self._.set_language(language)
        self.stack = [self._make(s.name, s.params) for s in self.stack]
        self._show()
        self.top.on_show()

    def softkey(self, n: int) -> None:
        keys = self.top.softkeys
        if 1 <= n <= len(keys) and keys[n - 1] is not None:
            self.top.on_softkey(keys[n - 1][1])

    # ---- tasks ----------------------------------------------------------------------------
    def run_task(self, label: str, fn: Callable[..., Any], *args: Any, done: Callable[[Any], None],
                 failed: Callable[[BaseException], None] | None = None, cancellable: bool = False) -> None:
        """Run ``fn(*args)`` off the UI thread; ``done(result)`` or the error shows on return."""
        busy = Busy(label, cancellable)
        self.busy = busy

        def on_done(result: Any) -> None:
            if self.busy is not busy:
                return  # cancelled meanwhile: the result is dropped
            self.busy = None
            done(result)
            self._draw_chrome()
            self.refresh_status()  # what the task captured or sent shows on the status line at once

        def on_failed(exc: BaseException) -> None:
            if self.busy is not busy:
                return
            self.busy = None
            if failed is not None:
                failed(exc)
            self.show_error(exc)
            self._draw_chrome()
            self.refresh_status()

        self._draw_chrome()
        busy.task = self.runner.start(self, lambda: fn(*args), on_done, on_failed)

    def progress(self, done: int, total: int) -> None:
        """Progress of the running task (callable from the worker thread)."""
        def update() -> None:
            if self.busy is not None:
                self.busy.progress = (done, total)
                self._draw_chrome()
                self.redraw()
        self.runner.call_soon(update)

    def cancel_task(self) -> None:
        busy = self.busy
        if busy is None or not busy.cancellable:
            return
        self.busy = None
        if busy.task is not None:
            busy.task.cancel()
        self.set_message(self._("Cancelled: {what}.").format(what=busy.label), "warn")
        self.top.on_cancelled()
        self._draw_chrome()

    # ---- messages and status --------------------------------------------------------------
    def set_message(self, text: str, attr: str = "") -> None:
        self.message = (text, attr)
        if text:
            self.messages.append((self.clock(), text, attr == "error"))
            self.on_message.emit(text, attr)
        self._draw_chrome()

    def notify(self, text: str) -> None:
        self.set_message(text, "ok")

    def show_error(self, exc: BaseException) -> None:
        from terminal_app.errors import HandheldError

        if not isinstance(exc, HandheldError):
            log.error("unexpected error in a task", exc_info=exc)
        self.set_message(self._.error(exc), "error")

    def set_status(self, status: TerminalStatus) -> None:
        self.status = status
        self.on_status.emit(status)
        self._draw_chrome()
        self.redraw()

    def refresh_status(self) -> None:
        """Ask the backend for the status in a worker (never blocks the UI)."""
        if self.backend is None or self.busy is not None or self.operator is None:
            return
        status_fn = getattr(self.backend, "status", None)
        if status_fn is None:
            return
        if isinstance(self.runner, LoopRunner):
            async def poll() -> None:
                try:
                    s = await asyncio.to_thread(status_fn)
                except Exception as e:  # noqa: BLE001 — the status bar must never take the UI down
                    log.warning("status poll failed: %s", e)
                    return
                self.set_status(s)
            self.runner.loop.create_task(poll())
        else:
            self.set_status(status_fn())

    def status_lines(self, width: int) -> tuple[str, str]:
        _ = self._
        s = self.status
        op = self.operator.id if self.operator else "----"
        bars = signal_bars(s.csq)
        sig = "▁▂▃▄"[:bars].ljust(4, "·") if bars is not None else "····"
        link = {LinkState.UP: _("Online"), LinkState.DOWN: _("Offline"), LinkState.NO_SIGNAL: _("No signal"),
                LinkState.SYNCING: _("Syncing"), LinkState.UNKNOWN: _("Link ?")}[s.link]
        clock = self.clock().strftime("%H:%M")
        left = f"{op} {sig} {link}"
        row1 = _pad_between(left, clock, width)
        queue = _("Queue {n}").format(n=s.queue_depth)
        if s.oldest_age_s is not None and s.queue_depth:
            queue += " " + _("oldest {age}").format(age=_age(s.oldest_age_s, _))
        printer = {PrinterState.OK: _("Printer OK"), PrinterState.PAPER_OUT: _("No paper"),
                   PrinterState.COVER_OPEN: _("Cover open"), PrinterState.OFFLINE: _("Printer off"),
                   PrinterState.UNKNOWN: _("Printer ?")}[s.printer]
        return row1, _pad_between(queue, printer, width)

    def _draw_chrome(self) -> None:
        r = self.root
        width = self._width()
        r.status_text.set_text("\n".join(self.status_lines(width)))
        if self.busy is not None:
            b = self.busy
            text = self._("Working: {what}…").format(what=b.label)
            if b.cancellable:
                text += " " + self._("Esc cancels")
            if b.progress is not None:
                done, total = b.progress
                text += "\n" + _bar(done, total, width)
            r.message_text.set_text(("busy", text))
        else:
            text, attr = self.message
            r.message_text.set_text((attr, text) if attr else text)
        if self.stack:
            labels = []
            for i, sk in enumerate(self.stack[-1].softkeys[:4], start=1):
                if sk is not None:
                    labels.append(f"F{i}{self._(sk[0])}")
            r.softkey_text.set_text(" ".join(labels))

    def _width(self) -> int:
        if self.loop is not None:
            try:
                return self.loop.screen.get_cols_rows()[0]
            except Exception:  # noqa: BLE001 — before the screen starts
                pass
        return self._last_width

    _last_width = 30

    def redraw(self) -> None:
        if self.loop is not None:
            self.loop.draw_screen()

    # ---- simulate-mode keys ---------------------------------------------------------------
    def sim_scan(self) -> None:
        if self.sim is None:
            return
        code = getattr(self.top, "scan_target", lambda: None)()
        if not code:
            self.set_message(self._("Simulate: open a customer first, then F6 scans that meter."), "warn")
            return
        self.sim.scan(code)
        self.set_message(self._("Simulate: scanned {code}.").format(code=code), "ok")

    def sim_card(self) -> None:
        if self.sim is None:
            return
        text = self.sim.toggle_card(getattr(self.top, "card_customer", lambda: None)())
        self.set_message(self._(text), "ok")

    def sim_coverage(self) -> None:
        if self.sim is None:
            return
        on = self.sim.toggle_coverage()
        self.set_message(self._("Simulate: coverage on.") if on else self._("Simulate: coverage off."), "ok")
        self.refresh_status()

    def sim_next_day(self) -> None:
        if self.sim is None:
            return
        day = self.sim.next_day()
        self.set_message(self._("Simulate: the date is now {day}.").format(day=day), "ok")

    def scanned(self, code: str) -> None:
        """A barcode arrived from the scanner (UI loop)."""
        if self.busy is not None or not self.stack:
            return
        if not self.top.on_scan(code):
            if self.operator is not None:
                self.open_by_barcode(code)

    def open_by_barcode(self, code: str) -> None:
        def found(c: Any) -> None:
            if c is None:
                self.set_message(self._("No customer on the route has meter {code}.").format(code=code), "error")
                return
            while len(self.stack) > 2:
                self.stack.pop()
            self.push("customer", customer=c)
        self.run_task(self._("Finding the meter"), self.backend.customer_by_barcode, code, done=found)

    # ---- helpers for tests and the launcher -------------------------------------------------
    def render_text(self, size: tuple[int, int] = (30, 16)) -> str:
        self._last_width = size[0]
        self._draw_chrome()
        canvas = self.root.render(size, focus=True)
        return "\n".join(line.decode("utf-8") for line in canvas.text)

    def press(self, *keys: str, size: tuple[int, int] = (30, 16)) -> str:
        self._last_width = size[0]
        for k in keys:
            self.root.keypress(size, k)
        return self.render_text(size)

    def type(self, text: str, size: tuple[int, int] = (30, 16)) -> str:
        return self.press(*list(text), size=size)


def _shanghai_now() -> dt.datetime:
    from terminal_app.timeutil import now
    return now()


def _pad_between(left: str, right: str, width: int) -> str:
    from urwid import calc_width

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

