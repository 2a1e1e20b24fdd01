"""Barcode scanners, sans-IO: key events or serial bytes in, validated codes out.

* Keyboard-wedge (HID) scanners "type" a code as key events and end it with Enter.  evdev has
  no keycode → character table, so this module keeps one (US layout — what scanners emulate
  by default), with the shift state and caps lock.
* Serial (CDC-ACM) scanners send a code per line, ended by CR, LF or CR LF.

Both decoders bound the code length and reject control characters: a code is data from a
device that can be misconfigured or tampered with (an ESC in a "meter number" must never reach
the printer or the screen).  For any input they either produce codes or raise
:class:`ScannerProtocolError`, and they recover at the next code.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Protocol

from evdev import ecodes

from terminal_app.errors import RemoteProtocolError

DEFAULT_MAX_LENGTH = 128

EV_KEY = ecodes.EV_KEY
KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2
TERMINATORS = frozenset({ecodes.KEY_ENTER, ecodes.KEY_KPENTER})
SHIFTS = frozenset({ecodes.KEY_LEFTSHIFT, ecodes.KEY_RIGHTSHIFT})
CONTROLS = frozenset({ecodes.KEY_LEFTCTRL, ecodes.KEY_RIGHTCTRL, ecodes.KEY_LEFTALT, ecodes.KEY_RIGHTALT,
                      ecodes.KEY_LEFTMETA, ecodes.KEY_RIGHTMETA})
IGNORED_KEYS = frozenset({ecodes.KEY_NUMLOCK, ecodes.KEY_SCROLLLOCK})


def _keymap() -> dict[int, tuple[str, str]]:
    """keycode → (character, character with shift), US layout."""
    k = ecodes
    table: dict[int, tuple[str, str]] = {}
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        table[getattr(k, f"KEY_{letter}")] = (letter.lower(), letter)
    for digit, shifted in zip("1234567890", "!@#$%^&*()", strict=True):
        table[getattr(k, f"KEY_{digit}")] = (digit, shifted)
    for name, plain, shifted in (("MINUS", "-", "_"), ("EQUAL", "=", "+"), ("LEFTBRACE", "[", "{"),
                                 ("RIGHTBRACE", "]", "}"), ("SEMICOLON", ";", ":"), ("APOSTROPHE", "'", '"'),
                                 ("GRAVE", "`", "~"), ("BACKSLASH", "\\", "|"), ("COMMA", ",", "<"),
                                 ("DOT", ".", ">"), ("SLASH", "/", "?"), ("SPACE", " ", " ")):
        table[getattr(k, f"KEY_{name}")] = (plain, shifted)
    # the numeric keypad ignores shift (scanners in "keypad digits" mode use it)
    for digit in "0123456789":
        table[getattr(k, f"KEY_KP{digit}")] = (digit, digit)
    for name, ch in (("KPMINUS", "-"), ("KPPLUS", "+"), ("KPASTERISK", "*"), ("KPSLASH", "/"), ("KPDOT", ".")):
        table[getattr(k, f"KEY_{name}")] = (ch, ch)
    return table


KEYMAP: dict[int, tuple[str, str]] = _keymap()


class KeyEvent(Protocol):
    """One input event as the decoder reads it (``evdev.InputEvent``, or a mock's)."""

    @property
    def type(self) -> int: ...
    @property
    def code(self) -> int: ...
    @property
    def value(self) -> int: ...


class ScannerProtocolError(RemoteProtocolError):
    """A scan that is not a usable code (too long, control characters, unknown keys)."""

    default_action = "Scan the barcode again; if it keeps failing, type the number on the keypad."


def check_code(code: str, max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """``code`` if it is 1–``max_length`` characters with no control characters, else raise."""
    if not code:
        raise ScannerProtocolError("The scanner sent an empty code.")
    if len(code) > max_length:
        raise ScannerProtocolError("The scanned code is longer than {limit} characters.", limit=max_length)
    for ch in code:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise ScannerProtocolError("The scanned code contains the control character U+{cp:04X}.",
                                       cp=ord(ch))
    return code


class WedgeDecoder:
    """Key events of a keyboard-wedge scanner → codes.  Feed events one by one."""

    def __init__(self, max_length: int = DEFAULT_MAX_LENGTH) -> None:
        self.max_length = max_length
        self.reset()
        self._caps = False

    def reset(self) -> None:
        """Forget a partly typed code and held keys (after an unplug)."""
        self._chars: list[str] = []
        self._shift: set[int] = set()
        self._held_controls: set[int] = set()
        self._problem: ScannerProtocolError | None = None

    def feed(self, event: KeyEvent) -> str | None:
        """One ``evdev.InputEvent`` (anything with ``type``, ``code``, ``value``); a finished
        code, ``None``, or :class:`ScannerProtocolError` when a bad code ends."""
        if event.type != EV_KEY:
            return None  # EV_SYN, EV_MSC (scan codes), EV_LED …
        code, value = event.code, event.value
        if value not in (KEY_UP, KEY_DOWN, KEY_REPEAT):
            self._reject(ScannerProtocolError("The scanner sent key value {value}.", value=value))
            return None
        if code in SHIFTS:
            (self._shift.add if value != KEY_UP else self._shift.discard)(code)
            return None
        if code in CONTROLS:
            (self._held_controls.add if value != KEY_UP else self._held_controls.discard)(code)
            return None
        if value != KEY_DOWN:
            return None  # releases; autorepeat means a stuck key, not a scanner
        if code == ecodes.KEY_CAPSLOCK:
            self._caps = not self._caps
            return None
        if code in IGNORED_KEYS:
            return None
        if code in TERMINATORS:
            return self._finish()
        if self._held_controls:
            self._reject(ScannerProtocolError("The scanner sent a key with Ctrl or Alt held (control character).",
                                              "Set the scanner to send plain characters; scan again."))
            return None
        chars = KEYMAP.get(code)
        if chars is None:
            self._reject(ScannerProtocolError("The scanner sent key {code}, which is not a character.",
                                              "Check the scanner's prefix/suffix settings; scan again.",
                                              code=ecodes.KEY.get(code, code) if isinstance(code, int) else code))
            return None
        shifted = bool(self._shift)
        ch = chars[1] if shifted else chars[0]
        if self._caps and ch.isalpha():
            ch = ch.swapcase()
        if len(self._chars) >= self.max_length:
            self._reject(ScannerProtocolError("The scanned code is longer than {limit} characters.",
                                              limit=self.max_length))
            return None
        self._chars.append(ch)
        return None

    def _reject(self, problem: ScannerProtocolError) -> None:
        if self._problem is None:
            self._problem = problem

    def _finish(self) -> str | None:
        chars, problem = self._chars, self._problem
        self._chars, self._problem = [], None
        if problem is not None:
            raise problem
        if not chars:
            return None  # a lone Enter
        return check_code("".join(chars), self.max_length)


def decode_events(events: Iterable[KeyEvent], max_length: int = DEFAULT_MAX_LENGTH) -> Iterator[str]:
    """The codes in a stream of key events (a bad code raises and ends the iteration)."""
    decoder = WedgeDecoder(max_length)
    for event in events:
        code = decoder.feed(event)
        if code is not None:
            yield code


async def adecode_events(events: AsyncIterable[KeyEvent], max_length: int = DEFAULT_MAX_LENGTH) -> AsyncIterator[str]:
    """As :func:`decode_events`, over an async iterable (``InputDevice.async_read_loop()``)."""
    decoder = WedgeDecoder(max_length)
    async for event in events:
        code = decoder.feed(event)
        if code is not None:
            yield code


class LineDecoder:
    """Bytes of a serial scanner → codes, one per CR, LF or CR LF ended line (UTF-8)."""

    def __init__(self, max_length: int = DEFAULT_MAX_LENGTH) -> None:
        self.max_length = max_length
        self._buf = bytearray()
        self._skipping = False  # inside an over-long line: drop bytes until its end

    def reset(self) -> None:
        self._buf.clear()
        self._skipping = False

    def feed(self, data: bytes) -> list[str]:
        """Codes completed by ``data``.  A bad line raises :class:`ScannerProtocolError` with
        the codes before it in ``codes``; call ``feed(b"")`` to go on with what follows."""
        self._buf += data
        codes: list[str] = []
        while True:
            ends = [i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0]
            if not ends:
                # 4 bytes per character at most in UTF-8
                if len(self._buf) > 4 * self.max_length:
                    self._buf.clear()
                    if not self._skipping:
                        self._skipping = True
                        raise self._error(ScannerProtocolError(
                            "The scanned code is longer than {limit} characters.", limit=self.max_length), codes)
                return codes
            end = min(ends)
            line = bytes(self._buf[:end])
            del self._buf[:end + 1]
            if self._skipping:
                self._skipping = False
                continue
            if not line:
                continue  # the LF of CR LF, or an empty line
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise self._error(ScannerProtocolError("The scanner sent bytes that are not text."), codes) from None
            try:
                codes.append(check_code(text, self.max_length))
            except ScannerProtocolError as e:
                raise self._error(e, codes) from None

    @staticmethod
    def _error(e: ScannerProtocolError, codes: list[str]) -> ScannerProtocolError:
        e.codes = codes  # type: ignore[attr-defined]
        return e
