"""The serial NMEA GNSS receiver (issue 18 point 2): the production driver against the mock L76-class
receiver on a real pty — a 3D fix, a 2D fix, no fix, a fix lost (stale), a cold start — the PMTK
commands of the module's manual acknowledged, and line noise on the wire costing no good sentence."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from drivers.gnss.protocol import FixState
from drivers.gnss.receiver import NmeaReceiver
from drivers.modem.gnss import FixMode
from hw_mocks.gnss.device import DEFAULT_RATES, MockGnssReceiver
from terminal_app.errors import DeviceError, DeviceNotFoundError

FAST = 0.02  # real seconds per receiver second
WAIT = 10.0  # bound on each wait (a condition, not a sleep)


def fixed(r: NmeaReceiver) -> bool:
    return r.state is FixState.FIXED and r.tracker.in_view is not None and r.fix() is not None


def test_a_3d_fix_with_its_quality_time_and_satellites():
    with MockGnssReceiver(scenario="fix_3d", interval_s=FAST) as mock, NmeaReceiver(mock.path) as r:
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        assert r.wait(fixed, WAIT)
        fix = r.fix()
        assert fix is not None
        # 31.271234° as ddmm.mmmmm on the wire (31°16.27404') and back: within 1e-6°
        assert abs(fix.latitude - Decimal("31.271234")) < Decimal("0.000001")
        assert abs(fix.longitude - Decimal("106.303456")) < Decimal("0.000001")
        assert (fix.mode, fix.hdop, fix.satellites, fix.source) == (FixMode.THREE_D, Decimal("1.1"), 8, "NMEA")
        assert fix.at.utcoffset() == dt.timedelta(hours=8)  # Asia/Shanghai
        assert before - dt.timedelta(seconds=2) <= fix.at <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        assert r.tracker.in_view == 16  # GPGSV 11 + GLGSV 5
        assert fix.as_dict(fix.at)["mode"] == "3D" and r.receiving and r.skipped == 0


def test_a_2d_fix():
    with MockGnssReceiver(scenario="fix_2d", interval_s=FAST) as mock, NmeaReceiver(mock.path) as r:
        assert r.wait(lambda r: fixed(r) and r.fix().mode is FixMode.TWO_D, WAIT)
        assert r.fix().hdop == Decimal("4.8") and r.fix().satellites == 3


def test_no_fix_gives_none_while_the_receiver_talks():
    with MockGnssReceiver(scenario="no_fix", interval_s=FAST) as mock, NmeaReceiver(mock.path) as r:
        assert r.wait(lambda r: mock.epochs >= 5 and r.tracker.in_view == 2, WAIT)
        assert r.fix() is None and r.state is FixState.SEARCHING and r.receiving


def test_a_lost_fix_is_kept_as_the_last_one_and_goes_stale():
    with MockGnssReceiver(scenario="stale", interval_s=FAST) as mock, NmeaReceiver(mock.path) as r:
        assert r.wait(fixed, WAIT)
        assert r.wait(lambda r: r.state is FixState.LOST, WAIT)
        last = r.fix()
        assert last is not None and last.mode is FixMode.THREE_D
        assert r.wait(lambda r: mock.epochs >= 40, WAIT)
        assert r.fix() == last  # the receiver says V / quality 0 now: the last fix stays, unchanged
        later = last.at + dt.timedelta(minutes=5)
        assert last.stale(later) and last.as_dict(later)["age_s"] == 300


def test_cold_start_searches_then_fixes_and_pmtk103_starts_over():
    with MockGnssReceiver(scenario="cold_start", interval_s=FAST) as mock, NmeaReceiver(mock.path) as r:
        assert r.wait(lambda r: mock.epochs >= 10, WAIT)
        assert r.state is FixState.SEARCHING and r.fix() is None
        assert r.wait(fixed, WAIT)
        assert mock.epochs >= 35
        r.restart("cold")  # $PMTK103*30: no PMTK001 answers it, the start-up message PMTK010,001 does
        assert mock.commands == ["PMTK103"] and r.tracker.system == ["001"]
        assert r.state is FixState.LOST and r.fix() is not None  # the last fix stays, aging, until the new one
        assert r.wait(lambda r: r.state is FixState.FIXED, WAIT)


def test_the_documented_pmtk_commands_are_acknowledged():
    with MockGnssReceiver(scenario="fix_3d", interval_s=FAST) as mock, NmeaReceiver(mock.path) as r:
        assert r.command("PMTK000") == "succeeded"
        assert r.command("PMTK220,1000") == "succeeded"
        with pytest.raises(DeviceError, match="invalid"):
            r.command("PMTK220,50")  # below 100 ms: invalid parameters (flag 0)
        with pytest.raises(DeviceError, match="unsupported"):
            r.command("PMTK999")
        # only RMC and GGA: the fix still comes (GSA and GSV are optional for it)
        assert r.command("PMTK314,0,1,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0") == "succeeded"
        assert mock.rates[:6] == [0, 1, 0, 1, 0, 0]
        assert r.wait(lambda r: r.state is FixState.FIXED, WAIT)
        assert r.command("PMTK314,-1") == "succeeded" and tuple(mock.rates) == DEFAULT_RATES
        assert r.command("PMTK353,1,0,0,0,0") == "succeeded" and mock.constellations == (1, 0, 0, 0, 0)
        assert r.command("PMTK386,0.4") == "succeeded"
        assert r.command("PMTK161,0") == "succeeded" and mock.standby
        assert r.command("PMTK000") == "succeeded" and not mock.standby  # any byte wakes it
        assert mock.commands[:2] == ["PMTK000", "PMTK220,1000"]


def test_query_packets_are_answered():
    with MockGnssReceiver(scenario="fix_3d", interval_s=FAST) as mock, NmeaReceiver(mock.path) as r:
        assert r.query("PMTK414", "514") == tuple(str(x) for x in DEFAULT_RATES)  # the sentences selected
        assert r.query("PMTK605", "705")[2] == "Quectel-L76"  # the firmware release
        assert r.command("PMTK220,200") == "succeeded"
        assert r.query("PMTK400", "500")[0] == "200"  # the fix interval
        assert mock.commands == ["PMTK414", "PMTK605", "PMTK220,200", "PMTK400"]


def test_line_noise_on_the_wire_loses_no_good_sentence():
    with MockGnssReceiver(scenario="fix_3d", interval_s=FAST) as mock, NmeaReceiver(mock.path) as r:
        assert r.wait(fixed, WAIT)
        mock.inject(b"\x00\xffnoise$GPGGA,1235")  # a sentence cut short, then the epoch's RMC starts with "$"
        mock.inject(b"$GNGGA,000000.000,,,,,0,00,,,,,,,*00\r\n")  # a wrong checksum
        start = mock.epochs
        assert r.wait(lambda r: r.skipped >= 2 and mock.epochs >= start + 3, WAIT)
        assert r.state is FixState.FIXED and r.fix() is not None


def test_a_port_that_is_not_there_says_so():
    with pytest.raises(DeviceNotFoundError, match="cannot be opened"):
        NmeaReceiver("/dev/nonexistent-gnss").open()
