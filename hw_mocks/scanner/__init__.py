"""Mock barcode scanners: key events (wedge), lines on a pty (serial), PNGs (camera)."""

from hw_mocks.scanner.events import MockWedgeScanner, key_events
from hw_mocks.scanner.image import code39_png, code128_png, ean13_png, qr_png
from hw_mocks.scanner.serial import MockSerialScanner

__all__ = ["MockSerialScanner", "MockWedgeScanner", "code39_png", "code128_png", "ean13_png", "key_events", "qr_png"]
