"""The place of a reading from the configured source (issue 18 point 2): ``[devices.gnss] place`` is
``modem`` or ``nmea:<port>``; a reading journaled on the rig carries the NMEA receiver's fix (the mock
receiver on a real pty) up to the station, no fix means no place and the reading is taken all the
same, a lost fix is kept with its age; the status line's word for each."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from drivers.gnss.protocol import FixState
from drivers.modem.gnss import FixMode, GnssFix
from hw_mocks.gnss.device import MockGnssReceiver
from terminal_app.config import GnssSettings, load_settings
from terminal_app.domain.abnormal import Abnormal, AbnormalCode
from terminal_app.domain.reading import ReadingSource
from terminal_app.errors import ConfigurationError
from terminal_app.services import place
from tests.integration.test_usecase_rig import Rig

FAST = 0.02
WAIT = 10.0


def test_the_place_source_is_modem_or_an_nmea_port(tmp_path):
    assert load_settings(None, env={}).devices.gnss.place == "modem"
    cfg = tmp_path / "config.toml"
    cfg.write_text('[devices.gnss]\nplace = "nmea:/dev/ttyGNSS"\nstale_after_s = 60\n', encoding="utf-8")
    g = load_settings(cfg, env={}).devices.gnss
    assert (g.nmea_url, g.baudrate, g.stale_after_s) == ("/dev/ttyGNSS", 9600, 60)
    env = {"HANDHELD_DEVICES__GNSS__PLACE": "nmea:socket://127.0.0.1:7650"}
    assert load_settings(cfg, env=env).devices.gnss.nmea_url == "socket://127.0.0.1:7650"
    for bad in ("gps", "nmea:", "nmea:  ", "Modem"):
        with pytest.raises(ConfigurationError, match="place"):
            GnssSettings(place=bad)
    with pytest.raises(ConfigurationError):
        GnssSettings(baudrate=1234)
    modem_calls: list[int] = []
    src = place.source_from_settings(GnssSettings(), lambda: modem_calls.append(1))
    assert isinstance(src, place.ModemPlace) and src.uses_link
    assert src.fix() is None and modem_calls == [1]  # a socket link has no modem: no place, no error
    nmea = place.source_from_settings(GnssSettings(place="nmea:/dev/ttyGNSS"), lambda: None)
    assert isinstance(nmea, place.NmeaPlace) and not nmea.uses_link


def uploaded_place(rig: Rig, txn: str) -> dict | None:
    body = json.loads(bytes(rig.journal.get(txn).body))
    return body["readings"][0].get("place")


def test_a_reading_carries_the_nmea_receivers_fix_to_the_station(tmp_path):
    with MockGnssReceiver(scenario="fix_3d", interval_s=FAST) as mock, Rig(tmp_path) as rig:
        rig.terminal.place_source = src = place.source_from_settings(GnssSettings(place=f"nmea:{mock.path}"),
                                                                     rig.terminal.modem)
        try:
            src.fix()  # opens the receiver
            assert src.receiver.wait(lambda r: r.state is FixState.FIXED and r.fix().satellites == 8, WAIT)
            t = rig.terminal
            t.download_route("S1")
            c = t.find_customer("1001")
            value = (c.last_reading or Decimal(0)) + Decimal("12.5")
            result = t.save_reading(c, t.check_reading(c, value), source=ReadingSource.KEYPAD, reason="红外口坏")
            where = uploaded_place(rig, result.txn)
            assert where is not None and where["source"] == "NMEA" and where["mode"] == "3D"
            assert abs(Decimal(where["lat"]) - Decimal("31.271234")) < Decimal("0.000001")
            assert where["sats"] == 8 and where["hdop"] == "1.1" and where["age_s"] >= 0
            assert result.reading.place == where
            t.sync_now()
            stored = rig.station_rows("SELECT place FROM readings WHERE cust = '1001'")
            assert stored and json.loads(stored[0][0])["source"] == "NMEA"
        finally:
            src.close()


def test_no_fix_means_no_place_and_the_reading_all_the_same(tmp_path):
    with MockGnssReceiver(scenario="no_fix", interval_s=FAST) as mock, Rig(tmp_path) as rig:
        src = place.NmeaPlace(mock.path)
        rig.terminal.place_source = src
        try:
            assert src.fix() is None
            assert src.receiver.wait(lambda r: mock.epochs >= 3 and r.receiving, WAIT)
            assert src.status(dt.datetime.now(dt.UTC)) is place.FixStatus.NONE
            t = rig.terminal
            t.download_route("S1")
            r = t.save_reading(t.find_customer("1002"), None, abnormal=Abnormal(AbnormalCode.DOOR_LOCKED))
            assert r.abnormal_txn is not None and r.reading.place is None
        finally:
            src.close()


def test_a_receiver_that_is_not_there_gives_no_place_and_no_error(tmp_path):
    src = place.NmeaPlace(str(tmp_path / "no-such-tty"))
    assert place.place_now(src, dt.datetime.now(dt.UTC)) is None
    assert src.status(dt.datetime.now(dt.UTC)) is place.FixStatus.UNKNOWN
    src.close()


def test_a_lost_fix_is_stale_on_the_status_line_and_journaled_with_its_age():
    with MockGnssReceiver(scenario="stale", interval_s=FAST) as mock:
        src = place.NmeaPlace(mock.path)
        try:
            src.fix()
            assert src.receiver.wait(lambda r: r.state is FixState.FIXED, WAIT)
            now = dt.datetime.now(dt.UTC)
            assert src.status(now) is place.FixStatus.THREE_D
            assert src.receiver.wait(lambda r: r.state is FixState.LOST, WAIT)
            assert src.status(now) is place.FixStatus.STALE  # the receiver says the sky is gone
            fix = src.fix()
            assert fix is not None
            later = fix.at + dt.timedelta(seconds=600)
            assert place.place_now(src, later)["age_s"] == 600  # type: ignore[index]
        finally:
            src.close()


def test_the_status_word_of_a_fix():
    at = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
    fix3 = GnssFix(Decimal("31.2"), Decimal("106.3"), at, FixMode.THREE_D, Decimal("1.1"), 8, "CGNSINF")
    fix2 = GnssFix(Decimal("31.2"), Decimal("106.3"), at, FixMode.TWO_D, None, None, "QGPSLOC")
    assert place.status_of(None, at, 120) is place.FixStatus.NONE
    assert place.status_of(fix3, at + dt.timedelta(seconds=120), 120) is place.FixStatus.THREE_D
    assert place.status_of(fix3, at + dt.timedelta(seconds=121), 120) is place.FixStatus.STALE
    assert place.status_of(fix2, at, 120) is place.FixStatus.TWO_D
    assert place.status_of(fix2, at, 120, lost=True) is place.FixStatus.STALE
