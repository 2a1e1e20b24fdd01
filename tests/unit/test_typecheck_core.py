"""The type checker holds the core's seams: mypy (configured in setup.cfg [mypy]) passes on
terminal_app/, and no use case takes a collaborator typed ``Any``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import terminal_app.services
from terminal_app.services.ports import UseCaseContext

ROOT = Path(__file__).resolve().parents[2]
#: parameter names of the collaborators a use case works with
SEAMS = {"ctx", "journal", "client", "link", "printer", "sync", "clock", "reader", "meter_reader", "scanner"}


def test_mypy_passes_on_the_core(tmp_path):
    run = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "setup.cfg"),
                          "--cache-dir", str(tmp_path / "mypy-cache")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "terminal_app" in (ROOT / "setup.cfg").read_text().split("[mypy]")[1].split("[")[0]


def test_no_use_case_takes_a_collaborator_typed_any():
    loose = []
    for info in pkgutil.iter_modules(terminal_app.services.__path__, "terminal_app.services."):
        module = importlib.import_module(info.name)
        functions = [f for _n, f in inspect.getmembers(module, inspect.isfunction) if f.__module__ == module.__name__]
        for cls in (c for _n, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == module.__name__):
            functions += [f for _n, f in inspect.getmembers(cls, inspect.isfunction)]
        for f in functions:
            for name, p in inspect.signature(f).parameters.items():
                if name in SEAMS and (p.annotation is inspect.Parameter.empty or "Any" in str(p.annotation)):
                    loose.append(f"{module.__name__}.{f.__qualname__}({name}: {p.annotation})")
    assert loose == []
    for name, annotation in UseCaseContext.__annotations__.items():
        assert "Any" not in str(annotation), name
