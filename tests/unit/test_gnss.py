"""GNSS answers of the modems (issue 18 point 1): SIM808 AT+CGNSINF and Quectel AT+QGPSLOC parsed
from lines in their manuals' format, through the AT parser, and any input either parses or raises
GnssProtocolError (hypothesis)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modem.gnss import FixMode, GnssFix, GnssProtocolError, parse_cgnsinf, parse_qgpsloc
from drivers.modem.protocol import AtParser, AtProtocolError, Information, split_params
from terminal_app.timeutil import SHANGHAI

# SIM800 Series GNSS Application Note §2.3: run, fix, UTC, lat, lon, alt, speed, course, mode, -, HDOP, PDOP,
# VDOP, -, in view, GNSS used, GLONASS used, -, C/N0 max, HPA, VPA
CGNSINF_FIX = "+CGNSINF: 1,1,20150327014838.000,31.221783,121.354528,114.600,0.28,0.0,1,,1.9,2.2,1.0,,8,4,2,,42,,"
CGNSINF_NO_FIX = "+CGNSINF: 1,0,,,,,,,,,,,,,,,,,,,"
CGNSINF_OFF = "+CGNSINF: 0,,,,,,,,,,,,,,,,,,,,"
# Quectel GNSS AT Commands Manual §2.5, AT+QGPSLOC=2: UTC, lat, lon, HDOP, alt, fix, COG, spkm, spkn, date, nsat
QGPSLOC_FIX = "+QGPSLOC: 061951.000,31.82298,-117.11548,0.9,70.0,2,0.00,0.0,0.0,110513,09"


def info(line: str) -> Information:
    events = AtParser().feed(f"\r\n{line}\r\n".encode())
    assert len(events) == 1 and isinstance(events[0], Information)
    return events[0]


def test_sim808_cgnsinf_fix_no_fix_and_engine_off():
    ev = info(CGNSINF_FIX)
    assert ev.name == "CGNSINF"
    fix = parse_cgnsinf(ev.params)
    assert fix == GnssFix(Decimal("31.221783"), Decimal("121.354528"), dt.datetime(2015, 3, 27, 1, 48, 38, tzinfo=dt.UTC),
                          FixMode.THREE_D, Decimal("1.9"), 6, "CGNSINF")
    assert parse_cgnsinf(info(CGNSINF_NO_FIX).params) is None
    assert parse_cgnsinf(info(CGNSINF_OFF).params) is None


def test_quectel_qgpsloc_fix_with_its_quality():
    fix = parse_qgpsloc(info(QGPSLOC_FIX).params)
    assert (fix.latitude, fix.longitude, fix.mode, fix.hdop, fix.satellites) == \
        (Decimal("31.82298"), Decimal("-117.11548"), FixMode.TWO_D, Decimal("0.9"), 9)
    assert fix.at == dt.datetime(2013, 5, 11, 6, 19, 51, tzinfo=dt.UTC)


def test_age_and_staleness_against_the_terminals_clock():
    fix = parse_qgpsloc(info(QGPSLOC_FIX).params)
    now = dt.datetime(2013, 5, 11, 14, 21, 51, tzinfo=SHANGHAI)  # 06:21:51 UTC: two minutes on
    assert fix.age_s(now) == 120 and not fix.stale(now) and fix.stale(now + dt.timedelta(seconds=1))
    assert fix.age_s(now - dt.timedelta(hours=1)) == 0  # the clock behind the fix: not negative
    assert fix.as_dict(now) == {"lat": "31.82298", "lon": "-117.11548", "fix_at": "2013-05-11T06:19:51+00:00",
                                "age_s": 120, "mode": "2D", "hdop": "0.9", "sats": 9, "source": "QGPSLOC"}


@pytest.mark.parametrize("line", [
    "+CGNSINF: 1,1,20150327014838.000,91.000000,121.354528,114.600,0.28,0.0,1,,1.9,2.2,1.0,,8,4,2,,42,,",  # lat > 90
    "+CGNSINF: 1,1,20150327014838.000,31.221783,181.354528,114.600,0.28,0.0,1,,1.9,2.2,1.0,,8,4,2,,42,,",
    "+CGNSINF: 1,1,20151327014838.000,31.221783,121.354528,114.600,0.28,0.0,1,,1.9,2.2,1.0,,8,4,2,,42,,",  # month 13
    "+CGNSINF: 1,1,20150327014838.000,31.221783,121.354528",  # cut short
    "+CGNSINF: 2,1,20150327014838.000,31.221783,121.354528,114.600,0.28,0.0,1,,1.9,2.2,1.0,,8,4,2,,42,,",
    "+CGNSINF: 1,1,20150327014838.000,3１.221783,121.354528,114.600,0.28,0.0,1,,1.9,2.2,1.0,,8,4,2,,42,,",  # fullwidth
])
def test_a_bad_cgnsinf_is_a_gnss_protocol_error(line):
    with pytest.raises(GnssProtocolError):
        parse_cgnsinf(split_params(line.split(": ", 1)[1]))


@pytest.mark.parametrize("line", [
    "+QGPSLOC: 061951.000,31.82298,117.11548,0.9,70.0,1,0.00,0.0,0.0,110513,09",  # fix 1: not 2D/3D
    "+QGPSLOC: 061951.000,31.82298,117.11548,0.9,70.0,2,0.00,0.0,0.0,310213,09",  # 31 February
    "+QGPSLOC: 3119.3788N,11706.9298E,0.9,70.0,2,0.00,0.0,0.0,110513,09",         # mode 0 form, fields short
    "+QGPSLOC: 061951.000,3119.3788N,11706.9298E,0.9,70.0,2,0.00,0.0,0.0,110513,09",  # mode 0's ddmm.mmmm
])
def test_a_bad_qgpsloc_is_a_gnss_protocol_error(line):
    with pytest.raises(GnssProtocolError):
        parse_qgpsloc(split_params(line.split(": ", 1)[1]))


FIELD = st.one_of(st.text(max_size=20), st.sampled_from(["", "0", "1", "2", "3", "31.221783", "121.354528",
                                                          "20150327014838.000", "061951.000", "110513", "1.9"]))


@settings(max_examples=400, deadline=None)
@given(st.lists(FIELD, min_size=0, max_size=24))
def test_any_parameters_parse_or_raise_the_gnss_error(params):
    for parse in (parse_cgnsinf, parse_qgpsloc):
        try:
            out = parse(tuple(params))
        except GnssProtocolError:
            continue
        assert out is None or isinstance(out, GnssFix)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["+CGNSINF: ", "+QGPSLOC: "]))
def test_any_bytes_after_the_prefix_through_the_at_parser(tail, prefix):
    try:
        events = AtParser().feed(b"\r\n" + prefix.encode() + tail + b"\r\n")
    except AtProtocolError:
        return
    for ev in events:
        if isinstance(ev, Information) and ev.name in ("CGNSINF", "QGPSLOC"):
            try:
                (parse_cgnsinf if ev.name == "CGNSINF" else parse_qgpsloc)(ev.params)
            except GnssProtocolError:
                pass


def test_the_fix_travels_with_the_reading_as_the_station_expects_it():
    """GnssFix.as_dict is what READINGS_UPLOAD's "place" carries; the station's check accepts it."""
    from hw_mocks.station import validate
    from terminal_app.domain.reading import Reading, ReadingSource

    fix = parse_cgnsinf(info(CGNSINF_FIX).params)
    at = dt.datetime(2015, 3, 27, 9, 49, 8, tzinfo=SHANGHAI)  # 30 s after the fix
    reading = Reading("1001", "A1001", at, ReadingSource.IR, Decimal("12.00"), place=fix.as_dict(at))
    item = reading.upload_item()
    assert item["place"] == {"lat": "31.221783", "lon": "121.354528", "fix_at": "2015-03-27T01:48:38+00:00",
                             "age_s": 30, "mode": "3D", "hdop": "1.9", "sats": 6, "source": "CGNSINF"}
    assert validate.place(item)["fix_at"] == "2015-03-27T09:48:38+08:00"
    assert reading.to_dict()["place"] == item["place"]
