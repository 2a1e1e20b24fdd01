"""The console's gettext catalogs are in step with its templates: every msgid has a zh_CN translation
and the compiled .mo files are current (python -m hw_mocks.station.console.build_catalogs)."""

import pytest

pytest.importorskip("babel")

from hw_mocks.station.console import build_catalogs  # noqa: E402


def test_catalogs_are_complete_and_compiled():
    assert build_catalogs.main(["--check"]) == 0


def test_the_extractor_finds_template_and_code_messages():
    ids = build_catalogs.msgids()
    assert "Cash in transit" in ids  # a template's _("…")
    assert "Wrong user name or password." in ids  # app.py's g.t.gettext("…")
