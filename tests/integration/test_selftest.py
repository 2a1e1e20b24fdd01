"""``handheld selftest`` against the simulated site: all passes, and a clear failure per stopped device.

Each scenario gets its own SimulatedSite (cheap: ~0.2 s): on this kernel a pty opened once at
1200 8E1 refuses pyserial's second open (tcsetattr EINVAL), so the meter is opened once per site.
"""

from __future__ import annotations

import json
import os
import re
import threading

import pytest
from wcwidth import wcswidth

from terminal_app.cli import main
from terminal_app.cli.selftest import NAMES
from terminal_app.cli.simulate import simulated_site
from terminal_app.station.protocol import encode_body_fast
from tests.util import free_port, wait_for, write_key_file

BY_EN = {en: key for key, (_zh, en) in NAMES.items()}
HEAD = re.compile(r"^\[(\S+) (PASS|FAIL|SKIP)\] (\S+) (.+)$")


def parse(out: str) -> dict[str, tuple[str, str]]:
    """check key -> (PASS|FAIL|SKIP, the block of text under its head line)."""
    blocks: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in out.splitlines():
        m = HEAD.match(line)
        if m:
            current = BY_EN[m.group(4)]
            blocks[current] = (m.group(2), [])
        elif current and line.startswith("  "):
            blocks[current][1].append(line.strip())
        else:
            current = None
    return {k: (st, "".join(lines)) for k, (st, lines) in blocks.items()}


def selftest(site, capsys, *extra: str) -> tuple[int, str, dict[str, tuple[str, str]]]:
    rc = main(["--config", str(site.config_path), "selftest", "--width", "30", *extra])
    out = capsys.readouterr().out
    return rc, out, parse(out)


def card_expected(site) -> str:
    """The card reader is checked only when the site's configuration has one."""
    return "PASS" if "[devices.card_reader]" in site.config_path.read_text(encoding="utf-8") else "SKIP"


@pytest.fixture
def site(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("HANDHELD_")]:
        monkeypatch.delenv(name)
    with simulated_site(tmp_path) as s:
        yield s


def test_all_devices_pass_and_the_table_fits_30_columns(site, capsys):
    rc, out, checks = selftest(site, capsys)
    assert rc == 0, out
    assert {k: st for k, (st, _) in checks.items()} == {
        "meter": "PASS", "modem": "PASS", "printer": "PASS", "card": card_expected(site), "scanner": "PASS",
        "link": "PASS", "journal": "PASS"}
    assert "000012345678" in checks["meter"][1]  # the meter really answered with its address
    assert "cmiot.sc" in checks["modem"][1]
    assert f":{site.station_port}" in checks["link"][1]
    assert "全部通过 ALL PASSED" in out
    assert all(wcswidth(line) <= 30 for line in out.splitlines()), out
    assert any(cmd.startswith("AT+CIPSTART") for cmd in site.modem.commands)  # HELLO went via the modem


def _stop_meter(site):
    next(iter(site.meters.values())).stop()


def _stop_modem(site):
    site.modem.stop()


def _stop_printer(site):
    site.printer.stop()


def _stop_scanner(site):
    site.scanner.stop()


@pytest.mark.parametrize("stop, failed, advice", [
    (_stop_meter, {"meter"}, "红外头打不开"),
    (_stop_modem, {"modem", "link"}, "GPRS 模块打不开"),
    (_stop_printer, {"printer"}, "打印机打不开"),
    (_stop_scanner, {"scanner"}, "扫码枪打不开"),
], ids=["meter", "modem", "printer", "scanner"])
def test_a_stopped_device_fails_clearly_and_only_its_checks(site, capsys, stop, failed, advice):
    stop(site)
    rc, out, checks = selftest(site, capsys)
    assert rc == 1
    assert {k for k, (st, _) in checks.items() if st == "FAIL"} == failed, out
    skipped = {"card"} if card_expected(site) == "SKIP" else set()
    assert {k for k, (st, _) in checks.items() if st == "PASS"} == set(NAMES) - failed - skipped - {"config"}
    device = sorted(failed - {"link"})[0]
    text = checks[device][1]
    assert advice in text and "→" in text, out  # what failed, and what to do, in Chinese ...
    assert "plugged in" in text  # ... and in English
    assert "FAILED" in out and NAMES[device][0] in out.split("=" * 30)[-1]  # named in the summary


def _quick_meter_timeouts(monkeypatch, reply_timeout: str = "0.2") -> None:
    monkeypatch.setenv("HANDHELD_DEVICES__IR_METER__RETRIES", "0")
    monkeypatch.setenv("HANDHELD_DEVICES__IR_METER__REPLY_TIMEOUT_S", reply_timeout)


def test_silent_meter_and_open_printer_cover_get_their_own_advice(site, capsys, monkeypatch):
    from hw_mocks.meter.device import Scenario

    _quick_meter_timeouts(monkeypatch)
    next(iter(site.meters.values())).scenario = Scenario(silent=True)
    site.printer.set_cover_open(True)
    rc, out, checks = selftest(site, capsys)
    assert rc == 1
    assert checks["meter"][0] == "FAIL" and "对准电表红外窗口" in checks["meter"][1], out
    assert checks["printer"][0] == "FAIL" and "合上打印机盖子" in checks["printer"][1], out
    assert checks["link"][0] == "PASS"


def test_no_coverage_fails_modem_and_link(site, capsys, monkeypatch):
    monkeypatch.setenv("HANDHELD_DEVICES__MODEM__REGISTRATION_TIMEOUT_S", "0.5")
    site.modem.set_coverage(False)
    rc, out, checks = selftest(site, capsys, "--skip", "meter")
    assert rc == 1
    assert checks["meter"][0] == "SKIP"
    assert checks["modem"][0] == "FAIL" and "没有注册上网络" in checks["modem"][1], out
    assert checks["link"][0] == "FAIL" and "连不上主站" in checks["link"][1], out


def test_station_unreachable_and_wrong_key(site, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HANDHELD_STATION__PORT", str(free_port()))  # nothing listens there
    rc, out, checks = selftest(site, capsys, "--skip", "meter", "--json")
    report = json.loads(out)
    link = {c["key"]: c for c in report["checks"]}["link"]
    assert rc == 1 and report["ok"] is False
    assert link["status"] == "fail" and "连不上主站" in link["advice_zh"], link
    monkeypatch.delenv("HANDHELD_STATION__PORT")

    key_file = tmp_path / "terminal.key"
    write_key_file(key_file, bytes(16))  # not the key the station has for this terminal
    rc, out, checks = selftest(site, capsys, "--skip", "meter")
    assert rc == 1
    assert checks["link"][0] == "FAIL" and "密钥" in checks["link"][1], out


def test_key_file_readable_by_others_is_a_link_failure(site, capsys, tmp_path):
    (tmp_path / "terminal.key").chmod(0o644)
    rc, out, checks = selftest(site, capsys, "--skip", "meter")
    assert rc == 1
    assert checks["link"][0] == "FAIL" and "handheld provision" in checks["link"][1], out
    assert "chmod 600" in checks["link"][1]


def test_journal_damaged_or_set_aside(site, capsys, tmp_path):
    from offline_queue.journal import Journal

    with Journal.open(tmp_path / "journal.sqlite", "00000001") as j:
        j.capture("payment", 0x0201, encode_body_fast({"cust": "1001", "amount": 500}))
    rc, out, checks = selftest(site, capsys, "--skip", "meter")
    assert rc == 0 and "unsynced 1" in checks["journal"][1].replace(" ", " "), out

    (tmp_path / "journal.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"journal.sqlite{suffix}").unlink(missing_ok=True)
    rc, out, checks = selftest(site, capsys, "--skip", "meter")
    assert rc == 1 and checks["journal"][0] == "FAIL", out
    assert (tmp_path / "journal.sqlite").exists()  # reported, never moved by the selftest

    (tmp_path / "journal.sqlite").rename(tmp_path / "journal.sqlite.corrupt-20261124T120000")
    rc, out, checks = selftest(site, capsys, "--skip", "meter")
    assert rc == 1 and "运维手册" in checks["journal"][1], out


def test_card_reader_checked_only_when_configured(site, capsys, tmp_path, monkeypatch):
    from hw_mocks.card.device import MockCardReader
    from hw_mocks.link import PtyLink

    text = site.config_path.read_text(encoding="utf-8")
    text = re.sub(r"\[devices\.card_reader\][^\[]*", "", text)  # the site may come with a reader of its own
    monkeypatch.setenv("HANDHELD_DEVICES__CARD_READER__TIMEOUT_S", "0.3")
    site.config_path.write_text(text + f'\n[devices.card_reader]\nurl = "{tmp_path / "no-card"}"\n', encoding="utf-8")
    rc, out, checks = selftest(site, capsys, "--skip", "meter")
    assert rc == 1 and checks["card"][0] == "FAIL" and "IC 卡读写器打不开" in checks["card"][1], out

    mute = PtyLink(tmp_path / "tty-mute")  # a port, but no reader module answering on it
    try:
        site.config_path.write_text(text + f'\n[devices.card_reader]\nurl = "{mute.path}"\n', encoding="utf-8")
        rc, out, checks = selftest(site, capsys, "--skip", "meter")
    finally:
        mute.close()
    assert rc == 1 and checks["card"][0] == "FAIL" and "没有应答" in checks["card"][1], out

    with MockCardReader.on_pty(str(tmp_path / "tty-card")) as reader:
        site.config_path.write_text(text + f'\n[devices.card_reader]\nurl = "{reader.url}"\n', encoding="utf-8")
        rc, out, checks = selftest(site, capsys, "--skip", "meter")
    assert rc == 0 and checks["card"][0] == "PASS" and "no card" in checks["card"][1], out


def test_every_check_is_bounded_by_its_timeout(site, capsys, monkeypatch):
    from hw_mocks.meter.device import Scenario

    _quick_meter_timeouts(monkeypatch, "0.6")  # identify gives up after ~1.2 s, well past the bound
    next(iter(site.meters.values())).scenario = Scenario(silent=True)  # identify takes seconds to give up
    rc, out, checks = selftest(site, capsys, "--timeout", "0.3", "--skip", "link")
    assert rc == 1
    assert checks["meter"][0] == "FAIL" and "0.3 s" in checks["meter"][1], out
    # the abandoned worker ends by the driver's own bounds; wait so nothing leaks into the next test
    wait_for(lambda: not any(t.name == "selftest-meter" for t in threading.enumerate()), timeout=15.0)


def test_bad_configuration_is_one_clear_failure(tmp_path, capsys):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[terminal]\nid = "12"\n', encoding="utf-8")
    rc = main(["--config", str(cfg), "selftest"])
    out = capsys.readouterr().out
    assert rc == 1 and "[失败 FAIL] 配置 config" in out and "8 digits" in out


def test_keyboard_wedge_scanner_missing(site, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HANDHELD_DEVICES__SCANNER__MODE", "evdev")
    monkeypatch.setenv("HANDHELD_DEVICES__SCANNER__DEVICE", str(tmp_path / "no-such-event-node"))
    rc, out, checks = selftest(site, capsys, "--only", "scanner")
    assert rc == 1 and set(checks) == set(NAMES) - {"config"}
    assert {k for k, (st, _) in checks.items() if st != "SKIP"} == {"scanner"}
    assert checks["scanner"][0] == "FAIL" and "扫码枪打不开" in checks["scanner"][1], out


def test_key_file_advice_names_the_file(site, capsys, tmp_path):
    # the advice of a key file others can read is filled in: "chmod 600 /…/terminal.key", never "{path}"
    (tmp_path / "terminal.key").chmod(0o644)
    rc, out, _checks = selftest(site, capsys, "--skip", "meter", "--json")
    link = {c["key"]: c for c in json.loads(out)["checks"]}["link"]
    assert rc == 1 and f"chmod 600 {tmp_path / 'terminal.key'}" in link["advice_en"], link
    assert "{" not in link["advice_en"] + link["detail"], link


def test_journal_on_a_read_only_file_system_fails(tmp_path):
    """A read-only bind mount of the journal's folder (in a private user and mount namespace):
    the journal still reads, but the terminal could not save one payment — the check must fail."""
    import shutil
    import subprocess
    import sys

    from offline_queue.journal import Journal

    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) for a read-only mount")
    folder = tmp_path / "lib"
    with Journal.open(folder / "journal.sqlite", "00000001") as j:
        j.capture("payment", 0x0202, encode_body_fast({"cust": "1001", "amount": 500}))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[terminal]\nid = "00000001"\n[journal]\npath = "{folder / "journal.sqlite"}"\n', encoding="utf-8")
    run = [sys.executable, "-c", "import sys; from terminal_app.cli import main; "
           "sys.exit(main(['--config', sys.argv[1], 'selftest', '--only', 'journal', '--json']))", str(cfg)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDHELD_")}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root
    writable = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert writable.returncode == 0, writable.stdout + writable.stderr
    ro = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                         'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"',
                         str(folder), *run], capture_output=True, text=True, env=env, timeout=120)
    if ro.returncode != 1 and "mount" in ro.stderr:
        pytest.skip(f"this machine allows no private read-only mount: {ro.stderr.strip()[:200]}")
    report = json.loads(ro.stdout)
    journal = {c["key"]: c for c in report["checks"]}["journal"]
    assert ro.returncode == 1 and journal["status"] == "fail", ro.stdout
    assert "read-only" in journal["detail"] and "不要收费" in journal["advice_zh"], journal
