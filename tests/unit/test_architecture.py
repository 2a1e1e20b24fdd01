"""The direction of imports (docs: architecture.md): ui → terminal_app → (drivers, offline_queue).

The core never imports ``ui``; nothing but the simulate launcher imports ``hw_mocks``; the
drivers and the journal import neither the UI nor the use cases; protocol modules stay sans-IO.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("package, forbidden, allowed_files", [
    ("terminal_app", {"ui", "urwid"}, set()),
    ("terminal_app", {"hw_mocks"}, {"terminal_app/cli/simulate.py"}),
    ("drivers", {"ui", "urwid", "hw_mocks", "offline_queue"}, set()),
    ("offline_queue", {"ui", "urwid", "hw_mocks"}, set()),
    ("hw_mocks", {"ui", "urwid"}, set()),
])
def test_import_direction(package, forbidden, allowed_files):
    offenders = []
    for f in files(package):
        rel = f.relative_to(ROOT).as_posix()
        if rel in allowed_files:
            continue
        bad = {m for m in imported_packages(f) if top(m) in forbidden}
        if bad:
            offenders.append(f"{rel}: {sorted(bad)}")
    assert not offenders, "imports against the architecture:\n" + "\n".join(offenders)


def test_protocol_modules_are_sans_io():
    io_modules = {"socket", "serial", "select", "time", "threading", "asyncio", "urwid", "sqlite3"}
    protocols = [*ROOT.glob("drivers/*/protocol.py"), ROOT / "drivers/ic_card/apdu.py",
                 ROOT / "terminal_app/station/protocol.py"]
    assert len(protocols) >= 6
    offenders = [f"{p.relative_to(ROOT)}: {sorted(bad)}" for p in protocols
                 if (bad := {m for m in imported_packages(p) if top(m) in io_modules})]
    assert not offenders, offenders
