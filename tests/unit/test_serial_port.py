"""drivers.serial_port: every way an open fails is a DeviceNotFoundError in the driver's words."""

from __future__ import annotations

import pytest
import serial

from drivers.ir_meter.driver import IrMeter
from drivers.serial_port import open_serial
from hw_mocks.link import PtyLink
from terminal_app.errors import DeviceNotFoundError


def test_missing_port_names_the_device_and_the_fix(tmp_path):
    with pytest.raises(DeviceNotFoundError) as ei:
        open_serial(str(tmp_path / "ttyNone"), "The widget at {url} cannot be opened: {error}.", "Plug it in.")
    assert str(tmp_path / "ttyNone") in str(ei.value) and str(ei.value).endswith("Plug it in.")


def test_bad_setting_is_wrapped_too():
    with pytest.raises(DeviceNotFoundError):
        open_serial("loop://", "The widget at {url} cannot be opened: {error}.", "Fix it.", parity="Q")


def test_termios_refusal_is_wrapped_not_leaked():
    # Linux refuses even parity on a pty that was already opened once with it: termios.error,
    # which is not an OSError and used to escape the drivers unwrapped
    link = PtyLink()
    try:
        serial.serial_for_url(link.path, baudrate=1200, parity="E").close()
        with pytest.raises(DeviceNotFoundError, match="IR head"):
            IrMeter(link.path).open()
    finally:
        link.close()
