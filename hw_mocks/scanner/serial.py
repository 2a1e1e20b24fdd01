"""A mock barcode scanner in USB-serial (CDC-ACM) mode: each scan is a line on a pty.

Like a real scanner it reads only the symbologies enabled in its configuration (set with the
maker's setup codes on a real one): a label of a disabled symbology gives no line at all.
The default is what meter plates and labels carry — Code 128, Code 39, EAN-13 — and QR.
A scan is checked as the scanner's decoder would: Code 39 holds only its 43 characters,
EAN-13 is 13 digits whose check digit is right.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hw_mocks.link import PtyLink

SUFFIXES = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n"}
SYMBOLOGIES = ("CODE128", "CODE39", "EAN13", "QRCODE")
DEFAULT_ENABLED = SYMBOLOGIES
CODE39_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%")


def ean13_check_digit(first12: str) -> int:
    """GS1 check digit: weights 1, 3, 1, 3 … from the left over 12 digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return (10 - total % 10) % 10


def check_symbol(code: str, symbology: str) -> None:
    """Raise ``ValueError`` when ``code`` cannot be a ``symbology`` symbol."""
    if symbology not in SYMBOLOGIES:
        raise ValueError(f"unknown symbology {symbology!r}; use one of {', '.join(SYMBOLOGIES)}")
    if symbology == "CODE39" and not (code and set(code) <= CODE39_CHARS):
        raise ValueError(f"{code!r} is not Code 39 (upper-case letters, digits, - . space $ / + %)")
    if symbology == "EAN13":
        if len(code) != 13 or not code.isdigit():
            raise ValueError(f"{code!r} is not 13 digits")
        if ean13_check_digit(code[:12]) != int(code[12]):
            raise ValueError(f"{code} has a wrong EAN-13 check digit")


class MockSerialScanner:
    """``scan(code)`` sends ``code`` and the suffix; a context manager owning the pty."""

    def __init__(self, link: str | Path | None = None, suffix: str = "crlf",
                 enabled: Iterable[str] = DEFAULT_ENABLED) -> None:
        self._link_path = link
        self.suffix = SUFFIXES[suffix]
        self.enabled = frozenset(enabled)
        unknown = self.enabled - set(SYMBOLOGIES)
        if unknown:
            raise ValueError(f"unknown symbologies {sorted(unknown)}; use some of {', '.join(SYMBOLOGIES)}")
        self.link: PtyLink | None = None
        self.ignored: list[tuple[str, str]] = []  # labels of a disabled symbology, for tests

    @property
    def path(self) -> str:
        if self.link is None:
            raise RuntimeError("the mock scanner is not started")
        return self.link.path

    def start(self) -> MockSerialScanner:
        self.link = PtyLink(self._link_path)
        return self

    def stop(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            link.close()

    def __enter__(self) -> MockSerialScanner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def scan(self, code: str, symbology: str = "CODE128") -> bool:
        """Scan a ``symbology`` label holding ``code``; False (nothing sent) when the scanner
        has that symbology disabled."""
        check_symbol(code, symbology)
        if symbology not in self.enabled:
            self.ignored.append((symbology, code))
            return False
        self.send(code.encode("utf-8") + self.suffix)
        return True

    def send(self, raw: bytes) -> None:
        if self.link is None:
            raise RuntimeError("the mock scanner is not started")
        self.link.write(raw)
