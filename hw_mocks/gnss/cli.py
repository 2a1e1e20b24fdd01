"""``handheld-mocks gnss``: run the simulated NMEA GNSS receiver (Quectel L76 class) on a pty.

    handheld-mocks gnss --link /tmp/ttyGNSS [--scenario NAME] [--interval S] [--scenarios FILE]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gnss", help="a serial NMEA GNSS receiver (MTK / Quectel L76 PMTK commands) on a pty",
                              description="Simulated GNSS receiver: NMEA 0183 at 1 Hz, scenarios as data.")
    p.add_argument("--link", required=True, help="path of the symlink to create (e.g. /tmp/ttyGNSS)")
    p.add_argument("--scenario", default="fix_3d", help="scenario name (see --list)")
    p.add_argument("--scenarios", metavar="FILE", help="scenario file (TOML) instead of the packaged one")
    p.add_argument("--interval", type=float, default=1.0, help="real seconds per receiver second (default 1)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hw_mocks.gnss.device import MockGnssReceiver, load_scenarios

    scenarios = load_scenarios(args.scenarios)
    if args.list:
        for name, s in sorted(scenarios.items()):
            print(f"{name:16} {s.description}")
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with MockGnssReceiver(args.link, args.scenario, interval_s=args.interval, scenarios=scenarios) as gnss:
        print(f"mock GNSS receiver (scenario {gnss.scenario.name}) on {gnss.path}", file=sys.stderr, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0
