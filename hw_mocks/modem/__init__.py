"""Simulated GPRS modem (SIM800 / M26 dialects) on a pty, bridged to TCP on 127.0.0.1; see device.py."""

from hw_mocks.modem.device import MockModem, Scenario, load_scenarios

__all__ = ["MockModem", "Scenario", "load_scenarios"]
