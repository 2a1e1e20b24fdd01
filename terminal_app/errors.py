"""One exception root for the whole terminal, split by the phase in which things fail.

Every error carries two sentences: what failed, and what the operator (or technician) can do
about it.  Both are English msgids; the UI translates them through gettext (zh_CN by default),
logs keep the English.  Library exceptions are wrapped at the boundary with ``raise … from e``.

    HandheldError
    ├── ConfigurationError        bad or missing settings, key files, provisioning
    ├── DeviceError
    │   ├── DeviceNotFoundError   port cannot be opened, device unplugged
    │   ├── DeviceTimeoutError    the device did not answer in time (also a TimeoutError)
    │   └── LinkError             the data link to the master station
    │       ├── LinkDownError     no connection could be opened: nothing was sent
    │       └── LinkBrokenError   the connection failed after opening: bytes may have gone out
    ├── ProtocolError
    │   ├── LocalProtocolError    we were asked to send something the protocol cannot carry
    │   └── RemoteProtocolError   the peer sent bytes that break the protocol
    ├── BusinessRuleError         refused by a business rule (locally or by the station)
    └── StorageError              the local journal cannot keep a promise (disk full, corrupt)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def N_(msgid: str) -> str:
    """Mark a word for the catalogs without translating it here: the names of the things an error
    is about (``item=N_("Payment amount")``), translated when the message is shown."""
    return msgid


#: parameters that name the thing an error is about: translated too when the message is shown
TRANSLATED_PARAMS = frozenset({"item", "field", "what"})


class HandheldError(Exception):
    """Root of every error this project raises on purpose."""

    #: default advice when the raiser gives none
    default_action = "Try again; if it keeps failing, note the message and call the technician."

    def __init__(self, what: str, action: str | None = None, **params: Any) -> None:
        self.what = what
        self.action = action if action is not None else self.default_action
        self.params: Mapping[str, Any] = params
        super().__init__(self.__str__())

    def _render(self, translate: Callable[[str], str]) -> str:
        params = {k: translate(v) if k in TRANSLATED_PARAMS and isinstance(v, str) else v
                  for k, v in self.params.items()}
        what = translate(self.what).format(**params) if params else translate(self.what)
        action = translate(self.action).format(**params) if params else translate(self.action)
        return f"{what} — {action}" if action else what

    def __str__(self) -> str:
        return self._render(lambda s: s)

    @property
    def what_text(self) -> str:
        """The "what failed" sentence in English, its values filled in (logs, technicians' tools)."""
        return _fill(self.what, self.params)

    @property
    def action_text(self) -> str:
        """The "what to do" sentence in English, its values filled in — never a raw ``{path}``."""
        return _fill(self.action, self.params)

    def localized(self, translate: Callable[[str], str]) -> str:
        """The message in the operator's language (``translate`` is a gettext function)."""
        return self._render(translate)


def _fill(text: str, params: Mapping[str, Any]) -> str:
    try:
        return text.format(**params) if params else text
    except (KeyError, IndexError, ValueError):  # a sentence with braces of its own
        return text


class ConfigurationError(HandheldError):
    default_action = "Check the configuration file and the environment, then restart."


class DeviceError(HandheldError):
    default_action = "Check the device's cable and power, then try again."


class DeviceNotFoundError(DeviceError):
    default_action = "Check that the device is plugged in and its port name in the configuration."


class DeviceTimeoutError(DeviceError, TimeoutError):
    default_action = "Check that the device is on and aimed/connected correctly, then try again."


class LinkError(DeviceError):
    default_action = "Move to a place with better signal, or try again later; nothing is lost."


class LinkDownError(LinkError):
    """No connection could be opened, so nothing reached the station (safe to retry)."""


class LinkBrokenError(LinkError):
    """The connection failed after it opened; what was sent may or may not have arrived."""


class ProtocolError(HandheldError):
    pass


class LocalProtocolError(ProtocolError):
    default_action = "This is a program error: note the message and report it."


class RemoteProtocolError(ProtocolError):
    default_action = "The peer sent invalid data; try again, and report it if it repeats."


class BusinessRuleError(HandheldError):
    default_action = "Check the details with the customer or the supervisor."


class StorageError(HandheldError):
    default_action = "Do not take money now; call the technician."
