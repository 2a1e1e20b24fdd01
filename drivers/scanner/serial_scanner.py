"""Barcode scanners in USB-serial (CDC-ACM) mode: a pyserial URL, one code per line."""

from __future__ import annotations

import time

from drivers.scanner.protocol import DEFAULT_MAX_LENGTH, LineDecoder, ScannerProtocolError
from drivers.serial_port import SerialDevice, SerialPort, open_serial
from terminal_app.errors import DeviceError, DeviceTimeoutError


class SerialScanner(SerialDevice):
    """``read_code(timeout)`` returns the next CR/LF-terminated code from ``url``."""

    def __init__(self, url: str, baudrate: int = 9600, *, max_length: int = DEFAULT_MAX_LENGTH) -> None:
        self.url = url
        self.baudrate = baudrate
        self._decoder = LineDecoder(max_length)
        self._codes: list[str] = []
        self._error: ScannerProtocolError | None = None
        self._port: SerialPort | None = None

    def open(self) -> SerialScanner:
        if self._port is None:
            self._port = open_serial(self.url, "Cannot open the barcode scanner at {url} ({error}).",
                                     "Check that the scanner is plugged in and its port in the configuration.",
                                     baudrate=self.baudrate, timeout=0.2)
        return self

    def read_code(self, timeout: float) -> str:
        import serial

        if self._port is None:
            raise DeviceError("The barcode scanner is not open.", "This is a program error: open it first.")
        deadline = time.monotonic() + timeout
        data = b""
        while not self._codes:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            try:
                self._codes.extend(self._decoder.feed(data))
            except ScannerProtocolError as e:
                # codes decoded before the bad line go out first; the error right after them
                self._codes.extend(getattr(e, "codes", []))
                self._error = e
                data = b""
                continue
            data = b""
            if self._codes:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeoutError("No barcode was scanned within {timeout:.0f} s.",
                                         "Aim the scanner at the barcode and press its trigger.", timeout=timeout)
            self._port.timeout = min(remaining, 0.2)
            try:
                data = self._port.read(max(1, self._port.in_waiting))
            except serial.SerialException as e:
                raise DeviceError("Reading the barcode scanner failed ({error}).",
                                  "Unplug the scanner and plug it in again.", error=e) from e
        return self._codes.pop(0)
