"""``handheld-mocks scanner``: a barcode scanner for the terminal under test.

    handheld-mocks scanner --link /tmp/ttyScanner [--suffix crlf] [--enable CODE128,CODE39,EAN13,QRCODE]
        serial mode: each line typed on stdin is "scanned" (``EAN13:6901234567892`` names the
        symbology of the label; Code 128 otherwise); labels of a symbology not enabled give nothing
    handheld-mocks scanner --png label.png CODE [--qr | --symbology code39|ean13|code128|qr]
        a label for the camera path
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
    p.add_argument("--symbology", choices=("code128", "code39", "ean13", "qr"), default=None,
                   help="with --png: the symbology (default code128)")
    p.add_argument("--enable", default=",".join(("CODE128", "CODE39", "EAN13", "QRCODE")),
                   help="serial mode: the symbologies the scanner reads, comma-separated")
    p.add_argument("code", nargs="?", help="with --png: the code")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.png:
        from hw_mocks.scanner.image import code39_png, code128_png, ean13_png, qr_png

        if not args.code:
            print("handheld-mocks scanner: --png needs a CODE", file=sys.stderr)
            return 2
        make = {"code128": code128_png, "code39": code39_png, "ean13": ean13_png,
                "qr": qr_png}[args.symbology or ("qr" if args.qr else "code128")]
        try:
            args.png.write_bytes(make(args.code))
        except Exception as e:  # python-barcode's own errors say what is wrong with the code
            print(f"handheld-mocks scanner: cannot draw {args.code!r}: {e}", file=sys.stderr)
            return 2
        return 0
    if not args.link:
        print("handheld-mocks scanner: give --link PATH (serial mode) or --png FILE CODE", file=sys.stderr)
        return 2
    from hw_mocks.scanner.serial import SYMBOLOGIES, MockSerialScanner

    try:
        mock = MockSerialScanner(args.link, suffix=args.suffix,
                                 enabled=[s.strip().upper() for s in args.enable.split(",") if s.strip()])
    except ValueError as e:
        print(f"handheld-mocks scanner: {e}", file=sys.stderr)
        return 2
    with mock as scanner:
        print(f"mock scanner on {scanner.path}; type a code and Enter to scan it, Ctrl-D to stop", flush=True)
        for line in sys.stdin:
            text = line.strip()
            if not text:
                continue
            head, sep, rest = text.partition(":")
            symbology, code = (head.upper(), rest) if sep and head.upper() in SYMBOLOGIES else ("CODE128", text)
            try:
                if not scanner.scan(code, symbology):
                    print(f"({symbology} is not enabled: nothing read)", flush=True)
            except ValueError as e:
                print(f"not scanned: {e}", flush=True)
    return 0
