"""A mock barcode scanner in USB-serial (CDC-ACM) mode: each scan is a line on a pty."""

from __future__ import annotations

from pathlib import Path

from hw_mocks.link import PtyLink

SUFFIXES = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n"}


class MockSerialScanner:
    """``scan(code)`` sends ``code`` and the suffix; a context manager owning the pty."""

    def __init__(self, link: str | Path | None = None, suffix: str = "crlf") -> None:
        self._link_path = link
        self.suffix = SUFFIXES[suffix]
        self.link: PtyLink | None = None

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

    def scan(self, code: str) -> None:
        self.send(code.encode("utf-8") + self.suffix)

    def send(self, raw: bytes) -> None:
        if self.link is None:
            raise RuntimeError("the mock scanner is not started")
        self.link.write(raw)
