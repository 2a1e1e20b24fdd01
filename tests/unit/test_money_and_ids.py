"""One money type (parse, format, bounds), one terminal-id type, one sentence renderer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terminal_app.domain.errors import InvalidValueError
from terminal_app.domain.ids import TerminalId, is_terminal_id, txn_terminal
from terminal_app.domain.money import (
    MAX_FEN,
    MAX_KEYPAD_FEN,
    check_fen,
    format_fen,
    format_yuan,
    parse_yuan,
)
from terminal_app.errors import ConfigurationError, render_sentence
from ui.widgets import parse_yuan as keypad_amount


@given(st.integers(min_value=1, max_value=MAX_KEYPAD_FEN))
def test_a_formatted_amount_parses_back_to_the_same_fen(fen):
    assert parse_yuan(format_fen(fen)) == fen
    assert keypad_amount(format_fen(fen)) == fen


@pytest.mark.parametrize("text", ["", "0", "0.00", "1.234", "1e3", "-1", " 1", "1,00", "1000000", "１２", "nan"])
def test_what_is_not_an_amount_is_refused(text):
    with pytest.raises(InvalidValueError):
        parse_yuan(text)
    assert keypad_amount(text) is None


def test_the_bounds_and_the_formats():
    assert parse_yuan("999999.99") == MAX_KEYPAD_FEN and parse_yuan("12.3") == 1230 and parse_yuan("7.") == 700
    with pytest.raises(InvalidValueError):
        parse_yuan("12.30", maximum=1000)
    assert format_fen(12345) == "123.45" and format_fen(-5) == "-0.05"
    assert format_yuan(12345) == "￥123.45" and format_yuan(-5) == "-￥0.05" and format_yuan(5, sign=False) == "0.05"
    assert check_fen(MAX_FEN) == MAX_FEN
    with pytest.raises(InvalidValueError):
        check_fen(MAX_FEN + 1)


def test_one_terminal_id_rule():
    assert TerminalId("00000001").txn(42) == "00000001-42"
    assert TerminalId("00000001").owns("00000001-42") and not TerminalId("00000001").owns("00000002-42")
    for bad in ("1", "0000000a", "000000001", "０００００００１", ""):
        assert not is_terminal_id(bad)
        with pytest.raises(ConfigurationError, match="not 8 digits"):
            TerminalId(bad, "Fix it.")
    assert txn_terminal("00000001-42") == "00000001"
    assert txn_terminal("00000001-") is None and txn_terminal("0000001-42") is None and txn_terminal("x") is None


def test_one_sentence_renderer():
    assert render_sentence("Owes {amount} yuan.", {"amount": "1.00"}) == "Owes 1.00 yuan."
    assert render_sentence("{n} left", {"n": 2}, lambda s: "还剩{n}") == "还剩2"
    assert render_sentence("a {brace} of its own", {"other": 1}) == "a {brace} of its own"
    with pytest.raises(KeyError):
        render_sentence("a {brace}", {"other": 1}, strict=True)
