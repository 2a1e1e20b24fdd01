"""The field UI application: one terminal session, composed of its roles.

Layout (30×16 first; 40×15 and larger reflow)::

    row 1-2   status bar: operator, signal bars, link, queue depth + oldest age, printer, time
    body      the top screen (a ListBox: scrolls when the screen is small)
    message   the busy state of a running task, or the last result/error (wraps as needed)
    last row  F1–F4 soft-key labels (the help of the screen's soft-key bindings)

The roles: :class:`ui.screenstack.ScreenStack` (the window: screens pushed and popped by name),
:class:`ui.statusbar.StatusBar` (status, messages, the chrome), :class:`ui.tasks.TaskRunner`
(slow work in worker threads on the one asyncio loop urwid shares with the core),
:class:`ui.simkeys.SimCommands` (simulate mode), and one command system
(:mod:`ui.commands`, :mod:`ui.keymap`): keys go first to the focused widget (edits take
digits), then to the binding of the screen's context, its kind, ``simulate``, ``global`` — and
every binding runs a named command.  That is the only way from a key to an action.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import urwid

from ui.commands import CommandManager
from ui.i18n import Translator
from ui.keymap import Keymap, default_keymap
from ui.model import TerminalStatus
from ui.screenstack import SCREENS, ScreenStack
from ui.simkeys import SimCommands
from ui.statusbar import StatusBar, signal_bars
from ui.tasks import Busy, InlineRunner, LoopRunner, TaskRunner
from ui.widgets import KinsokuLayout

# every urwid.Text of the app wraps so that no line starts with "。" and the like (禁则)
urwid.text_layout.default_layout = KinsokuLayout()

log = logging.getLogger(__name__)

__all__ = ["PALETTE", "SCREENS", "Busy", "HandheldApp", "InlineRunner", "LoopRunner", "signal_bars"]

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
    """One terminal session: the operator, and the roles that make up the UI."""

    def __init__(self, backend: Any, *, language: str = "zh_CN", operators: Any = None,
                 sim: Any = None, runner: Any = None, keymap: Keymap | None = None,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.backend = backend
        self.operators = operators
        self.sim = sim
        self._ = Translator(language)
        self.clock = clock or _shanghai_now
        self.operator: Any = None
        #: the backend's print_failures when unprinted originals were last offered (None: not since log-in)
        self.unprinted_offered_at: int | None = None
        #: (visited, customers) of the segment being walked, on the status line; None off the route
        self.walk_progress: tuple[int, int] | None = None
        #: the customers of the segment being walked (set with walk_progress): counted again after each task
        self.walk_customers: frozenset[str] = frozenset()
        self.loop: urwid.MainLoop | None = None
        self.screens = ScreenStack(self)
        self.bar = StatusBar(self, self.clock)
        self.tasks = TaskRunner(self, runner)
        self.simulator = SimCommands(self)
        self.commands = CommandManager()
        self._register_commands()
        self.km = keymap or default_keymap()
        self.km.attach(self.commands)  # every binding checked against the commands now
        self.root = Root(self)

    # ---- commands -------------------------------------------------------------------------
    def _register_commands(self) -> None:
        c = self.commands
        c.add("back", self.back, "Back; cancels a task where that is safe")
        c.add("select", self.select)
        c.add("softkey", self.softkey)
        c.add("menu.pick", self.pick)
        c.add("screen.push", self.push_screen)
        c.add("lang.set", self.set_language)
        c.add("status.refresh", self.refresh_status)
        c.add("quit", _no_quit)  # ui.main replaces it: leaves the main loop
        self.simulator.register(c)

    def run_command(self, cmdline: str) -> None:
        """Run a command line (``menu.pick 3``): the top screen's own commands first."""
        self.commands.call(cmdline, self.top if self.stack else None)

    def contexts(self) -> list[str]:
        """The key contexts in force, most specific first."""
        top = self.top if self.stack else None
        contexts = [top.name, top.kind] if top else []
        if self.sim is not None:
            contexts.append("simulate")
        contexts.append("global")
        return [c for c in contexts if c]

    def handle_key(self, size: tuple[int, ...], key: str) -> str | None:
        busy = self.busy
        if busy is not None:
            # a key while a task runs is not kept for later (it would land on whatever screen the
            # task leaves): it is refused, and the message line says so until the task ends
            if key == "esc" and busy.cancellable:
                self.cancel_task()
            else:
                busy.refused += 1
                self.tasks.key_while_busy()
                self._draw_chrome()
                self.redraw()
            return None
        rest = self.root.frame.keypress(size, key)
        if rest is None:
            return None
        if self.stack:
            self.km.bind_screen(self.top)
        b = self.km.lookup(rest, self.contexts())
        if b is None:
            return rest
        self.run_command(b.command)
        self.redraw()
        return None

    def select(self) -> None:
        self.top.on_select()

    def pick(self, n: int) -> None:
        self.top.on_pick(n)

    def push_screen(self, name: str) -> None:
        self.push(name)

    def softkey(self, n: int) -> None:
        """Soft key ``n`` of the top screen: the command its context binds to F``n``, if any."""
        if not self.stack:
            return
        self.km.bind_screen(self.top)
        b = self.km.lookup(f"f{n}", [self.top.name])
        if b is not None:
            self.run_command(b.command)

    # ---- the window (ui.screenstack) ------------------------------------------------------------
    @property
    def stack(self) -> list[Any]:
        return self.screens.screens

    @property
    def top(self) -> Any:
        return self.screens.top

    def push(self, name: str, **params: Any) -> Any:
        return self.screens.push(name, **params)

    def replace(self, name: str, **params: Any) -> Any:
        return self.screens.replace(name, **params)

    def pop(self) -> None:
        self.screens.pop()

    def home(self) -> None:
        self.screens.home()

    def back(self) -> None:
        self.screens.back()

    def logout(self) -> None:
        self.operator = None
        self.unprinted_offered_at = None
        self.screens.clear()
        self.push("login")

    def set_language(self, language: str) -> None:
        """Switch the catalog and rebuild every screen on the stack in the new language."""
        self._.set_language(language)
        self.screens.rebuild()

    # ---- tasks (ui.tasks) -------------------------------------------------------------------
    @property
    def busy(self) -> Busy | None:
        return self.tasks.busy

    @busy.setter
    def busy(self, value: Busy | None) -> None:
        self.tasks.busy = value

    @property
    def runner(self) -> Any:
        return self.tasks.runner

    @runner.setter
    def runner(self, value: Any) -> None:
        self.tasks.runner = value

    def run_task(self, label: str, fn: Callable[..., Any], *args: Any, done: Callable[[Any], None],
                 failed: Callable[[BaseException], None] | None = None, cancellable: bool = False,
                 keys_note: str | None = None) -> None:
        """Run ``fn(*args)`` off the UI thread; ``done(result)`` or the error shows on return."""
        self.tasks.run(label, fn, *args, done=done, failed=failed, cancellable=cancellable, keys_note=keys_note)

    def progress(self, done: int, total: int) -> None:
        self.tasks.progress(done, total)

    def cancel_task(self) -> None:
        self.tasks.cancel()

    # ---- messages and status (ui.statusbar) ------------------------------------------------
    @property
    def status(self) -> TerminalStatus:
        return self.bar.status

    @property
    def messages(self) -> Any:
        return self.bar.messages

    @property
    def message(self) -> tuple[str, str]:
        return self.bar.message

    @property
    def on_status(self) -> Any:
        return self.bar.on_status

    @property
    def on_message(self) -> Any:
        return self.bar.on_message

    def set_message(self, text: str, attr: str = "") -> None:
        self.bar.set_message(text, attr)
        self._draw_chrome()

    def notify(self, text: str) -> None:
        self.set_message(text, "ok")

    def show_error(self, exc: BaseException) -> None:
        from terminal_app.errors import HandheldError

        if not isinstance(exc, HandheldError):
            log.error("unexpected error in a task", exc_info=exc)
        self.set_message(self._.error(exc), "error")

    def set_status(self, status: TerminalStatus) -> None:
        self.bar.set_status(status)
        self._draw_chrome()
        self.redraw()
        if status.power == "critical" and not self._powering_off and self.busy is None:
            self.power_off()

    _powering_off = False

    def power_off(self) -> None:
        """Below the critical battery level: nothing is in flight (the status is polled only
        between tasks), so upload what waits if the link allows, then leave the main loop (ui.main
        closes the journal and the devices)."""
        self._powering_off = True
        sync = getattr(self.backend, "sync_now", None)

        def leave(_result: Any = None) -> None:
            self.set_message(self._("The battery is empty: the terminal shuts down. Charge it."), "error")
            self.runner.call_soon(lambda: self.run_command("quit"))

        if sync is None:
            leave()
            return
        self.run_task(self._("Battery empty: uploading"), sync, done=leave, failed=leave)

    def refresh_status(self) -> None:
        """Ask the backend for the status in a worker (never blocks the UI) — from start-up on:
        before the first log-in it reports the battery (the terminal's devices open at log-in)."""
        if self.backend is None or self.busy is not None:
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

    def refresh_walk(self) -> None:
        """抄N/100 again from today's visits (local, fast) while a route is walked: a reading saved
        or a door skipped shows at once, whatever screen saved it."""
        if self.walk_progress is None or not self.walk_customers:
            return
        visits = getattr(self.backend, "visits_today", None)
        if visits is None:
            return
        try:
            visited = visits()
        except Exception as e:  # noqa: BLE001 — the status line must never take the UI down
            log.warning("walk progress: %s", e)
            return
        self.walk_progress = (len(self.walk_customers & set(visited)), len(self.walk_customers))

    def status_lines(self, width: int) -> tuple[str, str]:
        return self.bar.status_lines(width)

    def _draw_chrome(self) -> None:
        self.bar.draw(self.root, self._width())

    def _width(self) -> int:
        if self.loop is not None:
            try:
                return int(self.loop.screen.get_cols_rows()[0])
            except Exception:  # noqa: BLE001 — before the screen starts
                pass
        return self._last_width

    _last_width = 30

    def redraw(self) -> None:
        if self.loop is not None:
            self.loop.draw_screen()

    # ---- the scanner --------------------------------------------------------------------------
    def scanned(self, code: str) -> None:
        """A barcode arrived from the scanner (UI loop)."""
        if self.busy is not None or not self.stack:
            return
        if not self.top.on_scan(code):
            if self.operator is None:
                return
            from terminal_app.domain.paycode import channel_of

            if channel_of(code.strip(" \t\r\n")) is not None:
                # a customer's payment code outside scan-to-pay: never shown, never looked up
                self.set_message(self._("That was a payment code: open the payment or top-up screen and "
                                        "press F2 (scan-to-pay) first."), "warn")
                return
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


def _no_quit() -> None:
    """Outside ui.main (tests) there is no main loop to leave."""


def _shanghai_now() -> dt.datetime:
    from terminal_app.timeutil import now
    return now()
