"""A mock keyboard-wedge scanner: codes "typed" as evdev key events, unplugs on cue.

``/dev/uinput`` is not available in CI, so the mock hands the driver event sources directly
(``WedgeScanner(path, open_source=mock.open)``) — built from real ``evdev.InputEvent``\\ s in
the order a scanner sends them: shift down, key down, SYN, key up, SYN, shift up … Enter.
"""

from __future__ import annotations

import errno
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from evdev import InputEvent, ecodes

from drivers.scanner.protocol import KEYMAP

_UNPLUG = object()


def _typing_table() -> dict[str, tuple[int, bool]]:
    table: dict[str, tuple[int, bool]] = {}
    for code, (plain, shifted) in KEYMAP.items():
        name = ecodes.KEY.get(code, "")
        names = name if isinstance(name, list) else [name]
        if any(n.startswith("KEY_KP") for n in names):
            continue  # scanners type the main-row keys
        table.setdefault(plain, (code, False))
        table.setdefault(shifted, (code, True))
    return table


TYPING = _typing_table()


def key_events(code: str, *, terminator: int = ecodes.KEY_ENTER, start: float = 1_700_000_000.0,
               step_us: int = 800) -> Iterator[InputEvent]:
    """The events a US-layout wedge scanner sends for ``code`` (printable ASCII), then Enter."""
    t = int(start * 1_000_000)

    def ev(type_: int, key: int, value: int) -> InputEvent:
        nonlocal t
        t += step_us
        return InputEvent(t // 1_000_000, t % 1_000_000, type_, key, value)

    def press(key: int) -> Iterator[InputEvent]:
        yield ev(ecodes.EV_MSC, ecodes.MSC_SCAN, 0x70000 + key)
        yield ev(ecodes.EV_KEY, key, 1)
        yield ev(ecodes.EV_SYN, ecodes.SYN_REPORT, 0)
        yield ev(ecodes.EV_KEY, key, 0)
        yield ev(ecodes.EV_SYN, ecodes.SYN_REPORT, 0)

    for ch in code:
        if ch not in TYPING:
            raise ValueError(f"a US-layout wedge scanner cannot type {ch!r}")
        key, shift = TYPING[ch]
        if shift:
            yield ev(ecodes.EV_KEY, ecodes.KEY_LEFTSHIFT, 1)
        yield from press(key)
        if shift:
            yield ev(ecodes.EV_KEY, ecodes.KEY_LEFTSHIFT, 0)
            yield ev(ecodes.EV_SYN, ecodes.SYN_REPORT, 0)
    yield from press(terminator)


class MockWedgeScanner:
    """The device node of a wedge scanner: ``open`` is what the driver's ``open_source`` calls."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[Any] = deque()
        self._failing_opens = 0
        self._unplugged = False
        self.opens = 0
        self.grabbed = False

    # -- what the operator / test does --------------------------------------------------------
    def scan(self, code: str, **kwargs: Any) -> None:
        self.send(key_events(code, **kwargs))

    def send(self, events: Iterable[Any]) -> None:
        with self._cond:
            self._queue.extend(events)
            self._cond.notify_all()

    def unplug(self, replug_after_attempts: int = 0) -> None:
        """Pull the cable once the events queued so far are read; the next
        ``replug_after_attempts`` opens fail, then it is back."""
        with self._cond:
            self._queue.append(_UNPLUG)
            self._failing_opens = replug_after_attempts
            self._cond.notify_all()

    # -- what the driver sees ------------------------------------------------------------------
    def open(self, path: str, grab: bool) -> _Source:
        with self._cond:
            if self._unplugged and self._failing_opens > 0:
                self._failing_opens -= 1
                raise OSError(errno.ENOENT, "No such file or directory", path)
            self._unplugged = False
            self.opens += 1
            self.grabbed = grab
            return _Source(self)

    def _take(self, timeout: float) -> list[Any]:
        with self._cond:
            self._cond.wait_for(lambda: bool(self._queue), timeout)
            batch: list[Any] = []
            while self._queue and self._queue[0] is not _UNPLUG and len(batch) < 64:
                batch.append(self._queue.popleft())
            if not batch and self._queue and self._queue[0] is _UNPLUG:
                self._queue.popleft()
                self._unplugged = True
                raise OSError(errno.ENODEV, "No such device")
            return batch


class _Source:
    def __init__(self, device: MockWedgeScanner) -> None:
        self._device = device
        self._closed = False

    def events(self, timeout: float) -> list[Any]:
        if self._closed:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return self._device._take(timeout)

    def close(self) -> None:
        self._closed = True
