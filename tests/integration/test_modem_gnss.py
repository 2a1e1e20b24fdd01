"""The place of a reading from the modem's GNSS (issue 18 point 1): the production driver against
the mock modem on a real pty, in each dialect and GNSS scenario — a fix now, no fix, a stale fix —
and the M26, which has no positioning engine, refusing clearly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from drivers.modem.driver import open_modem
from drivers.modem.gnss import FixMode
from hw_mocks.modem import MockModem
from terminal_app.config import ModemSettings
from terminal_app.errors import DeviceError


def settings(modem: MockModem, dialect: str) -> ModemSettings:
    return ModemSettings(url=modem.path, dialect=dialect, apn="cmnet", command_timeout_s=2.0)


@pytest.mark.parametrize("dialect,commands", [("sim800", ["AT+CGNSPWR?", "AT+CGNSPWR=1", "AT+CGNSINF"]),
                                              ("ec200", ["AT+QGPS=1", "AT+QGPSLOC=2"])])
def test_a_fix_now_with_its_quality(dialect, commands):
    with MockModem(dialect=dialect) as modem, open_modem(settings(modem, dialect)) as driver:
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        fix = driver.gnss_fix()
        assert fix is not None
        assert (fix.latitude, fix.longitude) == ((Decimal("31.271234"), Decimal("106.303456")) if dialect == "sim800"
                                                 else (Decimal("31.27123"), Decimal("106.30346")))
        assert fix.mode is FixMode.THREE_D and fix.hdop == Decimal("1.1") and fix.satellites in (11, 8)
        assert fix.at >= before and not fix.stale(dt.datetime.now(dt.UTC))
        assert [c for c in modem.commands if "GNS" in c or "QGPS" in c] == commands
        # asked again: the engine is on already (SIM808: no second CGNSPWR=1; Quectel: 504 taken as "running")
        assert driver.gnss_fix() is not None
        again = [c for c in modem.commands if "GNS" in c or "QGPS" in c][len(commands):]
        assert again == (["AT+CGNSPWR?", "AT+CGNSINF"] if dialect == "sim800" else ["AT+QGPS=1", "AT+QGPSLOC=2"])


@pytest.mark.parametrize("dialect", ["sim800", "ec200"])
def test_no_fix_is_none(dialect):
    with MockModem(dialect=dialect, scenario="gnss_no_fix") as modem, \
            open_modem(settings(modem, dialect)) as driver:
        assert driver.gnss_fix() is None


@pytest.mark.parametrize("dialect", ["sim800", "ec200"])
def test_a_stale_fix_is_returned_with_its_age(dialect):
    with MockModem(dialect=dialect, scenario="gnss_stale_fix") as modem, \
            open_modem(settings(modem, dialect)) as driver:
        fix = driver.gnss_fix()
        assert fix is not None
        now = dt.datetime.now(dt.UTC)
        assert fix.age_s(now) >= 900 and fix.stale(now)


def test_the_m26_has_no_gnss_and_says_so():
    with MockModem(dialect="m26") as modem, open_modem(settings(modem, "m26")) as driver:
        with pytest.raises(DeviceError, match="no GNSS receiver"):
            driver.gnss_fix()
        assert not [c for c in modem.commands if "GNS" in c or "QGPS" in c]  # nothing asked of it
