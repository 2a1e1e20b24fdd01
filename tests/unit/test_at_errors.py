"""The modem driver's error texts: what failed, what to do, and never the APN password."""

from __future__ import annotations

from drivers.modem.driver import AtCommandError, NoSimError, Registration, describe
from drivers.modem.protocol import Final, FinalKind
from terminal_app.errors import LinkDownError


def test_refused_command_names_the_command_and_the_error():
    e = AtCommandError("+CGATT=1", Final(FinalKind.CME_ERROR, 107))
    assert describe(e) == "The modem refused AT+CGATT=1 (+CME ERROR: 107)."
    assert "GPRS" not in describe(AtCommandError("+CPIN?", Final(FinalKind.CME_ERROR, text="SIM busy")))


def test_apn_credentials_never_appear_in_messages():
    for body in ('+CSTT="cmiot","meter","s3cret"', '+QICSGP=1,"cmiot","meter","s3cret"'):
        e = AtCommandError(body, Final(FinalKind.ERROR))
        assert "s3cret" not in str(e) and "meter" not in str(e)
        assert body.split("=")[0] in str(e)


def test_bring_up_errors_are_link_down_with_specific_advice():
    e = NoSimError("The modem finds no SIM card.")
    assert isinstance(e, LinkDownError)
    assert "insert the SIM" in str(e)


def test_registration_states_27_007():
    assert [r.registered for r in Registration] == [False, True, False, False, False, True]
    assert Registration(5).name.lower() == "roaming"
