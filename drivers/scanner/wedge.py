"""Keyboard-wedge (HID) barcode scanners through evdev: grab, decode, reconnect after unplug.

The device is grabbed (``EVIOCGRAB``) so scanned codes do not also reach the console or the
UI as keystrokes.  Unplugging makes reads fail with ``OSError(ENODEV)``; the scanner is then
reopened by path (udev gives it a stable symlink, ``/dev/input/scanner``) until the caller's
timeout runs out, and a half-typed code is discarded.
"""

from __future__ import annotations

import errno
import logging
import select
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType
from typing import Protocol

from drivers.scanner.protocol import DEFAULT_MAX_LENGTH, KeyEvent, WedgeDecoder
from terminal_app.errors import DeviceError, DeviceNotFoundError, DeviceTimeoutError

log = logging.getLogger(__name__)

#: errno values of a device that went away (unplugged, or its USB hub reset)
GONE = frozenset({errno.ENODEV, errno.ENXIO, errno.ENOENT, errno.EIO})


class EventSource(Protocol):
    """Where key events come from: an evdev device, or a mock scanner."""

    def events(self, timeout: float) -> list[KeyEvent]: ...

    def close(self) -> None: ...


class EvdevSource:
    """An ``/dev/input/event*`` node, grabbed."""

    def __init__(self, path: str, grab: bool = True) -> None:
        from evdev import InputDevice

        self._grabbed = False
        with ExitStack() as undo:  # a device that cannot be grabbed is closed again
            self.device = InputDevice(path)  # OSError if absent
            undo.callback(self.device.close)
            if grab:
                self.device.grab()
                self._grabbed = True
            undo.pop_all()

    def events(self, timeout: float) -> list[KeyEvent]:
        r, _, _ = select.select([self.device.fd], [], [], timeout)
        if not r:
            return []
        try:
            return list(self.device.read())
        except BlockingIOError:
            return []

    def close(self) -> None:
        try:
            if self._grabbed:
                self.device.ungrab()
        except OSError:
            pass  # already gone
        self.device.close()


class WedgeScanner:
    """A keyboard-wedge scanner; ``read_code(timeout)`` returns the next scanned code."""

    def __init__(self, path: str, *, grab: bool = True, max_length: int = DEFAULT_MAX_LENGTH,
                 reconnect_interval: float = 0.5,
                 open_source: Callable[[str, bool], EventSource] = EvdevSource) -> None:
        self.path = path
        self.grab = grab
        self.reconnect_interval = reconnect_interval
        self._open_source = open_source
        self._decoder = WedgeDecoder(max_length)
        self._source: EventSource | None = None
        self._pending: deque[KeyEvent] = deque()
        self.reconnects = 0

    def open(self) -> WedgeScanner:
        if self._source is None:
            try:
                self._source = self._open_source(self.path, self.grab)
            except OSError as e:
                raise self._not_found(e) from e
        return self

    def close(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.close()

    def __enter__(self) -> WedgeScanner:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def read_code(self, timeout: float) -> str:
        """The next code, waiting at most ``timeout`` seconds.

        Raises :class:`DeviceTimeoutError` when nothing was scanned, :class:`DeviceNotFoundError`
        when the scanner stayed unplugged, and ``ScannerProtocolError`` for a bad scan (the next
        call reads the next code).
        """
        deadline = time.monotonic() + timeout
        last_error: OSError | None = None
        while True:
            while self._pending:
                code = self._decoder.feed(self._pending.popleft())
                if code is not None:
                    return code
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if self._source is None:
                    raise self._not_found(last_error)
                raise DeviceTimeoutError("No barcode was scanned within {timeout:.0f} s.",
                                         "Aim the scanner at the barcode and press its trigger.", timeout=timeout)
            if self._source is None:
                try:
                    self._source = self._open_source(self.path, self.grab)
                    self.reconnects += 1
                    log.info("barcode scanner %s reconnected", self.path)
                except OSError as e:
                    last_error = e
                    time.sleep(min(self.reconnect_interval, max(0.0, deadline - time.monotonic())))
                    continue
            try:
                self._pending.extend(self._source.events(min(remaining, 0.5)))
            except OSError as e:
                if e.errno not in GONE:
                    raise DeviceError("Reading the barcode scanner failed ({error}).",
                                      "Unplug the scanner and plug it in again.", error=e) from e
                log.warning("barcode scanner %s unplugged (%s)", self.path, e.strerror)
                last_error = e
                self._drop()

    def _drop(self) -> None:
        source, self._source = self._source, None
        self._decoder.reset()  # half a code from before the unplug is not a code
        if source is not None:
            try:
                source.close()
            except OSError:
                pass

    def _not_found(self, e: OSError | None) -> DeviceNotFoundError:
        return DeviceNotFoundError("The barcode scanner at {path} is not connected ({error}).",
                                   "Plug the scanner in, or type the number on the keypad.",
                                   path=self.path, error=(e.strerror if e is not None else "no device"))
