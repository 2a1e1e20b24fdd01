"""The field session's own rules that need no devices: a device held by another thread is said
in the operator's words (which device, what to do), and nothing runs before a login."""

from __future__ import annotations

import pytest

from terminal_app.errors import N_, BusinessRuleError, LinkError
from terminal_app.services import session as session_module
from terminal_app.services.session import FieldSession
from ui.i18n import Translator


def test_a_busy_device_is_named_in_the_operators_language(monkeypatch):
    monkeypatch.setattr(session_module, "BUSY_WAIT_S", 0.01)  # the bound the wait gives up at
    s = FieldSession(settings=None)  # type: ignore[arg-type]
    with s._printer:  # another worker is printing
        with pytest.raises(LinkError) as e, s._busy(s._printer, N_("printer")):
            pass
    assert e.value.localized(Translator("zh_CN")).startswith("打印机正忙。")
    assert str(e.value).startswith("The printer is busy.")


def test_nothing_runs_before_a_login():
    s = FieldSession(settings=None)  # type: ignore[arg-type]
    assert not s.logged_in and s.scan(0.01) is None
    with pytest.raises(BusinessRuleError):
        s.payments_today()


class _Source:
    def __init__(self, uses_link: bool) -> None:
        self.uses_link = uses_link


class _Terminal:
    """What FieldSession._place_for_reading asks of the terminal."""

    def __init__(self, uses_link: bool) -> None:
        self.place_source = _Source(uses_link)
        self.asked = 0

    def place_now(self):
        self.asked += 1
        return {"lat": "31.2712340", "source": "CGNSINF" if self.place_source.uses_link else "NMEA"}


def test_the_modems_gnss_is_asked_only_while_the_link_is_free(monkeypatch):
    monkeypatch.setattr(session_module, "PLACE_WAIT_S", 0.01)
    s = FieldSession(settings=None)  # type: ignore[arg-type]
    t = _Terminal(uses_link=True)
    s.t = t  # type: ignore[assignment]
    assert s._place_for_reading() == {"lat": "31.2712340", "source": "CGNSINF"}
    with s._link:  # a sync holds the modem: the reading goes on without its place, the modem is not asked
        assert s._place_for_reading() is None
    assert t.asked == 1
    nmea = _Terminal(uses_link=False)
    s.t = nmea  # type: ignore[assignment]
    with s._link:  # an NMEA receiver is not the link's device: asked all the same
        assert s._place_for_reading() == {"lat": "31.2712340", "source": "NMEA"}
