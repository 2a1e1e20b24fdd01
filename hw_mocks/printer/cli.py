"""``handheld-mocks printer --link PATH --out DIR [--scenario FILE]``: a printer on a pty.

Each ticket (up to its cut) is saved in DIR as ``ticket-NNNN.txt`` and ``ticket-NNNN.png``;
the path of each is printed as it is saved.  Stop with Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("printer", help="a 58 mm ESC/POS thermal printer on a pty")
    p.add_argument("--link", required=True, help="path of the symlink to the pty the driver opens")
    p.add_argument("--out", required=True, type=Path, help="directory for the saved tickets (text + PNG)")
    p.add_argument("--scenario", type=Path, help="fault scenario (TOML: paper_out, cover_open, offline, "
                                                 "paper_runs_out_after_lines, silent)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    from hw_mocks.printer.device import MockPrinter
    from hw_mocks.printer.scenario import PrinterScenario, load_scenario

    scenario = load_scenario(args.scenario) if args.scenario else PrinterScenario()
    if stop is None:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            # SIGTERM (systemd, a QA script's kill) stops it cleanly: the pty link is removed
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with MockPrinter(link=args.link, out_dir=args.out, scenario=scenario) as printer:
        print(f"mock printer on {printer.path}, tickets to {args.out}", flush=True)
        seen = 0
        try:
            while not stop.is_set():
                try:
                    tickets = printer.wait_for_tickets(seen + 1, timeout=0.5)
                except TimeoutError:
                    continue
                for t in tickets[seen:]:
                    print(f"ticket {t.number}: {t.png_path}", flush=True)
                seen = len(tickets)
        except KeyboardInterrupt:
            pass
    return 0
