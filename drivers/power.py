"""The battery, read from the Linux power-supply class (``/sys/class/power_supply``).

Each supply is a directory with one value per file (Documentation/ABI/testing/sysfs-class-power):
``type`` (``Battery``, ``Mains``, ``USB`` …), ``capacity`` (0–100 %), ``status`` (``Charging``,
``Discharging``, ``Full``, ``Not charging``, ``Unknown``) and, for mains/USB, ``online`` (0/1).
The root is a plain path so a test or the simulator can point it at a directory it writes.
Nothing here decides anything: the core's policy (terminal_app.domain.battery) does.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

log = logging.getLogger(__name__)

SYSFS_ROOT = "/sys/class/power_supply"
#: a sysfs value is one short line; anything longer is not a power-supply attribute
_MAX_VALUE = 64


@dataclasses.dataclass(frozen=True, slots=True)
class BatteryReading:
    capacity: int  # 0–100 %
    charging: bool  # charging, full, or on mains/USB power


def _value(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            raw = f.read(_MAX_VALUE + 1)
    except OSError:
        return None
    if len(raw) > _MAX_VALUE:
        return None
    return raw.decode("ascii", "replace").strip()


def read_battery(root: str = SYSFS_ROOT) -> BatteryReading | None:
    """The first battery under ``root``; None when there is none or it reports no valid capacity."""
    base = Path(root)
    try:
        supplies = sorted(p for p in base.iterdir() if p.is_dir())
    except OSError:
        return None
    external = False
    battery: BatteryReading | None = None
    for supply in supplies:
        kind = _value(supply / "type")
        if kind in ("Mains", "USB", "USB_C", "USB_PD") and _value(supply / "online") == "1":
            external = True
        if kind != "Battery" or battery is not None:
            continue
        cap = _value(supply / "capacity")
        if cap is None or not cap.isdigit() or not 0 <= int(cap) <= 100:
            log.warning("battery %s: no valid capacity (%r)", supply.name, cap)
            continue
        status = _value(supply / "status") or "Unknown"
        battery = BatteryReading(int(cap), status in ("Charging", "Full"))
    if battery is None:
        return None
    return dataclasses.replace(battery, charging=battery.charging or external)


def write_mock_battery(root: str, capacity: int, status: str = "Discharging", name: str = "BAT0") -> None:
    """Write (or update) a mock battery supply under ``root``, as the kernel lays it out."""
    d = Path(root) / name
    d.mkdir(parents=True, exist_ok=True)
    for attr, value in (("type", "Battery"), ("status", status), ("capacity", str(capacity))):
        tmp = d / f".{attr}.tmp"
        tmp.write_text(value + "\n")
        tmp.replace(d / attr)
