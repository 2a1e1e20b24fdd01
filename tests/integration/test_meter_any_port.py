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
