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

import errno
import string
from collections.abc import Callable, Mapping
from typing import Any


def N_(msgid: str) -> str:
    """Mark a word for the catalogs without translating it here: the names of the things an error
    is about (``item=N_("Payment amount")``), translated when the message is shown."""
    return msgid


#: parameters that name the thing an error is about: translated too when the message is shown
TRANSLATED_PARAMS = frozenset({"item", "field", "what"})

#: what an operating-system error number means, in words the catalogs translate (the raw
#: ``(22, 'Invalid argument')`` of a library is never shown to the operator; logs keep it)
ERRNO_WORDS: dict[int, str] = {
    errno.ENOENT: N_("no such device or file"),
    errno.ENXIO: N_("the device is not there"),
    errno.ENODEV: N_("the device is not there"),
    errno.EACCES: N_("permission denied"),
    errno.EPERM: N_("permission denied"),
    errno.EBUSY: N_("the device is in use"),
    errno.EAGAIN: N_("the device is in use"),
    errno.EIO: N_("input/output error"),
    errno.EINVAL: N_("the port refused its settings"),
    errno.ENOTTY: N_("not a serial port"),
    errno.ECONNREFUSED: N_("connection refused"),
    errno.ECONNRESET: N_("the connection was reset"),
    errno.ECONNABORTED: N_("the connection was reset"),
    errno.EPIPE: N_("the connection was broken"),
    errno.ETIMEDOUT: N_("no answer in time"),
    errno.EHOSTUNREACH: N_("the station's network cannot be reached"),
    errno.ENETUNREACH: N_("the station's network cannot be reached"),
    errno.ENETDOWN: N_("the station's network cannot be reached"),
    errno.ENOSPC: N_("the storage is full"),
    errno.EROFS: N_("the storage is read-only"),
}


def describe_cause(e: BaseException, translate: Callable[[str], str] = lambda s: s) -> str:
    """An inner error in the operator's words: a HandheldError's own sentence (translated, its
    inner errors too), an OS error by its number, anything else by its kind — never a library's
    English text."""
    if isinstance(e, HandheldError):
        return e.what_text(translate)
    number = getattr(e, "errno", None)
    if not isinstance(number, int) and e.args and isinstance(e.args[0], int):
        number = e.args[0]  # termios.error and pyserial's SerialException carry it as args[0]
    if isinstance(number, int):
        words = ERRNO_WORDS.get(number)
        if words is not None:
            return translate(N_("{words} (system error {n})")).format(words=translate(words), n=number)
        return translate(N_("system error {n}")).format(n=number)
    if isinstance(e, TimeoutError):
        return translate(ERRNO_WORDS[errno.ETIMEDOUT])
    return translate(N_("unexpected {kind}")).format(kind=type(e).__name__)


class HandheldError(Exception):
    """Root of every error this project raises on purpose."""

    #: default advice when the raiser gives none
    default_action = "Try again; if it keeps failing, note the message and call the technician."

    def __init__(self, what: str, action: str | None = None, **params: Any) -> None:
        self.what = what
        self.action = action if action is not None else self.default_action
        self.params: Mapping[str, Any] = params
        super().__init__(self.__str__())

    def _params(self, translate: Callable[[str], str], raw: bool) -> dict[str, Any]:
        """Parameters as shown: names of things translated, inner errors described (an inner
        error is passed as the exception itself, ``error=e``, never as its English text)."""
        out: dict[str, Any] = {}
        for k, v in self.params.items():
            if isinstance(v, BaseException):
                # quoted inside another sentence: without its own full stop
                v = str(v) if raw and not isinstance(v, HandheldError) else \
                    v.what_text(translate, raw).rstrip("。.") if isinstance(v, HandheldError) \
                    else describe_cause(v, translate)
            elif k in TRANSLATED_PARAMS and isinstance(v, str):
                v = translate(v)
            out[k] = v
        return out

    def what_text(self, translate: Callable[[str], str] = lambda s: s, raw: bool = False) -> str:
        """What failed, without the advice (how an inner error is quoted in an outer one); English
        with ``raw`` (the libraries' own words: logs, technicians' tools), never a raw ``{path}``."""
        return _fill(translate(self.what), self._params(translate, raw))

    def _render(self, translate: Callable[[str], str], raw: bool = False) -> str:
        params = self._params(translate, raw)
        what = render_sentence(self.what, params, translate, strict=True)
        action = render_sentence(self.action, params, translate, strict=True)
        return f"{what} — {action}" if action else what

    def __str__(self) -> str:
        """For logs: English, with the libraries' own words, and the details the operator's
        sentence leaves out (a port, the standards tried …) in brackets after what failed."""
        what = self.what_text(lambda s: s, raw=True)
        used = {name for part in (self.what, self.action or "") for _, name, _, _ in string.Formatter().parse(part)
                if name}
        extra = {k: v for k, v in self._params(lambda s: s, True).items() if k not in used}
        if extra:
            what += " [" + ", ".join(f"{k}={v}" for k, v in extra.items()) + "]"
        action = self.action.format(**self._params(lambda s: s, True)) if self.params else self.action
        return f"{what} — {action}" if action else what

    @property
    def action_text(self) -> str:
        """The "what to do" sentence in English, its values filled in — never a raw ``{path}``."""
        return _fill(self.action, self.params)

    def localized(self, translate: Callable[[str], str]) -> str:
        """The message in the operator's language (``translate`` is a gettext function)."""
        return self._render(translate)


def render_sentence(text: str, params: Mapping[str, Any], translate: Callable[[str], str] = lambda s: s, *,
                    strict: bool = False) -> str:
    """THE renderer of a "what with params" sentence — an error's, a reading warning's, a refusal's:
    translated, then its ``{name}`` fields filled in.  ``strict`` raises for a field the params do
    not have (KeyError …); otherwise the sentence is returned as it is (one with braces of its own)."""
    text = translate(text)
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        if strict:
            raise
        return text


def _fill(text: str, params: Mapping[str, Any]) -> str:
    return render_sentence(text, params)


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
