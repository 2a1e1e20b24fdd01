"""drivers.serial_port: every way an open fails is a DeviceNotFoundError in the driver's words."""

from __future__ import annotations

import os
import pty
import termios

import pytest
import serial

from drivers.ir_meter.driver import IrMeter
from drivers.serial_port import open_serial
from hw_mocks.link import PtyLink
from terminal_app.errors import DeviceNotFoundError
from tests.util import wait_for


def test_missing_port_names_the_device_and_the_fix(tmp_path):
    with pytest.raises(DeviceNotFoundError) as ei:
        open_serial(str(tmp_path / "ttyNone"), "The widget at {url} cannot be opened: {error}.", "Plug it in.")
    assert str(tmp_path / "ttyNone") in str(ei.value) and str(ei.value).endswith("Plug it in.")


def test_bad_setting_is_wrapped_too():
    with pytest.raises(DeviceNotFoundError):
        open_serial("loop://", "The widget at {url} cannot be opened: {error}.", "Fix it.", parity="Q")


def test_termios_refusal_is_wrapped_not_leaked():
    # Linux refuses even parity on a bare pty that was already set to it at the same speed:
    # termios.error, which is not an OSError and used to escape the drivers unwrapped.  (A mock
    # device's PtyLink puts its line back after each close, so it never shows this: a bare pty.)
    master, slave = pty.openpty()
    try:
        path = os.ttyname(slave)
        serial.serial_for_url(path, baudrate=1200, parity="E").close()
        try:
            serial.serial_for_url(path, baudrate=1200, parity="E").close()
        except termios.error:
            pass
        else:
            pytest.skip("this kernel accepts the same parity setting twice on a pty")
        with pytest.raises(DeviceNotFoundError, match="IR head"):
            IrMeter(path).open()
    finally:
        os.close(slave)
        os.close(master)


def test_a_mock_devices_pty_opens_at_1200_8e1_any_number_of_times():
    """field-facts "Learned the hard way": the mock side restores its line after every close, so
    a client (pyserial, the production drivers) opens it like a real port, again and again."""
    link = PtyLink()
    try:
        for n in range(1, 6):
            with serial.serial_for_url(link.path, baudrate=1200, parity="E", timeout=2) as port:
                port.write(bytes([n]))
                assert wait_for(lambda: link.read(timeout=0.1), what="the byte written") == bytes([n])
                link.write(b"\x16")
                assert port.read(1) == b"\x16"
            # a client does not reopen within microseconds of a close; wait until the link has
            # seen this one (a real port needs no such step, and neither does any real client)
            wait_for(lambda n=n: link.restores >= n, what=f"the line restored after close {n}")
    finally:
        link.close()
