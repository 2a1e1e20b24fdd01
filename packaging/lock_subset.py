"""Print the part of the lock one installation needs: the named distribution's requirements (with
the given extras), followed through the lock's own pins, with their hashes.

    python packaging/lock_subset.py packaging/requirements.lock handheld-terminal [EXTRA …] > runtime.lock

The Debian package's venv installs only what the terminal runs (not pytest, ruff, pip-tools), still
from the one lock and still hash-checked (``pip install --require-hashes --no-deps -r runtime.lock``).
The requirements are read from the distribution's metadata in the running environment (the dev
venv, installed from the same lock), markers evaluated for this interpreter.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def read_lock(path: Path) -> dict[str, str]:
    """name → the entry's text (the pin line and its --hash lines), comments dropped."""
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := _PIN.match(line):
            current = entries.setdefault(canonicalize_name(m.group(1)), [])
            current.append(line)
        elif current is not None and line.startswith("    --hash="):
            current.append(line)
        else:
            current = None
    return {name: "\n".join(lines).rstrip(" \\") for name, lines in entries.items()}


def closure(root: str, extras: set[str]) -> set[str]:
    """Every distribution root needs at run time, root itself excluded."""
    need: set[str] = set()
    todo = [(root, extras)]
    while todo:
        name, want = todo.pop()
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (want or {""})):
                continue
            dep = canonicalize_name(req.name)
            if dep not in need:
                need.add(dep)
                todo.append((dep, set(req.extras)))
    return need


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    lock, root, extras = Path(argv[0]), argv[1], set(argv[2:])
    pins = read_lock(lock)
    need = closure(root, extras)
    missing = sorted(need - pins.keys())
    if missing:
        print(f"lock_subset: {lock} has no pin for {', '.join(missing)}: run bash packaging/lock.sh",
              file=sys.stderr)
        return 1
    print("\n".join(pins[n] for n in sorted(need)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
