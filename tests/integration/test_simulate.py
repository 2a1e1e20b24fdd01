"""``handheld --simulate`` brings up the station and mock meters and reads them through the real driver."""

from __future__ import annotations

import json

import pytest

from terminal_app.cli import main
from terminal_app.cli.simulate import simulated_site
from terminal_app.config import load_settings, read_key_file
from tests.util import wait_for


def test_simulate_reads_every_mock_meter(capsys):
    assert main(["--simulate"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    got = {(r["standard"], r["address"], r["value"]) for r in lines}
    assert got == {("2007", "000012345678", "12345.67"), ("1997", "000087654321", "8765.43")}


def test_simulated_site_writes_a_device_style_config(tmp_path):
    with simulated_site(tmp_path) as site:
        s = load_settings(site.config_path, env={})
        assert s.station.port == site.station_port and s.station.suite == 2
        assert len(read_key_file(s.station.key_file)) == 16  # root-only file, 32 hex digits
        assert s.devices.ir_meter.url in site.meter_urls.values()
    assert not any(p.is_symlink() for p in tmp_path.iterdir())  # the pty links are gone


def test_simulated_site_link_goes_through_the_mock_modem(tmp_path, capsys):
    with simulated_site(tmp_path) as site:
        assert main(["--config", str(site.config_path), "diag", "link", "hello"]) == 0
        hello = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert any(cmd.startswith("AT+CIPSTART") for cmd in site.modem.commands)  # really via the modem
        site.modem.set_coverage(False)
        assert main(["--config", str(site.config_path), "diag", "link", "hello"]) != 0
        err = capsys.readouterr().err
        assert "network" in err.lower() or "signal" in err.lower(), err
    assert hello["ok"] is True and hello["bytes_sent"] > 0 and hello["station_time"]


class _Tty:
    """stdin/stdout that say they are a terminal, so the simulator starts its UI path."""

    def __init__(self, real):
        self.real = real

    def isatty(self):
        return True

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_the_simulator_says_where_the_receipts_are_and_keeps_them(tmp_path, monkeypatch, capsys):
    """Issue 13 (11): without --sim-dir or HANDHELD_SIM_DIR the site goes to a new folder that is
    kept (and said, when the simulator starts and ends); --sim-discard deletes it; the GPRS link
    is as slow as the field's by default, so the route download shows its progress."""
    import sys

    from terminal_app.cli import simulate

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("HANDHELD_SIM_DIR", raising=False)
    monkeypatch.setattr(sys, "stdin", _Tty(sys.stdin))
    seen = {}

    def ui(args, site):
        seen["dir"], seen["link"] = site.workdir, site.link
        seen["latency"] = site.modem.scenario.latency_ms
        (site.workdir / "tickets").mkdir(exist_ok=True)
        (site.workdir / "tickets" / "R1.txt").write_text("缴费凭证", encoding="utf-8")
        return 0

    parser = __import__("terminal_app.cli", fromlist=["build_parser"]).build_parser()
    monkeypatch.setattr(sys, "stdout", _Tty(sys.stdout))
    assert simulate.run(parser.parse_args(["--simulate"]), ui) == 0
    out = capsys.readouterr().out
    tickets = seen["dir"] / "tickets"
    assert seen["dir"].parent == tmp_path / "state" / "handheld" and seen["dir"].name.startswith("sim-")
    assert out.count(str(tickets)) == 2 and "小票保存在" in out  # said at the start and at the end
    assert (tickets / "R1.txt").read_text(encoding="utf-8") == "缴费凭证"  # kept
    assert seen["link"] == "gprs" and seen["latency"] == 300
    assert load_settings(seen["dir"] / "config.toml", env={}).link.route_page_size == simulate.SIM_PAGE_SIZE

    assert simulate.run(parser.parse_args(["--simulate", "--sim-discard", "--sim-link", "fast"]), ui) == 0
    assert not seen["dir"].exists() and seen["link"] == "fast" and seen["latency"] == 0
    assert "已删除" in capsys.readouterr().out


@pytest.mark.parametrize(("flag", "technology"), [((), "2G"), (("--sim-modem", "ec200"), "4G")])
def test_the_status_line_says_the_simulated_modems_technology(tmp_path, monkeypatch, flag, technology):
    """Issue 20 (3): --sim-modem picks the module; its technology reaches the field session's
    status line from the modem driver; no coverage, none is named."""
    import sys

    from terminal_app.cli import build_parser, simulate
    from terminal_app.services.link_status import LinkState
    from terminal_app.services.session import FieldSession

    monkeypatch.setattr(sys, "stdin", _Tty(sys.stdin))
    monkeypatch.setattr(sys, "stdout", _Tty(sys.stdout))
    seen = {}

    def ui(args, site):
        settings = load_settings(site.config_path, env={},
                                 overrides={"devices": {"modem": {"registration_timeout_s": 1.0}}})
        session = FieldSession(settings, clock=site.terminal_clock)
        try:
            session.login("1001")
            seen["dialect"] = (site.modem.dialect, settings.devices.modem.dialect)
            seen["on"] = session.status()
            site.modem.set_coverage(False)  # applied by the mock's own thread
            wait_for(lambda: not site.modem.coverage, what="the mock modem loses coverage")
            seen["off"] = session.status()
        finally:
            session.close()
        return 0

    assert simulate.run(build_parser().parse_args(["--simulate", "--sim-discard", *flag]), ui) == 0
    module = flag[1] if flag else "sim800"
    assert seen["dialect"] == (module, module)
    assert seen["on"].technology == technology and seen["on"].link is not LinkState.NO_SIGNAL
    assert seen["off"].technology is None and seen["off"].link is LinkState.NO_SIGNAL
