"""``handheld-mocks modem``: run the simulated GPRS modem on a pty until interrupted.

    handheld-mocks modem --link /tmp/ttyModem --dialect sim800 [--scenario NAME]
                         [--latency-ms N] [--kbps N] [--scenarios FILE]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("modem", help="a cellular modem (SIM800, M26 or EC200x AT dialect) on a pty",
                              description="Simulated GPRS modem; its TCP connections go to 127.0.0.1.")
    p.add_argument("--link", required=True, help="path of the symlink to create (e.g. /tmp/ttyModem)")
    p.add_argument("--dialect", choices=("sim800", "m26", "ec200"), default="sim800",
                   help="module family: SIMCom SIM800 / Quectel M26 (2G), Quectel EC200x (LTE Cat.1)")
    p.add_argument("--scenario", default="normal", help="scenario name (see --list)")
    p.add_argument("--scenarios", metavar="FILE", help="scenario file (TOML) instead of the packaged one")
    p.add_argument("--latency-ms", type=int, help="one-way latency of the air link (overrides the scenario)")
    p.add_argument("--kbps", type=float, help="bit rate of the air link in kbit/s (overrides the scenario)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hw_mocks.modem.device import MockModem, load_scenarios

    scenarios = load_scenarios(args.scenarios)
    if args.list:
        for name, s in sorted(scenarios.items()):
            print(f"{name:28} {s.description}")
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with MockModem(args.link, dialect=args.dialect, scenario=args.scenario, latency_ms=args.latency_ms,
                   kbps=args.kbps, scenarios=scenarios) as modem:
        s = modem.scenario
        print(f"mock modem {args.dialect} (scenario {s.name}, latency {s.latency_ms} ms, "
              f"{s.kbps or 'unlimited'} kbit/s) on {modem.path}", file=sys.stderr, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0
