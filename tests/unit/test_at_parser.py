"""The sans-IO AT parser on transcripts in the style of the SIM800 and Quectel M95/M26 manuals,
its error cases, and the property that any input decodes the same whole or byte by byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modem.protocol import (
    MAX_LINE,
    AtParser,
    AtProtocolError,
    Data,
    Echo,
    Final,
    FinalKind,
    Information,
    Notice,
    NoticeKind,
    Prompt,
    Text,
    classify,
    command,
    csq_to_dbm,
    dbm_to_bars,
    quote,
    split_params,
)
from terminal_app.errors import LocalProtocolError, RemoteProtocolError

OK = Final(FinalKind.OK)


def feed_whole(raw: bytes, parser: AtParser | None = None) -> list:
    return (parser or AtParser()).feed(raw)


def feed_bytewise(raw: bytes, parser: AtParser | None = None) -> list:
    p = parser or AtParser()
    out: list = []
    for i in range(len(raw)):
        out += p.feed(raw[i:i + 1])
    return out


def both(raw: bytes) -> list:
    whole, bytewise = feed_whole(raw), feed_bytewise(raw)
    assert whole == bytewise
    return whole


# --- transcripts ------------------------------------------------------------------------------


def test_sim800_bring_up_transcript():
    # SIM800 Series TCP/IP Application Note V1.00 §2.1.1 (how to establish a TCP client connection), echo on
    raw = (b"AT\r\r\nOK\r\n"
           b"ATE0\r\r\nOK\r\n"
           b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
           b"\r\n+CSQ: 18,0\r\n\r\nOK\r\n"
           b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"
           b"\r\n+CGATT: 1\r\n\r\nOK\r\n"
           b"\r\nOK\r\n\r\nSTATE: IP INITIAL\r\n"
           b"\r\nOK\r\n"  # AT+CSTT="CMNET"
           b"\r\nOK\r\n"  # AT+CIICR
           b"\r\n10.78.245.128\r\n"  # AT+CIFSR answers the address alone, no OK
           b"\r\nOK\r\n\r\nCONNECT OK\r\n")
    assert both(raw) == [
        Echo("AT"), OK, Echo("ATE0"), OK,
        Information("CPIN", ("READY",)), OK,
        Information("CSQ", ("18", "0")), OK,
        Information("CREG", ("0", "1")), OK,
        Information("CGATT", ("1",)), OK,
        OK, Notice(NoticeKind.STATE, text="IP INITIAL"),
        OK, OK, Text("10.78.245.128"),
        OK, Notice(NoticeKind.CONNECT_OK),
    ]


def test_sim800_send_with_prompt_and_incoming_ipd_holding_crlf_and_ok():
    # SIM800 AT Command Manual V1.09 §8.2.3: AT+CIPSEND=n → "> " (no line ending) → data → SEND OK;
    # with AT+CIPHEAD=1 received data comes as "+IPD,<len>:<data>" and may hold anything
    p = AtParser()
    p.expect_prompt()
    assert feed_bytewise(b"\r\n> ", p) == [Prompt()]
    payload = b"\r\nOK\r\n\x00\xff>+IPD,3:"
    raw = b"\r\nSEND OK\r\n\r\n+IPD,%d:" % len(payload) + payload + b"\r\nCLOSED\r\n"
    assert feed_whole(raw, p) == [Notice(NoticeKind.SEND_OK), Data(payload), Notice(NoticeKind.CLOSED)]


def test_prompt_only_when_expected():
    assert both(b"> \r\n") == [Text("> ")]
    p = AtParser()
    p.expect_prompt()
    assert p.feed(b">") == [Prompt()]
    assert p.feed(b" ") == []  # the space that follows the prompt belongs to it
    assert p.feed(b"x\r\n") == [Text("x")]


def test_connect_fail_with_state_and_already_connect():
    # SIM800 AT Command Manual V1.09 §8.2.2 AT+CIPSTART: "STATE: <state>" + "CONNECT FAIL", "ALREADY CONNECT"
    assert both(b"\r\nOK\r\n\r\nSTATE: TCP CLOSED\r\n\r\nCONNECT FAIL\r\n\r\nALREADY CONNECT\r\n") == [
        OK, Notice(NoticeKind.STATE, text="TCP CLOSED"), Notice(NoticeKind.CONNECT_FAIL),
        Notice(NoticeKind.ALREADY_CONNECT)]


def test_unsolicited_codes_interleaved_with_a_response():
    raw = (b"\r\n+CSQ: 9,0\r\n\r\nRING\r\n\r\n+PDP: DEACT\r\n\r\nOK\r\n"
           b"\r\nSHUT OK\r\n\r\nCLOSE OK\r\n\r\nDEACT OK\r\n\r\n+PDP DEACT\r\n"
           b"\r\nCall Ready\r\n\r\nSMS Ready\r\n\r\nRDY\r\n\r\nSEND FAIL\r\n")
    assert both(raw) == [
        Information("CSQ", ("9", "0")), Notice(NoticeKind.RING), Notice(NoticeKind.PDP_DEACT), OK,
        Notice(NoticeKind.SHUT_OK), Notice(NoticeKind.CLOSE_OK), Notice(NoticeKind.DEACT_OK),
        Notice(NoticeKind.PDP_DEACT), Notice(NoticeKind.READY, text="Call Ready"),
        Notice(NoticeKind.READY, text="SMS Ready"), Notice(NoticeKind.READY, text="RDY"),
        Notice(NoticeKind.SEND_FAIL)]


def test_multi_connection_prefixes_and_quick_send():
    # SIM800 AT+CIPMUX=1: "<n>, CLOSED", "<n>, SEND OK"; AT+CIPQSEND=1: "DATA ACCEPT:<n>"
    assert both(b"\r\n0, CLOSED\r\n\r\n1, SEND OK\r\n\r\nDATA ACCEPT:120\r\n\r\n2, DATA ACCEPT:5\r\n") == [
        Notice(NoticeKind.CLOSED, link=0), Notice(NoticeKind.SEND_OK, link=1),
        Notice(NoticeKind.DATA_ACCEPT, count=120), Notice(NoticeKind.DATA_ACCEPT, link=2, count=5)]


def test_receive_header_in_multi_connection_mode():
    # SIM800 AT+CIPMUX=1: "+RECEIVE,<n>,<len>:" CR LF, then the data
    assert both(b"\r\n+RECEIVE,1,6:\r\nab\r\ncd\r\nOK\r\n") == [Data(b"ab\r\ncd", link=1), OK]


def test_m26_indication_mode_and_qird_with_binary_payload():
    # M95 AT Commands Manual, AT+QINDI=1: "+QIRDI: 0,1,0", then AT+QIRD=0,1,0,1500 →
    # "+QIRD: <ip>:<port>,TCP,<len>" CR LF <data> CR LF OK
    payload = b"OK\r\n\r\n+QIRD: x\r\n\x1a"
    raw = (b"\r\n+QIRDI: 0,1,0\r\n"
           b"\r\n+QIRD: 116.228.221.51:8011,TCP,%d\r\n" % len(payload) + payload + b"\r\nOK\r\n"
           b"\r\n+QISACK: 48, 48, 0\r\n\r\nOK\r\n")
    assert both(raw) == [Notice(NoticeKind.DATA_READY, link=0), Data(payload), OK,
                         Information("QISACK", ("48", "48", "0")), OK]


def test_other_data_notices():
    assert both(b'\r\n+QIURC: "recv",0\r\n\r\n+QIURC: "closed",1\r\n\r\n+QIURC: "pdpdeact",1\r\n'
                b"\r\n+CIPRXGET: 1\r\n") == [
        Notice(NoticeKind.DATA_READY, link=0), Notice(NoticeKind.CLOSED, link=1),
        Notice(NoticeKind.PDP_DEACT, link=1), Notice(NoticeKind.DATA_READY)]


def test_error_finals_numeric_verbose_and_v0():
    # 27.007 §9.2: +CME ERROR numeric (AT+CMEE=1) or verbose (AT+CMEE=2); ITU-T V.250 ATV0 codes
    assert both(b"\r\n+CME ERROR: 10\r\n\r\n+CME ERROR: SIM not inserted\r\n\r\n+CMS ERROR: 500\r\n"
                b"\r\nERROR\r\n\r\nNO CARRIER\r\n0\r4\r") == [
        Final(FinalKind.CME_ERROR, 10), Final(FinalKind.CME_ERROR, text="SIM not inserted"),
        Final(FinalKind.CMS_ERROR, 500), Final(FinalKind.ERROR), Final(FinalKind.NO_CARRIER),
        OK, Final(FinalKind.ERROR)]
    assert OK.ok and not Final(FinalKind.ERROR).ok


def test_expect_data_told_by_the_driver():
    p = AtParser()
    p.feed(b"\r\n")
    p.expect_data(4)
    assert p.feed(b"\r\nOK") == [Data(b"\r\nOK")]
    assert p.idle
    with pytest.raises(LocalProtocolError):
        p.expect_data(0)
    p.feed(b"par")
    with pytest.raises(LocalProtocolError):
        p.expect_data(3)  # in the middle of a line


def test_split_params_and_classify():
    assert split_params('1,"CMNET","a,b" , x') == ("1", "CMNET", "a,b", "x")
    assert split_params("") == ()
    assert classify("+COPS: 0,0,\"CHINA MOBILE\"") == Information("COPS", ("0", "0", "CHINA MOBILE"))
    assert classify("at+csq") == Echo("at+csq")


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b"+IPD,x:",  # malformed header
    b"+IPD,99999:",  # more than a modem could announce
    b"+RECEIVE,0,3:xx",  # no CR LF after the header
    b"+QIRD: 1.2.3.4:5,TCP,3\rX",  # CR not followed by LF before the data
    b"\r\nOK\x00\r\n",  # not text
    b"\x80",
    b"A" * (MAX_LINE + 1),
])
def test_bad_input_raises_the_protocol_error(raw):
    for feed in (feed_whole, feed_bytewise):
        with pytest.raises(AtProtocolError) as ei:
            feed(raw)
        assert isinstance(ei.value, RemoteProtocolError)


def test_encoders():
    assert command('+CSTT="CMNET"') == b'AT+CSTT="CMNET"\r'
    assert quote("cmnet") == '"cmnet"'
    for bad in ('a"b', "a\rb", "中"):
        with pytest.raises(LocalProtocolError):
            quote(bad)
    with pytest.raises(LocalProtocolError):
        command("+X=" + "1" * 300)


def test_signal_conversion():
    # 27.007 §8.5: dBm = −113 + 2·rssi; 99 = not known
    assert [csq_to_dbm(r) for r in (0, 18, 31, 99, 32)] == [-113, -77, -51, None, None]
    assert [dbm_to_bars(csq_to_dbm(r)) for r in (0, 2, 3, 5, 8, 13, 18, 23, 31, 99)] == \
        [0, 0, 1, 1, 2, 3, 4, 5, 5, 0]


# --- properties -------------------------------------------------------------------------------

_LINES = st.sampled_from([
    b"OK", b"ERROR", b"+CME ERROR: 10", b"+CME ERROR: SIM failure", b"+CSQ: 18,0", b"+CREG: 0,5",
    b"CONNECT OK", b"SEND OK", b"CLOSED", b"+PDP: DEACT", b"+PDP DEACT", b"STATE: IP STATUS", b"RING",
    b"+QIRDI: 0,1,0", b"10.0.0.7", b"DATA ACCEPT:10", b"0, CLOSED", b"ATE0", b'+QIURC: "recv",0',
    b"+QIOPEN: 0,0", b"+QIOPEN: 0,566", b'+QIURC: "pdpdeact",1', b'+QIURC: "closed",0', b"+CEREG: 0,5",
    b'+QCSQ: "LTE",-73,-90,150,-9', b'+QIACT: 1,1,1,"10.0.0.7"'])


@st.composite
def transcripts(draw):
    """A modem's output built from parts whose events are known, and those events."""
    raw, events = b"", []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 4))
        if kind == 0:
            line = draw(_LINES)
            raw += b"\r\n" + line + b"\r\n"
            events.append(classify(line.decode()))
        elif kind == 1:
            payload = draw(st.binary(min_size=1, max_size=40))
            raw += b"\r\n+IPD,%d:" % len(payload) + payload
            events.append(Data(payload))
        elif kind == 2:
            payload = draw(st.binary(min_size=1, max_size=40))
            raw += b"\r\n+QIRD: 1.2.3.4:7600,TCP,%d\r\n" % len(payload) + payload + b"\r\nOK\r\n"
            events += [Data(payload), OK]
        elif kind == 3:  # EC200x AT+QIRD=0,<len>: "+QIRD: <n>" CR LF, the bytes, CR LF, OK
            payload = draw(st.binary(max_size=40))
            raw += b"\r\n+QIRD: %d\r\n" % len(payload) + payload + b"\r\n\r\nOK\r\n"
            events += [Data(payload), OK] if payload else [OK]
        else:  # free text that cannot be mistaken for a code or a data header
            text = "x" + draw(st.text(st.sampled_from("abcxyz019 .:,"), max_size=30))
            raw += b"\r\n" + text.encode() + b"\r\n"
            events.append(Text(text))
    return raw, events


def _outcome(raw: bytes, cuts: list[int]):
    p = AtParser()
    out: list = []
    prev = 0
    try:
        for c in sorted(set(cuts)) + [len(raw)]:
            c = min(c, len(raw))
            out += p.feed(raw[prev:c])
            prev = c
    except AtProtocolError:
        return "error"
    return out


@settings(max_examples=150, deadline=None)
@given(transcripts(), st.lists(st.integers(0, 400), max_size=6))
def test_known_transcripts_decode_to_their_events_in_any_chunking(t, cuts):
    raw, events = t
    assert _outcome(raw, []) == events  # whole
    assert _outcome(raw, cuts) == events  # random chunks
    assert _outcome(raw, list(range(len(raw) + 1))) == events  # byte by byte


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=5), st.booleans())
def test_any_bytes_decode_or_raise_the_protocol_error_the_same_in_any_chunking(raw, cuts, prompt):
    def run(points):
        p = AtParser()
        p.expect_prompt(prompt)
        out: list = []
        prev = 0
        try:
            for c in sorted(set(points)) + [len(raw)]:
                out += p.feed(raw[prev:min(c, len(raw))])
                prev = min(c, len(raw))
        except AtProtocolError:
            return "error"
        return out

    whole = run([])
    assert run(cuts) == whole
    assert run(list(range(len(raw) + 1))) == whole


@pytest.mark.parametrize("line, expected", [
    ("+CME ERROR: ²", Final(FinalKind.CME_ERROR, None, "²")),  # isdigit() but not a number int() takes
    ("+CMS ERROR: ١٢", Final(FinalKind.CMS_ERROR, None, "١٢")),  # Arabic-Indic digits: text, not 12
    ("+CME ERROR: 12", Final(FinalKind.CME_ERROR, 12, "")),
])
def test_classify_reads_only_ascii_digits_as_numbers(line, expected):
    assert classify(line) == expected


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["+CME ERROR: ", "+CMS ERROR: ", "+QIRDI: ", '+QIURC: "recv",', '+QIURC: "closed",',
                        "+CIPRXGET: 1,", "DATA ACCEPT:", "0, "]), st.text(max_size=12))
def test_classify_any_line_gives_an_event(prefix, tail):
    # classify() is public (drivers and tools call it with lines of their own): any text is an event
    event = classify(prefix + tail)
    assert event is not None


def test_ec200_open_result_recv_and_qird_frames():
    # Quectel EC200x TCP/IP Application Note: AT+QIOPEN answers OK, then "+QIOPEN: <id>,<err>";
    # "+QIURC: "recv",<id>" announces data, AT+QIRD=<id>,<len> answers "+QIRD: <n>" CR LF <data>
    payload = b'+QIURC: "closed",0\r\nOK\r\n'
    raw = (b'\r\nOK\r\n\r\n+QIOPEN: 0,0\r\n\r\n+QIURC: "recv",0\r\n'
           b"\r\n+QIRD: %d\r\n" % len(payload) + payload + b"\r\n\r\nOK\r\n"
           b"\r\n+QIRD: 0\r\n\r\nOK\r\n"
           b'\r\n+QIOPEN: 0,563\r\n\r\n+QIOPEN: 0,566\r\n\r\n+QIURC: "pdpdeact",1\r\n')
    want = [OK, Notice(NoticeKind.CONNECT_OK, link=0, count=0), Notice(NoticeKind.DATA_READY, link=0),
            Data(payload), OK, OK, Notice(NoticeKind.ALREADY_CONNECT, link=0, count=563),
            Notice(NoticeKind.CONNECT_FAIL, link=0, count=566), Notice(NoticeKind.PDP_DEACT, link=1)]
    assert AtParser().feed(raw) == want
    p = AtParser()
    assert [ev for i in range(len(raw)) for ev in p.feed(raw[i:i + 1])] == want  # byte by byte


def test_identify_dialect_from_ati_and_cgmm():
    from drivers.modem.protocol import identify_dialect
    assert identify_dialect(["SIM800 R14.18"]) == "sim800"
    assert identify_dialect(["SIMCOM_SIM800"]) == "sim800"
    assert identify_dialect(["Quectel_M26", "Revision: M26FBR03A01"]) == "m26"
    assert identify_dialect(["Quectel", "EC200U", "Revision: EC200UCNAAR03A03M16"]) == "ec200"
    assert identify_dialect(["Quectel", "EG912Y"]) == "ec200"
    assert identify_dialect(["SIMCOM_A7670C-LASE", "A7670C"]) is None  # SIMCom LTE: another TCP/IP set
    assert identify_dialect([]) is None


def test_rsrp_to_bars():
    from drivers.modem.protocol import rsrp_to_bars
    assert [rsrp_to_bars(x) for x in (None, -140, -129, -128, -118, -108, -98, -88, -60)] == [0, 0, 0, 1, 2, 3, 4, 5, 5]
