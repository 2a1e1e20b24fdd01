"""``handheld diag dlt645 decode|encode``: output format and exit codes."""

from __future__ import annotations

import json

from terminal_app.cli import main

KEYS = ["standard", "address", "control", "direction", "abnormal", "more", "di", "data", "value", "unit", "error",
        "reason"]


def run(capsys, *argv):
    code = main(["diag", "dlt645", *argv])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


def test_decode_request_echo_and_reply(capsys):
    # field-facts request, then the kaledl.com 1997 reply (see test_dlt645_golden), with FE and noise
    code, objs, _ = run(capsys, "decode", "FE FE 68 AA AA AA AA AA AA 68 11 04 33 33 34 33 AE 16",
                        "00 FE 68 54 07 13 00 80 13 68 81 06 43 C3 34 33 33 33 2B 16")
    assert code == 0
    assert [list(o) for o in objs] == [KEYS, KEYS]
    assert objs[0] == {"standard": "2007", "address": "AAAAAAAAAAAA", "control": "11", "direction": "request",
                       "abnormal": False, "more": False, "di": "00010000", "data": "", "value": None,
                       "unit": "kWh", "error": None, "reason": None}
    assert objs[1] == {"standard": "1997", "address": "138000130754", "control": "81", "direction": "reply",
                       "abnormal": False, "more": False, "di": "9010", "data": "01000000", "value": "0.01",
                       "unit": "kWh", "error": None, "reason": None}


def test_decode_block_and_abnormal(capsys):
    from drivers.ir_meter.protocol import encode_frame

    block = encode_frame("000012345678", 0x91, bytes.fromhex("00FF0100" "67452301" "78563400" "89674500"
                                                             "00212300" "00002000")).hex()
    abnormal = encode_frame("000012345678", 0xD1, b"\x02").hex()
    code, objs, _ = run(capsys, "decode", block + abnormal)
    assert code == 0
    assert objs[0]["di"] == "0001FF00"
    assert objs[0]["value"] == ["12345.67", "3456.78", "4567.89", "2321.00", "2000.00"]
    assert objs[1]["abnormal"] is True and objs[1]["error"] == ["NO_REQUESTED_DATA"] and objs[1]["di"] is None


def test_decode_nothing_exits_2(capsys):
    code, objs, err = run(capsys, "decode", "00 11 68 22 16")
    assert code == 2 and objs == [] and "no DL/T 645 frame" in err


def test_decode_not_hex_exits_2(capsys):
    code, _, err = run(capsys, "decode", "zz")
    assert code == 2 and "not hex" in err


def test_encode_read_2007_and_1997(capsys):
    assert main(["diag", "dlt645", "encode", "read", "--address", "000012345678", "--di", "00010000"]) == 0
    assert capsys.readouterr().out.strip() == "FE FE FE FE 68 78 56 34 12 00 00 68 11 04 33 33 34 33 C6 16"
    assert main(["diag", "dlt645", "encode", "read", "--address", "138000130754", "--di", "9010",
                 "--standard", "1997"]) == 0
    assert capsys.readouterr().out.strip() == "FE FE FE FE 68 54 07 13 00 80 13 68 01 02 43 C3 DA 16"


def test_encode_bad_di_is_clear_error(capsys):
    assert main(["diag", "dlt645", "encode", "read", "--di", "123"]) == 1
    assert "Data identifier" in capsys.readouterr().err


def test_decode_value_not_bcd_exits_1_with_the_reason_in_the_json(capsys):
    from drivers.ir_meter.protocol import encode_frame

    good = encode_frame("000012345678", 0x91, bytes.fromhex("00000100" "67452301")).hex()
    bad = encode_frame("000012345678", 0x91, bytes.fromhex("00000100" "6A452301")).hex()  # 6A: not BCD
    code, objs, err = run(capsys, "decode", good + bad)
    assert code == 1
    assert [list(o) for o in objs] == [KEYS, KEYS]
    assert objs[0]["value"] == "12345.67" and objs[0]["error"] is None and objs[0]["reason"] is None
    assert objs[1]["di"] == "00010000" and objs[1]["value"] is None and objs[1]["data"] == "6A452301"
    assert objs[1]["error"] == ["INVALID_DATA"] and "BCD" in objs[1]["reason"]
    assert objs[1]["reason"] in err


def test_decode_wrong_length_exits_1(capsys):
    from drivers.ir_meter.protocol import encode_frame

    short = encode_frame("000012345678", 0x91, bytes.fromhex("09040004" "0012")).hex()  # constant: 3 bytes
    code, objs, _ = run(capsys, "decode", short)
    assert code == 1 and objs[0]["di"] == "04000409" and "3" in objs[0]["reason"]


def test_decode_combined_active_energy_and_constant(capsys):
    from drivers.ir_meter.protocol import encode_frame

    combined = encode_frame("000012345678", 0x91, bytes.fromhex("00000000" "01583581")).hex()  # sign bit set
    constant = encode_frame("000012345678", 0x91, bytes.fromhex("09040004" "001200")).hex()
    code, objs, _ = run(capsys, "decode", combined + constant)
    assert code == 0
    assert (objs[0]["di"], objs[0]["value"], objs[0]["unit"]) == ("00000000", "-13558.01", "kWh")
    assert (objs[1]["di"], objs[1]["value"], objs[1]["unit"]) == ("04000409", "1200", "imp/kWh")
