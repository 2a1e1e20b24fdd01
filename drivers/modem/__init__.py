"""GPRS modem: sans-IO AT parser (protocol), driver with the SIM800 and M26 dialects (driver),
and the station Transport over the modem's TCP stack (transport)."""
