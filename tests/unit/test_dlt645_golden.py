"""Golden DL/T 645 frames from public documents: our encoder and decoder must agree byte for byte.

Each test names where its frame was published.  The values were worked out from the standard
(DL/T 645-2007 §4, -1997 §3/§4), not from this code.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from drivers.ir_meter.di import interpret
from drivers.ir_meter.protocol import (
    WILDCARD,
    Direction,
    FrameDecoder,
    Standard,
    decode_all,
    encode_read,
    encode_read_address,
)

H = bytes.fromhex


def one_frame(hex_text: str):
    frames = decode_all(H(hex_text.replace(" ", "")))
    assert len(frames) == 1
    return frames[0]


def test_field_facts_read_energy_wildcard():
    # the field facts (shared docs, DL/T 645 section): read DI 00010000 from AA×6
    golden = "68 AA AA AA AA AA AA 68 11 04 33 33 34 33 AE 16"
    assert encode_read(WILDCARD, "00010000", preamble=b"") == H(golden.replace(" ", ""))
    frame = one_frame(golden)
    assert (frame.address, frame.control, frame.direction) == (WILDCARD, 0x11, Direction.REQUEST)
    assert interpret(frame)[0].di == "00010000"


def test_field_facts_read_address():
    # the field facts (shared docs): read address 13H to the wildcard address
    golden = "68 AA AA AA AA AA AA 68 13 00 DF 16"
    assert encode_read_address(preamble=b"") == H(golden.replace(" ", ""))
    assert one_frame(golden).data == b""


def test_luat_forum_read_energy_address_byte_order():
    # https://luatdoc.papapoi.com/572 (合宙 DTU + dlt645-2007 抄表): meter 12345678,
    # "FEFEFEFE6878563412000068110433333433C616" — address 78 56 34 12 00 00 on the wire
    golden = "FEFEFEFE6878563412000068110433333433C616"
    assert encode_read("000012345678", "00010000") == H(golden)
    assert one_frame(golden).address == "000012345678"


def test_kaledl_1997_read_9010_request_and_reply():
    # https://kaledl.com/down/1493168.html: meter 138000130754 (wire 54 07 13 00 80 13),
    # request 01H DI 9010 and the reply 81H with 01 00 00 00 → 000000.01 kWh
    request = "68 54 07 13 00 80 13 68 01 02 43 C3 DA 16"
    reply = "68 54 07 13 00 80 13 68 81 06 43 C3 34 33 33 33 2B 16"
    assert encode_read("138000130754", "9010", Standard.V1997, preamble=b"") == H(request.replace(" ", ""))
    frame = one_frame(reply)
    payload, reading = interpret(frame)
    assert payload.standard is Standard.V1997 and payload.di == "9010"
    assert reading is not None and reading.value == Decimal("0.01") and reading.unit == "kWh"
    # same page, another meter (RS3430163): 68 63 01 43 03 00 00 68 01 02 43 C3 83 16
    assert encode_read("000003430163", "9010", Standard.V1997, preamble=b"") == H("68630143030000680102 43C38316"
                                                                                  .replace(" ", ""))


def test_heyuan_manual_1997_voltage_b611():
    # https://manualshive.com/en/manual/heyuan-intelligence/asdu-ls/2128413?page=18
    # (Heyuan ASDU-LS manual, 1997 DL/645 configuration): send 68 03 00 00 00 00 00 68 01 02 44 E9 03 16,
    # receive 68 03 00 00 00 00 00 68 81 04 44 E9 33 34 EC 16, "Data Domain: 0100V" (1997 voltage is XXX V).
    # The manual prints the address in wire order (030000000000H); on the nameplate it is 000000000003.
    assert encode_read("000000000003", "B611", Standard.V1997, preamble=b"") == H("6803000000000068010244E90316")
    payload, reading = interpret(one_frame("68 03 00 00 00 00 00 68 81 04 44 E9 33 34 EC 16"))
    assert payload.di == "B611"
    assert reading is not None and reading.value == Decimal("100") and reading.unit == "V"


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 100])
def test_golden_reply_in_any_chunking(chunk):
    # the 1997 reply above, behind FE wake-up bytes and the echo of its own request
    wire = H("FEFEFE" + "6854071300801368010243C3DA16" + "FEFE" + "68540713008013688106 43C3343333332B16".replace(" ", ""))
    dec = FrameDecoder()
    frames = []
    for i in range(0, len(wire), chunk):
        frames += [e for e in dec.feed(wire[i:i + chunk]) if hasattr(e, "control")]
    assert [f.direction for f in frames] == [Direction.REQUEST, Direction.REPLY]
    assert not dec.pending
