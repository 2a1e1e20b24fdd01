"""Check an unpacked handheld-terminal package: the files land where the unit and the config expect.

    ROOT/opt/handheld/venv/bin/python packaging/check_tree.py ROOT

Run with the package's OWN interpreter (the venv inside the throwaway root), so the imports below
also prove that the venv works after relocation: the app, its pinned dependencies, and the
Debian-provided Pillow and PyYAML.  Prints one line per check; exit status 1 on any failure.
Used by packaging/check-deb.sh (CI) and tests/unit/test_packaging_files.py (the parsers).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

UNIT = "lib/systemd/system/handheld.service"
UDEV = "lib/udev/rules.d/60-handheld.rules"
TMPFILES = "usr/lib/tmpfiles.d/handheld.conf"
CONFIG = "etc/handheld/config.toml"
VENV = "opt/handheld/venv"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd unit → {section: {key: [values, in order]}} (keys may repeat, e.g. After=)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            out.setdefault(section, {})
            continue
        if section is None or "=" not in line:
            raise ValueError(f"not a unit line: {raw!r}")
        key, value = (s.strip() for s in line.split("=", 1))
        out[section].setdefault(key, []).append(value)
    return out


def udev_symlinks(text: str) -> set[str]:
    """Every SYMLINK+= name the rules make (relative to /dev)."""
    return set(re.findall(r'SYMLINK\+="([^"]+)"', text))


def tmpfiles_dirs(text: str) -> dict[str, str]:
    """Directories a tmpfiles.d file creates → their mode."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] in ("d", "D") and len(parts) >= 3:
            out[parts[1]] = parts[2]
    return out


def main(root: Path) -> int:
    failures = 0

    def check(ok: bool, what: str) -> None:
        nonlocal failures
        print(("ok   " if ok else "FAIL ") + what)
        failures += not ok

    def inside(path: str) -> Path:
        return root / path.lstrip("/")

    unit = parse_unit(inside(UNIT).read_text(encoding="utf-8"))
    svc = unit["Service"]
    exec_start = svc["ExecStart"][0].split()[0]
    check(os.access(inside(exec_start), os.X_OK), f"ExecStart {exec_start} is in the package and executable")
    check(svc["Type"] == ["notify"] and "WatchdogSec" in svc and svc["Restart"] == ["on-failure"],
          "Type=notify, WatchdogSec, Restart=on-failure")
    check(svc.get("TTYPath") == ["/dev/tty1"] and "getty@tty1.service" in unit["Unit"].get("Conflicts", []),
          "runs on tty1 in place of getty@tty1")
    for doc in unit["Unit"].get("Documentation", []):
        if doc.startswith("file:"):
            check(inside(doc[5:]).is_file(), f"Documentation {doc} is in the package")

    launcher = inside(exec_start).read_text(encoding="utf-8")
    app = re.search(r"^app=\$\{HANDHELD_APP:-([^}]+)\}", launcher, re.M)
    check(app is not None and os.access(inside(app.group(1)), os.X_OK),
          f"the launcher's app {app.group(1) if app else '?'} is in the package")

    from terminal_app.config import load_settings  # the package's own copy (this interpreter's venv)

    settings = load_settings(inside("/" + CONFIG), env={})
    state = "/var/lib/" + svc["StateDirectory"][0]
    check(os.path.dirname(settings.journal.path) == state, f"journal {settings.journal.path} is in StateDirectory {state}")
    check(os.path.dirname(settings.station.seq_file) == state, f"seq file {settings.station.seq_file} is in {state}")
    made = tmpfiles_dirs(inside(TMPFILES).read_text(encoding="utf-8"))
    check(made.get(state) == "0700", f"tmpfiles.d makes {state} root-only (0700)")
    key_dir = os.path.dirname(settings.station.key_file)
    check(inside(key_dir).is_dir() and key_dir in made, f"the key file's directory {key_dir} exists")
    check(not inside(settings.station.key_file).exists(), "no key is shipped (handheld provision writes it, 0600)")

    links = {"/dev/" + name for name in udev_symlinks(inside(UDEV).read_text(encoding="utf-8"))}
    devices = settings.devices
    for what, path in (("IR head", devices.ir_meter.url), ("modem", devices.modem.url),
                       ("printer", devices.printer.url), ("scanner", devices.scanner.device),
                       ("card reader", devices.card_reader.url)):
        check(path in links, f"{what} {path} is a udev name")

    conffiles = inside("DEBIAN/conffiles").read_text(encoding="ascii").split() if inside("DEBIAN/conffiles").exists() else []
    check("/" + CONFIG in conffiles, "/etc/handheld/config.toml is a conffile")
    for name in ("handheld", "handheld-mocks"):
        link = inside("/usr/bin/" + name)
        target = os.readlink(link) if link.is_symlink() else ""
        check(target == f"/{VENV}/bin/{name}" and inside(target).is_file(), f"/usr/bin/{name} → {target}")
    shebang = inside(f"/{VENV}/bin/handheld").read_text(encoding="utf-8").splitlines()[0]
    check(shebang == f"#!/{VENV}/bin/python", f"handheld's interpreter line is {shebang}")
    cfg = inside(f"/{VENV}/pyvenv.cfg").read_text(encoding="utf-8")
    check("home = /usr/bin" in cfg and str(root) not in cfg and "/tmp/" not in cfg, "pyvenv.cfg names no build path")

    catalogs = sorted(inside(f"/{VENV}").glob("lib/python3*/site-packages/ui/locale/zh_CN/LC_MESSAGES/handheld.mo"))
    check(bool(catalogs), "the UI's Chinese catalog (ui/locale/zh_CN/LC_MESSAGES/handheld.mo) is in the package")

    # the relocated venv runs the app: every package imports, the CLI answers
    mods = ("terminal_app.cli.selftest", "terminal_app.cli.provision", "terminal_app.watchdog", "drivers.ir_meter.driver",
            "drivers.modem.driver", "drivers.printer.driver", "drivers.scanner", "offline_queue.journal",
            "hw_mocks.station.server", "serial", "Crypto.Cipher.AES", "escpos.printer", "PIL.Image", "yaml", "evdev",
            "urwid", "wcwidth", "pyzbar.pyzbar", "ui.main")
    proc = subprocess.run([sys.executable, "-c", "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)",
                           *mods], capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0, "the package's venv imports the app and every dependency" +
          ("" if proc.returncode == 0 else ": " + proc.stderr.strip().splitlines()[-1]))
    script = str(inside(f"/{VENV}/bin/handheld"))  # the entry point script itself, on this interpreter
    proc = subprocess.run([sys.executable, script, "--version"], capture_output=True, text=True, timeout=60)
    check(proc.returncode == 0 and proc.stdout.startswith("handheld "),
          f"handheld --version: {proc.stdout.strip() or proc.stderr.strip()[-200:]}")
    for sub in ("selftest", "provision"):
        proc = subprocess.run([sys.executable, script, sub, "--help"], capture_output=True, text=True, timeout=60)
        check(proc.returncode == 0 and sub in proc.stdout, f"handheld {sub} --help")
    print(f"{'all checks passed' if not failures else f'{failures} check(s) FAILED'} in {root}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
