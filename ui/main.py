"""Run the field UI on a terminal: one asyncio loop shared by urwid and the core.

``run(settings)`` is what ``handheld`` (no command) and ``handheld --simulate`` call.  Only what
the login screen needs is imported before the first draw (urwid, the app, the login screen);
the use cases, drivers and the scanner thread start after it (field-facts: urwid alone takes
seconds to import on a small ARM board).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Any

import urwid

from ui.app import PALETTE, HandheldApp, LoopRunner

log = logging.getLogger(__name__)

CLOCK_TICK_S = 1.0
STATUS_EVERY_S = 2.0  # the radio's registration and signal: a lost signal shows within this


class ScannerThread:
    """Hands each barcode the core's scanner reads (``backend.scan``: the terminal owns and opens
    the scanner) to the UI loop."""

    def __init__(self, backend: Any, deliver: Any) -> None:
        self.backend = backend
        self.deliver = deliver
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once the scanner answered (opened) or was found missing
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="ui-scanner", daemon=True)

    def start(self) -> ScannerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        from terminal_app.errors import ConfigurationError, DeviceNotFoundError, HandheldError

        while not self._stop.is_set():
            try:
                code = self.backend.scan(0.5)
            except (ConfigurationError, DeviceNotFoundError) as e:  # no scanner: typing still works
                log.warning("no scanner: %s", e)
                self.error = str(e)
                self.ready.set()
                return
            except HandheldError as e:  # a bad code or a hiccup: keep listening
                log.warning("scanner: %s", e)
                if self._stop.wait(0.5):
                    break
                continue
            if self.backend.logged_in:
                self.ready.set()
            if code is not None:
                self.deliver(code)


def run(settings: Any, *, sim: Any = None, backend: Any = None) -> int:
    """The UI until the operator quits (simulate: F10) or SIGTERM; closes every device."""
    from terminal_app.watchdog import Watchdog
    from ui.operators import OperatorStore

    _log_to_file(settings)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if backend is None:
        from ui.services_backend import ServicesBackend
        backend = ServicesBackend(settings)
    app = HandheldApp(backend, language=settings.ui.language, operators=OperatorStore(settings.ui.operators_file),
                      sim=sim, runner=LoopRunner(loop))
    app.commands.add("quit", _quit)
    app.push("login")
    screen = urwid.display.raw.Screen()
    screen.set_terminal_properties(colors=16)
    main = urwid.MainLoop(app.root, PALETTE, screen=screen, event_loop=urwid.AsyncioEventLoop(loop=loop),
                          handle_mouse=False)
    app.loop = main
    scanner: ScannerThread | None = None
    # systemd's watchdog is pinged from this event loop, so a loop hung on a blocking call stops
    # pinging and gets restarted (packaging/systemd/handheld.service: Type=notify, WatchdogSec)
    dog = Watchdog.from_env()
    dog.attach(main)

    def tick(mainloop: urwid.MainLoop, n: int) -> None:
        app._draw_chrome()
        if n % int(STATUS_EVERY_S / CLOCK_TICK_S) == 0:
            app.refresh_status()
        mainloop.set_alarm_in(CLOCK_TICK_S, tick, n + 1)

    def after_first_draw() -> None:
        nonlocal scanner
        scanner = ScannerThread(backend, lambda code: loop.call_soon_threadsafe(app.scanned, code))
        scanner.start()
        app.refresh_status()  # the battery on the login screen at once, then every STATUS_EVERY_S
        dog.ready("login screen up")

    main.set_alarm_in(CLOCK_TICK_S, tick, 1)
    loop.call_soon(after_first_draw)
    try:
        loop.add_signal_handler(signal.SIGTERM, lambda: _quit())
    except (NotImplementedError, RuntimeError):
        pass
    try:
        main.run()
    finally:
        dog.stopping()
        if scanner is not None:
            scanner.stop()
        backend.close()
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    return 0


def _log_to_file(settings: Any) -> None:
    """Logs never go to the screen: to stderr when that is not the terminal (systemd's journal),
    else to ``ui.log`` beside the journal file."""
    import sys
    from pathlib import Path

    root = logging.getLogger()
    if root.handlers:
        return
    handler: logging.Handler
    if not sys.stderr.isatty():
        handler = logging.StreamHandler(sys.stderr)
    else:
        path = Path(settings.journal.path).with_name("ui.log")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path, encoding="utf-8")
        except OSError:
            handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _quit() -> None:
    raise urwid.ExitMainLoop()
