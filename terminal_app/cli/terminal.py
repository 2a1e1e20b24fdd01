"""``handheld`` with no command: the terminal itself, on the devices of the configuration.

Until the field UI is built (issue 7), this reads the configured meter once, as the
meter-reading path's end-to-end check, and says how to reach the diagnostics.
"""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from terminal_app.cli import diag_meter

    print("handheld: the field UI is not installed yet; reading the configured meter once "
          "(see 'handheld diag --help' for the diagnostics).", file=sys.stderr)
    ns = argparse.Namespace(config=args.config, port=None, address=None, di=None, standard=None,
                            baud=None, retries=None)
    return diag_meter.run_read(ns)
