"""``handheld diag meter read``: read a meter through the IR head and print JSON.

    handheld diag meter read --port /dev/ttyIR0 [--address 000012345678] [--di 00010000 …]

Defaults come from the configuration ([devices.ir_meter], HANDHELD_DEVICES__IR_METER__*);
flags override.  Address and standard are found when not configured (13H, 2007 then 1997).
Prints ``{"address", "standard", "readings": {DI: {"value", "unit"}}}``; the default DI is
00010000 (9010 on a 1997 meter), and 2007 DIs are translated for 1997 meters.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("meter", help="read a meter over the IR head (DL/T 645)")
    sub = p.add_subparsers(dest="meter_command", metavar="ACTION", required=True)
    rd = sub.add_parser("read", help="read registers and print JSON")
    rd.add_argument("--port", metavar="URL", help="pyserial URL of the IR head (default from the configuration)")
    rd.add_argument("--address", help="12 nameplate digits (default: configured, else found)")
    rd.add_argument("--di", nargs="+", action="extend", metavar="DI",
                    help="data identifiers (default 00010000)")
    rd.add_argument("--standard", choices=("2007", "1997"), help="default: configured, else detected")
    rd.add_argument("--baud", type=int, help="baud rate (default 1200)")
    rd.add_argument("--retries", type=int, help="retries per request")
    rd.set_defaults(func=run_read)


def _value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple):
        return [str(v) for v in value]
    return str(value)


def run_read(args: argparse.Namespace) -> int:
    from drivers.ir_meter.driver import IrMeter
    from terminal_app.config import load_settings

    flags = {"url": args.port, "address": args.address, "standard": args.standard,
             "baudrate": args.baud, "retries": args.retries}
    overrides = {"devices": {"ir_meter": {k: v for k, v in flags.items() if v is not None}}}
    settings = load_settings(getattr(args, "config", None), overrides=overrides).devices.ir_meter
    with IrMeter.from_settings(settings) as meter:
        ident = meter.identify() if settings.address is None or settings.standard is None else None
        dis = args.di or ["00010000"]
        readings = {}
        for di in dis:
            r = meter.read(di)
            readings[di] = {"value": _value(r.value) if r.value is not None else r.raw.hex().upper(),
                            "unit": r.unit}
        address = ident.address if ident else meter.address
        standard = ident.standard.value if ident else meter.standard.value  # type: ignore[union-attr]
    print(json.dumps({"address": address, "standard": standard, "readings": readings}, ensure_ascii=False))
    return 0
