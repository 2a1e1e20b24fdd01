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
