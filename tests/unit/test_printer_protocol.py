"""ESC/POS sans-IO core: status bytes, and the host-stream decoder the mock printer runs on."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.printer import protocol as p
from terminal_app.errors import RemoteProtocolError


def decode_all(data: bytes, bytewise: bool = False) -> list[p.Event]:
    dec = p.EscPosDecoder()
    events: list[p.Event] = []
    chunks = [data[i:i + 1] for i in range(len(data))] if bytewise else [data]
    for chunk in chunks:
        events.extend(dec.feed(chunk))
    return merge_text(events)


def merge_text(events: list[p.Event]) -> list[p.Event]:
    out: list[p.Event] = []
    for e in events:
        if isinstance(e, p.Text) and out and isinstance(out[-1], p.Text):
            out[-1] = p.Text(out[-1].text + e.text)
        else:
            out.append(e)
    return out


# -- real-time status ------------------------------------------------------------------------

def test_status_bytes_of_a_printer_out_of_paper():
    # DLE EOT 1/2/4 replies of an Epson-style printer that has run out of paper:
    # 0x1A = fixed 0x12 + offline (bit 3); 0x32 = fixed + paper-end stop (bit 5);
    # 0x7E = fixed + near end (bits 2-3) + end (bits 5-6)
    status = p.decode_status(0x1A, 0x32, 0x12, 0x7E)
    assert status.paper_end and status.paper_near_end and status.offline
    assert not status.cover_open and not status.ready


def test_status_bytes_of_a_ready_printer_and_an_open_cover():
    assert p.decode_status(0x12, 0x12, 0x12, 0x12).ready
    cover = p.decode_status(0x1A, 0x16, 0x12, 0x12)
    assert cover.cover_open and not cover.paper_end and not cover.ready


@pytest.mark.parametrize("value", [0x00, 0xFF, 0x13, 0x92, 0x10, 0x02])
def test_a_byte_with_wrong_fixed_bits_is_not_a_status(value):
    with pytest.raises(p.PrinterProtocolError) as err:
        p.check_status_byte(p.StatusQuery.PRINTER, value)
    assert "baud rate" in str(err.value)


@pytest.mark.parametrize("fields", [
    dict(offline=False, cover_open=False, paper_end=False, paper_near_end=False, error=False),
    dict(offline=True, cover_open=True, paper_end=False, paper_near_end=False, error=False),
    dict(offline=True, cover_open=False, paper_end=True, paper_near_end=True, error=False),
    dict(offline=True, cover_open=False, paper_end=False, paper_near_end=False, error=True),
])
def test_encode_and_decode_status_agree(fields):
    status = p.PrinterStatus(**fields)
    replies = p.encode_status(status)
    assert p.decode_status(*(replies[q] for q in p.StatusQuery)) == status


def test_status_request_bytes():
    assert p.status_request(p.StatusQuery.PAPER_SENSOR) == b"\x10\x04\x04"


# -- the host-stream decoder ---------------------------------------------------------------

def test_decoder_reads_a_chinese_job():
    data = (b"\x1b@\x1c&\x1ba\x01\x1bE\x01\x1d!\x11" + "缴费凭证".encode("gb18030") + b"\n"
            + b"\x1ba\x00\x1bE\x00\x1d!\x00" + "金额：￥12.34".encode("gb18030") + b"\n"
            + b"\x1bd\x03\x1dVB\x00\x10\x04\x01")
    expected = [p.Initialize(), p.ChineseMode(True), p.Align(p.Alignment.CENTER), p.Bold(True),
                p.CharacterSize(2, 2), p.Text("缴费凭证"), p.LineFeed(), p.Align(p.Alignment.LEFT),
                p.Bold(False), p.CharacterSize(1, 1), p.Text("金额：￥12.34"), p.LineFeed(),
                p.PrintAndFeed(3), p.Cut(partial=True, feed=0), p.StatusRequest(p.StatusQuery.PRINTER)]
    assert decode_all(data) == expected
    assert decode_all(data, bytewise=True) == expected


def test_decoder_reads_native_qr_and_raster_images():
    qr = (b"\x1d(k\x04\x001A2\x00" b"\x1d(k\x03\x001C\x05" b"\x1d(k\x03\x001E0"
          b"\x1d(k\x07\x001P0R123" b"\x1d(k\x03\x001Q0")
    raster = b"\x1dv0\x00\x02\x00\x02\x00\xff\x00\x0f\xf0"
    events = decode_all(qr + raster)
    assert events == [p.QrSetting(65, 50), p.QrSetting(67, 5), p.QrSetting(69, 48), p.QrStore(b"R123"),
                      p.QrPrint(), p.RasterImage(0, 2, 2, b"\xff\x00\x0f\xf0")]


def test_outside_chinese_mode_high_bytes_are_single_code_page_characters():
    # the reason the driver sends FS &: without it, GB18030 bytes print as code-page junk
    events = decode_all(b"\x1b@" + "元".encode("gb18030"))
    assert events == [p.Initialize(), p.Text("\u2558\u00ac")]  # cp437 0xD4, 0xAA


@pytest.mark.parametrize("data", [
    b"\x1c&\x81\x0a",  # a GB18030 lead byte followed by LF
    b"\x1c&\x80",  # 0x80 is never a lead byte
    b"\x1c&\x81\x30\x0a\x30",  # broken four-byte sequence
    b"\x1bZ",  # unknown ESC command
    b"\x1ba\x07",  # bad alignment
    b"\x1d!\x88",  # bad character size
    b"\x1dv0\x00\x00\x00\x01\x00",  # zero-width raster
    b"\x1dv0\x00\xff\xff\xff\xff",  # absurd raster
    b"\x10\x04\x09",  # unknown status query
    b"\x07",  # stray control byte
])
def test_decoder_rejects_broken_input(data):
    with pytest.raises(p.PrinterProtocolError):
        decode_all(data)


def test_decoder_keeps_events_before_an_error_and_resynchronises():
    dec = p.EscPosDecoder()
    with pytest.raises(p.PrinterProtocolError) as err:
        dec.feed(b"AB\x07CD\n")
    assert err.value.events == [p.Text("AB")]
    assert merge_text(dec.feed(b"")) == [p.Text("CD"), p.LineFeed()]


def test_decoder_waits_for_the_rest_of_a_command():
    dec = p.EscPosDecoder()
    assert dec.feed(b"\x1c&" + "汉".encode("gb18030")[:1]) == [p.ChineseMode(True)]
    assert dec.pending == 1
    assert dec.feed("汉".encode("gb18030")[1:]) == [p.Text("汉")]
    assert dec.feed(b"\x1dv0\x00\x01\x00\x02") == []
    assert dec.feed(b"\x00\x80\x01") == [p.RasterImage(0, 1, 2, b"\x80\x01")]


# -- the parser invariant: any bytes decode or raise the protocol's own error --------------

@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_printer_protocol_error(data):
    for bytewise in (False, True):
        dec = p.EscPosDecoder()
        chunks = [data[i:i + 1] for i in range(len(data))] if bytewise else [data]
        for chunk in chunks:
            try:
                dec.feed(chunk)
            except p.PrinterProtocolError as e:
                assert isinstance(e, RemoteProtocolError)
                dec = p.EscPosDecoder()


_TEXT = st.text(alphabet=st.sampled_from(list("abcXYZ019 .:-") + list("缴费凭证户名地址：，。￥元") + ["𠀀", "€"]),
                min_size=0, max_size=20)


@settings(max_examples=150, deadline=None)
@given(st.lists(_TEXT, max_size=8), st.integers(min_value=1, max_value=7))
def test_chinese_text_round_trips_whole_and_byte_by_byte(lines, chunk):
    data = b"\x1b@\x1c&" + b"".join(t.encode("gb18030") + b"\n" for t in lines)
    whole = decode_all(data)
    dec = p.EscPosDecoder()
    pieces: list[p.Event] = []
    for i in range(0, len(data), chunk):
        pieces.extend(dec.feed(data[i:i + chunk]))
    assert merge_text(pieces) == whole
    text = "".join(e.text if isinstance(e, p.Text) else "\n" for e in whole if isinstance(e, (p.Text, p.LineFeed)))
    assert text == "".join(t + "\n" for t in lines)


def test_gs_r_is_the_in_sequence_status_request_and_its_reply_differs_from_dle_eot():
    assert decode_all(p.PAPER_STATUS_IN_SEQUENCE) == [p.SequencedStatusRequest(1)]
    assert p.is_sequenced_reply(p.sequenced_paper_reply(paper_end=True, near_end=True))
    for status in (p.PrinterStatus(False, False, False, False, False), p.PrinterStatus(True, True, True, True, True)):
        assert not any(p.is_sequenced_reply(b) for b in p.encode_status(status).values())
