"""``handheld-mocks scanner``: a barcode scanner for the terminal under test.

    handheld-mocks scanner --link /tmp/ttyScanner [--suffix crlf]   serial mode: each line typed
                                                                    on stdin is "scanned"
    handheld-mocks scanner --png label.png CODE [--qr]              a label for the camera path
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scanner", help="a barcode scanner (serial on a pty) or a barcode PNG")
    p.add_argument("--link", help="serial mode: path of the symlink to the pty the driver opens")
    p.add_argument("--suffix", choices=("cr", "lf", "crlf"), default="crlf", help="line end after each code")
    p.add_argument("--png", type=Path, help="write a barcode PNG of CODE to this file and exit")
    p.add_argument("--qr", action="store_true", help="with --png: a QR code instead of Code 128")
    p.add_argument("code", nargs="?", help="with --png: the code")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.png:
        from hw_mocks.scanner.image import code128_png, qr_png

        if not args.code:
            print("handheld-mocks scanner: --png needs a CODE", file=sys.stderr)
            return 2
        args.png.write_bytes(qr_png(args.code) if args.qr else code128_png(args.code))
        return 0
    if not args.link:
        print("handheld-mocks scanner: give --link PATH (serial mode) or --png FILE CODE", file=sys.stderr)
        return 2
    from hw_mocks.scanner.serial import MockSerialScanner

    with MockSerialScanner(args.link, suffix=args.suffix) as scanner:
        print(f"mock scanner on {scanner.path}; type a code and Enter to scan it, Ctrl-D to stop", flush=True)
        for line in sys.stdin:
            code = line.strip()
            if code:
                scanner.scan(code)
    return 0
