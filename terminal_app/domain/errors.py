"""Errors raised by the pure domain: a value a business rule refuses, or a malformed record.

Both carry the house's two sentences (what failed, what to do); see terminal_app/errors.py.
"""

from __future__ import annotations

from terminal_app.errors import BusinessRuleError, RemoteProtocolError


class InvalidValueError(BusinessRuleError):
    """A value given to the domain (kWh, price, month, amount …) breaks a rule."""

    default_action = "Check the value and enter it again."


class RecordFormatError(RemoteProtocolError):
    """A record (customer, arrears, reading …) received as JSON does not have the agreed shape."""

    default_action = "The station sent data this terminal cannot use; download again, report it if it repeats."
