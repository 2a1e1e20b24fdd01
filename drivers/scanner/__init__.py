"""Barcode scanners: keyboard-wedge (evdev), USB-serial (pyserial URL), camera images (zbar).

    from drivers.scanner import open_scanner
    with open_scanner(settings.devices.scanner) as scanner:
        code = scanner.read_code(timeout=30)     # meter asset number → customer

``protocol`` is the sans-IO part (keycode table, decoders, code validation).
"""

from __future__ import annotations

from typing import Protocol

from drivers.scanner.protocol import ScannerProtocolError, check_code
from drivers.scanner.serial_scanner import SerialScanner
from drivers.scanner.wedge import WedgeScanner
from terminal_app.errors import ConfigurationError


class ScannerConfig(Protocol):
    """What :func:`open_scanner` reads (the core's ``[devices.scanner]`` is one)."""

    @property
    def device(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def baudrate(self) -> int: ...
    @property
    def max_length(self) -> int: ...


def open_scanner(settings: ScannerConfig) -> WedgeScanner | SerialScanner:
    """The scanner a :class:`terminal_app.config.ScannerSettings` describes, opened."""
    if settings.mode == "evdev":
        return WedgeScanner(settings.device, max_length=settings.max_length).open()
    if settings.mode == "serial":
        return SerialScanner(settings.device, settings.baudrate, max_length=settings.max_length).open()
    raise ConfigurationError("Scanner mode {mode!r} is unknown.", 'Set [devices.scanner] mode to "evdev" or "serial".',
                             mode=settings.mode)


__all__ = ["ScannerProtocolError", "SerialScanner", "WedgeScanner", "check_code", "open_scanner"]
