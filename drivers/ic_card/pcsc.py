"""A PC/SC card reader (a USB CCID reader on a desk; pcscd) through pyscard.

It offers the same ``power_on()`` / ``transmit()`` as :class:`drivers.ic_card.reader.SerialCardReader`,
so :class:`drivers.ic_card.card.PrepaidCard` and the top-up flow run over it unchanged — the
integration tests run that flow through pcscd with a virtual reader (vsmartcard's vpcd) and the
mock card (``hw_mocks.card.vicc``).  pcscd negotiates T=0 or T=1 from the ATR; the ISO 7816-4
rules above the transport (61xx, 6Cxx, warnings with data) are handled here by
:class:`drivers.ic_card.apdu.Exchange` for the protocol pcscd chose (pyscard passes them through).
pyscard is the ``pcsc`` extra (built from source: needs swig and libpcsclite-dev).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from drivers.ic_card.apdu import CardProtocol, CommandApdu, Exchange, ResponseApdu
from drivers.ic_card.reader import CardRemovedError, NoCardError
from terminal_app.errors import N_, ConfigurationError, DeviceError, DeviceNotFoundError


class PcscCardReader:
    """The first PC/SC reader whose name contains ``name`` (empty: the first reader)."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.atr: bytes | None = None
        self.protocol = CardProtocol.T0
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
            conn, self._conn = self._conn, None
            self.atr = None
            try:
                conn.disconnect()
            finally:
                # the PC/SC context (a socket to pcscd) goes too, not when the object is collected
                release = getattr(conn, "release", None) or getattr(getattr(conn, "component", None), "release", None)
                if release is not None:
                    release()

    def __enter__(self) -> PcscCardReader:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def power_on(self) -> bytes:
        from smartcard.CardConnection import CardConnection
        from smartcard.Exceptions import CardConnectionException, NoCardException

        try:
            try:  # pyscard disconnects unpowering the card: a cold start each time, like POWER_ON
                self._conn.disconnect()
            except CardConnectionException:
                pass
            self._conn.connect()
            self.atr = bytes(self._conn.getATR())
            self.protocol = CardProtocol.T1 if self._conn.getProtocol() == CardConnection.T1_protocol else CardProtocol.T0
        except NoCardException as e:
            self.atr = None
            raise NoCardError(N_("There is no card in the reader.")) from e
        except CardConnectionException as e:
            self.atr = None
            raise DeviceError("The PC/SC reader cannot power the card ({error}).", error=e) from e
        return self.atr

    def transmit(self, command: CommandApdu) -> ResponseApdu:
        from smartcard.Exceptions import CardConnectionException

        ex = Exchange(command, protocol=self.protocol)
        step: CommandApdu | ResponseApdu = ex.first()
        while isinstance(step, CommandApdu):
            try:
                data, sw1, sw2 = self._conn.transmit(list(step.encode()))
            except CardConnectionException as e:
                # pcscd reports a pulled card (SCARD_W_REMOVED_CARD) and a reset one alike: the
                # card must be powered again, as after the serial reader's CARD_REMOVED
                self.atr = None
                raise CardRemovedError(N_("The card was taken out of the reader.")) from e
            step = ex.feed(ResponseApdu(bytes(data), sw1, sw2))
        return step

