"""``handheld diag bill``: compute a bill with the tariff engine and print it as JSON.

    handheld diag bill --tariff sichuan-residential --kwh 300 --month 2026-01
    handheld diag bill --tariff zhejiang-residential-yearly --kwh 300 --month 2026-11 --tier-usage 2600
    handheld diag bill --tariff tou-sample --kwh-by-register "peak=120,flat=80,valley=100" --month 2026-03
    handheld diag bill --list

Output: {"tariff", "month", "kwh", "lines": [{"name", "kwh", "price", "amount"}], "total",
"rounding"} — prices as decimal strings in 元/kWh, amounts and total in integer fen.  Bad input
prints what is wrong on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_BAD_INPUT = 2
MAX_ARG = 200


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bill", help="compute a bill with a tariff and print it as JSON",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tariff", metavar="NAME", help="installed tariff name, or a path to a tariff .toml file")
    p.add_argument("--kwh", metavar="N", help="energy to bill, kWh (decimal, e.g. 300 or 123.45)")
    p.add_argument("--kwh-by-register", metavar="REG=KWH,…",
                   help='time-of-use energies, e.g. "peak=120,flat=80,valley=100" (also 尖/峰/平/谷 or 1–4)')
    p.add_argument("--month", metavar="YYYY-MM", help="billing month (picks the season)")
    p.add_argument("--tier-usage", metavar="KWH", default="0",
                   help="usage already billed in the current tier period (the year, for yearly tiers)")
    p.add_argument("--list", action="store_true", help="list the installed tariffs and exit")
    p.set_defaults(func=run)


def _registers(text: str) -> dict[Any, Any]:
    from terminal_app.domain.errors import InvalidValueError
    from terminal_app.domain.money import parse_kwh
    from terminal_app.domain.tariff import Register

    out: dict[Register, Any] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep:
            raise InvalidValueError("Register energy {value!r} is not REGISTER=KWH.",
                                    'Write e.g. "peak=120,flat=80,valley=100".', value=part)
        reg = Register.parse(name)
        if reg in out:
            raise InvalidValueError("Register {value} is given twice.", "Give each register once.",
                                    value=reg.value)
        out[reg] = parse_kwh(value.strip(), f"Energy of register {reg.value}")
    return out


def run(args: argparse.Namespace) -> int:
    from terminal_app.domain.money import parse_kwh
    from terminal_app.domain.tariff import compute_bill
    from terminal_app.errors import HandheldError
    from terminal_app.tariffs import load_tariff, packaged_names

    if args.list:
        print(json.dumps({"tariffs": packaged_names()}, ensure_ascii=False))
        return 0
    try:
        missing = [flag for flag, v in (("--tariff", args.tariff), ("--month", args.month)) if not v]
        if args.kwh is None and args.kwh_by_register is None:
            missing.append("--kwh (or --kwh-by-register)")
        if missing:
            print(f"handheld diag bill: missing {', '.join(missing)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        for v in (args.tariff, args.kwh, args.kwh_by_register, args.month, args.tier_usage):
            if v is not None and len(v) > MAX_ARG:
                print("handheld diag bill: an argument is too long", file=sys.stderr)
                return EXIT_BAD_INPUT
        tariff = load_tariff(args.tariff)
        kwh = None if args.kwh is None else parse_kwh(args.kwh)
        registers = None if args.kwh_by_register is None else _registers(args.kwh_by_register)
        bill = compute_bill(tariff, month=args.month, kwh=kwh, registers=registers,
                            tier_usage=parse_kwh(args.tier_usage, "Tier usage"))
    except HandheldError as e:
        print(f"handheld diag bill: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(json.dumps(bill.to_dict(), ensure_ascii=False))
    return 0
