"""Barcode scanner decoders on synthetic input: key events (shift, Enter, junk) and serial lines."""

from __future__ import annotations

import asyncio
import string

import pytest
from evdev import InputEvent, ecodes
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scanner.protocol import (
    LineDecoder,
    ScannerProtocolError,
    WedgeDecoder,
    adecode_events,
    check_code,
    decode_events,
)
from hw_mocks.scanner import key_events
from terminal_app.errors import RemoteProtocolError

K = ecodes


def key(code: int, value: int) -> InputEvent:
    return InputEvent(1, 0, K.EV_KEY, code, value)


def tap(code: int) -> list[InputEvent]:
    return [key(code, 1), InputEvent(1, 0, K.EV_SYN, K.SYN_REPORT, 0), key(code, 0)]


def test_shift_makes_capitals_and_symbols_and_enter_ends_the_code():
    events = [key(K.KEY_LEFTSHIFT, 1), *tap(K.KEY_M), key(K.KEY_LEFTSHIFT, 0), *tap(K.KEY_E),
              key(K.KEY_RIGHTSHIFT, 1), *tap(K.KEY_3), key(K.KEY_RIGHTSHIFT, 0), *tap(K.KEY_3),
              *tap(K.KEY_MINUS), *tap(K.KEY_KP7), *tap(K.KEY_ENTER)]
    assert list(decode_events(events)) == ["Me#3-7"]


def test_keypad_enter_also_ends_a_code_and_a_lone_enter_is_no_code():
    events = [*tap(K.KEY_ENTER), *tap(K.KEY_1), *tap(K.KEY_2), *tap(K.KEY_KPENTER)]
    assert list(decode_events(events)) == ["12"]


def test_caps_lock_swaps_letter_case_only():
    events = [*tap(K.KEY_CAPSLOCK), *tap(K.KEY_A), key(K.KEY_LEFTSHIFT, 1), *tap(K.KEY_B), *tap(K.KEY_1),
              key(K.KEY_LEFTSHIFT, 0), *tap(K.KEY_ENTER)]
    assert list(decode_events(events)) == ["Ab!"]


def test_autorepeat_is_not_typing():
    events = [key(K.KEY_5, 1), key(K.KEY_5, 2), key(K.KEY_5, 2), key(K.KEY_5, 0), *tap(K.KEY_ENTER)]
    assert list(decode_events(events)) == ["5"]


def test_a_code_with_a_control_key_is_rejected_and_the_next_code_still_reads():
    decoder = WedgeDecoder()
    bad = [*tap(K.KEY_1), key(K.KEY_LEFTCTRL, 1), *tap(K.KEY_M), key(K.KEY_LEFTCTRL, 0), *tap(K.KEY_ENTER)]
    with pytest.raises(ScannerProtocolError, match="Ctrl"):
        for e in bad:
            decoder.feed(e)
    codes = [c for e in key_events("A1") if (c := decoder.feed(e)) is not None]
    assert codes == ["A1"]


@pytest.mark.parametrize("junk", [K.KEY_TAB, K.KEY_F1, K.KEY_ESC, K.KEY_BACKSPACE])
def test_non_character_keys_reject_the_code(junk):
    with pytest.raises(ScannerProtocolError):
        list(decode_events([*tap(K.KEY_1), *tap(junk), *tap(K.KEY_ENTER)]))


def test_the_code_length_is_bounded():
    assert list(decode_events(key_events("7" * 16), max_length=16)) == ["7" * 16]
    with pytest.raises(ScannerProtocolError, match="longer than 16"):
        list(decode_events(key_events("7" * 17), max_length=16))


def test_the_async_decoder_reads_an_async_event_stream():
    async def stream():
        for e in key_events("3300123456"):
            yield e

    async def collect():
        return [c async for c in adecode_events(stream())]

    assert asyncio.run(collect()) == ["3300123456"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " ",
                        min_size=1, max_size=40).filter(str.strip), max_size=5))
def test_any_typed_code_reads_back(codes):
    events = [e for code in codes for e in key_events(code)]
    assert list(decode_events(events)) == codes


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([K.EV_KEY, K.EV_KEY, K.EV_SYN, K.EV_MSC, 17]),
                          st.integers(0, 300), st.integers(-1, 3)), max_size=60))
def test_any_event_stream_gives_valid_codes_or_the_scanner_error(raw):
    decoder = WedgeDecoder(max_length=20)
    for type_, code, value in raw:
        try:
            result = decoder.feed(InputEvent(0, 0, type_, code, value))
        except ScannerProtocolError as e:
            assert isinstance(e, RemoteProtocolError)
            continue
        if result is not None:
            assert check_code(result, 20) == result


# -- serial (CDC-ACM) lines ------------------------------------------------------------------

def test_lines_end_with_cr_lf_or_crlf_in_any_chunking():
    data = b"3300123456\r\nABC-1\rxyz\n"
    assert LineDecoder().feed(data) == ["3300123456", "ABC-1", "xyz"]
    dec = LineDecoder()
    out = []
    for i in range(len(data)):
        out += dec.feed(data[i:i + 1])
    assert out == ["3300123456", "ABC-1", "xyz"]


@pytest.mark.parametrize("line", [b"12\x1b[2J34", b"\xff\xfe", b"AB\x00CD"])
def test_bad_lines_are_rejected_and_decoding_goes_on(line):
    dec = LineDecoder()
    with pytest.raises(ScannerProtocolError) as err:
        dec.feed(b"GOOD1\r\n" + line + b"\r\nGOOD2\r\n")
    assert err.value.codes == ["GOOD1"]
    assert dec.feed(b"") == ["GOOD2"]


def test_an_endless_line_is_rejected_once_and_skipped():
    dec = LineDecoder(max_length=8)
    with pytest.raises(ScannerProtocolError, match="longer than 8"):
        dec.feed(b"9" * 40)
    assert dec.feed(b"9" * 40 + b"\r\nOK\r\n") == ["OK"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.integers(1, 9))
def test_any_bytes_give_valid_codes_or_the_scanner_error(data, chunk):
    dec = LineDecoder(max_length=16)
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        while True:
            try:
                codes = dec.feed(piece)
            except ScannerProtocolError as e:
                codes = e.codes
                piece = b""
                for c in codes:
                    assert check_code(c, 16) == c
                continue
            for c in codes:
                assert check_code(c, 16) == c
            break
