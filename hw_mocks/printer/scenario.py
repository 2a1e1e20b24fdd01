"""Faults of the mock printer, as data (a TOML file or keyword arguments).

    # printer-paper-out.toml
    paper_out = true                 # DLE EOT reports paper end; nothing prints
    cover_open = false               # DLE EOT reports the cover open; nothing prints
    offline = false                  # offline with an error (e.g. head too hot); nothing prints
    paper_runs_out_after_lines = 12  # the roll ends after 12 more printed lines
    silent = false                   # never answers status queries (switched off, cable out)
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path

from terminal_app.errors import ConfigurationError


@dataclass(frozen=True)
class PrinterScenario:
    paper_out: bool = False
    cover_open: bool = False
    offline: bool = False
    paper_runs_out_after_lines: int | None = None
    silent: bool = False

    def __post_init__(self) -> None:
        n = self.paper_runs_out_after_lines
        if n is not None and (not isinstance(n, int) or n < 0):
            raise ConfigurationError("paper_runs_out_after_lines = {n!r} is not a line count.",
                                     "Use a whole number of lines, or leave it out.", n=n)


def load_scenario(path: str | Path) -> PrinterScenario:
    """Read a scenario file; unknown keys are an error (a typo must not silently do nothing)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigurationError("Printer scenario {path} cannot be read: {error}.",
                                 "Give an existing TOML file.", path=str(p), error=str(e)) from e
    known = {f.name for f in dataclasses.fields(PrinterScenario)}
    unknown = set(data) - known
    if unknown:
        raise ConfigurationError("Printer scenario {path} has unknown keys: {keys}.",
                                 "Use only: " + ", ".join(sorted(known)) + ".",
                                 path=str(p), keys=", ".join(sorted(unknown)))
    return PrinterScenario(**data)
