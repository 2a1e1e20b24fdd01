"""Configuration layering, key-file hygiene, error messages, time rules, the mock links."""

from __future__ import annotations

import datetime as dt
import os

import pytest
import serial

from hw_mocks.link import PtyLink, TcpLink, WirePacer
from terminal_app.config import load_settings, read_key_file
from terminal_app.errors import ConfigurationError, DeviceTimeoutError, HandheldError
from terminal_app.timeutil import SHANGHAI, FixedClock, business_day, iso
from tests.util import write_key_file


def test_defaults_without_file(tmp_path):
    s = load_settings(path=None, env={})
    assert s.devices.ir_meter.baudrate == 1200 and s.devices.ir_meter.parity == "E"
    assert s.station.suite == 2


def test_layers_file_env_override(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[station]\nhost = "10.1.1.1"\nport = 7000\n[devices.ir_meter]\nurl = "loop://"\n', "utf-8")
    s = load_settings(f, env={})
    assert (s.station.host, s.station.port, s.devices.ir_meter.url) == ("10.1.1.1", 7000, "loop://")
    env = {"HANDHELD_STATION__PORT": "7100", "HANDHELD_DEVICES__IR_METER__URL": "socket://127.0.0.1:7645"}
    s = load_settings(f, env=env)
    assert s.station.port == 7100 and s.devices.ir_meter.url == "socket://127.0.0.1:7645"
    s = load_settings(f, overrides={"station": {"port": 7200}}, env=env)
    assert s.station.port == 7200 and s.devices.ir_meter.url == "socket://127.0.0.1:7645"
    s = load_settings(env={"HANDHELD_CONFIG": str(f)})
    assert s.station.host == "10.1.1.1"


@pytest.mark.parametrize("text, needle", [
    ('[station]\nsuite = 3\n', "suite"),
    ('[station]\nport = "x"\n', "port"),
    ('[terminal]\nid = "1234"\n', "terminal id"),
    ('[stations]\nhost = "a"\n', "Unknown setting"),
    ('[station\n', "not valid TOML"),
])
def test_bad_config_says_what_and_where(tmp_path, text, needle):
    f = tmp_path / "c.toml"
    f.write_text(text, "utf-8")
    with pytest.raises(ConfigurationError) as ei:
        load_settings(f, env={})
    assert needle in str(ei.value)
    assert ei.value.action  # always says what to do


def test_missing_named_config_is_an_error(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})


def test_key_file_must_be_private_and_never_echoed(tmp_path):
    key = bytes(range(16))
    p = write_key_file(tmp_path / "k", key)
    assert read_key_file(p) == key
    os.chmod(p, 0o644)
    with pytest.raises(ConfigurationError) as ei:
        read_key_file(p)
    assert "chmod 600" in str(ei.value) and key.hex() not in str(ei.value)
    os.chmod(p, 0o600)
    p.write_text("zz" * 16)
    with pytest.raises(ConfigurationError) as ei:
        read_key_file(p)
    assert "zz" not in str(ei.value)


def test_errors_localize_and_keep_hierarchy():
    e = DeviceTimeoutError("Meter {addr} did not answer.", "Aim the IR head at the meter.", addr="000012345678")
    assert isinstance(e, HandheldError) and isinstance(e, TimeoutError)
    assert str(e) == "Meter 000012345678 did not answer. — Aim the IR head at the meter."
    zh = {"Meter {addr} did not answer.": "电表{addr}无应答。", "Aim the IR head at the meter.": "请将红外头对准电表。"}
    assert e.localized(lambda s: zh.get(s, s)) == "电表000012345678无应答。 — 请将红外头对准电表。"


def test_business_day_is_shanghai_calendar_day():
    late_utc = dt.datetime(2026, 11, 24, 16, 30, tzinfo=dt.UTC)  # 00:30 next day in Shanghai
    assert business_day(late_utc) == dt.date(2026, 11, 25)
    assert iso(late_utc) == "2026-11-25T00:30:00+08:00"
    with pytest.raises(ValueError):
        business_day(dt.datetime(2026, 11, 24, 12, 0))
    clock = FixedClock(at=dt.datetime(2026, 11, 24, 23, 59, tzinfo=SHANGHAI))
    clock.advance(dt.timedelta(minutes=2))
    assert business_day(clock.now()) == dt.date(2026, 11, 25)


def test_pty_link_reaches_a_pyserial_client_by_symlink(tmp_path):
    link = PtyLink(tmp_path / "ttyX")
    try:
        with serial.serial_for_url(str(tmp_path / "ttyX"), baudrate=1200, parity="E", timeout=1) as port:
            port.write(b"\x68\x16")
            got = b""
            while len(got) < 2:
                got += link.read(timeout=1)
            assert got == b"\x68\x16"
            link.write(b"\xfe\x68")
            assert port.read(2) == b"\xfe\x68"
    finally:
        link.close()
    assert not (tmp_path / "ttyX").exists()


def test_tcp_link_and_pacer_hold_the_baud_rate():
    link = TcpLink()
    try:
        with serial.serial_for_url(link.path, timeout=2) as port:
            port.write(b"?")
            assert link.read(timeout=2) == b"?"
            pacer = WirePacer(link, 9600)
            data = bytes(range(48))  # 48 × 11 bits at 9600 baud = 55 ms on the wire
            import time
            t0 = time.monotonic()
            pacer.write(data)
            elapsed = time.monotonic() - t0
            assert port.read(48) == data
            assert elapsed >= 48 * 11 / 9600 * 0.95
    finally:
        link.close()
