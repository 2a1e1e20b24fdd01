"""The packaging files agree with each other and with the code: config, udev names, unit, launcher.

The package itself is built and checked by packaging/check-deb.sh (CI: lintian, systemd-analyze
verify, install into a throwaway root); these tests pin the same facts on the sources, fast.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from terminal_app.config import (
    CardReaderSettings,
    IrMeterSettings,
    JournalSettings,
    ModemSettings,
    PrinterSettings,
    ScannerSettings,
    StationSettings,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "packaging"


def _check_tree():
    spec = importlib.util.spec_from_file_location("check_tree", PKG / "check_tree.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


check_tree = _check_tree()
UNIT = check_tree.parse_unit((PKG / "systemd" / "handheld.service").read_text(encoding="utf-8"))
UDEV_TEXT = (PKG / "udev" / "60-handheld.rules").read_text(encoding="utf-8")


def test_packaged_config_loads_and_names_the_udev_devices():
    s = load_settings(PKG / "config.toml", env={})
    links = {"/dev/" + n for n in check_tree.udev_symlinks(UDEV_TEXT)}
    packaged = {s.devices.ir_meter.url, s.devices.modem.url, s.devices.printer.url, s.devices.scanner.device,
                s.devices.card_reader.url}
    defaults = {IrMeterSettings().url, ModemSettings().url, PrinterSettings().url, ScannerSettings().device,
                CardReaderSettings().url}
    assert packaged == defaults == {"/dev/ttyIR0", "/dev/ttyModem", "/dev/ttyPrinter", "/dev/input/scanner",
                                    "/dev/ttyCard"}
    assert packaged <= links
    assert "/dev/ttyScanner" in links  # the scanner's serial mode, named in the config's comment
    # the packaged file keeps the code's defaults for paths the unit and tmpfiles rely on
    assert (s.journal.path, s.station.seq_file, s.station.key_file) == (
        JournalSettings().path, StationSettings().seq_file, StationSettings().key_file)
    assert s.link.transport == "modem" and s.devices.modem.apn and s.station.suite in (1, 2)


def test_udev_rules_are_well_formed_and_keep_modemmanager_off_our_ports():
    assignment = re.compile(r'^(?:[A-Z_]+(?:\{[^}]+\})?(?:==|!=|\+=|=|:=)"[^"]*")(?:, [A-Z_]+(?:\{[^}]+\})?'
                            r'(?:==|!=|\+=|=|:=)"[^"]*")*$')
    rules = [ln for ln in UDEV_TEXT.splitlines() if ln.strip() and not ln.startswith("#")]
    assert rules
    for line in rules:
        assert assignment.match(line), line
        if 'SUBSYSTEM=="tty"' in line:
            assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in line and 'MODE="0660"' in line, line


def test_unit_is_notify_with_watchdog_on_tty1_logging_to_the_journal():
    unit, svc = UNIT["Unit"], UNIT["Service"]
    assert svc["Type"] == ["notify"] and svc["NotifyAccess"] == ["all"]
    assert int(svc["WatchdogSec"][0]) > 0 and svc["Restart"] == ["on-failure"]
    assert svc["TTYPath"] == ["/dev/tty1"] and svc["StandardInput"] == ["tty"]
    assert svc["StandardError"] == ["journal"]
    assert "getty@tty1.service" in unit["Conflicts"] and "getty@tty1.service" in " ".join(unit["After"])
    assert svc["ExecStart"] == ["/opt/handheld/bin/handheld-console"]
    assert "HANDHELD_CONFIG=/etc/handheld/config.toml" in svc["Environment"]
    state = "/var/lib/" + svc["StateDirectory"][0]
    assert os.path.dirname(JournalSettings().path) == state and svc["StateDirectoryMode"] == ["0700"]
    assert UNIT["Install"]["WantedBy"] == ["multi-user.target"]
    tmpfiles = check_tree.tmpfiles_dirs((PKG / "tmpfiles" / "handheld.conf").read_text(encoding="utf-8"))
    assert tmpfiles[state] == "0700"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    text = (PKG / "systemd" / "handheld.service").read_text(encoding="utf-8")
    launcher = PKG / "console" / "handheld-console"
    unit = tmp_path / "handheld.service"
    text = text.replace("/opt/handheld/bin/handheld-console", str(launcher))  # verify checks ExecStart exists
    unit.write_text(text, encoding="utf-8")
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr
    unit.write_text(text.replace("Type=notify", "Type=notfy"), encoding="utf-8")  # the check can fail
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=60)
    assert "Failed to parse service type" in proc.stdout + proc.stderr


def test_scripts_parse():
    for script in ("build-deb.sh", "check-deb.sh", "bootstrap.sh", "console/handheld-console"):
        assert subprocess.run(["bash", "-n", str(PKG / script)], capture_output=True).returncode == 0, script
    for script in ("postinst", "prerm", "postrm"):
        path = PKG / "debian" / script
        assert path.read_text().startswith("#!/bin/sh\n") and os.access(path, os.X_OK)
        assert subprocess.run(["sh", "-n", str(path)], capture_output=True).returncode == 0, script
    assert (PKG / "debian" / "conffiles").read_text().split() == ["/etc/handheld/config.toml"]


def test_postrm_never_deletes_the_journal():
    text = (PKG / "debian" / "postrm").read_text()
    assert "rm -rf /var/lib/handheld" not in text and "rm -rf /var/cache/handheld" in text


def test_control_depends_on_what_the_launcher_and_the_app_load():
    control = (PKG / "debian" / "control.in").read_text()
    depends = re.search(r"^Depends: (.*)$", control, re.M).group(1)
    for needed in ("python3 (>= 3.11)", "python3 (<< 3.12)", "fbterm", "fonts-wqy-zenhei", "fonts-hanazono", "libzbar0", "tzdata",
                   "python3-pil", "python3-yaml"):
        assert needed in depends, needed


# ----------------------------------------------------------------------------- the console launcher

FAKE_APP = """#!/bin/sh
echo "args=$*" > "$OUT/app"
echo "watchdog_pid=${WATCHDOG_PID:-unset} notify=${NOTIFY_SOCKET:-unset}" >> "$OUT/app"
exit "$APP_RC"
"""
FAKE_FBTERM = """#!/bin/sh
echo "fbterm $*" > "$OUT/fbterm"
while [ "$1" != "--" ]; do shift; done
shift
"$@"
exit 0
"""


def run_launcher(tmp_path, rc: int, framebuffer: bool) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    app = bin_dir / "app"
    app.write_text(FAKE_APP)
    app.chmod(0o755)
    fbterm = bin_dir / "fbterm"
    fbterm.write_text(FAKE_FBTERM)  # fbterm, like the real one, exits 0 whatever its child did
    fbterm.chmod(0o755)
    fb = tmp_path / "fb0"
    if framebuffer:
        fb.touch()
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HANDHELD_APP": str(app), "HANDHELD_FRAMEBUFFER": str(fb),
           "RUNTIME_DIRECTORY": str(run_dir), "OUT": str(out), "APP_RC": str(rc),
           "WATCHDOG_PID": "4242", "WATCHDOG_USEC": "30000000", "NOTIFY_SOCKET": "/run/systemd/notify"}
    proc = subprocess.run([str(PKG / "console" / "handheld-console"), "--flag"], env=env, capture_output=True,
                          text=True, timeout=30)
    return proc, out


@pytest.mark.parametrize("framebuffer", [True, False], ids=["fbterm", "plain-console"])
@pytest.mark.parametrize("rc", [0, 3])
def test_launcher_passes_the_uis_exit_status_through_fbterm(tmp_path, rc, framebuffer):
    proc, out = run_launcher(tmp_path, rc, framebuffer)
    assert proc.returncode == rc, proc.stderr  # a crashed UI stays a failure for Restart=on-failure
    app = (out / "app").read_text()
    assert "args=--flag" in app
    assert "watchdog_pid=unset" in app and "notify=/run/systemd/notify" in app  # the UI may ping
    if framebuffer:
        assert "--font-names=WenQuanYi Zen Hei Mono" in (out / "fbterm").read_text()
    else:
        assert not (out / "fbterm").exists() and "no framebuffer" in proc.stderr
