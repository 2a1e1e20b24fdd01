"""``handheld diag link hello``: one GT/1 HELLO to the master station, measured, as JSON.

    handheld [--config FILE] diag link hello [--host H] [--port N] [--transport socket|modem]
                                             [--operator ID]

Settings come from the configuration ([terminal], [station], [link], [devices.modem]; the
environment's HANDHELD_* overrides); flags override both.  Prints one JSON object:
``ok``, ``terminal``, ``station``, ``transport``, ``suite``, ``connect_and_round_trip_s``
(open → last byte read), ``round_trip_s`` (first byte written → last byte read), ``bytes_sent``,
``bytes_received``, ``station_time``, ``clock_offset_s`` and the station's ``params``.
On failure prints ``{"ok": false, "outcome", "error"}`` and exits 1 (2 when the station refused).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("link", help="test the link to the master station (GT/1)")
    sub = p.add_subparsers(dest="link_command", metavar="ACTION", required=True)
    hello = sub.add_parser("hello", help="send one HELLO and print round-trip time, bytes and clock offset")
    hello.add_argument("--host", help="station host (default [station] host)")
    hello.add_argument("--port", type=int, help="station port (default [station] port)")
    hello.add_argument("--transport", choices=("socket", "modem"), help="default [link] transport")
    hello.add_argument("--operator", default="0000", help="operator id sent in HELLO (default 0000)")
    hello.set_defaults(func=run_hello)


def run_hello(args: argparse.Namespace) -> int:
    from terminal_app import __version__
    from terminal_app.config import load_settings
    from terminal_app.station.client import (
        NotSentError,
        Outcome,
        OutcomeUnknownError,
        StationRefusedError,
        client_from_settings,
    )
    from terminal_app.station.protocol import GT1Error
    from terminal_app.timeutil import Clock

    overrides: dict[str, Any] = {}
    station = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if station:
        overrides["station"] = station
    if args.transport:
        overrides["link"] = {"transport": args.transport}
    settings = load_settings(getattr(args, "config", None), overrides=overrides)
    clock = Clock()
    client = client_from_settings(settings, clock=clock)
    report: dict[str, Any] = {
        "terminal": settings.terminal.id, "station": f"{settings.station.host}:{settings.station.port}",
        "transport": settings.link.transport, "suite": settings.station.suite,
    }
    t0 = clock.monotonic()
    try:
        body = client.hello(args.operator, __version__)
    except (NotSentError, OutcomeUnknownError, StationRefusedError, GT1Error) as e:
        outcome = {NotSentError: Outcome.NOT_SENT, OutcomeUnknownError: Outcome.UNKNOWN,
                   StationRefusedError: Outcome.REFUSED}.get(type(e), Outcome.UNKNOWN)
        report.update(ok=False, outcome=outcome.value, error=str(e),
                      bytes_sent=client.stats.bytes_sent, bytes_received=client.stats.bytes_received)
        if isinstance(e, StationRefusedError):
            report.update(code=e.code, msg=e.msg)
        print(json.dumps(report, ensure_ascii=False))
        print(f"handheld: link hello failed: {e}", file=sys.stderr)
        return 2 if isinstance(e, StationRefusedError) else 1
    elapsed = clock.monotonic() - t0
    report.update(
        ok=True, connect_and_round_trip_s=round(elapsed, 3),
        round_trip_s=round(client.last_round_trip or 0.0, 3),
        bytes_sent=client.stats.bytes_sent, bytes_received=client.stats.bytes_received,
        station_time=body.get("time"), clock_offset_s=round(clock.offset.total_seconds(), 3),
        params=body.get("params", {}),
    )
    print(json.dumps(report, ensure_ascii=False))
    return 0
