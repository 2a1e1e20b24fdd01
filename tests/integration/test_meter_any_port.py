"""One driver test base, many transports (python-can's back2back pattern).

The same tests run against the mock meter on a pty and, when ``HANDHELD_TEST_METER_URL`` names
a real IR head aimed at a real meter (e.g. ``/dev/ttyIR0``; ``HANDHELD_TEST_METER_BAUD`` if it
is not 1200), against real hardware.  They assert only what holds for any healthy meter.
"""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from drivers.ir_meter.driver import IrMeter
from drivers.ir_meter.protocol import Standard
from hw_mocks.meter import MockMeter, load_profile
from terminal_app.errors import DeviceNotFoundError, DeviceTimeoutError
from tests.util import wait_for

REAL_URL = os.environ.get("HANDHELD_TEST_METER_URL")


@pytest.fixture(params=["mock-pty", "real"])
def meter(request):
    if request.param == "real":
        if not REAL_URL:
            pytest.skip("no real meter: set HANDHELD_TEST_METER_URL to run against hardware")
        with IrMeter(REAL_URL, baudrate=int(os.environ.get("HANDHELD_TEST_METER_BAUD", "1200"))) as m:
            yield m
        return
    with MockMeter.on_pty(load_profile(standard="2007")) as mock, IrMeter(mock.url) as m:
        yield m


def test_identify_finds_a_nameplate_address(meter):
    ident = meter.identify()
    assert len(ident.address) == 12 and ident.address.isdigit()
    assert ident.standard in (Standard.V2007, Standard.V1997)


def test_total_energy_is_an_exact_kwh_and_heads_the_block(meter):
    total = meter.read("00010000")
    assert isinstance(total.value, Decimal) and total.value >= 0 and total.unit == "kWh"
    block = meter.read("0001FF00").value
    assert block[0] == total.value  # the block's first register is the total
    # the tariff registers add up to the total, within the rounding of five 0.01 kWh displays
    assert abs(sum(block[1:]) - total.value) <= Decimal("0.04")


@pytest.fixture(params=["mock-pty", "real"])
def ir_port(request):
    """(url, baud rate, the mock's pty link or None): for tests that open the port themselves."""
    if request.param == "real":
        if not REAL_URL:
            pytest.skip("no real meter: set HANDHELD_TEST_METER_URL to run against hardware")
        yield REAL_URL, int(os.environ.get("HANDHELD_TEST_METER_BAUD", "1200")), None
        return
    with MockMeter.on_pty(load_profile(standard="2007")) as mock:
        yield mock.url, 1200, mock.link


def test_the_port_reopens_for_every_read_at_1200_8e1(ir_port):
    """Issue 13 (1): the field UI opens the IR head for each read and closes it after; the second
    customer's read must open the port exactly as the first did — on the mock's pty (whose line is
    restored after each close) and on a real port — also after a read that failed."""
    url, baud, link = ir_port
    values = []
    for n in range(1, 4):
        with IrMeter(url, baudrate=baud) as meter:
            values.append(meter.read("00010000").value)
        if link is not None:  # a client never reopens within microseconds of its close
            wait_for(lambda n=n: link.restores >= n, what=f"the pty's line restored after close {n}")
    assert len(values) == 3 and all(isinstance(v, Decimal) for v in values)
    with IrMeter(url, baudrate=baud, address="999999999999", standard="2007", retries=0) as meter:
        with pytest.raises(DeviceTimeoutError):  # nobody has that address: silence, then the port closes
            meter.read("00010000")
    if link is not None:
        wait_for(lambda: link.restores >= 4, what="the pty's line restored after the failed read")
    with IrMeter(url, baudrate=baud) as meter:
        assert meter.read("00010000").value == values[-1]


def test_a_second_program_cannot_open_the_ir_head_while_it_is_in_use(ir_port):
    """Half duplex: two programs on the IR head would interleave their frames.  The port is held
    exclusively while open; the second opener is told the port cannot be opened."""
    url, baud, _link = ir_port
    with IrMeter(url, baudrate=baud) as first:
        with pytest.raises(DeviceNotFoundError, match="IR head"):
            IrMeter(url, baudrate=baud).open()
        assert isinstance(first.read("00010000").value, Decimal)
