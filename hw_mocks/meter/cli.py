"""``handheld-mocks meter``: serve a virtual DL/T 645 meter until SIGINT/SIGTERM.

    handheld-mocks meter --link /tmp/ttyIR0                 2007 meter on a pty symlink
    handheld-mocks meter --tcp 7645 --standard 1997         1997 meter on 127.0.0.1:7645
    handheld-mocks meter --link /tmp/ttyIR0 --scenario silent --config my-meters.toml
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("meter", help="a virtual DL/T 645 meter behind an IR head")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--link", metavar="PATH", help="serve on a pty; PATH becomes a symlink to it")
    where.add_argument("--tcp", metavar="PORT", type=int, help="serve on 127.0.0.1:PORT")
    p.add_argument("--config", metavar="FILE", help="TOML file with [meters.*] / [scenarios.*] tables")
    p.add_argument("--standard", choices=("2007", "1997"), help="which meter of the file (default 2007)")
    p.add_argument("--meter", metavar="NAME", help="a meter of the file by name")
    p.add_argument("--scenario", metavar="NAME", help="misbehaviour, e.g. silent, garbage, bad_checksum")
    p.add_argument("--baud", type=int, help="override the meter's baud rate (pacing)")
    p.add_argument("--reply-delay-ms", type=float, help="override the meter's reply delay")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from hw_mocks.meter.device import MockMeter
    from hw_mocks.meter.profile import load_profile, load_scenario

    profile = load_profile(args.config, args.standard, args.meter)
    changes: dict[str, Any] = {}
    if args.baud:
        changes["baudrate"] = args.baud
    if args.reply_delay_ms is not None:
        changes["reply_delay_s"] = args.reply_delay_ms / 1000
    if changes:
        profile = dataclasses.replace(profile, **changes)
    scenario = load_scenario(args.scenario, args.config)
    meter = (MockMeter.on_pty(profile, args.link, scenario) if args.link
             else MockMeter.on_tcp(profile, args.tcp, scenario))
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with meter:
        print(f"DL/T 645-{profile.standard.value} meter {profile.address} at {profile.baudrate} baud "
              f"on {meter.url} (scenario {scenario.name}); Ctrl-C stops it", file=sys.stderr, flush=True)
        while not done.wait(0.5):
            pass
    return 0
