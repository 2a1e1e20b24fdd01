"""``handheld diag printer``: ask the thermal printer its status, or print a Chinese test page.

    handheld diag printer [--port URL] [--baud N] status   → JSON {"url", "ready", "offline",
                                                             "cover_open", "paper_end",
                                                             "paper_near_end", "error"}
    handheld diag printer [--port URL] [--baud N] test     → prints 打印测试页, then the status

Defaults come from the configuration ([devices.printer], HANDHELD_DEVICES__PRINTER__*).
A fault (paper out, cover open, offline, no answer) exits 1 with what to do about it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("printer", help="thermal printer status and test page (ESC/POS)")
    p.add_argument("--port", metavar="URL", help="pyserial URL of the printer (default from the configuration)")
    p.add_argument("--baud", type=int, help="baud rate (default from the configuration, 9600)")
    sub = p.add_subparsers(dest="printer_command", metavar="ACTION", required=True)
    st = sub.add_parser("status", help="query DLE EOT status and print JSON")
    st.set_defaults(func=run_status)
    tp = sub.add_parser("test", help="print a Chinese test page")
    tp.set_defaults(func=run_test)


def _open(args: argparse.Namespace):  # -> tuple[ThermalPrinter, Settings]
    from drivers.printer.driver import ThermalPrinter
    from terminal_app.config import load_settings

    flags = {"url": args.port, "baudrate": args.baud}
    overrides = {"devices": {"printer": {k: v for k, v in flags.items() if v is not None}}}
    settings = load_settings(getattr(args, "config", None), overrides=overrides)
    return ThermalPrinter.from_settings(settings.devices.printer), settings


def _status_json(url: str, status) -> str:
    return json.dumps({"url": url, "ready": status.ready, **dataclasses.asdict(status)}, ensure_ascii=False)


def run_status(args: argparse.Namespace) -> int:
    printer, _ = _open(args)
    with printer:
        status = printer.status()
    print(_status_json(printer.url, status))
    return 0 if status.ready else 1


def run_test(args: argparse.Namespace) -> int:
    printer, settings = _open(args)
    with printer:
        result = printer.print_test_page(settings.terminal.id)
        status = printer.status()
    print(json.dumps({"printed": result.identity, "outcome": result.outcome.value}, ensure_ascii=False))
    print(_status_json(printer.url, status))
    return 0
