"""The virtual DL/T 645 meter: profiles and scenarios as data, served on a pty or TCP."""

from hw_mocks.meter.device import MockMeter
from hw_mocks.meter.profile import MeterProfile, Scenario, load_profile, load_scenario

__all__ = ["MeterProfile", "MockMeter", "Scenario", "load_profile", "load_scenario"]
