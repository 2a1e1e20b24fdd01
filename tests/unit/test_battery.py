"""The battery guard: the policy table, the power-supply reader over a mock sysfs directory, the
status line."""

from __future__ import annotations

import pytest
from urwid import calc_width

from drivers.power import BatteryReading, read_battery, write_mock_battery
from terminal_app.config import ConfigurationError, load_settings
from terminal_app.domain.battery import BatteryPolicy, Operation, PowerLevel
from terminal_app.errors import BusinessRuleError
from terminal_app.services.session import FieldSession
from tests.unit.test_ui_support import logged_in
from ui.model import LinkState, PrinterState, TerminalStatus

CW, PR, OT = Operation.CARD_WRITE, Operation.PRINT, Operation.OTHER


# level × charging × operation → allowed (low 15, critical 5)
@pytest.mark.parametrize(("capacity", "charging", "op", "allowed", "level"), [
    (100, False, CW, True, PowerLevel.OK),
    (15, False, CW, True, PowerLevel.OK),  # at the level: still allowed
    (15, False, PR, True, PowerLevel.OK),
    (14, False, CW, False, PowerLevel.LOW),
    (14, False, PR, False, PowerLevel.LOW),
    (14, False, OT, True, PowerLevel.LOW),  # readings, searches, sync go on
    (5, False, PR, False, PowerLevel.LOW),
    (5, False, OT, True, PowerLevel.LOW),
    (4, False, OT, False, PowerLevel.CRITICAL),
    (4, False, CW, False, PowerLevel.CRITICAL),
    (0, False, PR, False, PowerLevel.CRITICAL),
    (14, True, CW, True, PowerLevel.OK),  # charging overrides low …
    (14, True, PR, True, PowerLevel.OK),
    (2, True, CW, True, PowerLevel.OK),  # … and critical
    (None, False, CW, True, PowerLevel.UNKNOWN),  # no battery (bench power): never blocks
    (None, False, PR, True, PowerLevel.UNKNOWN),
])
def test_policy_table(capacity, charging, op, allowed, level):
    p = BatteryPolicy(low=15, critical=5)
    assert p.level(capacity, charging) is level
    assert p.allows(op, capacity, charging) is allowed
    assert p.must_shut_down(capacity, charging) is (level is PowerLevel.CRITICAL)


def test_policy_levels_are_configured():
    p = BatteryPolicy(low=30, critical=10)
    assert p.level(29, False) is PowerLevel.LOW and p.level(9, False) is PowerLevel.CRITICAL
    assert p.level(30, False) is PowerLevel.OK
    with pytest.raises(ValueError):
        BatteryPolicy(low=5, critical=5)


def test_settings_take_the_levels_and_refuse_nonsense(tmp_path):
    s = load_settings(None, env={}, overrides={"devices": {"power": {"low": 20, "critical": 8, "path": "/x"}}})
    assert (s.devices.power.low, s.devices.power.critical, s.devices.power.path) == (20, 8, "/x")
    d = load_settings(None, env={}).devices.power
    assert (d.low, d.critical, d.path) == (15, 5, "/sys/class/power_supply")
    with pytest.raises(ConfigurationError):
        load_settings(None, env={}, overrides={"devices": {"power": {"low": 5, "critical": 10}}})


def test_reader_takes_the_battery_of_the_power_supply_class(tmp_path):
    assert read_battery(str(tmp_path / "absent")) is None
    assert read_battery(str(tmp_path)) is None  # no supply at all
    ac = tmp_path / "AC"
    ac.mkdir()
    (ac / "type").write_text("Mains\n")
    (ac / "online").write_text("0\n")
    write_mock_battery(str(tmp_path), 42)
    assert read_battery(str(tmp_path)) == BatteryReading(42, False)
    write_mock_battery(str(tmp_path), 42, "Charging")
    assert read_battery(str(tmp_path)) == BatteryReading(42, True)
    write_mock_battery(str(tmp_path), 100, "Full")
    assert read_battery(str(tmp_path)) == BatteryReading(100, True)
    write_mock_battery(str(tmp_path), 42, "Discharging")
    (ac / "online").write_text("1\n")  # on mains power: counts as charging
    assert read_battery(str(tmp_path)) == BatteryReading(42, True)


@pytest.mark.parametrize("bad", ["", "abc", "-3", "101", "4" * 200, "12.5"])
def test_reader_ignores_a_battery_without_a_valid_capacity(tmp_path, bad):
    write_mock_battery(str(tmp_path), 50)
    (tmp_path / "BAT0" / "capacity").write_text(bad)
    assert read_battery(str(tmp_path)) is None


def test_session_refuses_before_anything_starts_and_reports_the_level(tmp_path):
    settings = load_settings(None, env={}, overrides={"devices": {"power": {"path": str(tmp_path)}}})
    s = FieldSession(settings)
    write_mock_battery(str(tmp_path), 10)
    assert s.status().battery == 10 and s.status().power == "low"
    # refused before the terminal is even needed: no login here, so anything past the guard would
    # fail with "log in first" instead
    with pytest.raises(BusinessRuleError) as e:
        s.printer_test()
    assert e.value.what.endswith("nothing is printed.") and e.value.params == {"level": 10}
    write_mock_battery(str(tmp_path), 10, "Charging")
    assert s.status().power == "ok" and s.status().charging
    with pytest.raises(BusinessRuleError) as e:
        s.printer_test()
    assert e.value.action == "Log in first."


def test_status_bar_shows_the_battery_within_30_columns(tmp_path):
    app = logged_in(tmp_path)
    for status, shown in [
        (TerminalStatus(csq=18, link=LinkState.SYNCING, queue_depth=2, printer=PrinterState.OK, battery=100,
                        charging=True, power="ok"), "电100%+"),
        (TerminalStatus(csq=18, link=LinkState.NO_SIGNAL, battery=12, power="low"), "电12%!"),
        (TerminalStatus(csq=18, link=LinkState.UP, battery=80, power="ok"), "电80%"),
    ]:
        app.set_status(status)
        row1 = app.render_text((30, 16)).split("\n")[0]
        assert shown + " 12:00" in row1 and row1.startswith("1001 "), row1
        assert calc_width(row1.rstrip(), 0, len(row1.rstrip())) <= 30
    # 4G, 同步中 and 100 % charging: 电 gives way so that the clock stays on the line
    app.set_status(TerminalStatus(csq=18, link=LinkState.SYNCING, technology="4G", rsrp=-80, battery=100,
                                  charging=True, power="ok"))
    row1 = app.render_text((30, 16)).split("\n")[0]
    assert row1.endswith(" 100%+ 12:00") and "4G" in row1 and "电" not in row1, row1
    assert calc_width(row1, 0, len(row1)) <= 30
    app.set_status(TerminalStatus(csq=18, link=LinkState.UP))  # no battery found: nothing shown
    row1 = app.render_text((30, 16)).split("\n")[0]
    assert "电" not in row1 and row1.endswith("12:00")


def test_below_critical_the_app_uploads_once_and_leaves(tmp_path):
    app = logged_in(tmp_path)
    calls: list[str] = []
    app.commands.add("quit", lambda: calls.append("quit"))
    sync = app.backend.sync_now
    app.backend.sync_now = lambda: (calls.append("sync"), sync())[1]
    app.set_status(TerminalStatus(battery=10, power="low"))
    assert calls == []  # low: refusals only, the terminal keeps working
    app.set_status(TerminalStatus(battery=3, power="critical"))
    assert calls == ["sync", "quit"]  # what waits goes up first, then the main loop ends
    # the message wraps (and keeps 。 with the character before it): read the screen's rows joined
    screen = "".join(row.rstrip() for row in app.render_text((30, 16)).splitlines())
    assert "电池电量耗尽，终端关机。请充电。" in screen
    app.set_status(TerminalStatus(battery=3, power="critical"))
    assert calls == ["sync", "quit"]  # once


def test_below_critical_the_app_leaves_even_when_the_upload_fails(tmp_path):
    app = logged_in(tmp_path)
    calls: list[str] = []
    app.commands.add("quit", lambda: calls.append("quit"))

    def down():
        calls.append("sync")
        raise BusinessRuleError("The link is down.")
    app.backend.sync_now = down
    app.set_status(TerminalStatus(battery=1, power="critical"))
    assert calls == ["sync", "quit"]
