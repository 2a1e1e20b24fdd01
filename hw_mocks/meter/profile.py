"""The virtual meter's data: meter profiles (address, registers, timing) and scenarios, from TOML.

The packaged ``meters.toml`` holds a 2007 and a 1997 meter with realistic registers;
``scenarios.toml`` holds the misbehaviours.  A ``--config FILE`` may hold ``[meters.*]`` and
``[scenarios.*]`` tables of its own, which replace the packaged ones of the same name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.ir_meter import di as di_table
from drivers.ir_meter.protocol import Standard, address_to_wire, normalize_di
from terminal_app.errors import ConfigurationError, HandheldError

HERE = Path(__file__).resolve().parent
DEFAULT_METERS = HERE / "meters.toml"
DEFAULT_SCENARIOS = HERE / "scenarios.toml"


@dataclass(frozen=True)
class MeterProfile:
    standard: Standard
    address: str
    registers: dict[str, bytes]  # DI → value bytes as the meter sends them (no 33H)
    baudrate: int = 1200
    reply_delay_s: float = 0.05
    reply_preamble: int = 4
    max_frame_data: int = 200
    password: str = "00000000"
    values: dict[str, Any] = field(default_factory=dict)  # DI → configured value, for tests


@dataclass(frozen=True)
class Scenario:
    name: str = "normal"
    silent: bool = False
    garbage_before: bytes = b""
    corrupt_checksum: bool = False
    truncate: int = 0
    reply_address: str | None = None
    echo: bool = False
    abnormal: int | None = None
    max_frame_data: int | None = None
    times: int = 0  # misbehave for the first N requests only; 0 = always


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as e:
        raise ConfigurationError("Mock meter file {path} does not exist.", "Give an existing TOML file.",
                                 path=str(path)) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError("Mock meter file {path} is not valid TOML: {error}.", "Fix the line it names.",
                                 path=str(path), error=str(e)) from e


def _tables(key: str, config: str | Path | None, default: Path) -> dict[str, Any]:
    tables = dict(_read_toml(default).get(key, {}))
    if config is not None:
        tables.update(_read_toml(Path(config)).get(key, {}))
    return tables


def profile_from_table(name: str, t: dict[str, Any]) -> MeterProfile:
    """A meter profile from a table as the meter file gives it (``standard``, ``address``,
    ``registers`` by DI, ``reply_delay_ms`` …); ConfigurationError names what is wrong."""
    try:
        std = Standard(str(t.get("standard", "2007")))
        address = str(t["address"])
        address_to_wire(address)
        registers: dict[str, bytes] = {}
        values: dict[str, Any] = {}
        for key, value in t.get("registers", {}).items():
            d = normalize_di(key, std)
            values[d] = value
            if isinstance(value, str) and value.startswith("hex:"):
                registers[d] = bytes.fromhex(value[4:])
            else:
                registers[d] = di_table.encode_value(d, value, std)
        # a block DI the file does not give is the run of its members, when all are there
        for reg in di_table.TABLE[std].values():
            if reg.members and reg.di not in registers and all(m in registers for m in reg.members):
                registers[reg.di] = b"".join(registers[m] for m in reg.members)
        # and the members of a block the file gives are its items, in order
        for reg in di_table.TABLE[std].values():
            block = registers.get(reg.di)
            if reg.members and block is not None and len(block) == reg.size * len(reg.members):
                for i, m in enumerate(reg.members):
                    registers.setdefault(m, block[i * reg.size:(i + 1) * reg.size])
        return MeterProfile(std, address, registers, baudrate=int(t.get("baudrate", 1200)),
                            reply_delay_s=float(t.get("reply_delay_ms", 50)) / 1000,
                            reply_preamble=int(t.get("reply_preamble", 4)),
                            max_frame_data=int(t.get("max_frame_data", 200)),
                            password=str(t.get("password", "00000000")), values=values)
    except (KeyError, ValueError, TypeError, HandheldError) as e:
        raise ConfigurationError("Mock meter [{name}] is invalid: {error}.", "Fix that table in the meter file.",
                                 name=name, error=str(e)) from e


def load_profiles(config: str | Path | None = None) -> dict[str, MeterProfile]:
    """Meter profiles by name (the packaged ones, overridden by ``config``)."""
    return {name: profile_from_table(name, t) for name, t in _tables("meters", config, DEFAULT_METERS).items()}


def load_profile(config: str | Path | None = None, standard: str | None = None,
                 name: str | None = None) -> MeterProfile:
    """One profile: by ``name``, else the first of ``standard`` (default 2007)."""
    profiles = load_profiles(config)
    if name is not None:
        if name not in profiles:
            raise ConfigurationError("No mock meter named {name}.", "Use one of: {names}.", name=name,
                                     names=", ".join(profiles))
        return profiles[name]
    want = Standard(standard or "2007")
    for p in profiles.values():
        if p.standard is want:
            return p
    raise ConfigurationError("No DL/T 645-{std} meter in the meter file.", "Add a [meters.NAME] table.",
                             std=want.value)


def load_scenarios(config: str | Path | None = None) -> dict[str, Scenario]:
    out = {}
    for name, t in _tables("scenarios", config, DEFAULT_SCENARIOS).items():
        try:
            garbage = bytes.fromhex(str(t.get("garbage_before", "")))
            if t.get("reply_address") is not None:
                address_to_wire(str(t["reply_address"]))
            out[name] = Scenario(name, silent=bool(t.get("silent", False)), garbage_before=garbage,
                                 corrupt_checksum=bool(t.get("corrupt_checksum", False)),
                                 truncate=int(t.get("truncate", 0)), reply_address=t.get("reply_address"),
                                 echo=bool(t.get("echo", False)),
                                 abnormal=None if t.get("abnormal") is None else int(t["abnormal"]),
                                 max_frame_data=None if t.get("max_frame_data") is None else int(t["max_frame_data"]),
                                 times=int(t.get("times", 0)))
        except (ValueError, TypeError, HandheldError) as e:
            raise ConfigurationError("Scenario [{name}] is invalid: {error}.", "Fix that table.", name=name,
                                     error=str(e)) from e
    return out


def load_scenario(name: str | None, config: str | Path | None = None) -> Scenario:
    if name is None:
        return Scenario()
    scenarios = load_scenarios(config)
    if name not in scenarios:
        raise ConfigurationError("No meter scenario named {name}.", "Use one of: {names}.", name=name,
                                 names=", ".join(sorted(scenarios)))
    return scenarios[name]
