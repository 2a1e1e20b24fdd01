"""Scanner drivers against the mock scanners: wedge (unplug → reconnect), serial pty, camera PNGs."""

from __future__ import annotations

import io
import threading

import pytest
from evdev import ecodes

from drivers.scanner import ScannerProtocolError, SerialScanner, WedgeScanner, open_scanner
from drivers.scanner.camera import Barcode, decode_image
from hw_mocks.cli import main as mocks_main
from hw_mocks.scanner import MockSerialScanner, MockWedgeScanner, code128_png, key_events, qr_png
from terminal_app.config import ScannerSettings
from terminal_app.errors import DeviceNotFoundError, DeviceTimeoutError

ASSET_NO = "3300123456789012345678"  # a 22-digit meter asset number


@pytest.fixture
def wedge():
    return MockWedgeScanner()


def test_wedge_scanner_grabs_the_device_and_reads_codes(wedge):
    with WedgeScanner("/dev/input/scanner", open_source=wedge.open) as scanner:
        wedge.scan(ASSET_NO)
        wedge.scan("Cust-0042")
        assert scanner.read_code(timeout=2) == ASSET_NO
        assert scanner.read_code(timeout=2) == "Cust-0042"
    assert wedge.grabbed and wedge.opens == 1


def test_wedge_scanner_times_out_when_nothing_is_scanned(wedge):
    with WedgeScanner("/dev/input/scanner", open_source=wedge.open) as scanner:
        with pytest.raises(DeviceTimeoutError, match="No barcode"):
            scanner.read_code(timeout=0.1)


def test_unplug_mid_code_discards_it_and_the_scanner_reconnects(wedge):
    with WedgeScanner("/dev/input/scanner", open_source=wedge.open, reconnect_interval=0.01) as scanner:
        half = list(key_events("99999"))[:12]  # "99" typed, then the cable is pulled
        wedge.send(half)
        wedge.unplug(replug_after_attempts=3)
        wedge.scan("A1")
        assert scanner.read_code(timeout=5) == "A1"  # not "99A1"
        assert scanner.reconnects == 1 and wedge.opens == 2


def test_a_scanner_that_stays_unplugged_is_reported_not_found(wedge):
    with WedgeScanner("/dev/input/scanner", open_source=wedge.open, reconnect_interval=0.01) as scanner:
        wedge.unplug(replug_after_attempts=10 ** 6)
        with pytest.raises(DeviceNotFoundError, match="not connected"):
            scanner.read_code(timeout=0.2)


def test_a_bad_scan_raises_and_the_next_one_reads(wedge):
    with WedgeScanner("/dev/input/scanner", open_source=wedge.open) as scanner:
        wedge.scan("12", terminator=ecodes.KEY_TAB)  # a scanner set to a Tab suffix …
        wedge.scan("34")  # … runs into the next code, which the Enter ends
        with pytest.raises(ScannerProtocolError):
            scanner.read_code(timeout=2)
        wedge.scan("56")
        assert scanner.read_code(timeout=2) == "56"


def test_opening_a_missing_evdev_node_is_device_not_found(tmp_path):
    with pytest.raises(DeviceNotFoundError, match="Plug the scanner in"):
        WedgeScanner(str(tmp_path / "no-such-event-node")).open()


def test_serial_scanner_over_a_pty(tmp_path):
    with MockSerialScanner(tmp_path / "ttyScanner") as mock, \
            open_scanner(ScannerSettings(device=mock.path, mode="serial")) as scanner:
        assert isinstance(scanner, SerialScanner)
        mock.scan(ASSET_NO)
        mock.send(b"AB\x1bCD\r\nOK-2\r")
        assert scanner.read_code(timeout=2) == ASSET_NO
        with pytest.raises(ScannerProtocolError, match="control character"):
            scanner.read_code(timeout=2)
        assert scanner.read_code(timeout=2) == "OK-2"
        with pytest.raises(DeviceTimeoutError):
            scanner.read_code(timeout=0.1)


def test_serial_scanner_reads_a_code_sent_while_it_waits(tmp_path):
    with MockSerialScanner(tmp_path / "ttyScanner", suffix="lf") as mock, \
            SerialScanner(mock.path) as scanner:
        started = threading.Event()
        result: list[str] = []

        def reader() -> None:
            started.set()
            result.append(scanner.read_code(timeout=5))

        t = threading.Thread(target=reader)
        t.start()
        try:
            started.wait(2)
            mock.scan("LATE-1")
        finally:
            t.join(6)
        assert result == ["LATE-1"]


def test_camera_decodes_a_code128_label_and_a_qr_code():
    assert decode_image(io.BytesIO(code128_png(ASSET_NO))) == [Barcode(ASSET_NO, "CODE128")]
    assert decode_image(io.BytesIO(qr_png("R20261124000123"))) == [Barcode("R20261124000123", "QRCODE")]
    assert decode_image(io.BytesIO(qr_png("R1")), symbologies=("CODE128",)) == []


def test_camera_rejects_a_code_with_control_characters():
    with pytest.raises(ScannerProtocolError):
        decode_image(io.BytesIO(qr_png("12\x1b[2J")))


def test_mock_cli_writes_a_label_png(tmp_path):
    out = tmp_path / "label.png"
    assert mocks_main(["scanner", "--png", str(out), ASSET_NO]) == 0
    assert decode_image(out) == [Barcode(ASSET_NO, "CODE128")]


def test_camera_decodes_code39_and_ean13_meter_plate_codes():
    from hw_mocks.scanner import code39_png, ean13_png

    assert decode_image(io.BytesIO(code39_png("DDZY-0042 A"))) == [Barcode("DDZY-0042 A", "CODE39")]
    assert decode_image(io.BytesIO(ean13_png("6901234567892"))) == [Barcode("6901234567892", "EAN13")]
    # the symbologies are the driver's choice: without them the same pictures read nothing
    assert decode_image(io.BytesIO(code39_png("DDZY-0042")), symbologies=("CODE128", "QRCODE")) == []
    assert decode_image(io.BytesIO(ean13_png("6901234567892")), symbologies=("CODE128", "QRCODE")) == []


def test_ean13_label_with_a_wrong_check_digit_cannot_be_made():
    from hw_mocks.scanner import ean13_png

    with pytest.raises(ValueError, match="check digit"):
        ean13_png("6901234567890")


def test_serial_scanner_reads_code39_and_ean13_when_enabled(tmp_path):
    with MockSerialScanner(tmp_path / "ttyScanner") as mock, \
            open_scanner(ScannerSettings(device=mock.path, mode="serial")) as scanner:
        assert mock.scan("DDZY-0042", "CODE39") and mock.scan("6901234567892", "EAN13")
        assert scanner.read_code(timeout=2) == "DDZY-0042"
        assert scanner.read_code(timeout=2) == "6901234567892"


def test_a_serial_scanner_with_a_symbology_disabled_reads_nothing_of_it(tmp_path):
    with MockSerialScanner(tmp_path / "ttyScanner", enabled=("CODE128", "QRCODE")) as mock, \
            SerialScanner(mock.path) as scanner:
        assert mock.scan("6901234567892", "EAN13") is False
        assert mock.scan("C-1") is True
        assert scanner.read_code(timeout=2) == "C-1"  # the EAN-13 label gave no line
        assert mock.ignored == [("EAN13", "6901234567892")]


@pytest.mark.parametrize(("code", "symbology"), [("abc", "CODE39"), ("690123456789", "EAN13"),
                                                 ("6901234567890", "EAN13"), ("1", "PDF417")])
def test_the_mock_scanner_refuses_an_impossible_symbol(code, symbology, tmp_path):
    with MockSerialScanner(tmp_path / "ttyScanner") as mock, pytest.raises(ValueError):
        mock.scan(code, symbology)


def test_mock_cli_writes_code39_and_ean13_labels(tmp_path):
    out = tmp_path / "label.png"
    assert mocks_main(["scanner", "--png", str(out), "--symbology", "ean13", "6901234567892"]) == 0
    assert decode_image(out) == [Barcode("6901234567892", "EAN13")]
    assert mocks_main(["scanner", "--png", str(out), "--symbology", "code39", "MTR-7"]) == 0
    assert decode_image(out) == [Barcode("MTR-7", "CODE39")]
    assert mocks_main(["scanner", "--png", str(out), "--symbology", "ean13", "12"]) == 2
