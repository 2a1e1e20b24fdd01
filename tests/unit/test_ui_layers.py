"""The UI goes through the core (issue 16): nothing in ui/ imports the journal, a driver, the
mocks or the station link; the backend adapter imports only the core's session and its plain
records; the app never opens a device itself.  (import-linter's contracts in setup.cfg hold the
layers; this pins what the UI half of issue 16 removed, imports inside functions included.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found

BELOW_THE_CORE = ("offline_queue", "drivers", "hw_mocks", "terminal_app.station", "serial", "evdev")


def test_nothing_in_the_ui_imports_below_the_core():
    edges = sorted(f"{p.relative_to(ROOT)} → {m}" for p in files("ui") for m in imported_packages(p)
                   if m.startswith(BELOW_THE_CORE))
    assert edges == []


def test_the_backend_is_an_adapter_of_the_session():
    used = imported_packages(ROOT / "ui" / "services_backend.py")
    assert not [m for m in used if m.startswith(("ui.screens", "terminal_app.services.terminal"))]
    assert "terminal_app.services.session" in used
    text = (ROOT / "ui" / "services_backend.py").read_text(encoding="utf-8")
    assert ".t." not in text and "self.t " not in text  # no reaching through the facade into its parts


def test_the_ui_opens_no_device():
    main = Path(ROOT / "ui" / "main.py").read_text(encoding="utf-8")
    assert "open_scanner" not in main and "serial_for_url" not in main
