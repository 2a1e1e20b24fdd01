"""``handheld-mocks``: run a simulated device or the reference master station.

    handheld-mocks meter --link /tmp/ttyIR0          a DL/T 645 meter on a pty
    handheld-mocks modem --link /tmp/ttyModem …      a GPRS modem on a pty
    handheld-mocks station --port 7600 --db …        the reference master station
    handheld-mocks marketing --port 7710 --db …      the marketing system behind it (营销系统)
    handheld-mocks acquirer --port 7700 --keys DIR   a WeChat Pay / Alipay acquirer (付款码) over HTTP
    handheld-mocks camera --port 8080 --display N    a network camera (mjpg-streamer) showing a meter
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from terminal_app.cli import register_modules
from terminal_app.errors import HandheldError

MOCK_MODULES = (
    "hw_mocks.meter.cli",
    "hw_mocks.modem.cli",
    "hw_mocks.gnss.cli",
    "hw_mocks.station.cli",
    "hw_mocks.marketing.cli",
    "hw_mocks.printer.cli",
    "hw_mocks.card.cli",
    "hw_mocks.scanner.cli",
    "hw_mocks.acquirer.cli",
    "hw_mocks.camera.cli",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="handheld-mocks", description="simulated devices and master station")
    sub = p.add_subparsers(dest="mock", metavar="MOCK", required=True)
    register_modules(sub, MOCK_MODULES)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HandheldError as e:
        print(f"handheld-mocks: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
