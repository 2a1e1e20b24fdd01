"""``handheld diag dlt645``: decode captured DL/T 645 bytes, or encode a read request.

    handheld diag dlt645 decode "FE FE 68 AA AA AA AA AA AA 68 11 04 33 33 34 33 AE 16"
    handheld diag dlt645 encode read --address 000012345678 --di 00010000 [--standard 1997]

``decode`` prints one JSON object per frame found (keys: standard, address, control,
direction, abnormal, more, di, data, value, unit, error, reason).  ``error`` is the list of
error bits of an abnormal reply, or ``["INVALID_DATA"]`` for a frame whose data breaks the
standard (a value that is not BCD, a wrong length …), with ``reason`` saying what is wrong
(``null`` otherwise).  Exit status: 0 every frame decoded, 1 at least one frame's data broke
the standard, 2 the bytes hold no frame (or are not hex).  The standard of a frame is told by its control code's function (the 2007 and 1997
function sets are disjoint except 08H broadcast time, reported as 2007), which also fixes the
DI length: 4 bytes (2007) or 2 (1997).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("dlt645", help="decode / encode DL/T 645 frames (2007, 1997)")
    sub = p.add_subparsers(dest="dlt645_command", metavar="ACTION", required=True)
    dec = sub.add_parser("decode", help="decode frames from hex bytes (spaces allowed)")
    dec.add_argument("hex", nargs="+", metavar="HEX")
    dec.set_defaults(func=run_decode)
    enc = sub.add_parser("encode", help="encode a request frame")
    enc_sub = enc.add_subparsers(dest="encode_command", metavar="REQUEST", required=True)
    rd = enc_sub.add_parser("read", help="read data (11H for 2007, 01H for 1997)")
    rd.add_argument("--address", default="AAAAAAAAAAAA", help="12 nameplate digits (default: wildcard AA×6)")
    rd.add_argument("--di", required=True, help="data identifier, e.g. 00010000 (2007) or 9010 (1997)")
    rd.add_argument("--standard", choices=("2007", "1997"), default="2007")
    rd.set_defaults(func=run_encode_read)


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple):
        return [str(v) for v in value]
    return str(value)


def frame_json(frame: Any) -> dict[str, Any]:
    from drivers.ir_meter.di import interpret, unit_of

    payload, reading = interpret(frame)
    return {
        "standard": payload.standard.value,
        "address": frame.address,
        "control": f"{frame.control:02X}",
        "direction": frame.direction.value,
        "abnormal": frame.abnormal,
        "more": frame.more,
        "di": payload.di,
        "data": payload.data.hex().upper(),
        "value": _json_value(reading.value) if reading is not None else None,
        "unit": reading.unit if reading is not None else (unit_of(payload.di, payload.standard) if payload.di else ""),
        "error": list(payload.error) if payload.error is not None else None,
        "reason": None,
    }


def run_decode(args: argparse.Namespace) -> int:
    from drivers.ir_meter.protocol import decode_all

    text = "".join(args.hex).replace(" ", "").replace(":", "")
    try:
        data = bytes.fromhex(text)
    except ValueError:
        print("handheld: the input is not hex bytes — give pairs of hex digits, spaces allowed.", file=sys.stderr)
        return 2
    frames = decode_all(data)
    if not frames:
        print(f"handheld: no DL/T 645 frame in these {len(data)} bytes — check that the capture holds "
              "68 … 68 C L DATA CS 16 with a correct checksum.", file=sys.stderr)
        return 2
    from drivers.ir_meter.protocol import Dlt645Error

    code = 0
    for frame in frames:
        try:
            obj = frame_json(frame)
        except Dlt645Error as e:  # framed correctly, but its data breaks the standard
            print(f"handheld: frame {frame.control:02X}H from {frame.address}: {e}", file=sys.stderr)
            di, data = _di_and_data(frame)
            obj = {"standard": frame.standard.value, "address": frame.address, "control": f"{frame.control:02X}",
                   "direction": frame.direction.value, "abnormal": frame.abnormal, "more": frame.more,
                   "di": di, "data": data.hex().upper(), "value": None, "unit": "",
                   "error": ["INVALID_DATA"], "reason": str(e)}
            code = 1
        print(json.dumps(obj, ensure_ascii=False))
    return code


def _di_and_data(frame: Any) -> tuple[str | None, bytes]:
    """DI and value bytes of a frame whose value would not decode (no DI, all the data bytes,
    when even the DI cannot be split off)."""
    from drivers.ir_meter.protocol import Dlt645Error, split_payload

    try:
        payload = split_payload(frame)
    except Dlt645Error:
        return None, frame.data
    return payload.di, payload.data


def run_encode_read(args: argparse.Namespace) -> int:
    from drivers.ir_meter.protocol import Standard, encode_read

    frame = encode_read(args.address.upper(), args.di, Standard(args.standard))
    print(frame.hex(" ").upper())
    return 0
