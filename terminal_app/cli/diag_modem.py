"""``handheld diag modem``: talk to the GPRS modem directly, for technicians.

    handheld diag modem --port /dev/ttyModem --dialect sim800 status
    handheld diag modem --port /tmp/ttyModem --dialect m26 up        # bring the data context up

``status`` prints one JSON object: the dialect (the identified one with ``--dialect auto``), SIM,
signal (rssi, dBm; on LTE also RSRP/RSRQ, from which the bars come), the technology in use
("4G" / "2G" / "none"), registration, GPRS attach, APN, the TCP/IP state and the local IP.  Failures exit nonzero with what failed and what to do.
Settings come from the configuration ([devices.modem]); the flags override them.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("modem", help="cellular modem (2G / LTE Cat.1): status, bring-up",
                              description="Talk to the GPRS modem over its AT commands.")
    p.add_argument("--port", help="pyserial URL of the modem (default: [devices.modem] url)")
    p.add_argument("--dialect", choices=("sim800", "m26", "ec200", "auto"),
                   help="AT dialect (default: [devices.modem] dialect; auto: ask the module with ATI / AT+CGMM)")
    p.add_argument("--apn", help="APN (default: [devices.modem] apn)")
    p.add_argument("action", choices=("status", "up"),
                   help="status: report SIM, signal, registration, attach, IP; up: also open the data context")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from drivers.modem.driver import open_modem
    from terminal_app.config import load_settings

    modem: dict[str, object] = {}
    if args.port:
        modem["url"] = args.port
    if args.dialect:
        modem["dialect"] = args.dialect
    if args.apn is not None:
        modem["apn"] = args.apn
    settings = load_settings(getattr(args, "config", None), overrides={"devices": {"modem": modem}})
    with open_modem(settings.devices.modem) as driver:
        if args.action == "up":
            driver.ensure_context()
        status = driver.status()
        dialect = driver.dialect  # after "auto": the dialect the module was identified as
    print(json.dumps({"dialect": dialect, **status.as_dict()}, ensure_ascii=False))
    return 0
