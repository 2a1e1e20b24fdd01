"""Interop with the independent PyPI package ``dlt645`` (3.2.0), both ways.

* its client (``MeterClientService`` over its RtuClient on our pty, and its TcpClient) reads our
  mock meter;
* our driver reads its meter simulator (``MeterServerService`` over TCP).

Known deviations of dlt645 3.2.0 from DL/T 645-2007, pinned below so a change shows up:
* its string addresses (``set_address("000012345678")``) are put on the wire most significant
  byte first (``00 00 12 34 56 78``); the standard sends the least significant byte first
  (``78 56 34 12 00 00``, see tests/unit/test_dlt645_golden.py).  Given as wire-order bytes,
  or learnt through 13H, its addresses are right;
* its broadcast time sync sends YY MM DD hh mm ss in that order; the standard's data field
  ``ssmmhhDDMMYY`` is sent seconds first like every multi-byte item.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

dlt645 = pytest.importorskip("dlt645")

from drivers.ir_meter.driver import IrMeter  # noqa: E402
from drivers.ir_meter.protocol import Standard, encode_read  # noqa: E402
from hw_mocks.meter import MockMeter, load_profile  # noqa: E402
from tests.util import free_port  # noqa: E402


def fast_profile():
    return dataclasses.replace(load_profile(standard="2007"), baudrate=9600, reply_delay_s=0.0)


def read_with_their_client(client) -> tuple[str, float, float]:
    with client:
        address = client.read_address()
        energy = client.read_00(0x00010000)
        voltage = client.read_02(0x02010100)
    assert address is not None and energy is not None and voltage is not None
    return address.value, energy.value, voltage.value


def test_their_rtu_client_reads_our_mock_on_a_pty():
    profile = fast_profile()
    with MockMeter.on_pty(profile) as mock:
        # 8N1 here: its RtuClient changes the port timeout on every read, and pyserial re-applies
        # all termios settings for that; a Linux pty accepts PARENB once (at open) and then
        # refuses it with EINVAL.  Parity does not exist on a pty anyway.
        client = dlt645.MeterClientService.new_rtu_client(mock.url, 9600, 8, 1, "N", 2.0)
        address, energy, voltage = read_with_their_client(client)
    # its read_address() prints the 6 data bytes in wire order (least significant first)
    assert address == "785634120000"
    assert Decimal(str(energy)) == Decimal(profile.values["00010000"])
    assert Decimal(str(voltage)) == Decimal(profile.values["02010100"])


def test_their_tcp_client_reads_our_mock_on_tcp():
    profile = fast_profile()
    with MockMeter.on_tcp(profile) as mock:
        client = dlt645.MeterClientService.new_tcp_client("127.0.0.1", mock.link.port, timeout=2.0)
        _, energy, _ = read_with_their_client(client)
    assert Decimal(str(energy)) == Decimal("12345.67")


@pytest.fixture
def their_meter():
    port = free_port()
    server = dlt645.MeterServerService.new_tcp_server("127.0.0.1", port, timeout=2.0)
    server.set_address(bytes.fromhex("785634120000"))  # nameplate 000012345678, wire order
    server.set_00(0x00010000, 4321.09)
    server.set_02(0x02010100, 230.5)
    with server:
        yield port


def test_our_driver_identifies_and_reads_their_simulator(their_meter):
    with IrMeter(f"socket://127.0.0.1:{their_meter}", baudrate=9600, reply_timeout_s=0.5, retries=1) as meter:
        ident = meter.identify()
        energy = meter.read("00010000")
        voltage = meter.read("02010100")
    assert (ident.address, ident.standard) == ("000012345678", Standard.V2007)
    assert energy.value == Decimal("4321.09") and energy.unit == "kWh"
    assert voltage.value == Decimal("230.5") and voltage.unit == "V"


def test_their_string_address_is_most_significant_byte_first():
    # deviation: the standard (and the golden frame in test_dlt645_golden) puts 78 56 34 12 00 00 on the wire
    from dlt645.common.transform import string_to_bcd
    from dlt645.protocol.protocol import DLT645Protocol

    theirs = bytes(DLT645Protocol.build_frame(string_to_bcd("000012345678"), 0x11, bytes.fromhex("00000100")))
    ours = encode_read("000012345678", "00010000")
    assert theirs[5:11] == bytes.fromhex("000012345678")
    assert ours[5:11] == bytes.fromhex("785634120000")
    assert theirs[:5] == ours[:5] and theirs[11:-2] == ours[11:-2]  # everything else agrees
