"""``handheld`` command line: the terminal, diagnostics, provisioning.

Subcommands live in small modules, each with ``register(subparsers)``; the module list below is
the only place that names them.  Modules import their heavy dependencies inside the command
function, so ``handheld --help`` and the first screen stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, Protocol

from terminal_app import __version__
from terminal_app.errors import ConfigurationError, HandheldError

#: modules adding ``handheld diag <name>`` sub-commands
DIAG_MODULES = (
    "terminal_app.cli.diag_dlt645",
    "terminal_app.cli.diag_meter",
    "terminal_app.cli.diag_modem",
    "terminal_app.cli.diag_link",
    "terminal_app.cli.diag_bill",
    "terminal_app.cli.diag_printer",
)
#: modules adding top-level sub-commands (``handheld selftest``, ``handheld provision`` …)
TOP_MODULES: tuple[str, ...] = (
    "terminal_app.cli.selftest",
    "terminal_app.cli.provision",
)


def register_modules(sub: argparse._SubParsersAction, modules: Sequence[str]) -> None:
    for name in modules:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and (name == e.name or name.startswith(e.name + ".")):
                continue  # a sub-command whose package is not built yet
            raise
        mod.register(sub)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="handheld", description="抄收催一体机 — meter-reading and charging handheld")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--config", help="configuration file (TOML); default $HANDHELD_CONFIG or /etc/handheld/config.toml")
    p.add_argument("--simulate", action="store_true",
                   help="run against simulated devices and a local reference station")
    from terminal_app.cli.simulate import register_args
    register_args(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    diag = sub.add_parser("diag", help="diagnostics for technicians and QA")
    diag_sub = diag.add_subparsers(dest="diag_command", metavar="DEVICE", required=True)
    register_modules(diag_sub, DIAG_MODULES)
    register_modules(sub, TOP_MODULES)
    return p


class UiLaunchers(Protocol):
    """What the field UI package gives the command line (ui.launch); the core never imports ui."""

    def run_terminal(self, args: argparse.Namespace) -> int: ...

    def run_simulated(self, args: argparse.Namespace, site: Any) -> int: ...


def run(args: argparse.Namespace, ui: UiLaunchers | None = None) -> int:
    if getattr(args, "func", None) is not None:
        return int(args.func(args) or 0)
    if args.simulate:
        from terminal_app.cli import simulate
        return simulate.run(args, ui.run_simulated if ui is not None else None)
    if ui is None:
        raise ConfigurationError("No command was given, and this entry point has no field UI.",
                                 "Run the handheld command for the UI, or give a command (see --help).")
    return ui.run_terminal(args)


def main(argv: Sequence[str] | None = None, ui: UiLaunchers | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args, ui)
    except HandheldError as e:
        print(f"handheld: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
