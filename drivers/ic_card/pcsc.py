"""Optional: a PC/SC card reader (a USB CCID reader on a desk) through pyscard.

Not a dependency of the handheld: ``pip install pyscard`` (and pcscd) where it is wanted.  It
offers the same ``power_on()`` / ``transmit()`` as :class:`drivers.ic_card.reader.SerialCardReader`,
so :class:`drivers.ic_card.card.PrepaidCard` and the top-up flow work over it unchanged.  T=0's
61xx / 6Cxx are handled here too (pyscard passes them through).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from drivers.ic_card.apdu import CommandApdu, ResponseApdu, T0Exchange
from terminal_app.errors import ConfigurationError, DeviceError, DeviceNotFoundError


class PcscCardReader:
    """The first PC/SC reader whose name contains ``name`` (empty: the first reader)."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.atr: bytes | None = None
        self._conn: Any = None

    def open(self) -> PcscCardReader:
        try:
            from smartcard.System import readers
        except ImportError as e:
            raise ConfigurationError("PC/SC support needs pyscard, which is not installed.",
                                     "Install pyscard, or use the serial card reader.") from e
        found = [r for r in readers() if self.name in str(r)]
        if not found:
            raise DeviceNotFoundError("No PC/SC reader matching {name!r}.", name=self.name)
        self._conn = found[0].createConnection()
        return self

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.disconnect()
            finally:
                self._conn = None
                self.atr = None

    def __enter__(self) -> PcscCardReader:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def power_on(self) -> bytes:
        from smartcard.Exceptions import CardConnectionException, NoCardException

        try:
            self._conn.connect()
            self.atr = bytes(self._conn.getATR())
        except (NoCardException, CardConnectionException) as e:
            raise DeviceError("The PC/SC reader cannot power the card ({error}).", error=e) from e
        return self.atr

    def transmit(self, command: CommandApdu) -> ResponseApdu:
        from smartcard.Exceptions import CardConnectionException

        ex = T0Exchange(command)
        step: CommandApdu | ResponseApdu = ex.first()
        while isinstance(step, CommandApdu):
            try:
                data, sw1, sw2 = self._conn.transmit(list(step.encode()))
            except CardConnectionException as e:
                raise DeviceError("The card stopped answering ({error}).", error=e) from e
            step = ex.feed(ResponseApdu(bytes(data), sw1, sw2))
        return step
