"""Faults of the mock network camera, as data (a TOML file, keyword arguments, or a name):

    # camera-slow.toml
    no_camera = false   # every picture request answers 503 (mjpg-streamer with no input plugin)
    delay_s = 0.0       # each picture answers after this many seconds (a camera waking up, a slow link)
    blank = false       # the picture is one flat dark grey (lens covered, no signal)

The named ones (``--scenario NAME``, ``$HANDHELD_SIM_CAMERA_SCENARIO``): ``ok``, ``no_camera``,
``slow`` (8 s: past the terminal's 5 s bound) and ``blank``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path

from terminal_app.errors import ConfigurationError


@dataclass(frozen=True)
class CameraScenario:
    no_camera: bool = False
    delay_s: float = 0.0
    blank: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.delay_s, int | float) or not 0 <= self.delay_s <= 600:
            raise ConfigurationError("delay_s = {d!r} is not a delay in seconds (0–600).",
                                     "Use a number of seconds, or leave it out.", d=self.delay_s)


NAMED = {"ok": CameraScenario(), "no_camera": CameraScenario(no_camera=True),
         "slow": CameraScenario(delay_s=8.0), "blank": CameraScenario(blank=True)}


def load_scenario(name_or_path: str | Path) -> CameraScenario:
    """A named scenario, or one read from a TOML file; unknown keys are an error."""
    if str(name_or_path) in NAMED:
        return NAMED[str(name_or_path)]
    p = Path(name_or_path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigurationError("Camera scenario {path} cannot be read: {error}.",
                                 "Give one of " + ", ".join(NAMED) + " or an existing TOML file.",
                                 path=str(p), error=str(e)) from e
    known = {f.name for f in dataclasses.fields(CameraScenario)}
    unknown = set(data) - known
    if unknown:
        raise ConfigurationError("Camera scenario {path} has unknown keys: {keys}.",
                                 "Use only: " + ", ".join(sorted(known)) + ".",
                                 path=str(p), keys=", ".join(sorted(unknown)))
    return CameraScenario(**data)
