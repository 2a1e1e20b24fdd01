"""What the modem driver needs to know, as plain values (pymodbus ``CommParams`` style).

The driver takes these and nothing of the core: the core's ``[devices.modem]`` settings
(``terminal_app.config.ModemSettings``) are a :class:`ModemParams` with the configuration file's
own checks added, so a settings object can be passed wherever params are taken.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModemParams:
    url: str = "/dev/ttyModem"
    baudrate: int = 115200
    dialect: str = "sim800"  # "sim800" | "m26"
    apn: str = ""
    apn_user: str = ""
    apn_password: str = ""
    # every step has its own bound (drivers.modem.driver); the field values are the defaults
    command_timeout_s: float = 5.0  # an ordinary AT command answers within a second or two
    registration_timeout_s: float = 60.0  # searching for a network (CREG/CGREG stat 2) in the hills
    attach_timeout_s: float = 75.0  # AT+CGATT=1 is network dependent (SIM800 manual: max 75 s)
    pdp_timeout_s: float = 160.0  # AT+CIICR / AT+QIACT may take up to 160 s / 150 s before failing
    send_timeout_s: float = 30.0  # from the last data byte to SEND OK
    close_timeout_s: float = 10.0  # CIPCLOSE/QICLOSE, CIPSHUT/QIDEACT, and QISACK draining before close
    max_send: int = 1460  # bytes per CIPSEND/QISEND (both manuals: at most 1460 per send)
