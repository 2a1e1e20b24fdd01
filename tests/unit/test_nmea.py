"""The serial NMEA receiver's sans-IO core (issue 18 point 2): sentences from public documents decode to
the fix the modem's GNSS gives too (GnssFix, source NMEA), garbage and partial lines are skipped without
losing the next good sentence, and any bytes, whole or byte by byte, give events — never an exception
(hypothesis)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gnss.protocol import (
    MAX_SENTENCE,
    FixState,
    FixTracker,
    MtkPacket,
    NmeaDecoder,
    NmeaProtocolError,
    Sentence,
    Skipped,
    checksum,
    decode_line,
    sentence,
)
from drivers.modem.gnss import FixMode, GnssFix
from terminal_app.timeutil import SHANGHAI

# the NMEA 0183 examples everyone cites (gpsinformation.org "NMEA data", the pynmea2 README), checksums as printed
RMC = b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"
GGA = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"
GSA = b"$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39\r\n"
GSV = b"$GPGSV,2,1,08,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45*75\r\n"
GGA_SOUTH = b"$GPGGA,184353.07,1929.045,S,02410.506,E,1,04,2.6,100.00,M,-33.9,M,,0000*6D\r\n"


def test_the_documented_checksums_are_what_we_compute():
    assert checksum("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W") == "6A"
    assert checksum("PMTK001,220,3") == "30"  # the L76 manual's acknowledgement example
    assert sentence("PMTK101") == b"$PMTK101*32\r\n"


def test_an_epoch_gives_the_fix_with_time_quality_and_satellites():
    events = NmeaDecoder().feed(RMC + GGA + GSA + GSV)
    assert [type(e) for e in events] == [Sentence] * 4
    t = FixTracker()
    fixes = t.feed(events)
    # 48°07.038' N = 48.1173°, 11°31.000' E = 11.516667° (Decimal, exact to 1e-7)
    expected_at = dt.datetime(1994, 3, 23, 12, 35, 19, tzinfo=dt.UTC)
    assert fixes[-1] == GnssFix(Decimal("48.1173000"), Decimal("11.5166667"), expected_at, FixMode.THREE_D,
                                Decimal("0.9"), 8, "NMEA")
    assert fixes[-1].at.tzinfo == SHANGHAI and fixes[-1].at.hour == 20  # aware, Asia/Shanghai
    assert t.state is FixState.FIXED and t.in_view == 8
    assert isinstance(fixes[-1].latitude, Decimal)


def test_southern_and_western_hemispheres_are_negative():
    t = FixTracker()
    t.feed(NmeaDecoder().feed(RMC))
    (fix,) = t.feed(NmeaDecoder().feed(GGA_SOUTH))
    assert fix.latitude == Decimal("-19.4840833") and fix.longitude == Decimal("24.1751000")
    west = sentence("GNRMC,010203.00,A,3116.27404,N,10618.20736,W,0.0,0.0,091226,,,A")
    (fix,) = FixTracker().feed(NmeaDecoder().feed(west))
    assert fix.longitude < 0 and fix.mode is FixMode.TWO_D  # no GSA, no altitude yet: 2D


def test_gsa_says_2d_even_with_an_altitude():
    t = FixTracker()
    t.feed(NmeaDecoder().feed(RMC + GGA + sentence("GPGSA,A,2,04,05,09,,,,,,,,,,3.0,2.8,1.0")))
    assert t.fix is not None and t.fix.mode is FixMode.TWO_D
    t.feed(NmeaDecoder().feed(RMC + GGA))  # the next epoch keeps the GSA's type
    assert t.fix.mode is FixMode.TWO_D


def test_gga_without_a_date_gives_no_fix_until_rmc_says_the_day():
    t = FixTracker()
    assert t.feed(NmeaDecoder().feed(GGA)) == []
    assert t.state is FixState.SEARCHING


def test_lost_fix_keeps_the_last_one_and_says_lost():
    t = FixTracker()
    t.feed(NmeaDecoder().feed(RMC + GGA))
    last = t.fix
    lost = sentence("GPRMC,123520,V,,,,,,,230394,,,N") + sentence("GPGGA,123520,,,,,0,00,,,,,,,")
    assert t.feed(NmeaDecoder().feed(lost)) == []
    assert t.state is FixState.LOST and t.fix == last
    assert last is not None and last.stale(last.at + dt.timedelta(seconds=121))


def test_no_fix_at_all_is_searching():
    t = FixTracker()
    t.feed(NmeaDecoder().feed(sentence("GNRMC,000001.000,V,,,,,0.00,0.00,060180,,,N")
                              + sentence("GNGGA,000001.000,,,,,0,00,,,,,,,") + sentence("GPGSV,1,1,02,01,40,083,,02,17,308,")))
    assert t.fix is None and t.state is FixState.SEARCHING and t.in_view == 2


@pytest.mark.parametrize("garbage", [
    b"\x00\xff\xfe garbage",                     # line noise
    b"$GPGGA,123519,4807.0",                     # a partial sentence cut by the next "$"
    b"$GPGGA,123519,4807.038,N*00\r\n",          # wrong checksum
    b"$GPGGA,123519,4807.038,N\r\n",             # no checksum
    b"$" + b"A" * 200 + b"\r\n",                  # longer than 82 characters
    b"$GPXYZ,1,2*4B\r\n",                         # a sentence type nobody knows
    "$GPRMC,12351\u00e9*00\r\n".encode(),       # not ASCII
])
def test_garbage_is_skipped_and_the_next_good_sentence_is_kept(garbage):
    events = NmeaDecoder().feed(garbage + RMC + GGA)
    good = [e for e in events if isinstance(e, Sentence)]
    assert [(e.talker, e.kind) for e in good] == [("GP", "RMC"), ("GP", "GGA")]
    assert any(isinstance(e, Skipped) for e in events)
    assert FixTracker().feed(events)[-1].satellites == 8


def test_line_length_is_bounded_to_82_characters():
    body = "GPTXT,01,01,02," + "X" * (MAX_SENTENCE - 21)
    ok = sentence(body)
    assert len(ok) == MAX_SENTENCE and isinstance(decode_line(ok.rstrip()), Sentence)
    assert [type(e) for e in NmeaDecoder().feed(ok)] == [Sentence]
    with pytest.raises(NmeaProtocolError):
        sentence(body + "X")
    long = ok[:-5] + b"X" + ok[-5:]  # 83 characters (its checksum no matter): cut off as too long
    assert NmeaDecoder().feed(long + RMC) == [Skipped("too long", long[:32]), NmeaDecoder().feed(RMC)[0]]


def test_malformed_fields_of_a_well_framed_sentence_leave_the_state_alone():
    t = FixTracker()
    t.feed(NmeaDecoder().feed(RMC + GGA))
    before = t.fix
    for bad in ("GPGGA,123519,4899.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,",  # 99 minutes
                "GPRMC,123519,A,4807.038,N,01131.000,E,0,0,320394,,",                # 32 March
                "GPGGA,256161,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,",   # 25:61:61
                "GPGGA,123519,4807.038,Q,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"):  # hemisphere Q
        (ev,) = NmeaDecoder().feed(sentence(bad))
        with pytest.raises(NmeaProtocolError):
            t.update(ev)
    assert t.fix == before and t.state is FixState.FIXED


def test_mtk_acknowledgements_and_system_messages():
    events = NmeaDecoder().feed(sentence("PMTK001,220,3") + sentence("PMTK010,001") + sentence("PMTK705,AXN_3.8,0000,L76,1.0"))
    assert events[0] == MtkPacket("001", ("220", "3"))
    t = FixTracker()
    t.feed(NmeaDecoder().feed(RMC + GGA))
    t.feed(events)
    assert t.acks == [("220", 3)] and t.system == ["001"]
    assert t.state is FixState.LOST  # restarted: the fix it had is the last one now


def test_byte_by_byte_is_the_same_as_whole():
    data = b"junk\r\n" + RMC + b"$GPGG" + GGA + GSA + GSV
    whole = NmeaDecoder().feed(data)
    d = NmeaDecoder()
    split = [e for i in range(len(data)) for e in d.feed(data[i:i + 1])]
    assert split == whole


SENTENCE_BITS = st.sampled_from([RMC, GGA, GSA, GSV, GGA_SOUTH, b"$", b"*", b",", b"\r", b"\n", b"\r\n",
                                 sentence("PMTK001,0,3"), sentence("GNRMC,,V,,,,,,,,,,N"),
                                 sentence("GPGSV,1,1,00"), sentence("GPGGA,1,2,3,4,5,6,7,8,9,0,1,2,3,4")])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=90), SENTENCE_BITS), max_size=20), st.data())
def test_any_bytes_whole_or_in_pieces_give_events_never_an_exception(parts, data):
    stream = b"".join(parts)
    whole = NmeaDecoder().feed(stream)
    d = NmeaDecoder()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    pieces, last = [], 0
    for c in [*cuts, len(stream)]:
        pieces += d.feed(stream[last:c])
        last = c
    assert pieces == whole
    assert all(isinstance(e, Sentence | MtkPacket | Skipped) for e in whole)
    t = FixTracker()
    for ev in whole:
        try:
            t.update(ev)
        except NmeaProtocolError:
            pass  # the protocol's own error, and nothing else
    if t.fix is not None:
        assert abs(t.fix.latitude) <= 90 and abs(t.fix.longitude) <= 180 and t.fix.at.tzinfo is not None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["GPRMC", "GNGGA", "GPGSA", "GLGSV", "PMTK001", "PMTK010"]),
       st.lists(st.text(alphabet="0123456789.,-NSEWAV", max_size=12), max_size=20))
def test_well_framed_sentences_with_any_fields_fix_or_raise_the_protocols_error(head, fields):
    line = sentence(",".join([head, *fields]))[:MAX_SENTENCE] if len(",".join([head, *fields])) < 76 else RMC
    t = FixTracker()
    for ev in NmeaDecoder().feed(RMC + line):
        try:
            t.update(ev)
        except NmeaProtocolError:
            pass


def test_zero_degrees_is_fixed_point_text_the_station_accepts():
    (fix,) = FixTracker().feed(NmeaDecoder().feed(sentence("GPRMC,120000,A,0000.000,N,00000.000,E,0,0,010126,,")))
    assert (str(fix.latitude), str(fix.longitude)) == ("0.000000", "0.000000")  # never "0E-7"
    (fix,) = FixTracker().feed(NmeaDecoder().feed(sentence("GPRMC,120000,A,0000.00001,S,00000.0001,W,0,0,010126,,")))
    assert (str(fix.latitude), str(fix.longitude)) == ("0.000000", "-0.0000017")
