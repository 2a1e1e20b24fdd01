"""The UI on one asyncio loop with urwid (AsyncioEventLoop), headless on a raw display over a
pty: slow work runs in worker threads while the screen stays live, shows a busy state, and
Esc cancels only the tasks that are safe to abandon."""

from __future__ import annotations

import asyncio
import os
import threading

import urwid

from tests.unit.test_ui_support import logged_in
from ui.app import PALETTE, LoopRunner


class Harness:
    """A HandheldApp in a urwid MainLoop on asyncio, its screen a pty we never read from."""

    def __init__(self, tmp_path):
        self.loop = asyncio.new_event_loop()
        self.app = logged_in(tmp_path)
        self.app.runner = LoopRunner(self.loop)
        self.master, self.slave = os.openpty()
        self.tty_in = os.fdopen(os.dup(self.slave), "rb", buffering=0)
        self.tty_out = os.fdopen(os.dup(self.slave), "w", encoding="utf-8")
        self.screen = screen = urwid.display.raw.Screen(input=self.tty_in, output=self.tty_out)
        self.main = urwid.MainLoop(self.app.root, PALETTE, screen=screen,
                                   event_loop=urwid.AsyncioEventLoop(loop=self.loop))
        self.app.loop = self.main
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self) -> None:
        try:
            while os.read(self.master, 65536):
                pass
        except OSError:
            pass

    def run_until(self, cond, timeout: float = 5.0) -> None:
        async def waiter() -> None:
            deadline = self.loop.time() + timeout
            while not cond():
                if self.loop.time() > deadline:
                    raise AssertionError("condition not reached: " + self.app.render_text())
                await asyncio.sleep(0.01)  # yields to the loop (no wall-clock synchronisation)
        self.loop.run_until_complete(waiter())

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()
        # urwid closes its resize socketpair only in Screen.__del__: close it now
        self.screen._resize_pipe_rd.close()
        self.screen._resize_pipe_wr.close()
        for f in (self.tty_in, self.tty_out):
            f.close()
        os.close(self.slave)
        os.close(self.master)
        self._drain.join(timeout=5)


def test_a_blocking_task_runs_off_the_loop_then_cancels_with_esc(tmp_path):
    h = Harness(tmp_path)
    try:
        h.main.start()
        release = threading.Event()
        ticks = []
        h.main.set_alarm_in(0.01, lambda *_: ticks.append(1))
        results = []

        def slow_read() -> str:
            release.wait(10)
            return "read"

        h.app.run_task("抄表", slow_read, done=results.append, cancellable=True)
        h.run_until(lambda: ticks)  # the loop keeps running while the worker blocks
        assert "正在抄表…" in h.app.render_text() and "Esc取消" in h.app.render_text()
        h.app.root.keypress((30, 16), "1")  # ignored while busy
        assert h.app.top.name == "main"
        h.app.root.keypress((30, 16), "esc")
        assert h.app.busy is None and "已取消：抄表。" in h.app.render_text()
        release.set()
        h.run_until(lambda: h.app.runner.loop.is_running() and not [
            t for t in asyncio.all_tasks(h.loop) if not t.done() and t is not asyncio.current_task()])
        assert results == []  # the cancelled task's result is dropped
        h.main.stop()
    finally:
        h.close()


def test_an_unsafe_task_ignores_esc_and_ends_with_its_result(tmp_path):
    h = Harness(tmp_path)
    try:
        h.main.start()
        release = threading.Event()
        results = []

        def payment() -> str:
            release.wait(10)
            return "paid"

        h.app.run_task("收款", payment, done=results.append, cancellable=False)
        h.app.root.keypress((30, 16), "esc")
        assert h.app.busy is not None and "Esc取消" not in h.app.render_text()
        release.set()
        h.run_until(lambda: results)
        assert results == ["paid"] and h.app.busy is None
        h.main.stop()
    finally:
        h.close()


def test_a_failing_task_shows_what_happened_and_what_to_do(tmp_path):
    from terminal_app.errors import DeviceTimeoutError

    h = Harness(tmp_path)
    try:
        h.main.start()

        def fails() -> None:
            raise DeviceTimeoutError("The meter did not answer on {url} (tried {n} times).", url="/dev/ttyIR0", n=3)

        h.app.run_task("抄表", fails, done=lambda _r: None)
        h.run_until(lambda: h.app.busy is None)
        text = h.app.render_text().replace("\n", "").replace(" ", "")
        assert "电表在/dev/ttyIR0上无应答（试了3次）。" in text
        assert "请检查设备已开机并对准或连接好，然后重试。" in text
        h.main.stop()
    finally:
        h.close()
