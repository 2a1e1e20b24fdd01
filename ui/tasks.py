"""The task runner: slow work (meter reads, printing, card and station exchanges) off the UI loop.

While a task runs the message line says so and only Esc is accepted, which cancels the task when
the screen says that is safe (the thread's result is then dropped); any other key is refused, and
the message line then says the terminal is busy and the key was not taken.  :class:`LoopRunner` runs
tasks with ``asyncio.to_thread`` on the one loop urwid shares with the core; :class:`InlineRunner`
runs them at once (screen tests: deterministic, no loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Busy:
    label: str
    cancellable: bool
    task: Any = None  # asyncio.Task in the loop runner
    progress: tuple[int, int] | None = None
    refused: int = 0  # keys pressed meanwhile (not taken: the message line says so)
    #: for a task that cannot be cancelled: what a key pressed during it is answered with (msgid),
    #: shown under the busy line once a key came — the key itself does nothing (never queued)
    keys_note: str | None = None
    key_pressed: bool = False


class InlineRunner:
    """Runs a task at once in the calling thread (screen tests: deterministic, no loop)."""

    def start(self, app: Any, fn: Callable[[], Any], done: Callable[[Any], None],
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

    def start(self, app: Any, fn: Callable[[], Any], done: Callable[[Any], None],
              failed: Callable[[BaseException], None]) -> asyncio.Task[None]:
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


class TaskRunner:
    """One task at a time for the app: its busy state, progress, cancel, and the result's return."""

    def __init__(self, app: Any, runner: Any = None) -> None:
        self.app = app
        self.runner = runner or InlineRunner()
        self.busy: Busy | None = None

    def run(self, label: str, fn: Callable[..., Any], *args: Any, done: Callable[[Any], None],
            failed: Callable[[BaseException], None] | None = None, cancellable: bool = False,
            keys_note: str | None = None) -> None:
        """Run ``fn(*args)`` off the UI thread; ``done(result)`` or the error shows on return."""
        app = self.app
        busy = Busy(label, cancellable, keys_note=keys_note)
        self.busy = busy

        def on_done(result: Any) -> None:
            if self.busy is not busy:
                return  # cancelled meanwhile: the result is dropped
            self.busy = None
            done(result)
            app.refresh_walk()  # a reading saved or a door skipped: 抄N/100 counts it, on any screen
            app._draw_chrome()
            app.refresh_status()  # what the task captured or sent shows on the status line at once

        def on_failed(exc: BaseException) -> None:
            if self.busy is not busy:
                return
            self.busy = None
            if failed is not None:
                failed(exc)
            app.show_error(exc)
            app.refresh_walk()  # a reading journaled before its notice failed to print counts too
            app._draw_chrome()
            app.refresh_status()

        app._draw_chrome()
        busy.task = self.runner.start(app, lambda: fn(*args), on_done, on_failed)

    def progress(self, done: int, total: int) -> None:
        """Progress of the running task (callable from the worker thread)."""
        def update() -> None:
            if self.busy is not None:
                self.busy.progress = (done, total)
                self.app._draw_chrome()
                self.app.redraw()
        self.runner.call_soon(update)

    def key_while_busy(self) -> None:
        """A key came during the task (not Esc on a cancellable one): it does nothing; a task
        with a ``keys_note`` says why on the busy line."""
        busy = self.busy
        if busy is not None and busy.keys_note and not busy.key_pressed:
            busy.key_pressed = True
            self.app._draw_chrome()

    def cancel(self) -> None:
        app = self.app
        busy = self.busy
        if busy is None or not busy.cancellable:
            self.key_while_busy()
            return
        self.busy = None
        if busy.task is not None:
            busy.task.cancel()
        app.set_message(app._("Cancelled: {what}.").format(what=busy.label), "warn")
        app.top.on_cancelled()
        app._draw_chrome()
