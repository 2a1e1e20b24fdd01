"""The one lock of every Python dependency (packaging/requirements.lock) agrees with setup.cfg,
carries hashes for every pin, and is what every installer uses."""

from __future__ import annotations

import configparser
import importlib.util
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "packaging" / "requirements.lock"
LOCKED_EXTRAS = ("test", "mocks", "lock")


def _lock_subset():
    spec = importlib.util.spec_from_file_location("lock_subset", ROOT / "packaging" / "lock_subset.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


lock_subset = _lock_subset()


def _pins() -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes) from the lock."""
    out = {}
    for name, text in lock_subset.read_lock(LOCK).items():
        version = re.match(r"[^=]+==(\S+)", text).group(1)
        out[name] = (version, re.findall(r"--hash=sha256:([0-9a-f]{64})", text))
    return out


def _declared() -> list[Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = cfg["options"]["install_requires"].split("\n")
    for extra in LOCKED_EXTRAS:
        lines += cfg["options.extras_require"][extra].split("\n")
    build = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    lines += re.findall(r'"([^"]+)"', build.split("requires", 1)[1].split("]", 1)[0])
    return [Requirement(line) for line in lines if line.strip()]


def test_every_declared_requirement_is_pinned_within_its_range():
    """setup.cfg edited without running packaging/lock.sh would install something never tested."""
    pins = _pins()
    missing = [str(r) for r in _declared() if canonicalize_name(r.name) not in pins]
    assert missing == [], "run: bash packaging/lock.sh"
    outside = [f"{r} (locked {pins[canonicalize_name(r.name)][0]})" for r in _declared()
               if not r.specifier.contains(pins[canonicalize_name(r.name)][0], prereleases=True)]
    assert outside == [], "run: bash packaging/lock.sh"


def test_every_pin_is_exact_and_hashed():
    pins = _pins()
    assert len(pins) >= 30
    assert [n for n, (_, hashes) in pins.items() if not hashes] == []
    text = LOCK.read_text(encoding="utf-8")
    assert "--index-url" not in text and "--find-links" not in text  # no machine's own sources
    assert not re.search(r"^[A-Za-z0-9][^=\s]*\s*(>=|<=|~=|>|<)", text, re.M)  # only == pins


def test_the_runtime_subset_is_the_terminals_closure_with_hashes(capsys):
    assert lock_subset.main([str(LOCK), "handheld-terminal"]) == 0
    runtime = capsys.readouterr().out
    names = {canonicalize_name(m) for m in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", runtime, re.M)}
    assert {"pyserial", "pycryptodome", "python-escpos", "pyzbar", "evdev", "urwid", "wcwidth"} <= names
    assert not names & {"pytest", "hypothesis", "ruff", "pip-tools", "babel"}  # test and lock tools stay out
    pins = _pins()
    for name in names:  # each entry as the lock has it, every hash kept
        assert set(re.findall(r"sha256:([0-9a-f]{64})", runtime)) >= set(pins[name][1])


def test_a_dependency_missing_from_the_lock_is_refused(tmp_path, capsys):
    text = LOCK.read_text(encoding="utf-8")
    cut = re.sub(r"^urwid==.*?(?=^\S)", "", text, flags=re.M | re.S)
    assert "urwid==" not in cut
    (tmp_path / "cut.lock").write_text(cut, encoding="utf-8")
    assert lock_subset.main([str(tmp_path / "cut.lock"), "handheld-terminal"]) == 1
    assert "no pin for urwid" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["bootstrap.sh", "build-deb.sh"])
def test_installers_install_from_the_lock_with_hashes(script):
    text = (ROOT / "packaging" / script).read_text(encoding="utf-8")
    assert "--require-hashes" in text and ("requirements.lock" in text)
    # nothing resolved anew next to the lock: the package itself goes in without its dependencies
    installs = [line for line in text.splitlines()
                if ("pip install" in line or line.strip().startswith('"${tpip_install[@]}"'))]
    assert installs and all("--no-deps" in line or "--require-hashes" in line for line in installs), installs
