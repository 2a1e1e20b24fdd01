"""The ``handheld`` command: the core's command line, with the field UI as what runs when no
command is given (and under ``--simulate``).

Imports stay light here — urwid and the screens load only when the UI actually starts, so
``handheld diag …`` and ``handheld selftest`` start fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from terminal_app import cli


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, ui=sys.modules[__name__])


def run_terminal(args: argparse.Namespace) -> int:
    """The field UI on the devices of the configuration."""
    from terminal_app.config import load_settings

    settings = load_settings(args.config)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("handheld: the field UI needs a terminal (run it on the console, in fbterm or tmux); "
              "see 'handheld --help' for the diagnostics.", file=sys.stderr)
        return 2
    from ui.main import run

    return run(settings)


def run_simulated(args: argparse.Namespace, site: Any) -> int:
    """The field UI on a started simulated site, with the simulate-mode keys."""
    from terminal_app.cli.simulate import SimControls, enrol_demo_operator
    from terminal_app.config import load_settings
    from ui.main import run
    from ui.services_backend import ServicesBackend

    enrol_demo_operator(site)
    settings = load_settings(site.config_path, env={})
    backend = ServicesBackend(settings, clock=site.terminal_clock)  # F9 moves it with the station's
    backend.tickets_dir = str(site.workdir / "tickets")  # shown in 设置
    return run(settings, sim=SimControls(site, backend.session), backend=backend)


if __name__ == "__main__":
    sys.exit(main())
