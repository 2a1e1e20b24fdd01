"""``handheld --simulate`` brings up the station and mock meters and reads them through the real driver."""

from __future__ import annotations

import json

from terminal_app.cli import main
from terminal_app.cli.simulate import simulated_site
from terminal_app.config import load_settings, read_key_file


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
