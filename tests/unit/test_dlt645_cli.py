"""``handheld diag dlt645 decode|encode``: output format and exit codes."""

from __future__ import annotations

import json

from terminal_app.cli import main

KEYS = ["standard", "address", "control", "direction", "abnormal", "more", "di", "data", "value", "unit", "error"]


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
                       "unit": "kWh", "error": None}
    assert objs[1] == {"standard": "1997", "address": "138000130754", "control": "81", "direction": "reply",
                       "abnormal": False, "more": False, "di": "9010", "data": "01000000", "value": "0.01",
                       "unit": "kWh", "error": None}


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
